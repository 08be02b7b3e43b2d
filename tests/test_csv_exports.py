"""Every CSV Settle writes goes through the shared neutralising writer (portal.domain.spreadsheet), and
every ZIP member name is built from safe parts (#12 pt3).

The test finds the CSV writers itself: routes ending in `.csv`, the dashboard's export links, every
module that answers `text/csv` or puts a `.csv` into a ZIP, and every CLI command that writes a file.
A new export that is not listed here fails the discovery tests until it is checked like the others.
"""
from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import date
from pathlib import Path

import click
import pytest
from sqlalchemy import select

from portal.domain.spreadsheet import FORMULA_LEADS
from portal.extensions import db
from portal.messaging.channels import letter as letter_channel
from portal.models import Invoice, Message, MessageInvoice
from tests.factories import make_invoice, make_merchant, make_user
from tests.office.conftest import csrf_from, sign_in

PORTAL = Path(__file__).resolve().parent.parent / "portal"
FORMULAS = ["=1+1", "+49 170 1234567", "-2+3", "@SUM(A1)", "\tTAB", "=HYPERLINK(\"https://evil.example\")"]

# Where CSV is written, and the test below that checks it.
CSV_MODULES = {
    "portal/office/invoices.py": "open items export",
    "portal/office/audit_log.py": "audit log export",
    "portal/office/dashboard.py": "analytics exports",
    "portal/dunning/handover.py": "handover export (CLI and back office)",
}
CSV_ROUTES = {"/office/invoices/export.csv", "/office/audit/export.csv"}
FILE_COMMANDS = {"dunning handover-export": "zip with claims.csv", "letters batch": "pdf"}


def _sources():
    for path in sorted(PORTAL.rglob("*.py")):
        yield path.relative_to(PORTAL.parent).as_posix(), path.read_text(encoding="utf-8")


def test_only_the_shared_writer_uses_the_csv_module_to_write():
    writers = {name for name, text in _sources()
               if re.search(r"csv\.(writer|DictWriter)\(|\.writerows?\(", text)}
    assert writers == {"portal/domain/spreadsheet.py"}


def test_every_module_that_writes_csv_is_known_and_uses_write_csv():
    found = {name for name, text in _sources()
             if name != "portal/domain/spreadsheet.py" and ('"text/csv"' in text or re.search(r"writestr\([^)]*\.csv", text))}
    assert found == set(CSV_MODULES), "a new CSV writer: check it in tests/test_csv_exports.py"
    for name in found:
        assert "write_csv" in (PORTAL.parent / name).read_text(encoding="utf-8"), name


def test_every_csv_route_is_known(app):
    routes = {rule.rule for rule in app.url_map.iter_rules() if ".csv" in rule.rule}
    assert routes == CSV_ROUTES


def _commands(group: click.Group, prefix: str = ""):
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _commands(command, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", command


def test_every_command_that_writes_a_file_is_known(app):
    writing = {name for name, command in _commands(app.cli)
               if any(isinstance(p, click.Option) and ("-o" in p.opts or "--output" in p.opts) for p in command.params)}
    assert writing == set(FILE_COMMANDS)


# --- the exports themselves, with cells a spreadsheet would run ----------------------------------------


@pytest.fixture
def shop(app):
    merchant = make_merchant("garden", name="Gartenhaus")
    make_user(merchant, "admin@garden.example", role="admin")
    for n, text in enumerate(FORMULAS):
        make_invoice(merchant, text if n == 0 else f"{text[:1]}RE-{n}", debtor={
            "external_ref": f"{text[:1]}K-{n}", "name": text, "company": text, "kind": "business",
            "address": {"street": text, "postal_code": "70173", "city": text, "country": "DE"}})
    make_invoice(merchant, "../../x")
    return merchant


def _cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))


def _assert_safe(rows: list[list[str]], *, expect: tuple[str, ...] = ()) -> None:
    flat = [cell for row in rows for cell in row]
    running = [cell for cell in flat if cell.startswith(FORMULA_LEADS)]
    assert running == [], f"cells a spreadsheet would run: {running}"
    for text in expect:
        assert "'" + text in flat, f"{text!r} is not in the export, neutralised"


