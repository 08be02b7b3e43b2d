"""The portal's second pass in Debian's Chromium at 390 px: what a debtor on a phone used to trip over.

Each test follows one point of the issue the way a debtor meets it: a reminder that arrives
through a real SMTP server, its link opened in the browser, photos uploaded, the transfer
details copied to the clipboard, the QR code saved and decoded with zbar, a receipt after a
bank statement is imported. JavaScript on and off, German and English.
"""
from __future__ import annotations

import io
import re
import subprocess
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from portal.extensions import db
from portal.links import token_for
from tests.chromium import BROWSER_MARKS, DESKTOP, PHONE, LiveServer
from tests.debtor.test_browser import AXE, SHOTS, axe_findings, layout_problems, new_context
from tests.dunning.helpers import start_smtp
from tests.factories import make_invoice, make_merchant, shop_today

pytestmark = BROWSER_MARKS
playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect


def _plain(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u00a0", " ").replace("\u202f", " "))


class Site(LiveServer):
    """A shop with debtors set up for each point: due and not-yet-due invoices, a plan request."""

    def __init__(self, tmp: Path):
        super().__init__(tmp, STRIPE_API_BASE="http://127.0.0.1:9", STRIPE_MAX_NETWORK_RETRIES=0)
        self.inbox, self.smtp = start_smtp(self.app)

    def seed(self):
        today = shop_today()
        shop = make_merchant("sonnenberg", name="Gartenhaus Sonnenberg", primary_color="#2e6b30",
                             support_phone="+4971112345600", support_hours="Mo–Fr 9–17 Uhr")
        self.shop_id = shop.id
        due = make_invoice(shop, "RE-2026-00017", amount="308.80", due_date=(today - timedelta(days=20)).isoformat(),
                           issue_date=(today - timedelta(days=34)).isoformat(),
                           lines=[{"description": "Hochbeet Lärche", "quantity": 1, "amount": "308.80"}])
        later = make_invoice(shop, "RE-2026-00042", amount="49.90", lines=[],
                             issue_date=today.isoformat(), due_date=(today + timedelta(days=20)).isoformat())
        self.debtor_id, self.due_id, self.later_id = due.debtor_id, due.id, later.id
        english = make_invoice(shop, "RE-2026-00077", amount="20.00", lines=[],
                               debtor={"external_ref": "K-EN", "email": "jane@example.co.uk", "name": "Jane Doe",
                                       "language": "en", "phone": "+44 7700 900123"})
        self.english_id = english.debtor_id
        db.session.commit()

    def link(self, debtor_id: int, **kw) -> str:
        from portal.models import Debtor

        with self.app.app_context():
            return f"{self.base}/p/{token_for(db.session.get(Debtor, debtor_id), **kw)}"

    def stop(self):
        self.smtp.stop()
        super().stop()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    s = Site(tmp_path_factory.mktemp("second-pass"))
    yield s
    s.stop()


def shoot(page, name: str, viewport=PHONE):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}-{viewport['width']}.png"), full_page=True)


# --------------------------------------------------------------------- 1. the amount matches the message


