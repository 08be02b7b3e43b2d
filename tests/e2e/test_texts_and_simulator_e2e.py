"""The message-text editor and the simulator in Debian's Chromium, at 390 px and 1280 px, JavaScript on and off.

Texts: an admin saves own words for a step, gets the refusal message when the SMS loses its
link, restores the previous version and goes back to the default. Simulator: staff simulate an
invoice and a what-if, read the days in German, and nothing is sent. Screenshots go to
test-artifacts/ (and the simulator's to docs/screenshots/ for the README).
"""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal.clock import today_for
from portal.extensions import db
from portal.models import Message, MessageText
from tests.chromium import BROWSER_MARKS, DESKTOP, PHONE, LiveServer
from tests.e2e.test_office_e2e import PASSWORD, _context, _sign_in
from tests.e2e.test_office_e2e import _no_sideways_scroll as _fits
from tests.factories import make_invoice, make_merchant, make_user

pytestmark = BROWSER_MARKS
pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "texts-simulator"
DOCS = ROOT / "docs" / "screenshots"


class Site(LiveServer):
    def __init__(self, tmp: Path):
        super().__init__(tmp, RATELIMIT_ENABLED=False)

    def seed(self):
        shop = make_merchant("garden", name="Gartenhaus Sonnenberg", support_email="hilfe@garden.example")
        self.shop_id = shop.id
        make_user(shop, "admin@garden.example", role="admin", password=PASSWORD).name = "Anna Admin"
        today = today_for(shop.timezone)
        due = today - timedelta(days=12)
        make_invoice(shop, "RE-2026-0042", issue_date=(due - timedelta(days=14)).isoformat(), due_date=due.isoformat(),
                     amount="1234.56", lines=[{"description": "Gartenbank Eiche", "quantity": 1, "amount": "1234.56"}],
                     debtor={"external_ref": "K-1042", "kind": "person", "name": "Jürgen Weiß", "email": "juergen@example.de",
                             "language": "de", "date_of_birth": "1975-04-04",
                             "address": {"street": "Hauptstraße 5", "postal_code": "70173", "city": "Stuttgart",
                                         "country": "DE"}})
        db.session.commit()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    s = Site(tmp_path_factory.mktemp("texts-sim-e2e"))
    yield s
    s.stop()


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _versions(site, kind: str, language: str) -> int:
    with site.app.app_context():
        return db.session.execute(select(func.count()).select_from(MessageText).where(
            MessageText.merchant_id == site.shop_id, MessageText.kind == kind, MessageText.language == language)).scalar_one()


# Each combination edits its own step, so the four runs do not see each other's versions.
CASES = {("phone", True): "payment_reminder", ("phone", False): "second_notice",
         ("desktop", True): "promise_confirmed", ("desktop", False): "plan_confirmed"}


