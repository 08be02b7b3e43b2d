"""The base-rate page in Debian's Chromium at 390 and 1280 px, German and English: an admin sees the banner for
the half-year without a rate, enters a wrong figure (told what is wrong), then the published one; the banner
goes, the table shows it with its make-up. Screenshots go to $SETTLE_SCREENSHOTS (default: the test's tmp dir)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from portal.extensions import db
from tests.chromium import BROWSER_MARKS, DESKTOP, PHONE, LiveServer, fits_width, sign_in_office
from tests.factories import make_merchant, make_user

pytestmark = BROWSER_MARKS
pytest.importorskip("playwright.sync_api")

PASSWORD = "correct horse battery"


class Site(LiveServer):
    def __init__(self, tmp: Path):
        super().__init__(tmp, RATELIMIT_ENABLED=False)

    def seed(self):
        shop = make_merchant("garden", name="Gartenhaus Sonnenberg")
        make_user(shop, "admin@garden.example", role="admin", password=PASSWORD)
        english = make_user(shop, "admin-en@garden.example", role="admin", password=PASSWORD)
        english.language = "en"
        db.session.commit()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    s = Site(tmp_path_factory.mktemp("base-rates-e2e"))
    yield s
    s.stop()


def _sign_in(page, site, email):
    sign_in_office(page, site.base, email, PASSWORD)


def _shots(tmp_path) -> Path:
    out = Path(os.environ.get("SETTLE_SCREENSHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["390", "1280"])
def test_the_base_rate_page_reads_well_in_german_and_english_and_fits_the_screen(browser, site, size, tmp_path):
    shots = _shots(tmp_path)
    for email, language, consumer in [("admin@garden.example", "de", "6,27 % p. a. (Basiszinssatz 1,27 % + 5 Prozentpunkte)"),
                                      ("admin-en@garden.example", "en", "6.27 % p. a. (base rate 1.27 % + 5 percentage points)")]:
        context = browser.new_context(viewport=size, locale="de-DE")
        page = context.new_page()
        _sign_in(page, site, email)
        page.goto(site.base + "/office/base-rates")
        assert consumer in page.inner_text("main").replace("\xa0", " ")
        assert fits_width(page)
        page.screenshot(path=str(shots / f"base-rates-{language}-{size['width']}.png"), full_page=True)
        context.close()


def test_an_admin_enters_the_missing_rate_without_javascript_and_the_banner_goes(browser, site):
    context = browser.new_context(viewport=PHONE, locale="de-DE", java_script_enabled=False)
    page = context.new_page()
    _sign_in(page, site, "admin@garden.example")
    page.goto(site.base + "/office/base-rates")
    banner = page.locator(".banner-base-rate")
    if banner.count():  # the running half-year has no rate (the real clock decides)
        assert "Basiszinssatz" in banner.inner_text()
    page.fill("#valid-from", "2026-07-01")
    page.fill("#rate", "127")
    page.click("button.primary")
    assert "zwischen −10 % und 20 %" in page.inner_text("#rate-error")
    page.fill("#rate", "1,27")
    page.click("button.primary")
    assert "Basiszinssatz für das Halbjahr ab 01.07.2026 gespeichert: 1,27 %." in page.inner_text("main")
    row = page.locator("tr", has_text="01.07.2026").first.inner_text().replace("\xa0", " ")
    assert "6,27 % p. a. (Basiszinssatz 1,27 % + 5 Prozentpunkte)" in row and "admin@garden.example" in row
    context.close()