def _reminder_from_the_dunning_run(site) -> tuple[str, str]:
    """Run the real dunning pass and send its reminder through SMTP; returns (portal link, total) from the email."""
    from portal.dunning.run import run
    from portal.messaging import worker

    with site.app.app_context():
        run(today=shop_today())
        worker.drain(now=datetime.now(timezone.utc) + timedelta(minutes=1))
    mails = [m for m in site.inbox.messages if m["To"] == "max@example.de"]
    assert mails, "the dunning run sent no reminder"
    text = mails[-1].get_body(("plain",)).get_content()
    link = re.search(re.escape(site.base) + r"/p/[A-Za-z0-9_-]+", text).group(0)
    total = _plain(re.search(r"Gesamtbetrag[^:]*:\s*(.+)|Zu zahlen[^:]*:\s*(.+)|Total to pay:\s*(.+)", text).group(0))
    return link, total.split(":", 1)[1].strip()


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_the_portal_preselects_exactly_what_the_reminder_asked_for(browser, site, js):
    link, total = _reminder_from_the_dunning_run(site)
    assert "308,80" in total and "49,90" not in total
    context, watch = new_context(browser, site, js=js)
    page = context.new_page()
    page.goto(link)
    summary = _plain(page.locator(".summary").inner_text())
    assert total in summary  # the overview's amount is the message's
    assert "Alle offenen Rechnungen zusammen: 358,70" in summary
    page.get_by_role("link", name="Jetzt bezahlen").click()
    assert _plain(page.locator("#pay-summary .total").inner_text()).endswith(total)
    assert page.get_by_label("Rechnung RE-2026-00017").is_checked()
    assert not page.get_by_label("Rechnung RE-2026-00042").is_checked()  # listed, not yet due, not ticked
    shoot(page, f"pay-preselected-{'js' if js else 'nojs'}")
    for kind in ("plan", "promise", "dispute"):
        page.goto(f"{site.base}/portal/requests/{kind}")
        assert page.locator("input[name=invoices][value='%d']" % site.due_id).is_checked(), kind
        assert not page.locator("input[name=invoices][value='%d']" % site.later_id).is_checked(), kind
    assert watch.console_errors == [] and watch.foreign == []
    context.close()


# --------------------------------------------------------------------- 2. uploads never lose input


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> list[Path]:
    """Three 12-megapixel phone photos of about 9 MB each (noise over a gradient compresses badly, like a real one)."""
    import os

    from PIL import Image

    folder = tmp_path_factory.mktemp("photos")
    w, h = 4000, 3000
    base = Image.blend(Image.linear_gradient("L").resize((w, h)).convert("RGB"),
                       Image.frombytes("RGB", (w, h), os.urandom(w * h * 3)), 0.5)
    paths = []
    for n in range(3):
        path = folder / f"IMG_{n + 1:04d}.jpg"
        base.rotate(180 * n).save(path, "JPEG", quality=93)
        paths.append(path)
    assert all(8 * 2**20 < p.stat().st_size < 10 * 2**20 for p in paths)
    return paths


def _dispute_form(page, site, text: str, photos, lang="de"):
    page.goto(f"{site.base}/portal/requests/dispute")
    page.locator("input[name=reason][value=damaged]").check()
    page.fill("#details", text)
    page.set_input_files("#files", [str(p) for p in photos])


@pytest.mark.parametrize("lang", ["de", "en"])
def test_without_javascript_three_big_photos_answer_with_the_same_form_and_the_text_kept(browser, site, photos, lang):
    context, watch = new_context(browser, site, js=False, lang="de-DE")
    page = context.new_page()
    page.goto(site.link(site.debtor_id))
    page.goto(f"{site.base}/portal/language/{lang}?next=/portal/")
    limits = "bis zu 5 Dateien, je bis 10 MB, zusammen bis 20 MB" if lang == "de" else "up to 5 files, each up to 10 MB, together up to 20 MB"
    page.goto(f"{site.base}/portal/requests/dispute")
    assert limits in page.locator("main").inner_text()  # stated before choosing files
    text = "Das Hochbeet kam mit gebrochenen Brettern an, siehe Fotos."
    _dispute_form(page, site, text, photos)
    with page.expect_response(lambda r: r.url.endswith("/portal/requests/dispute") and r.request.method == "POST") as answer:
        page.locator("main form button[type=submit]").click()
    assert answer.value.status == 413
    assert page.locator("#details").input_value() == text
    assert page.locator("input[name=reason][value=damaged]").is_checked()
    alert = _plain(page.get_by_role("alert").inner_text())
    for p in photos:
        assert p.name in alert
    assert ("zusammen" in alert) if lang == "de" else ("together" in alert)
    assert "Gartenhaus Sonnenberg" in page.locator("header").inner_text()  # the branded page, not a bare 413
    assert page.evaluate("document.documentElement.lang") == lang
    shoot(page, f"dispute-too-large-{lang}")
    assert watch.console_errors == []
    context.close()


