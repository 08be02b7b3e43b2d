"""The back office in Debian's Chromium, at phone (390 px) and desktop (1280 px) size, with JavaScript on and off.

A merchant filters and searches open items and exports them (the file imports back with
nothing changed), records a payment on the invoice page, creates an API key that works
against the API and stops working when revoked. Every back-office page is checked with
axe-core (no serious or critical finding) and for sideways scrolling. Screenshots for the
README's walk-through are written to docs/screenshots/.
"""
from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest

from portal.clock import today_for
from portal.dunning.run import run
from portal.extensions import db
from portal.intake.csv_import import import_csv
from portal.models import Debtor, Invoice, Merchant
from tests.chromium import BROWSER_MARKS, DESKTOP, PHONE, LiveServer, fits_width, sign_in_office
from tests.factories import make_merchant, make_user

pytestmark = BROWSER_MARKS
pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "tests" / "vendor" / "axe-core-4.14.1.min.js"
DOCS = ROOT / "docs" / "screenshots"
PASSWORD = "correct horse battery"
HEADER = "number;issue_date;due_date;amount;currency;debtor_ref;kind;name;company;email;phone;language;street;postal_code;city;country"
NAMES = ["Erika Musterfrau", "Jürgen Weiß", "Aylin Özdemir", "Max Mustermann", "Sophie Bauer", "Lukas Hoffmann"]


class Site(LiveServer):
    def __init__(self, tmp: Path):
        super().__init__(tmp, RATELIMIT_ENABLED=False)  # one staff member signs in a dozen times a minute here

    def seed(self):
        shop = make_merchant("garden", name="Gartenhaus Sonnenberg", support_email="hilfe@garden.example")
        self.shop_id = shop.id
        make_user(shop, "admin@garden.example", role="admin", password=PASSWORD).name = "Anna Admin"
        make_user(shop, "clerk@garden.example", role="admin", password=PASSWORD).language = "en"  # works in English
        today = today_for(shop.timezone)
        rows = []
        for n in range(1, 61):
            due = today - timedelta(days=(n * 7) % 120 - 10)
            name = NAMES[n % len(NAMES)]
            rows.append(f"RE-2026-{n:04d};{(due - timedelta(days=14)).isoformat()};{due.isoformat()};{(n * 13) % 400 + 19},90;EUR;"
                        f"K-{n % 12 + 1000};person;{name};;kunde{n % 12}@example.de;+49 170 555{n % 12:04d};de;"
                        f"Hauptstraße {n};70173;Stuttgart;DE")
        import_csv(("\n".join([HEADER, *rows]) + "\n").encode(), shop, today=today, actor="import:seed")
        db.session.commit()
        run(today=today, merchant=shop)
        db.session.commit()
        # the first invoice's portal link opened 60 times: its timeline comes in two pages
        from datetime import datetime, timezone

        from portal.models import Event

        first = db.session.query(Invoice).filter_by(merchant_id=shop.id).order_by(Invoice.id).first()
        opened = datetime.now(timezone.utc) - timedelta(days=9)
        db.session.add_all([Event(merchant_id=shop.id, invoice_id=first.id, debtor_id=first.debtor_id, kind="link.opened",
                                  actor="debtor", occurred_at=opened + timedelta(hours=3 * n)) for n in range(60)])
        db.session.commit()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    s = Site(tmp_path_factory.mktemp("office-e2e"))
    yield s
    s.stop()


def _context(browser, size, *, js=True, **extra):
    return browser.new_context(viewport=size, locale="de-DE", java_script_enabled=js, accept_downloads=True, **extra)


def _sign_in(page, site):
    sign_in_office(page, site.base, "admin@garden.example", PASSWORD)


_no_sideways_scroll = fits_width


