"""The portal with claims at the collection agency, in Chromium at 390 and 1280 px: it fits the screen,
has big tap targets, offers no payment while the agency collects, and axe-core finds nothing serious."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from portal.extensions import db
from portal.links import token_for
from tests.chromium import BROWSER_MARKS, DESKTOP, PHONE, LiveServer
from tests.debtor.test_browser import SHOTS, axe_findings, layout_problems, new_context
from tests.factories import make_invoice, make_merchant

pytestmark = BROWSER_MARKS
pytest.importorskip("playwright.sync_api")


class Site(LiveServer):
    def seed(self):
        from portal.models import CollectionAgency, Invoice

        shop = make_merchant("garden", name="Gartenhaus Sonnenberg", primary_color="#2e6b30", accent_color="#eef5e9",
                             privacy_url="https://garden.example/datenschutz")
        db.session.merge(CollectionAgency(
            merchant_id=shop.id, name="Inkasso Süd Forderungsmanagement GmbH", street="Königstraße 1", postal_code="70173",
            city="Stuttgart", contact_person="Frau Weber", email="forderungen@inkasso-sued.example", phone="+49 711 123456",
            privacy_url="https://inkasso-sued.example/datenschutz", legal_basis="art6_1_f", payee="agency"))
        first = make_invoice(shop, "RE-2026-00017", amount="308.80")
        second = make_invoice(shop, "RE-2026-00042", amount="49.90", lines=[])
        for invoice in (first, second):
            claim = db.session.get(Invoice, invoice.id)
            claim.status, claim.closed_on, claim.next_action_on = "handed_over", date(2026, 3, 2), None
        db.session.commit()
        self.debtor_id, self.first_id = first.debtor_id, first.id

    def link(self) -> str:
        from portal.models import Debtor

        with self.app.app_context():
            return f"{self.base}/p/{token_for(db.session.get(Debtor, self.debtor_id))}"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    s = Site(Path(tmp_path_factory.mktemp("handed-over")))
    yield s
    s.stop()


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390x844", "1280x800"])
@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
def test_claims_at_the_agency_fit_the_screen_show_the_agency_and_offer_no_payment(browser, site, viewport, js):
    SHOTS.mkdir(parents=True, exist_ok=True)
    context, watch = new_context(browser, site, viewport=viewport, js=js)
    page = context.new_page()
    problems = {}
    for name, path in (("handed-over-overview", "/portal/"), ("handed-over-invoice", f"/portal/invoices/{site.first_id}"),
                       ("handed-over-pay", "/portal/pay")):
        if name == "handed-over-overview":
            page.goto(site.link())
        page.goto(site.base + path)
        page.wait_for_load_state("load")
        body = page.inner_text("main")
        assert "Alles bezahlt" not in body and "Inkasso Süd Forderungsmanagement GmbH" in body, name
        assert page.locator("a[href^='/portal/pay']").count() == 0, name  # no payment offered
        if js:
            page.screenshot(path=str(SHOTS / f"{name}-de-{viewport['width']}x{viewport['height']}.png"), full_page=True)
        found = layout_problems(page)
        if found:
            problems[name] = found
    context.close()
    assert problems == {}
    assert watch.foreign == [] and watch.broken == [] and watch.console_errors == []


def test_axe_finds_nothing_serious_on_the_pages_of_a_handed_over_claim(browser, site):
    context, _ = new_context(browser, site, bypass_csp=True)
    page = context.new_page()
    page.goto(site.link())
    findings = {}
    for path in ("/portal/", f"/portal/invoices/{site.first_id}", "/portal/pay"):
        page.goto(site.base + path)
        page.wait_for_load_state("load")
        found = axe_findings(page)
        if found:
            findings[path] = found
    context.close()
    assert findings == {}
