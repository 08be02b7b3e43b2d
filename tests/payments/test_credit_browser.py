"""The debtor's credit after an overpayment, in Debian's Chromium at 390 and 1280 px, German and English,
JavaScript on and off: the amount and what happens next are visible, nothing scrolls sideways, no raw keys."""
from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from portal.extensions import db
from portal.links import token_for
from portal.models import Debtor, Invoice, Merchant
from portal.payments.reconcile import import_statements
from tests.chromium import BROWSER_MARKS, DESKTOP, PHONE, LiveServer
from tests.factories import make_invoice, make_merchant, shop_today
from tests.payments.camt_builder import entry, statement

pytestmark = BROWSER_MARKS
pytest.importorskip("playwright.sync_api")

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots" / "credit"


class Site(LiveServer):
    def seed(self):
        shop = make_merchant("garden", name="Gartenhaus Sonnenberg", credit_handling="refund")
        self.debtors = {}
        for language, number in (("de", "RE-2026-0042"), ("en", "RE-2026-0043")):
            who = {"external_ref": f"K-{language}", "language": language, "email": f"{language}@example.de",
                   "name": "Erika Mustermann"}
            paid = make_invoice(shop, number, amount="119.00", debtor=who)
            make_invoice(shop, number + "-B", amount="35.00", debtor=who)
            import_statements(shop, statement(entry("129.50", ref=f"B-{language}", rf=paid.rf_reference,
                                                    booked=shop_today().isoformat())),
                              f"{language}.xml", actor="test", today=shop_today())
            self.debtors[language] = (paid.debtor_id, paid.id)
        db.session.commit()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    s = Site(tmp_path_factory.mktemp("credit"))
    yield s
    s.stop()


def link(site, language) -> str:
    with site.app.app_context():
        return f"{site.base}/p/{token_for(db.session.get(Debtor, site.debtors[language][0]))}"


@pytest.mark.parametrize("language", ["de", "en"])
@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390", "1280"])
@pytest.mark.parametrize("javascript", [True, False], ids=["js", "nojs"])
def test_the_credit_is_shown_with_what_happens_next(browser, site, language, viewport, javascript):
    context = browser.new_context(viewport=viewport, java_script_enabled=javascript,
                                  locale="de-DE" if language == "de" else "en-GB")
    page = context.new_page()
    page.goto(link(site, language))
    card = page.locator("section.credit")
    text = re.sub(r"\s+", " ", card.inner_text())
    if language == "de":
        assert "Ihr Guthaben" in text and "10,50 €" in text
        assert "Sie haben auf Rechnung RE-2026-0042 10,50 € mehr bezahlt, als offen war." in text
        assert "Gartenhaus Sonnenberg erstattet Ihnen dieses Guthaben auf das Konto, von dem Sie gezahlt haben." in text
    else:
        assert "Your credit" in text and "€10.50" in text
        assert "You paid €10.50 more than was open on invoice RE-2026-0043." in text
        assert "Gartenhaus Sonnenberg will refund this credit to the account you paid from." in text
    body = page.locator("body").inner_text()
    assert not re.search(r"amount_minor|credit_handling|portal credit|-1050|\d{4}-\d{2}-\d{2}", body)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    SHOTS.mkdir(parents=True, exist_ok=True)
    if javascript:
        page.screenshot(path=str(SHOTS / f"overview-{language}-{viewport['width']}.png"), full_page=True)
    with site.app.app_context():
        invoice_id = site.debtors[language][1]
    page.goto(f"{site.base}/portal/invoices/{invoice_id}")
    notice = re.sub(r"\s+", " ", page.locator("main").inner_text())
    assert ("Ihr Guthaben: 10,50 €." if language == "de" else "Credit in your favour: €10.50.") in notice
    assert "-10,50" not in notice and "-€10.50" not in notice  # never a negative "still open"
    assert ("Betrag zu Ihren Gunsten 10,50 €" if language == "de" else "Amount in your favour €10.50") in notice
    if javascript:
        page.screenshot(path=str(SHOTS / f"invoice-{language}-{viewport['width']}.png"), full_page=True)
    context.close()
