"""DIN 5008 form B letters, measured in the PDF: fold and hole marks, the address field, the 25 mm line,
one page for a standard notice with three invoices, and one page per such letter in the print batch."""
from __future__ import annotations

import html
import re
import subprocess
from datetime import datetime, timedelta, timezone

import pytest
from pypdf import PdfReader

from portal.clock import today_for
from portal.dunning.run import run
from portal.extensions import db
from portal.messaging import worker
from portal.messaging.channels.letter import pdf_from_html, print_batch, stored_pdf
from portal.messaging.render import render_letter_html
from tests.dunning.helpers import DUE, make_debtor_invoice, messages
from tests.factories import make_merchant

MM = 72 / 25.4  # PDF points per millimetre
STEP_DAYS = (-3, 7, 21, 35, 49, 63)


def words(pdf_path, page: int = 1) -> list[tuple[str, float, float, float, float]]:
    """(word, xMin, yMin, xMax, yMax) in millimetres from the top left corner, via pdftotext -bbox."""
    out = subprocess.run(["pdftotext", "-bbox", "-f", str(page), "-l", str(page), str(pdf_path), "-"],
                         capture_output=True, text=True, check=True).stdout
    return [(html.unescape(w), *(float(v) / MM for v in (x0, y0, x1, y1))) for x0, y0, x1, y1, w in re.findall(
        r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>', out)]


def dark_rows_in_margin(pdf_path, page: int, tmp_path) -> list[float]:
    """Heights (mm) at which something is drawn in the left margin strip 2–10 mm (where the marks belong)."""
    dpi = 200
    stem = tmp_path / f"margin{page}"
    subprocess.run(["pdftoppm", "-gray", "-r", str(dpi), "-f", str(page), "-l", str(page), "-singlefile", str(pdf_path),
                    str(stem)], check=True)
    data = (stem.with_suffix(".pgm")).read_bytes()
    magic, width, height, _max, pixels = re.match(rb"(P5)\s+(\d+)\s+(\d+)\s+(\d+)\s(.*)", data, re.S).groups()
    width, height = int(width), int(height)
    left, right = int(2 / 25.4 * dpi), int(10 / 25.4 * dpi)
    rows = []
    for y in range(height):
        row = pixels[y * width + left:y * width + right]
        if min(row) < 160:
            rows.append(y / dpi * 25.4)
    return rows


def clusters(rows: list[float]) -> list[float]:
    out: list[list[float]] = []
    for r in rows:
        if out and r - out[-1][-1] < 1:
            out[-1].append(r)
        else:
            out.append([r])
    return [sum(c) / len(c) for c in out]


@pytest.fixture
def letters(app, tmp_path):
    """The letters of every step for an older customer (letters first) with three open invoices."""
    app.config["BASE_URL"] = "https://pay.example.de"
    merchant = make_merchant(name="Gartenhaus Sonnenberg", legal_name="Gartenhaus Sonnenberg GmbH", street="Obere Weinsteige 14",
                             postal_code="70597", city="Stuttgart", legal_form="gmbh", registered_office="Stuttgart",
                             register_court="Amtsgericht Stuttgart", register_number="HRB 123456",
                             managing_directors="Anna Sonnenberg, Paul Sonnenberg", vat_id="DE136695976",
                             business_flat_fee=True)
    for n, amount in enumerate(("1000.00", "249.90", "79.95"), start=1):
        make_debtor_invoice(merchant, "older", f"RE-2025-00{n}", amount=amount)
    now = datetime.now(timezone.utc) + timedelta(minutes=1)
    for day in STEP_DAYS:
        run(today=DUE + timedelta(days=day))
        worker.drain(now=now)
    sent = [m for m in messages() if m.channel == "letter"]
    assert [m.template for m in sent] == ["pre_due_reminder", "payment_reminder", "first_notice", "second_notice",
                                          "final_notice", "handover_notice"]
    assert all(len(m.invoices) == 3 for m in sent)
    return merchant, now, {m.template: stored_pdf(m) for m in sent}  # as produced on the day of each step


def test_every_step_letter_with_three_invoices_fits_on_one_page(letters):
    _merchant, _now, paths = letters
    for template, path in paths.items():
        assert len(PdfReader(path).pages) == 1, template
        text = " ".join(w[0] for w in words(path))
        assert "RE-2025-003" in text and "Mit freundlichen Grüßen" in text, template


def test_fold_marks_at_105_and_210_mm_and_the_hole_mark_at_148_5_mm_and_nothing_else_in_the_margin(letters, tmp_path):
    _merchant, _now, paths = letters
    marks = clusters(dark_rows_in_margin(paths["final_notice"], 1, tmp_path))
    assert len(marks) == 3
    for found, expected in zip(marks, (105, 148.5, 210)):
        assert abs(found - expected) < 0.4, (found, expected)


def test_address_field_per_form_b_return_line_in_one_line_address_zone_from_62_7_mm(letters):
    _merchant, _now, paths = letters
    page = words(paths["second_notice"])
    sender_line = [w for w in page if 45 <= w[2] < 62.7 and w[1] < 105]
    assert " ".join(w[0] for w in sender_line).startswith("Gartenhaus Sonnenberg GmbH · Obere Weinsteige 14")
    assert len({round(w[2], 1) for w in sender_line}) == 1  # one line
    assert min(w[1] for w in sender_line) >= 24.5 and max(w[3] for w in sender_line) <= 105
    address = [w for w in page if 62.7 <= w[2] and w[4] <= 90 and w[1] < 105]
    assert [w[0] for w in address] == ["Test", "Older", "Hauptstraße", "5", "70173", "Stuttgart"]
    assert all(abs(w[1] - 25) < 0.6 for w in address if w[0] in ("Test", "Hauptstraße", "70173"))  # on the 25 mm line
    assert "DEUTSCHLAND" not in " ".join(w[0] for w in page)  # domestic: no country line
    date = next(w for w in page if w[0] == "Datum")
    assert abs(date[1] - 125) < 0.6 and 49.5 <= date[2] <= 53  # information block from 125 mm at 50 mm


def test_body_on_the_25_mm_line_link_unbroken_and_company_details_at_the_foot(letters):
    _merchant, _now, paths = letters
    page = words(paths["first_notice"])
    heading = next(w for w in page if w[0] == "1.")
    assert abs(heading[1] - 25) < 0.6 and heading[2] > 90
    link = [w for w in page if w[0].startswith("https://")]
    assert len(link) == 1 and re.fullmatch(r"https://pay\.example\.de/p/\S{20,}", link[0][0])
    text = " ".join(w[0] for w in page)
    assert "Sitz: Stuttgart · Registergericht: Amtsgericht Stuttgart, HRB 123456" in text
    assert "Geschäftsführung: Anna Sonnenberg, Paul Sonnenberg · USt-IdNr.: DE136695976" in text
    footer = next(w for w in page if w[0] == "Registergericht:")
    assert footer[2] > 270  # at the foot of the page, below the content


def test_a_print_batch_has_one_page_per_one_page_letter(letters, runner, tmp_path):
    merchant, now, _paths = letters
    day = today_for(merchant.timezone, now)
    pdf, count = print_batch(merchant.id, day)
    assert count == 6
    out = tmp_path / "batch.pdf"
    out.write_bytes(pdf)
    assert len(PdfReader(out).pages) == 6


def test_a_foreign_address_ends_with_the_country_in_capitals(app, tmp_path):
    app.config["BASE_URL"] = "https://pay.example.de"
    merchant = make_merchant(name="Gartenhaus")
    make_debtor_invoice(merchant, "older", "RE-1", address={"street": "Mariahilfer Straße 1", "postal_code": "1060",
                                                            "city": "Wien", "country": "AT"})
    run(today=DUE + timedelta(days=21))
    [message] = messages()
    path = tmp_path / "at.pdf"
    path.write_bytes(pdf_from_html(render_letter_html(message)))
    address = [w for w in words(path) if 62.7 <= w[2] and w[4] <= 90 and w[1] < 105]
    assert [w[0] for w in address][-3:] == ["1060", "Wien", "ÖSTERREICH"]


def test_a_long_letter_carries_only_content_and_the_page_number_on_page_two(app, tmp_path):
    app.config["BASE_URL"] = "https://pay.example.de"
    merchant = make_merchant(name="Gartenhaus")
    for n in range(1, 19):
        make_debtor_invoice(merchant, "older", f"RE-{n:03d}", amount="10.00")
    run(today=DUE + timedelta(days=49))
    [message] = messages()
    db.session.refresh(message)
    path = tmp_path / "long.pdf"
    path.write_bytes(pdf_from_html(render_letter_html(message)))
    assert len(PdfReader(path).pages) == 2
    second = words(path, 2)
    text = " ".join(w[0] for w in second)
    assert "2 / 2" in text and "Hauptstraße" not in text and "Datum" not in text and "Registergericht" not in text
    assert clusters(dark_rows_in_margin(path, 2, tmp_path)) == []  # no fold or hole marks on page 2
    assert "1 / 2" not in " ".join(w[0] for w in words(path, 1))