def test_with_javascript_photos_are_made_smaller_before_sending(browser, site, photos):
    from PIL import Image
    from sqlalchemy import select

    from portal.cases.storage import load
    from portal.models import Attachment, Case, Merchant

    with site.app.app_context():
        extra = make_invoice(db.session.get(Merchant, site.shop_id),
                             "RE-2026-00090", amount="15.00", lines=[],
                             debtor={"external_ref": "K-PHOTO", "email": "photo@example.de", "name": "Paula Foto"})
        debtor_id, invoice_id = extra.debtor_id, extra.id
    context, watch = new_context(browser, site, js=True)
    page = context.new_page()
    page.goto(site.link(debtor_id))
    page.goto(f"{site.base}/portal/requests/dispute")
    assert "verkleinert" in page.locator("#files-hint").inner_text()  # said before choosing
    page.locator(f"input[name=invoices][value='{invoice_id}']").check()
    _dispute_form(page, site, "Drei Fotos vom Schaden an der Lieferung.", photos)
    expect(page.locator("#files-status")).to_contain_text("verkleinert", timeout=20_000)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/portal/cases/\d+$"))
    with site.app.app_context():
        case = db.session.scalars(select(Case).where(Case.debtor_id == debtor_id)).one()
        files = db.session.scalars(select(Attachment).where(Attachment.case_id == case.id)).all()
        assert len(files) == 3
        for item in files:
            assert item.mime_type == "image/jpeg" and item.filename.endswith(".jpg")
            with Image.open(io.BytesIO(load(item.storage_key))) as img:
                assert 1_800_000 <= img.width * img.height <= 2_000_000  # readable, not a thumbnail
                assert img.width > img.height
            assert item.size < 3 * 2**20
    assert watch.console_errors == []
    context.close()


# --------------------------------------------------------------------- 6. language and format


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_an_english_debtors_new_link_flow_stays_english_in_a_german_browser(browser, site, js):
    from sqlalchemy import select

    from portal.models import Message

    context, watch = new_context(browser, site, js=js, lang="de-DE")
    page = context.new_page()
    response = page.goto(site.link(site.english_id, today=shop_today() - timedelta(days=400)))
    assert response.status == 410
    assert page.evaluate("document.documentElement.lang") == "en"
    assert "This link has expired" in page.locator("main").inner_text()
    page.fill("#contact", "jane@example.co.uk")
    page.get_by_role("button", name="Send new link").click()
    assert page.evaluate("document.documentElement.lang") == "en"
    assert "Check your messages" in page.locator("h1").inner_text()
    assert "Gartenhaus Sonnenberg" in page.locator("header").inner_text()
    shoot(page, f"link-sent-en-{'js' if js else 'nojs'}")
    with site.app.app_context():
        from portal.messaging import link_requests

        link_requests.process_pending()  # the worker's part: the lookup and the message, in the debtor's language
        sent = db.session.scalars(select(Message).where(Message.debtor_id == site.english_id,
                                                        Message.purpose == "new_link")).all()
        assert sent and all(m.language == "en" for m in sent)
    assert watch.console_errors == []
    context.close()


@pytest.mark.parametrize("lang", ["de", "en"])
def test_error_pages_are_branded_in_the_debtors_language_with_a_way_back(browser, site, lang):
    context, watch = new_context(browser, site, lang="de-DE" if lang == "en" else "en-GB", bypass_csp=True)
    page = context.new_page()
    page.goto(site.link(site.debtor_id))
    page.goto(f"{site.base}/portal/language/{lang}?next=/portal/")
    findings = {}
    for path, status in (("/portal/nothing-here", 404), ("/portal/leave", 405), ("/portal/invoices/999999", 404)):
        response = page.goto(site.base + path)
        assert response.status == status, path
        assert page.evaluate("document.documentElement.lang") == lang
        assert "Gartenhaus Sonnenberg" in page.locator("header").inner_text()
        back = page.get_by_role("link", name="Zurück zu Ihren Rechnungen" if lang == "de" else "Back to your invoices")
        assert back.get_attribute("href") == "/portal/"
        shoot(page, f"error-{status}-{lang}")
        found = axe_findings(page)
        if found:
            findings[path] = found
    assert findings == {}
    context.close()