def axe_findings(page) -> list[dict]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [{"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:3]}
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


def _pages(site) -> list[str]:
    with site.app.app_context():
        invoice = db.session.query(Invoice).filter_by(merchant_id=site.shop_id).order_by(Invoice.id).first()
        debtor_id = invoice.debtor_id
        invoice_id = invoice.id
        plain = sorted(r.rule for r in site.app.url_map.iter_rules()
                       if r.rule.startswith("/office") and not r.arguments and "GET" in r.methods
                       and not r.rule.endswith((".csv", ".pdf", ".zip", "/login", "/logout")) and "export" not in r.rule)
    return plain + [f"/office/invoices/{invoice_id}", f"/office/debtors/{debtor_id}"]


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_every_back_office_page_is_accessible_and_fits_the_screen(browser, site, size):
    context = _context(browser, size, bypass_csp=True)
    page = context.new_page()
    _sign_in(page, site)
    problems = {}
    for path in _pages(site):
        response = page.goto(site.base + path)
        assert response.status == 200, path
        findings = axe_findings(page)
        if findings:
            problems[path] = findings
        if not _no_sideways_scroll(page):
            problems.setdefault(path, []).append("scrolls sideways")
    context.close()
    assert not problems, json.dumps(problems, indent=1, ensure_ascii=False)


@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_filter_search_and_export_and_the_export_imports_back_unchanged(browser, site, size, js, tmp_path):
    context = _context(browser, size, js=js)
    page = context.new_page()
    _sign_in(page, site)
    page.goto(site.base + "/office/invoices")
    page.fill("#q", "Jürgen")
    page.select_option("#age", "31-60")
    page.click("form[role=search] button[type=submit]")
    page.wait_for_url("**/office/invoices?*age=31-60*")
    rows = page.locator("#invoice-rows tr")
    count = rows.count()
    assert count >= 1
    for i in range(count):
        assert "Jürgen Weiß" in rows.nth(i).inner_text()
    wide = size == DESKTOP
    if wide and js:
        page.screenshot(path=str(DOCS / "open-items-filtered.png"), full_page=False)
    with page.expect_download() as download:
        page.click("text=Als CSV exportieren")
    path = tmp_path / "export.csv"
    download.value.save_as(path)
    raw = path.read_bytes()
    assert raw.startswith("\ufeff".encode())
    lines = raw.decode("utf-8-sig").strip().splitlines()
    assert len(lines) == count + 1
    with site.app.app_context():
        shop = db.session.get(Merchant, site.shop_id)
        before = db.session.query(Invoice.number, Invoice.intake_fingerprint, Invoice.open_minor).order_by(Invoice.id).all()
        debtors = db.session.query(Debtor.external_ref, Debtor.name, Debtor.phone, Debtor.email).order_by(Debtor.id).all()
        result = import_csv(raw, shop, today=today_for(shop.timezone), actor="import:roundtrip")
        db.session.commit()
        assert (result.created, result.unchanged, result.debtors_updated) == (0, count, 0)
        assert db.session.query(Invoice.number, Invoice.intake_fingerprint, Invoice.open_minor).order_by(Invoice.id).all() == before
        assert db.session.query(Debtor.external_ref, Debtor.name, Debtor.phone, Debtor.email).order_by(Debtor.id).all() == debtors
    context.close()


@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
def test_sorting_and_pages_work_with_and_without_javascript(browser, site, js):
    context = _context(browser, DESKTOP, js=js)
    page = context.new_page()
    _sign_in(page, site)
    page.goto(site.base + "/office/invoices?status=all")
    page.click("thead >> text=Offen")
    page.wait_for_url("**sort=open**")
    first = page.locator("#invoice-rows tr").first.inner_text()
    page.click("text=Nächste Seite")
    page.wait_for_url("**after=**")
    assert page.locator("#invoice-rows tr").count() >= 1
    assert page.locator("#invoice-rows tr").first.inner_text() != first
    context.close()


SHOTS = ROOT / "test-artifacts" / "screenshots" / "office"


@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_totals_of_a_long_list_and_earlier_timeline_entries_with_and_without_javascript(browser, site, size, js):
    """60 open invoices: two pages, so the totals come in their own request (htmx at once, or by the link); an invoice
    with 60 more events shows the newest 50, newest first, and the earlier ones on demand."""
    context = _context(browser, size, js=js)
    page = context.new_page()
    _sign_in(page, site)
    page.goto(site.base + "/office/invoices")
    totals = page.locator("#totals")
    SHOTS.mkdir(parents=True, exist_ok=True)
    name = f"{'js' if js else 'no-js'}-{size['width']}"
    if js:
        totals.locator("strong").first.wait_for()
    else:
        totals.scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / f"open-items-totals-link-{name}.png"), full_page=False)
        page.click("text=Alle passenden Rechnungen zusammenrechnen")
        page.wait_for_url("**totals=1**")
    with site.app.app_context():
        expected = db.session.query(Invoice).filter_by(merchant_id=site.shop_id, status="open").count()
    assert totals.inner_text().startswith(f"{expected} Rechnungen: Betrag")
    assert _no_sideways_scroll(page)
    totals.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / f"open-items-totals-{name}.png"), full_page=False)
    with site.app.app_context():
        invoice_id = db.session.query(Invoice).filter_by(merchant_id=site.shop_id).order_by(Invoice.id).first().id
    page.goto(site.base + f"/office/invoices/{invoice_id}")
    entries = page.locator(".timeline li")
    assert entries.count() == 50
    newest = entries.first.inner_text()
    first_page = [t.split("\n")[1] for t in entries.all_inner_texts()]
    page.locator("text=Frühere Einträge anzeigen").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / f"invoice-timeline-{name}.png"), full_page=False)
    page.click("text=Frühere Einträge anzeigen")
    if js:
        page.locator(".timeline li").nth(50).wait_for()
        assert page.locator(".timeline li").first.inner_text() == newest  # appended below, the newest still on top
        everything = [t.split("\n")[1] for t in page.locator(".timeline li").all_inner_texts()]
    else:
        page.wait_for_url("**before=**")
        assert "Zurück zu den neuesten Einträgen" in page.inner_text("#timeline")
        everything = first_page + [t.split("\n")[1] for t in page.locator(".timeline li").all_inner_texts()]
    assert page.locator("text=Frühere Einträge anzeigen").count() == 0
    with site.app.test_request_context():
        from portal import timeline as presenter

        whole = presenter.for_invoice(db.session.get(Invoice, invoice_id))
    assert len(everything) == len(whole) > 60 and sum(t.startswith("Rechnung über") for t in everything) == 1
    assert _no_sideways_scroll(page)
    page.locator("#timeline h2").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / f"invoice-timeline-earlier-{name}.png"), full_page=False)
    context.close()