def _office(app):
    client = app.test_client()
    assert sign_in(client, "admin@garden.example").status_code == 303
    return client


def test_the_open_items_export_neutralises_formula_cells(app, shop):
    client = _office(app)
    response = client.get("/office/invoices/export.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    _assert_safe(_cells(response.get_data(as_text=True)), expect=("=1+1", "@SUM(A1)", "-2+3", "+49 170 1234567"))


def test_the_audit_log_export_neutralises_formula_cells(app, shop):
    client = _office(app)
    invoice = db.session.execute(select(Invoice).where(Invoice.number == "=1+1")).scalar_one()
    token = csrf_from(client.get(f"/office/invoices/{invoice.id}").get_data(as_text=True))
    client.post(f"/office/invoices/{invoice.id}/payment", data={"csrf_token": token, "amount": "1,00", "reference": "=2+2"})
    response = client.get("/office/audit/export.csv")
    assert response.status_code == 200
    _assert_safe(_cells(response.get_data(as_text=True)), expect=("=1+1",))


def test_every_dashboard_export_neutralises_formula_cells(app, shop):
    client = _office(app)
    page = client.get("/office/").get_data(as_text=True)
    keys = sorted(set(re.findall(r"export=([a-z_]+)", page)))
    assert len(keys) >= 5  # every table on the dashboard has its export link
    for key in keys:
        response = client.get(f"/office/?export={key}")
        assert response.status_code == 200 and response.mimetype == "text/csv", key
        _assert_safe(_cells(response.get_data(as_text=True)))


def _hand_over_with_letters(merchant) -> None:
    """The shop's invoices as handed over, each with one letter sent (what the agency receives)."""
    day = date(2026, 1, 15)
    for invoice in db.session.execute(select(Invoice).where(Invoice.merchant_id == merchant.id)).scalars():
        invoice.status, invoice.closed_on = "handed_over", day
        message = Message(merchant_id=merchant.id, debtor_id=invoice.debtor_id, purpose="dunning", template="handover_notice",
                          channel="letter", fallbacks=[], language="de", context={}, dedupe_key=f"t:{invoice.id}",
                          status="sent", invoices=[MessageInvoice(invoice_id=invoice.id, step="handover")])
        db.session.add(message)
        db.session.flush()
        message.provider_id = letter_channel.store(message, day, b"%PDF-1.4 letter")
    db.session.commit()


def _assert_safe_zip(data: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        tables = {name: _cells(archive.read(name).decode("utf-8")) for name in names if name.endswith(".csv")}
    for name in names:
        parts = name.split("/")
        assert all(p and p not in (".", "..") and not p.startswith(".") for p in parts), name
        assert not any(ord(ch) < 32 for ch in name) and "\\" not in name, name
    copies = [n for n in names if "/" in n]
    assert len(copies) == len(FORMULAS) + 1 and all(len(n.split("/")) == 3 for n in copies)  # one letter per claim
    assert any(n.split("/")[1] == "x" for n in copies)  # the invoice numbered ../../x
    assert "claims.csv" in tables
    for name, rows in tables.items():
        _assert_safe(rows, expect=("=1+1", "@SUM(A1)") if name == "claims.csv" else ())


def test_the_handover_export_command_opens_safely(app, shop, runner, tmp_path):
    _hand_over_with_letters(shop)
    out = tmp_path / "handover.zip"
    result = runner.invoke(args=["dunning", "handover-export", "--merchant", "garden", "-o", str(out)])
    assert result.exit_code == 0, result.output
    _assert_safe_zip(out.read_bytes())


def test_the_handover_export_in_the_back_office_opens_safely(app, shop):
    _hand_over_with_letters(shop)
    client = _office(app)
    token = csrf_from(client.get("/office/handover").get_data(as_text=True))
    response = client.post("/office/handover/export.zip", data={"csrf_token": token})
    assert response.status_code == 200
    _assert_safe_zip(response.data)