def test_dates_have_four_digit_years_and_the_page_has_a_favicon(browser, site):
    context, watch = new_context(browser, site)
    page = context.new_page()
    page.goto(site.link(site.debtor_id))
    page.goto(f"{site.base}/portal/invoices/{site.due_id}")
    text = page.locator("main").inner_text()
    assert re.search(r"\b\d{2}\.\d{2}\.\d{4}\b", text) and not re.search(r"\b\d{2}\.\d{2}\.\d{2}\b(?!\d)", text)
    icon = page.request.get(site.base + "/favicon.ico")  # what browsers ask for by themselves
    assert icon.status == 200 and icon.headers["content-type"] == "image/vnd.microsoft.icon"
    assert watch.broken == []
    context.close()


# --------------------------------------------------------------------- 3. transfer from the same phone


def _transfer_details(site, invoice_id):
    from portal.models import Debtor, Invoice
    from portal.payments.transfer import transfer_for

    with site.app.app_context():
        invoice = db.session.get(Invoice, invoice_id)
        details = transfer_for(db.session.get(Debtor, invoice.debtor_id), [invoice])
        db.session.commit()
        return details


@pytest.mark.parametrize("lang", ["de", "en"])
def test_copy_buttons_put_the_exact_iban_amount_and_reference_on_the_clipboard(browser, site, lang):
    details = _transfer_details(site, site.due_id)
    context = browser.new_context(viewport=PHONE, locale="de-DE", permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.goto(site.link(site.debtor_id))
    page.goto(f"{site.base}/portal/language/{lang}?next=/portal/pay/transfer?invoice={site.due_id}")
    copy = "Kopieren" if lang == "de" else "Copy"
    expected = {"IBAN": "DE89370400440532013000", ("Verwendungszweck" if lang == "de" else "Reference"): details.reference,
                ("Betrag" if lang == "de" else "Amount"): "308,80" if lang == "de" else "308.80"}
    for label, value in expected.items():
        page.get_by_role("button", name=f"{copy} {label}").click()
        expect(page.locator(f"button[data-copy='{value}']")).to_contain_text("Kopiert" if lang == "de" else "Copied")
        assert page.evaluate("navigator.clipboard.readText()") == value
    main = page.locator("main").inner_text()
    assert "DE89 3704 0044 0532 0130 00" in main and details.reference_grouped in main
    assert all(len(group) <= 4 for group in details.reference_grouped.split(" "))
    assert layout_problems(page) == []
    shoot(page, f"transfer-copy-{lang}")
    page.set_viewport_size(DESKTOP)
    shoot(page, f"transfer-copy-{lang}", DESKTOP)
    context.close()


def test_without_javascript_the_details_are_selectable_text_and_no_dead_buttons_show(browser, site):
    context, watch = new_context(browser, site, js=False)
    page = context.new_page()
    page.goto(site.link(site.debtor_id))
    page.goto(f"{site.base}/portal/pay/transfer?invoice={site.due_id}")
    assert page.get_by_role("button", name=re.compile("Kopieren")).count() == 0
    assert page.locator("#iban").inner_text() == "DE89 3704 0044 0532 0130 00"
    context.close()


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_the_saved_qr_code_image_decodes_with_zbar_to_the_pages_payload(browser, site, js, tmp_path):
    details = _transfer_details(site, site.due_id)
    context, watch = new_context(browser, site, js=js)
    context = context
    page = context.new_page()
    page.goto(site.link(site.debtor_id))
    page.goto(f"{site.base}/portal/pay/transfer?invoice={site.due_id}")
    with page.expect_download() as download:
        page.get_by_role("link", name="QR-Code als Bild speichern").click()
    target = tmp_path / download.value.suggested_filename
    download.value.save_as(target)
    assert target.suffix == ".png" and target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    decoded = subprocess.run(["zbarimg", "-q", "--raw", "-Sbinary", str(target)], capture_output=True, check=True).stdout
    assert decoded.decode("utf-8") == details.payload
    assert watch.console_errors == []
    context.close()


# --------------------------------------------------------------------- 4. receipts and credits


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_a_camt_import_sends_a_receipt_by_smtp_and_the_portal_says_paid_on_by_transfer(browser, site, js):
    from portal.messaging import worker
    from portal.models import Merchant
    from portal.payments.reconcile import import_statements
    from tests.payments.camt_builder import entry, statement

    ref = f"camt-{'js' if js else 'nojs'}"
    with site.app.app_context():
        shop = db.session.get(Merchant, site.shop_id)
        invoice = make_invoice(shop, f"RE-2026-0{900 + js}", amount="25.00", lines=[],
                               debtor={"external_ref": f"K-R{int(js)}", "email": f"receipt{int(js)}@example.de", "name": "Rita Beleg"})
        number, invoice_id = invoice.number, invoice.id
        booked = shop_today()
        import_statements(shop, statement(entry("25.00", ref=ref, rf=invoice.rf_reference, booked=booked.isoformat())),
                          f"{ref}.xml", actor="test", today=booked)
        db.session.commit()
        worker.drain(now=datetime.now(timezone.utc) + timedelta(minutes=1))
    (mail,) = [m for m in site.inbox.messages if m["To"] == f"receipt{int(js)}@example.de"]
    text = _plain(mail.get_body(("plain",)).get_content())
    day = booked.strftime("%d.%m.%Y")
    assert f"Am {day} haben wir 25,00 € per Überweisung für die Rechnung {number} erhalten." in text
    link = re.search(re.escape(site.base) + r"/p/[A-Za-z0-9_-]+", text).group(0)
    context, watch = new_context(browser, site, js=js)
    page = context.new_page()
    page.goto(link)
    assert "keine offenen Rechnungen" in page.locator("main").inner_text()
    page.goto(f"{site.base}/portal/invoices/{invoice_id}")
    assert f"Bezahlt am {day} per Überweisung. Vielen Dank!" in _plain(page.locator("main").inner_text())
    shoot(page, f"invoice-paid-{'js' if js else 'nojs'}")
    assert watch.console_errors == []
    context.close()


# --------------------------------------------------------------------- 5. plans and counter-proposals


def _plan_debtor(site, ref: str):
    """A debtor with one 600,00 € invoice, due three weeks ago."""
    from portal.models import Merchant

    today = shop_today()
    with site.app.app_context():
        invoice = make_invoice(db.session.get(Merchant, site.shop_id), f"RE-2026-{ref}", amount="600.00", lines=[],
                               due_date=(today - timedelta(days=21)).isoformat(),
                               debtor={"external_ref": f"K-{ref}", "email": f"{ref.lower()}@example.de", "name": "Petra Plan",
                                       "language": "de"})
        return invoice.debtor_id, invoice.id


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_the_schedule_follows_the_number_of_installments(browser, site, js):
    debtor_id, _invoice_id = _plan_debtor(site, f"P{int(js)}")
    context, watch = new_context(browser, site, js=js)
    page = context.new_page()
    page.goto(site.link(debtor_id))
    page.goto(f"{site.base}/portal/requests/plan")
    rows = page.locator("#schedule tbody tr")
    expect(rows).to_have_count(3)  # the form starts with three installments: 200,00 € each
    assert "200,00" in _plain(rows.first.inner_text())
    page.select_option("#installments", "6")
    if js:
        expect(rows).to_have_count(6)  # swapped in by htmx, no page load
        assert page.url == f"{site.base}/portal/requests/plan"
        assert page.get_by_role("button", name="Zahlungsplan anzeigen").count() == 0
    else:
        page.get_by_role("button", name="Zahlungsplan anzeigen").click()
        expect(rows).to_have_count(6)
    assert all("100,00" in _plain(rows.nth(n).inner_text()) for n in range(6))
    days = [re.search(r"\d{2}\.\d{2}\.\d{4}", rows.nth(n).inner_text()).group(0) for n in range(6)]
    assert len(set(days)) == 6  # one installment a month
    assert "Dieser Plan kann sofort eingerichtet werden." in _plain(page.locator("#schedule").inner_text())
    shoot(page, f"plan-schedule-{'js' if js else 'nojs'}")
    assert watch.console_errors == [] and watch.broken == []
    context.close()


@pytest.mark.parametrize("js,lang", [(True, "de"), (False, "en")], ids=["js-de", "nojs-en"])
def test_a_counter_proposal_lists_every_installment_before_the_debtor_accepts(browser, site, js, lang):
    from portal.cases import service
    from portal.domain import installments
    from portal.models import Case, Debtor, Invoice
    from tests.factories import staff_actor

    debtor_id, invoice_id = _plan_debtor(site, f"C{int(js)}")
    today = shop_today()
    with site.app.app_context():
        debtor, invoice = db.session.get(Debtor, debtor_id), db.session.get(Invoice, invoice_id)
        case = service.request_plan(debtor, [invoice], rates=12, first_due=today + timedelta(days=10), today=today)
        assert case.status == "open"  # twelve installments: beyond what the shop sets up by itself
        service.counter_plan(case, actor=staff_actor(debtor.merchant), today=today, rates=4,
                             first_due=today + timedelta(days=14))
        db.session.commit()
        case_id = case.id
        expected = installments.schedule(service.plan_total(debtor.merchant, [invoice]), 4, today + timedelta(days=14))
    context, watch = new_context(browser, site, js=js)
    page = context.new_page()
    page.goto(site.link(debtor_id))
    page.goto(f"{site.base}/portal/language/{lang}?next=/portal/")
    card = _plain(page.locator(".card", has_text="RE-2026-").first.inner_text())
    assert ("Ratenzahlung angefragt" if lang == "de" else "Installment plan requested") in card
    assert ("Wird in Raten bezahlt" if lang == "de" else "Being paid in installments") not in card
    page.goto(f"{site.base}/portal/cases/{case_id}")
    table = page.locator("table.schedule")
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(4)
    for n, rate in enumerate(expected):
        cells = [_plain(c) for c in rows.nth(n).locator("td").all_inner_texts()]
        day = rate.due_on.strftime("%d.%m.%Y") if lang == "de" else None
        assert cells[0] == str(rate.number)
        if day:
            assert cells[1] == day and cells[2] == "150,00 €"
        else:
            assert re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}, \d{4}", cells[1]) and cells[2] == "€150.00"
    header = _plain(table.locator("thead").inner_text())
    assert ("Rate" if lang == "de" else "Installment") in header and (lang == "de" or "Rate" not in header)
    shoot(page, f"counter-proposal-{lang}")
    page.get_by_role("button", name="Vorschlag annehmen" if lang == "de" else "Accept this proposal").click()
    page.wait_for_url(re.compile(rf"/portal/cases/{case_id}$"))
    with site.app.app_context():
        assert db.session.get(Case, case_id).status == "active"
    page.goto(f"{site.base}/portal/")
    card = _plain(page.locator(".card", has_text="RE-2026-").first.inner_text())
    assert ("Wird in Raten bezahlt" if lang == "de" else "Being paid in installments") in card
    assert watch.console_errors == []
    context.close()