@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_timeline_pages_read_in_english_for_staff_who_work_in_english(browser, site, size, js):
    context = browser.new_context(viewport=size, locale="en-GB", java_script_enabled=js)
    page = context.new_page()
    sign_in_office(page, site.base, "clerk@garden.example", PASSWORD)
    with site.app.app_context():
        invoice_id = db.session.query(Invoice).filter_by(merchant_id=site.shop_id).order_by(Invoice.id).first().id
    page.goto(site.base + f"/office/invoices/{invoice_id}")
    assert page.locator(".timeline li").count() == 50
    more = page.locator("text=Show earlier entries")
    more.scroll_into_view_if_needed()
    name = f"en-{'js' if js else 'no-js'}-{size['width']}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"invoice-timeline-{name}.png"), full_page=False)
    text = page.inner_text("main")
    assert "Frühere" not in text and "Rechnung über" not in text and not re.search(r"\b\d{2}\.\d{2}\.\d{2,4}\b", text)
    more.click()
    if js:
        page.locator(".timeline li").nth(50).wait_for()
    else:
        page.wait_for_url("**before=**")
        assert "Back to the newest entries" in page.inner_text("#timeline")
    assert page.locator("text=Show earlier entries").count() == 0 and _no_sideways_scroll(page)
    page.locator("#timeline h2").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / f"invoice-timeline-earlier-{name}.png"), full_page=False)
    context.close()