@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_text_editor_override_refusal_restore_and_default(browser, site, size, js):
    name = "phone" if size == PHONE else "desktop"
    kind = CASES[(name, js)]
    tag = f"{name}-{'js' if js else 'nojs'}"
    context = _context(browser, size, js=js)
    page = context.new_page()
    _sign_in(page, site)
    page.goto(site.base + "/office/texts")
    page.click(f"a[href='/office/texts/{kind}/de']")
    page.wait_for_url(f"**/office/texts/{kind}/de")
    assert "Es gelten: die Standardtexte von Settle." in page.inner_text("main")

    # 1. Own words, saved.
    page.fill("#slot-intro", "wir haben bis heute keinen Zahlungseingang für die folgenden Rechnungen gesehen – "
                             "vielleicht ist sie Ihnen durchgerutscht.")
    page.click("button[name=action][value=save]")
    page.wait_for_load_state()
    assert "Als Version 1 gespeichert" in page.inner_text("main")
    assert page.input_value("#slot-intro").startswith("wir haben bis heute keinen Zahlungseingang")
    assert _fits(page)
    _shot(page, f"texts-saved-{tag}")

    # 2. Refused: the SMS without its link; the message says why, nothing is stored.
    page.fill("#slot-sms", "Vielen Dank, {{ customer_name }}!")
    page.click("button[name=action][value=save]")
    page.wait_for_load_state()
    error = page.locator("#err-sms")
    assert error.is_visible()
    assert "Die SMS muss den Link {{ link }} enthalten." in error.inner_text()
    assert "Nicht gespeichert" in page.inner_text("main")
    assert _versions(site, kind, "de") == 1
    _shot(page, f"texts-refused-{tag}")

    # 3. A second version, then the first one restored.
    page.goto(site.base + f"/office/texts/{kind}/de")
    page.fill("#slot-closing", "Herzliche Grüße aus dem Gartenhaus")
    page.click("button[name=action][value=save]")
    page.wait_for_load_state()
    assert "Als Version 2 gespeichert" in page.inner_text("main")
    page.locator("form[action$='/restore/1'] button").click()
    page.wait_for_load_state()
    assert "Version 1 als Version 3 wiederhergestellt" in page.inner_text("main")
    assert page.input_value("#slot-intro").startswith("wir haben bis heute keinen Zahlungseingang")
    assert "Herzliche Grüße aus dem Gartenhaus" not in page.input_value("#slot-closing")
    _shot(page, f"texts-restored-{tag}")

    # 4. Back to the default words.
    page.click("form[action$='/default'] button")
    page.wait_for_load_state()
    assert "Zurück zu den Standardtexten von Settle (Version 4)." in page.inner_text("main")
    assert "Es gelten: die Standardtexte von Settle." in page.inner_text("main")
    assert not page.input_value("#slot-intro").startswith("wir haben bis heute keinen Zahlungseingang")
    assert page.locator("form[action$='/default'] button").count() == 0
    assert _fits(page)
    _shot(page, f"texts-default-{tag}")
    context.close()


@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_simulator_invoice_and_what_if_in_german(browser, site, size, js):
    name = "phone" if size == PHONE else "desktop"
    tag = f"{name}-{'js' if js else 'nojs'}"
    with site.app.app_context():
        messages_before = db.session.execute(select(func.count()).select_from(Message)).scalar_one()
    context = _context(browser, size, js=js)
    page = context.new_page()
    _sign_in(page, site)
    page.goto(site.base + "/office/simulator")
    page.check("input[name=mode][value=invoice]")
    page.fill("#sim-number", "RE-2026-0042")
    page.click("button.primary")
    page.wait_for_url("**/office/simulator?*")
    main = page.inner_text("main").replace("\xa0", " ")
    assert "1. Mahnung" in main and "per E-Mail" in main
    assert "1.234,56 €" in main
    assert "Im Verzug ab" in main
    assert "Tag 0" in main
    assert _fits(page)
    _shot(page, f"simulator-invoice-{tag}")
    if js and name == "desktop":
        DOCS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOCS / "simulator.png"), full_page=False)

    page.select_option("#sim-action", "pay_half")
    page.fill("#sim-day", "5")
    page.click("button.primary")
    page.wait_for_url("**/office/simulator?*action=pay_half*")
    main = page.inner_text("main").replace("\xa0", " ")
    assert "am Tag 5" in main
    assert "617,28 €" in main  # half of 1.234,56 €
    assert page.locator(".sim-added").count() >= 1
    assert _fits(page)
    _shot(page, f"simulator-what-if-{tag}")

    # A what-if invoice for an older customer: letters first.
    page.check("input[name=mode][value=whatif]")
    page.select_option("#sim-action", "")
    page.fill("#sim-amount", "89,90")
    page.fill("#sim-age", "76")
    page.select_option("#sim-channel", "letter")
    page.fill("#sim-due", "-3")
    page.click("button.primary")
    page.wait_for_url("**/office/simulator?*mode=whatif*")
    assert "per Brief" in page.inner_text("main")
    context.close()
    with site.app.app_context():
        assert db.session.execute(select(func.count()).select_from(Message)).scalar_one() == messages_before
