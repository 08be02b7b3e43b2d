"""The policy editor and its previews in Debian's Chromium at 390 and 1280 px, JavaScript on and off.

An admin changes a step and saves (a new version), is refused with the field marked when a fee comes
before the default notice, and previews every step (email in a sandboxed frame, SMS with its length,
letter link) in German and English. Screenshots go to docs/screenshots/policy-*.png.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Policy
from tests.chromium import BROWSER_MARKS, DESKTOP, PHONE, LiveServer, fits_width
from tests.e2e.test_office_e2e import axe_findings
from tests.factories import make_merchant, make_user

pytestmark = BROWSER_MARKS
pytest.importorskip("playwright.sync_api")

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PASSWORD = "correct horse battery"


class Site(LiveServer):
    def __init__(self, tmp: Path):
        super().__init__(tmp, RATELIMIT_ENABLED=False)

    def seed(self):
        shop = make_merchant("garden", name="Gartenhaus Sonnenberg", support_email="hilfe@garden.example")
        self.shop_id = shop.id
        make_user(shop, "admin@garden.example", role="admin", password=PASSWORD)
        db.session.commit()

    def group_id(self, name: str) -> int:
        with self.app.app_context():
            p = db.session.execute(select(Policy).where(Policy.merchant_id == self.shop_id, Policy.name == name,
                                                        Policy.superseded_at.is_(None))).scalar_one()
            return p.group_id

    def version(self, name: str) -> int:
        with self.app.app_context():
            return db.session.execute(select(Policy.version).where(
                Policy.merchant_id == self.shop_id, Policy.name == name, Policy.superseded_at.is_(None))).scalar_one()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    s = Site(tmp_path_factory.mktemp("policies-e2e"))
    yield s
    s.stop()


def _page(browser, site, size, js=True, **extra):
    context = browser.new_context(viewport=size, locale="de-DE", java_script_enabled=js, **extra)
    page = context.new_page()
    page.goto(site.base + "/office/login")
    page.fill("#email", "admin@garden.example")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(site.base + "/office/")
    return context, page


_fits = fits_width


@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_an_admin_changes_a_step_and_saves_a_new_version(browser, site, size, js):
    context, page = _page(browser, site, size, js)
    before = site.version("Standard")
    page.goto(f"{site.base}/office/policies/{site.group_id('Standard')}")
    assert _fits(page)
    page.fill("#step-3-days", str(10 + before))  # a change each run
    page.click("button[value=save]")
    page.wait_for_load_state()
    assert f"Als Version {before + 1} gespeichert" in page.inner_text("main")
    assert site.version("Standard") == before + 1
    if size is PHONE and js:
        page.screenshot(path=str(DOCS / "policy-saved-phone.png"), full_page=False)
    context.close()


@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_a_fee_before_the_default_notice_is_refused_with_the_field_marked(browser, site, size, js):
    context, page = _page(browser, site, size, js)
    page.goto(f"{site.base}/office/policies/{site.group_id('Standard')}")
    page.fill("#step-1-fee-letter", "1,00")
    page.click("button[value=save]")
    page.wait_for_load_state()
    assert page.get_attribute("#step-1-fee-letter", "aria-invalid") == "true"
    assert "Schritt 2: Eine Gebühr ist erst nach der Mahnung erlaubt" in page.inner_text("#err-step-1-fee-letter")
    assert _fits(page)
    if js:
        page.locator("#err-step-1-fee-letter").scroll_into_view_if_needed()
        page.screenshot(path=str(DOCS / f"policy-refused-{'phone' if size is PHONE else 'desktop'}.png"), full_page=False)
    context.close()


@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_previews_of_every_step_in_german_and_english_with_the_unsaved_change(browser, site, size, js):
    context, page = _page(browser, site, size, js, bypass_csp=True)
    page.goto(f"{site.base}/office/policies/{site.group_id('Mobile first (bis 29 Jahre)')}")
    page.fill("#step-3-days", "12")
    page.click("button[value=preview]")
    page.wait_for_load_state()
    assert page.locator("iframe.mail").count() == 12
    assert page.locator(".sms-length").count() == 12
    assert "Zeichen, 1 SMS" in page.inner_text("#previews")
    assert page.input_value("#step-3-days") == "12"  # the unsaved change stays in the form
    src = page.locator("iframe.mail").nth(0).get_attribute("src")
    email = context.request.get(site.base + src)
    assert email.status == 200 and "sandbox" in email.headers["content-security-policy"]
    assert "Gartenhaus Sonnenberg" in email.text()
    assert _fits(page)
    if js:  # axe-core runs as a script
        assert axe_findings(page) == []
    name = f"policy-preview-{'phone' if size is PHONE else 'desktop'}"
    if js:
        page.locator("#previews").scroll_into_view_if_needed()
        page.screenshot(path=str(DOCS / f"{name}.png"), full_page=False)
    context.close()


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_list_of_policies_is_accessible_and_fits(browser, site, size):
    context, page = _page(browser, site, size, bypass_csp=True)
    page.goto(site.base + "/office/policies")
    assert "Mobile first (bis 29 Jahre)" in page.inner_text("main")
    assert _fits(page)
    assert axe_findings(page) == []
    page.screenshot(path=str(DOCS / f"policy-list-{'phone' if size is PHONE else 'desktop'}.png"), full_page=False)
    context.close()
