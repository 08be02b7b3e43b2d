"""Installment plans and objections end to end, in Debian's Chromium at phone size.

A debtor follows the link from a reminder on a 390 × 844 screen; staff work in the back
office; the bank statement is uploaded there; the dunning run and the worker do the rest.
"""
from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pytest

from portal.domain import rf
from portal.dunning.run import run
from portal.extensions import db
from portal.links import token_for
from portal.messaging import worker
from portal.models import Invoice
from tests.chromium import BROWSER_MARKS, PHONE, LiveServer
from tests.dunning.helpers import start_smtp
from tests.factories import make_invoice, make_merchant, make_user, shop_today
from tests.payments.camt_builder import entry, statement

pytestmark = BROWSER_MARKS
playwright_api = pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots" / "cases"
PASSWORD = "correct horse battery"
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"



class Site(LiveServer):
    """A shop with a support user."""

    def seed(self):
        from portal.models import Merchant

        self.shop_id = make_merchant("garden", name="Gartenhaus Sonnenberg", plan_max_rates=6,
                                     plan_min_rate_minor=2000, support_email="hilfe@garden.example").id
        make_user(db.session.get(Merchant, self.shop_id), "support@garden.example", role="support", password=PASSWORD)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    s = Site(tmp_path_factory.mktemp("e2e"))
    yield s
    s.stop()


def phone(browser):
    return browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, locale="de-DE")


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def new_debtor(site, ref, number, amount="300.00", due_days_ago=20):
    with site.app.app_context():
        from portal.models import Merchant

        shop = db.session.get(Merchant, site.shop_id)
        issued = shop_today() - timedelta(days=due_days_ago + 14)
        inv = make_invoice(shop, number, amount=amount, lines=[], issue_date=issued.isoformat(),
                           due_date=(issued + timedelta(days=14)).isoformat(),
                           debtor={"external_ref": ref, "name": f"Kunde {ref}", "email": f"{ref.lower()}@example.de"})
        return inv.id, f"{site.base}/p/{token_for(inv.debtor)}"


def staff_login(browser, site):
    context = browser.new_context(viewport=PHONE, locale="de-DE")
    page = context.new_page()
    page.goto(f"{site.base}/office/login")
    page.fill("#email", "support@garden.example")
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    assert page.url.endswith("/office/")
    return context, page


def test_a_plan_inside_the_rules_is_approved_at_once_and_its_first_rate_is_paid_by_transfer(browser, site):
    invoice_id, link = new_debtor(site, "K-P1", "RE-P1", amount="300.00")
    context = phone(browser)
    page = context.new_page()
    page.goto(link)
    page.get_by_role("link", name="Ratenzahlung anfragen").first.click()
    page.select_option("#installments", "3")
    first = shop_today() + timedelta(days=10)
    page.fill("#first_due", first.isoformat())
    # With JavaScript the schedule follows the terms by itself (htmx); "Zahlungsplan anzeigen" is the no-JS way.
    from playwright.sync_api import expect

    expect(page.locator("#schedule")).to_contain_text(first.strftime("%d.%m.%Y"))
    assert "100,00" in page.locator("#schedule").inner_text()
    shot(page, "plan-preview")
    page.get_by_role("button", name="Diese Ratenzahlung beantragen").click()
    main = page.locator("main").inner_text()
    assert "Stand: läuft" in main and "Rate 1 zahlen: 100,00" in main.replace("\u00a0", " ")
    shot(page, "plan-active")
    reference = re.search(r"RF\d\d(?: [0-9A-Z]{1,4})+", main).group(0)
    assert rf.is_valid(reference)
    # The debtor transfers the first rate; staff upload the day's bank statement in the back office.
    camt = statement(entry("100.00", ref="BANK-P1-1", rf=reference.replace(" ", ""), name="Kunde K-P1",
                           booked=shop_today().isoformat()))
    staff, office = staff_login(browser, site)
    office.goto(f"{site.base}/office/payments")
    office.set_input_files("#statement", files=[{"name": "kontoauszug.xml", "mimeType": "application/xml", "buffer": camt}])
    office.get_by_role("button", name="Import").click()
    staff.close()
    from portal.uploads import jobs as upload_jobs

    with site.app.app_context():
        assert upload_jobs.drain("e2e") == 1  # the worker imports the uploaded statement
    page.reload()
    rows = page.locator("table.schedule tbody tr")
    assert "bezahlt" in rows.nth(0).inner_text()
    assert "Rate 2 zahlen" in page.locator("main").inner_text()
    shot(page, "plan-first-rate-paid")
    with site.app.app_context():
        inv = db.session.get(Invoice, invoice_id)
        assert inv.open_minor == 20000 and inv.paused_reason == "plan"
    context.close()