def test_a_payment_recorded_on_the_phone_closes_the_invoice(browser, site):
    with site.app.app_context():
        invoice = db.session.query(Invoice).filter_by(merchant_id=site.shop_id, status="open").order_by(Invoice.id.desc()).first()
        invoice_id, number, open_amount = invoice.id, invoice.number, invoice.open_minor
    context = _context(browser, PHONE)
    page = context.new_page()
    _sign_in(page, site)
    page.goto(site.base + f"/office/invoices/{invoice_id}")
    page.screenshot(path=str(DOCS / "invoice-phone.png"), full_page=False)
    page.fill("#pay-amount", f"{open_amount // 100},{open_amount % 100:02d}")
    page.fill("#pay-ref", "Barzahlung im Laden")
    page.click("text=Zahlung erfassen >> nth=-1")
    assert page.locator(".flash-success").inner_text() == "Die Zahlung wurde erfasst."
    assert "bezahlt" in page.locator(".kv").first.inner_text()
    assert page.locator(".timeline .what", has_text="von Hand erfasst – die Rechnung ist damit bezahlt").count() == 1
    with site.app.app_context():
        assert db.session.get(Invoice, invoice_id).status == "paid", number
    context.close()


def test_a_key_created_in_the_browser_authenticates_the_api_and_stops_when_revoked(browser, site):
    context = _context(browser, DESKTOP)
    page = context.new_page()
    _sign_in(page, site)
    page.goto(site.base + "/office/api-keys")
    page.fill("#key-name", "Shopware live")
    page.click("text=Schlüssel erstellen >> nth=-1")
    secret = page.input_value("#new-secret")
    assert page.locator("button[data-copy]").is_visible()  # the copy button appears where JavaScript runs
    assert page.get_attribute("#new-secret", "readonly") is not None
    page.screenshot(path=str(DOCS / "api-key-created.png"), full_page=False)

    def api_status() -> int:
        request = urllib.request.Request(site.base + "/api/v1/invoices/RE-2026-0001", headers={"Authorization": f"Bearer {secret}"})
        try:
            with urllib.request.urlopen(request) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    assert api_status() == 200
    page.click("button:has-text('Sperren')")
    assert api_status() == 401
    context.close()


def test_walkthrough_screenshots_for_the_readme(browser, site):
    """The README's "first ten minutes" pictures, taken from the real pages (desktop, German)."""
    DOCS.mkdir(parents=True, exist_ok=True)
    context = _context(browser, DESKTOP)
    page = context.new_page()
    _sign_in(page, site)
    page.screenshot(path=str(DOCS / "dashboard.png"), full_page=False)
    page.goto(site.base + "/office/invoices")
    page.screenshot(path=str(DOCS / "open-items.png"), full_page=False)
    page.click("#invoice-rows tr >> nth=0 >> a >> nth=1")
    page.wait_for_url("**/office/debtors/**")
    page.screenshot(path=str(DOCS / "customer.png"), full_page=True)
    page.goto(site.base + "/office/audit")
    page.screenshot(path=str(DOCS / "audit-log.png"), full_page=False)
    context.close()
    phone = _context(browser, PHONE)
    page = phone.new_page()
    _sign_in(page, site)
    page.goto(site.base + "/office/invoices")
    page.click("summary:has-text('Menü')")
    page.screenshot(path=str(DOCS / "open-items-phone-menu.png"), full_page=False)
    phone.close()
    for name in ("dashboard", "open-items", "customer", "audit-log", "open-items-phone-menu"):
        assert (DOCS / f"{name}.png").stat().st_size > 10_000