# --------------------------------------------------------------------- 7. ask a question


@pytest.mark.parametrize("js,lang", [(True, "de"), (False, "en"), (True, "en"), (False, "de")],
                         ids=["js-de", "nojs-en", "js-en", "nojs-de"])
def test_a_question_becomes_a_case_and_its_answer_arrives_by_email_and_in_the_portal(browser, site, js, lang):
    from portal.cases import service
    from portal.messaging import worker
    from portal.models import Case, Debtor
    from tests.factories import staff_actor

    debtor_id, email = (site.debtor_id, "max@example.de") if lang == "de" else (site.english_id, "jane@example.co.uk")
    de = lang == "de"
    context, watch = new_context(browser, site, js=js, lang="en-GB" if de else "de-DE")  # the browser's language does not count
    page = context.new_page()
    page.goto(site.link(debtor_id))
    page.get_by_role("link", name="Eine Frage stellen" if de else "Ask a question").click()
    assert page.url == f"{site.base}/portal/requests/question"
    question = f"Wann wird die Gutschrift gebucht? ({'js' if js else 'nojs'})" if de else f"When will the credit note be booked? ({js})"
    page.fill("#message", question)
    page.get_by_role("button", name="Frage senden" if de else "Send question").click()
    page.wait_for_url(re.compile(r"/portal/cases/\d+$"))
    case_id = int(page.url.rsplit("/", 1)[1])
    main = _plain(page.locator("main").inner_text())
    assert ("Stand: wartet auf Antwort" if de else "Status: waiting for an answer") in main and question in main
    answer = (f"Die Gutschrift wird am Montag gebucht ({'js' if js else 'nojs'})." if de
              else f"The credit note will be booked on Monday ({'js' if js else 'nojs'}).")
    with site.app.app_context():
        case = db.session.get(Case, case_id)
        assert (case.kind, case.status, case.body) == ("question", "open", question)
        service.reply(case, actor=staff_actor(db.session.get(Debtor, debtor_id).merchant), body=answer)
        db.session.commit()
        worker.drain(now=datetime.now(timezone.utc) + timedelta(minutes=1))
    mails = [m for m in site.inbox.messages if m["To"] == email and answer in _plain(m.get_body(("plain",)).get_content())]
    assert len(mails) == 1
    page.reload()
    main = _plain(page.locator("main").inner_text())
    assert answer in main and ("Stand: beantwortet" if de else "Status: answered") in main
    assert page.evaluate("document.documentElement.lang") == lang
    shoot(page, f"question-answered-{lang}-{'js' if js else 'nojs'}")
    page.fill("#body", "Danke!" if de else "Thank you!")
    page.get_by_role("button", name="Nachricht senden" if de else "Send message").click()
    with site.app.app_context():
        assert db.session.get(Case, case_id).status == "open"  # back in the support queue
    assert watch.console_errors == [] and watch.foreign == []
    context.close()