def test_a_plan_outside_the_rules_is_countered_by_staff_and_accepted_by_the_debtor(browser, site):
    _, link = new_debtor(site, "K-P2", "RE-P2", amount="900.00")
    context = phone(browser)
    page = context.new_page()
    page.goto(link)
    page.get_by_role("link", name="Ratenzahlung anfragen").first.click()
    page.select_option("#installments", "12")
    page.fill("#first_due", (shop_today() + timedelta(days=10)).isoformat())
    page.get_by_role("button", name="Diese Ratenzahlung beantragen").click()
    assert "wird Ihre Anfrage prüfen" in page.locator("main").inner_text()
    case_url = page.url
    staff, office = staff_login(browser, site)
    office.goto(f"{site.base}/office/cases")
    office.get_by_role("link", name=re.compile("Ratenzahlung #")).first.click()
    office.fill("#rates", "6")
    office.fill("#first_due", (shop_today() + timedelta(days=14)).isoformat())
    office.fill("#counter_note", "Sechs Raten können wir Ihnen gern anbieten.")
    office.get_by_role("button", name="Vorschlag senden").click()
    assert "Ihr Vorschlag wurde an den Kunden gesendet." in office.locator("main").inner_text()
    staff.close()
    page.goto(case_url)
    assert "6 Monatsraten" in page.locator("main").inner_text()
    shot(page, "plan-countered")
    page.get_by_role("button", name="Vorschlag annehmen").click()
    main = page.locator("main").inner_text()
    assert "Stand: läuft" in main and main.count("150,00") >= 6
    shot(page, "plan-counter-accepted")
    context.close()


def test_an_objection_with_a_pdf_is_resolved_with_a_partial_credit_and_the_next_reminder_shows_the_new_amount(browser, site):
    invoice_id, link = new_debtor(site, "K-D1", "RE-D1", amount="119.00", due_days_ago=10)
    context = phone(browser)
    page = context.new_page()
    page.goto(link)
    page.get_by_role("link", name="Einwand gegen eine Rechnung").first.click()
    page.get_by_label("Die Ware ist beschädigt oder mangelhaft").check()
    page.fill("#details", "Die Gartenbank kam mit einem gebrochenen Bein an, Foto anbei.")
    page.set_input_files("#files", files=[{"name": "Foto-Schaden.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    page.get_by_role("button", name="Einwand senden").click()
    assert "prüft Ihren Einwand" in page.locator("main").inner_text()
    shot(page, "dispute-sent")
    staff, office = staff_login(browser, site)
    office.goto(f"{site.base}/office/cases")
    office.get_by_role("link", name=re.compile("Einwand #")).first.click()
    with office.expect_download() as download:
        office.get_by_role("link", name="Foto-Schaden.pdf").click()
    assert Path(download.value.path()).read_bytes() == PDF
    office.get_by_label(re.compile("Gutschrift auf RE-D1")).fill("19,00")
    office.fill("#resolve_note", "Wir schreiben Ihnen 19,00 € für den Schaden gut.")
    office.get_by_role("button", name="Erledigen", exact=True).click()
    assert "Der Einwand ist erledigt" in office.locator("main").inner_text()
    staff.close()
    page.reload()
    assert "Ein Teil des Betrags wurde Ihnen gutgeschrieben" in page.locator("main").inner_text()
    context.close()
    # The next reminder: dunning resumes for the remaining 100,00 €.
    with site.app.app_context():
        inbox, controller = start_smtp(site.app)
        try:
            inv = db.session.get(Invoice, invoice_id)
            assert inv.open_minor == 10000 and inv.paused_reason is None
            for offset in range(0, 40):
                run(today=shop_today() + timedelta(days=offset), merchant=inv.merchant)
            worker.drain(now=__import__("datetime").datetime.now(__import__("datetime").timezone.utc) + timedelta(days=41))
        finally:
            controller.stop()
        reminders = [m for m in inbox.messages if m["To"] == "k-d1@example.de" and "Einwand" not in m["Subject"]
                     and "Antwort" not in m["Subject"]]
        assert reminders, [m["Subject"] for m in inbox.messages]
        body = reminders[0].get_body(("plain",)).get_content()
        # The credit is itemised and the amount asked for is the new one.
        assert "Bisher gezahlt oder gutgeschrieben: -19,00\xa0€" in body
        assert "Offen: 100,00\xa0€" in body
