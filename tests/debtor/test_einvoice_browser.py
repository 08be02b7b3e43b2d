"""The e-invoice page in Chromium: it fits a phone without sideways scrolling, in German and English,
for a UBL and a CII XRechnung, with no console errors (no CSP violations); screenshots for a look."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from portal.extensions import db
from portal.links import token_for
from tests.chromium import BROWSER_MARKS, DESKTOP, PHONE, LiveServer, fits_width
from tests.factories import make_merchant
from tests.intake.einvoice_files import sample

pytestmark = BROWSER_MARKS
playwright_api = pytest.importorskip("playwright.sync_api")

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
SAMPLES = {"ubl": "01.21a-INVOICE_ubl.xml", "cii": "01.14a-INVOICE_uncefact.xml", "ubl-lines": "03.06a-INVOICE_ubl.xml"}


class Site(LiveServer):
    def seed(self):
        from portal.intake.einvoice_batch import import_files
        from portal.models import Invoice

        shop = make_merchant("garden", name="Gartenhaus Sonnenberg")
        self.invoices = {}
        for key, name in SAMPLES.items():
            import_files([(name, sample(name))], shop, today=date(2026, 1, 20), actor="import:test",
                         storage_dir=self.app.config["STORAGE_DIR"])
            invoice = db.session.execute(db.select(Invoice).order_by(Invoice.id.desc())).scalars().first()
            self.invoices[key] = (invoice.id, invoice.debtor_id)
        db.session.commit()

    def einvoice_url(self, key: str) -> tuple[str, str]:
        from portal.models import Debtor

        invoice_id, debtor_id = self.invoices[key]
        with self.app.app_context():
            link = f"{self.base}/p/{token_for(db.session.get(Debtor, debtor_id))}"
        return link, f"{self.base}/portal/invoices/{invoice_id}/e-invoice"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    s = Site(tmp_path_factory.mktemp("einvoice-browser"))
    yield s
    s.stop()


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390x844", "1280x800"])
@pytest.mark.parametrize("lang", ["de", "en"])
@pytest.mark.parametrize("key", list(SAMPLES))
def test_the_e_invoice_page_fits_the_screen_without_sideways_scrolling(browser, site, viewport, lang, key):
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport=viewport, locale="de-DE" if lang == "de" else "en-GB")
    page = context.new_page()
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    link, url = site.einvoice_url(key)
    page.goto(link)
    page.goto(f"{site.base}/portal/language/{lang}")
    response = page.goto(url)
    assert response.status == 200
    assert page.evaluate("document.documentElement.lang") == lang
    page.screenshot(path=str(SHOTS / f"einvoice-{key}-{lang}-{viewport['width']}x{viewport['height']}.png"), full_page=True)
    assert fits_width(page), page.evaluate("() => document.documentElement.scrollWidth")
    assert errors == []
    context.close()