# --------------------------------------------------------------------- axe-core on the pages of this pass


@pytest.mark.parametrize("lang", ["de", "en"])
def test_axe_finds_nothing_serious_on_case_receipt_and_too_large_pages(browser, site, photos, lang):
    """Pages the tour in test_browser.py does not reach: an active plan with its transfer details, a promise,
    an objection with a photo, a paid invoice and the payment return page, and the objection form
    answered with 413 (portal.js blocked, so the photos go out full size while axe still runs)."""
    from portal import ledger
    from portal.cases import service
    from portal.cases.service import Upload
    from portal.models import Debtor, Invoice, Merchant

    today = shop_today()
    with site.app.app_context():
        shop = db.session.get(Merchant, site.shop_id)
        plan_inv = make_invoice(shop, f"RE-2026-A{lang}1", amount="150.00", lines=[],
                                debtor={"external_ref": f"K-AXE-{lang}", "email": f"axe-{lang}@example.de", "name": "Axel Prüfer"})
        debtor = db.session.get(Debtor, plan_inv.debtor_id)
        promise_inv = make_invoice(shop, f"RE-2026-A{lang}2", amount="30.00", lines=[], debtor={"external_ref": f"K-AXE-{lang}"})
        dispute_inv = make_invoice(shop, f"RE-2026-A{lang}3", amount="40.00", lines=[], debtor={"external_ref": f"K-AXE-{lang}"})
        paid_inv = make_invoice(shop, f"RE-2026-A{lang}4", amount="20.00", lines=[], debtor={"external_ref": f"K-AXE-{lang}"})
        plan = service.request_plan(debtor, [plan_inv], rates=3, first_due=today + timedelta(days=7), today=today)
        assert plan.status == "active"
        promise = service.make_promise(debtor, [promise_inv], promised_on=today + timedelta(days=5), today=today)
        with photos[0].open("rb") as fh:
            photo = fh.read()
        dispute = service.open_dispute(debtor, [dispute_inv], reason="damaged", body="Die Lieferung kam beschädigt an.",
                                       uploads=[Upload("IMG_0001.jpg", photo)], today=today)
        ledger.book(db.session.get(Invoice, paid_inv.id), kind="payment", amount_minor=2000, source="stripe",
                    external_ref=f"pi_axe_{lang}", booked_on=today, actor="stripe")
        db.session.commit()
        debtor_id, paid_id = debtor.id, paid_inv.id
        cases = {"case-plan-active": plan.id, "case-promise": promise.id, "case-dispute": dispute.id}
    context, watch = new_context(browser, site, bypass_csp=True, lang="en-GB" if lang == "de" else "de-DE")
    page = context.new_page()
    page.route("**/static/js/portal.js", lambda route: route.abort())
    page.goto(site.link(debtor_id))
    page.goto(f"{site.base}/portal/language/{lang}?next=/portal/")
    findings = {}

    def audit(name):
        assert page.evaluate("document.documentElement.lang") == lang, name
        shoot(page, f"axe-{name}-{lang}")
        page.set_viewport_size(DESKTOP)
        shoot(page, f"axe-{name}-{lang}", DESKTOP)
        page.set_viewport_size(PHONE)
        found = axe_findings(page)
        if found:
            findings[name] = found
        assert layout_problems(page) == [], name

    audit("overview-with-requests")
    for name, case_id in cases.items():
        page.goto(f"{site.base}/portal/cases/{case_id}")
        audit(name)
    page.goto(f"{site.base}/portal/invoices/{paid_id}")
    audit("invoice-paid")
    page.goto(f"{site.base}/portal/pay/return?invoice={paid_id}")
    audit("return-paid")
    _dispute_form(page, site, "Drei Fotos vom Schaden.", photos)
    with page.expect_response(lambda r: r.url.endswith("/portal/requests/dispute") and r.request.method == "POST") as answer:
        page.locator("main form button[type=submit]").click()
    assert answer.value.status == 413 and page.locator("#details").input_value() == "Drei Fotos vom Schaden."
    audit("dispute-too-large")
    assert findings == {}, findings
    context.close()


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_an_installment_is_paid_from_the_same_phone_copy_buttons_and_a_saved_qr_code(browser, site, js, tmp_path):
    from portal.cases import service
    from portal.domain.epc import epc_payload
    from portal.models import Debtor, Invoice

    debtor_id, invoice_id = _plan_debtor(site, f"I{int(js)}")
    today = shop_today()
    with site.app.app_context():
        debtor, invoice = db.session.get(Debtor, debtor_id), db.session.get(Invoice, invoice_id)
        case = service.request_plan(debtor, [invoice], rates=4, first_due=today + timedelta(days=7), today=today)
        db.session.commit()
        assert case.status == "active"
        case_id, reference, merchant = case.id, case.plan.rates[0].rf_reference, debtor.merchant
        payload = epc_payload(name=merchant.account_holder or merchant.legal_name, iban=merchant.iban, bic=merchant.bic,
                              amount_minor=15000, currency="EUR", reference=reference)
    context = browser.new_context(viewport=PHONE, locale="de-DE", java_script_enabled=js,
                                  permissions=["clipboard-read", "clipboard-write"] if js else [])
    page = context.new_page()
    page.goto(site.link(debtor_id))
    page.goto(f"{site.base}/portal/cases/{case_id}")
    main = _plain(page.locator("main").inner_text())
    assert "Ihre Ratenzahlung läuft." in main and "Rate 1 zahlen: 150,00 €" in main
    if js:
        for label, value in (("IBAN", "DE89370400440532013000"), ("Verwendungszweck", reference), ("Betrag", "150,00")):
            page.get_by_role("button", name=f"Kopieren {label}").click()
            assert page.evaluate("navigator.clipboard.readText()") == value
    else:
        assert page.get_by_role("button", name=re.compile("Kopieren")).count() == 0
        assert page.locator("#iban").inner_text() == "DE89 3704 0044 0532 0130 00"
    with page.expect_download() as download:
        page.get_by_role("link", name="QR-Code als Bild speichern").click()
    target = tmp_path / download.value.suggested_filename
    download.value.save_as(target)
    decoded = subprocess.run(["zbarimg", "-q", "--raw", "-Sbinary", str(target)], capture_output=True, check=True).stdout
    assert decoded.decode("utf-8") == payload
    assert layout_problems(page) == []
    shoot(page, f"installment-transfer-{'js' if js else 'nojs'}")
    page.set_viewport_size(DESKTOP)
    shoot(page, f"installment-transfer-{'js' if js else 'nojs'}", DESKTOP)
    context.close()
