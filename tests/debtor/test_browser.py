"""The portal in Debian's Chromium (Playwright): phone and desktop, German and English, JavaScript on and off.

Checks what a person would notice: no sideways scrolling, tap targets of at least 44 px,
the pay button visible without scrolling, partial updates with htmx, the same flows with
JavaScript off, no request to any other host, and no serious or critical axe-core finding.
Screenshots of every page land in test-artifacts/screenshots/.
"""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from portal import ledger
from portal.extensions import db
from portal.links import token_for
from portal.models import Message, MessageInvoice
from tests.chromium import BROWSER_MARKS, DESKTOP, PHONE, LiveServer
from tests.factories import make_invoice, make_merchant, shop_today

pytestmark = BROWSER_MARKS
playwright_api = pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"
AXE = ROOT / "tests" / "vendor" / "axe-core-4.14.1.min.js"



class Site(LiveServer):
    """The portal with seeded shops and debtors."""

    def __init__(self, tmp: Path):
        # A small request limit and a tight step-up limit, so that the 413 and 429 pages can be visited too.
        super().__init__(tmp, STRIPE_API_BASE="http://127.0.0.1:9", STRIPE_MAX_NETWORK_RETRIES=0,
                         MAX_CONTENT_LENGTH=64 * 1024, PORTAL_STEP_UP_RATE_LIMIT="2/minute")

    def seed(self):
        from portal.cases import service
        from tests.factories import staff_actor

        shop = make_merchant("garden", name="Gartenhaus Sonnenberg", logo_url="/static/img/demo-logo.svg",
                             primary_color="#2e6b30", accent_color="#eef5e9", support_phone="+49 711 123456-0",
                             support_hours="Mo–Fr 9–17 Uhr", imprint_url="https://garden.example/impressum",
                             privacy_url="https://garden.example/datenschutz", stripe_secret_key="sk_test_browser")
        first = make_invoice(shop, "RE-2026-00017", lines=[
            {"description": "Hochbeet Lärche 200 × 80 cm", "quantity": 1, "amount": "189.00"},
            {"description": "Pflanzkübel Terrakotta, 3er-Set", "quantity": 2, "amount": "119.80"}], amount="308.80")
        make_invoice(shop, "RE-2026-00042", amount="49.90", lines=[])
        ledger.book(first, kind="fee", amount_minor=250, source="dunning", external_ref="fee-1",
                    booked_on=shop_today() - timedelta(days=2), actor="system")
        reminder = Message(merchant_id=shop.id, debtor_id=first.debtor_id, purpose="dunning", template="reminder_1",
                           channel="email", language="de", recipient="max@example.de", dedupe_key="b1", status="sent",
                           sent_at=datetime.now(timezone.utc) - timedelta(days=5), subject="Zahlungserinnerung")
        reminder.invoices.append(MessageInvoice(invoice_id=first.id, step="reminder_1"))
        db.session.add(reminder)
        paid_later = make_invoice(shop, "RE-2026-00050", amount="25.00",
                                  debtor={"external_ref": "K-2", "email": "k2@example.de"})
        self.paid_later_id, self.paid_later_debtor_id = paid_later.id, paid_later.debtor_id
        strict = make_merchant("strict", name="Weinkontor Rebstock", link_step_up=True, primary_color="#ffd400")
        self.strict_debtor_id = make_invoice(strict, "W-1").debtor_id
        self.locked_debtor_id = make_invoice(strict, "W-2", debtor={"external_ref": "W-K2", "email": "w2@example.de"}).debtor_id
        today = shop_today()
        question = service.ask_question(first.debtor, [first], body="Ist die Versandpauschale in der Rechnung enthalten?")
        service.reply(question, actor=staff_actor(shop), body="Ja, die Versandpauschale von 4,90 € ist enthalten.")
        self.question_id = question.id
        big = make_invoice(shop, "RE-2026-00061", amount="600.00", lines=[],
                           debtor={"external_ref": "K-PLAN", "email": "plan@example.de", "name": "Petra Plan"})
        shop.plan_max_rates = 6
        plan = service.request_plan(big.debtor, [big], rates=12, first_due=today + timedelta(days=10), today=today)
        service.counter_plan(plan, actor=staff_actor(shop), today=today, rates=4, first_due=today + timedelta(days=14),
                             note="Vier Raten können wir Ihnen gern anbieten.")
        self.plan_debtor_id, self.plan_case_id = big.debtor_id, plan.id
        db.session.commit()
        self.debtor_id = first.debtor_id
        self.first_id = first.id

    def link(self, debtor_id=None, **kw) -> str:
        from portal.models import Debtor

        with self.app.app_context():
            return f"{self.base}/p/{token_for(db.session.get(Debtor, debtor_id or self.debtor_id), **kw)}"

    def expired_link(self) -> str:
        return self.link(today=shop_today() - timedelta(days=400))

    def pay(self, invoice_id: int, minor: int, ref: str):
        from portal.models import Invoice

        with self.app.app_context():
            ledger.book(db.session.get(Invoice, invoice_id), kind="payment", amount_minor=minor, source="stripe",
                        external_ref=ref, booked_on=shop_today(), actor="stripe")
            db.session.commit()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    s = Site(tmp_path_factory.mktemp("browser"))
    yield s
    s.stop()


class Watch:
    """Every request a page makes and every console error (CSP violations show up there)."""

    def __init__(self, context, base: str):
        self.base = base
        self.foreign: list[str] = []
        self.console_errors: list[str] = []
        self.broken: list[str] = []
        context.on("request", self._request)
        context.on("response", self._response)
        context.on("console", self._console)

    def _console(self, message):
        # A page answered 404/410 on purpose (an invalid link) is logged as "Failed to load resource";
        # broken sub-resources are caught in _response instead.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.console_errors.append(message.text)

    def _response(self, response):
        if response.request.resource_type != "document" and response.status >= 400:
            self.broken.append(f"{response.status} {response.url}")

    def _request(self, request):
        url = request.url
        if not (url.startswith(self.base + "/") or url.startswith("data:")):
            self.foreign.append(url)


def new_context(browser, site, *, viewport=PHONE, js=True, lang="de-DE", bypass_csp=False):
    context = browser.new_context(viewport=viewport, java_script_enabled=js, locale=lang, bypass_csp=bypass_csp)
    return context, Watch(context, site.base)


def layout_problems(page) -> list[str]:
    """Sideways scrolling and interactive elements smaller than 44 × 44 CSS pixels."""
    return page.evaluate("""() => {
      const problems = [];
      const doc = document.documentElement;
      if (doc.scrollWidth > window.innerWidth + 1) problems.push(`horizontal scroll: ${doc.scrollWidth} > ${window.innerWidth}`);
      for (const el of document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea, summary')) {
        let target = el;
        if (el.matches('input[type=checkbox], input[type=radio]')) target = el.closest('label') || el;
        const r = target.getBoundingClientRect();
        const style = getComputedStyle(target);
        if (r.width <= 1 || r.height <= 1 || r.right <= 0 || style.visibility === 'hidden' || style.display === 'none') continue;
        if (r.width < 43.5 || r.height < 43.5) problems.push(`small tap target (${Math.round(r.width)}×${Math.round(r.height)}): ${target.outerHTML.slice(0, 90)}`);
      }
      return problems;
    }""")


def axe_findings(page) -> list[dict]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [{"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:3]}
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


def visit_every_page(page, site, lang: str):
    """Open each portal page as a debtor would reach it; yields (name, expected status)."""
    page.goto(site.link())
    page.goto(f"{site.base}/portal/language/{lang}?next=/portal/")
    yield "overview"
    page.goto(f"{site.base}/portal/invoices/{site.first_id}")
    yield "invoice"
    page.goto(f"{site.base}/portal/pay")
    yield "pay"
    page.goto(f"{site.base}/portal/pay/transfer?invoice={site.first_id}")
    yield "transfer"
    page.goto(f"{site.base}/portal/pay/return?invoice={site.first_id}")
    yield "return-waiting"
    for kind in ("plan", "promise", "dispute"):
        page.goto(f"{site.base}/portal/requests/{kind}")
        yield f"request-{kind}"
    page.goto(f"{site.base}/portal/requests/plan/sent")
    yield "request-sent"
    page.goto(f"{site.base}/portal/contact")
    yield "contact"
    page.goto(f"{site.base}/portal/preferences")
    yield "preferences"
    page.goto(f"{site.base}/portal/requests/question")
    yield "request-question"
    page.goto(f"{site.base}/portal/cases/{site.question_id}")
    yield "case-question"
    page.goto(f"{site.base}/portal/requests/question")
    page.eval_on_selector("#message", "(el, n) => { el.value = 'x'.repeat(n); }", 100_000)  # over the request limit
    page.click("main form button[type=submit]")
    yield "error-413"
    page.goto(f"{site.base}/portal/requests/question")
    page.eval_on_selector("input[name=csrf_token]", "el => { el.value = 'expired'; }")  # as after a long pause
    page.fill("#message", "Noch eine Frage")
    page.click("main form button[type=submit]")
    yield "error-400"
    page.goto(f"{site.base}/portal/no-such-page")
    yield "error-404"
    page.goto(f"{site.base}/portal/leave")  # a form's address opened as a page
    yield "error-405"
    page.goto(site.link(site.strict_debtor_id))  # a new session: the language choice starts afresh
    page.goto(f"{site.base}/portal/language/{lang}?next=/portal/verify")
    yield "verify"
    page.goto(site.link(site.plan_debtor_id))
    page.goto(f"{site.base}/portal/language/{lang}?next=/portal/")
    yield "overview-plan-requested"
    page.goto(f"{site.base}/portal/cases/{site.plan_case_id}")
    yield "case-counter-proposal"
    page.goto(site.link(site.locked_debtor_id))
    page.goto(f"{site.base}/portal/language/{lang}?next=/portal/verify")
    for _attempt in range(8):  # wrong answers until the rate limit answers (its page has no form)
        page.fill("#answer", "00000")
        with page.expect_response(lambda r: r.url.endswith("/portal/verify") and r.request.method == "POST") as answer:
            page.click("main form button[type=submit]")
        if answer.value.status == 429 and page.locator("#answer").count() == 0:
            break
    assert answer.value.status == 429 and page.locator("#answer").count() == 0
    yield "error-429"
    page.goto(site.expired_link())
    yield "link-expired"
    page.goto(f"{site.base}/p/AAAAAAAAAAAAAAAAAAAAAAAAA")
    yield "link-invalid"
    page.goto(f"{site.base}/portal/link")
    page.fill("#contact", "nobody@example.org")
    page.click("form[action='/portal/link'] button")
    yield "link-sent"


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390x844", "1280x800"])
@pytest.mark.parametrize("lang", ["de", "en"])
def test_every_page_fits_the_screen_has_big_tap_targets_and_talks_to_no_one_else(browser, site, viewport, lang):
    SHOTS.mkdir(parents=True, exist_ok=True)
    context, watch = new_context(browser, site, viewport=viewport, lang=f"{lang}-DE" if lang == "de" else "en-GB")
    page = context.new_page()
    problems = {}
    for name in visit_every_page(page, site, lang):
        page.wait_for_load_state("load")
        assert page.evaluate("document.documentElement.lang") == lang, name
        page.screenshot(path=str(SHOTS / f"{name}-{lang}-{viewport['width']}x{viewport['height']}.png"), full_page=True)
        found = layout_problems(page)
        if found:
            problems[name] = found
    context.close()
    assert problems == {}
    assert watch.foreign == []
    assert watch.broken == []
    assert watch.console_errors == []  # no CSP violations, no script errors


@pytest.mark.parametrize("lang", ["de", "en"])
def test_axe_finds_nothing_serious_or_critical_on_any_page(browser, site, lang):
    context, _ = new_context(browser, site, bypass_csp=True, lang="de-DE" if lang == "de" else "en-GB")
    page = context.new_page()
    findings = {}
    for name in visit_every_page(page, site, lang):
        page.wait_for_load_state("load")
        found = axe_findings(page)
        if found:
            findings[name] = found
    context.close()
    assert findings == {}, json.dumps(findings, indent=1)


def test_the_pay_button_is_visible_without_scrolling_on_a_phone(browser, site):
    context, _ = new_context(browser, site)
    page = context.new_page()
    page.goto(site.link())
    assert "/p/" not in page.url and page.url == f"{site.base}/portal/"
    button = page.get_by_role("link", name="Jetzt bezahlen")
    box = button.bounding_box()
    assert box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"]
    assert box["height"] >= 44
    context.close()


def test_with_javascript_choosing_invoices_updates_the_total_in_place(browser, site):
    context, watch = new_context(browser, site)
    page = context.new_page()
    page.goto(site.link())
    page.get_by_role("link", name="Jetzt bezahlen").click()
    assert page.url == f"{site.base}/portal/pay"
    summary = page.locator("#pay-summary .total")
    assert "361,20" in summary.inner_text().replace("\u00a0", " ")  # 308.80 + 2.50 fee + 49.90
    page.get_by_label("Rechnung RE-2026-00042").uncheck()
    playwright_api.expect(summary).to_contain_text("311,30")
    assert page.url == f"{site.base}/portal/pay"  # no navigation: htmx swapped the total
    page.get_by_role("button", name="Per Überweisung bezahlen").click()
    playwright_api.expect(page.locator("main")).to_contain_text("DE89 3704 0044 0532 0130 00")
    assert "invoice=" in page.url and "/p/" not in page.url
    assert watch.foreign == [] and watch.console_errors == []
    context.close()


def test_with_javascript_the_return_page_notices_the_payment_by_itself(browser, site):
    context, watch = new_context(browser, site)
    page = context.new_page()
    page.goto(site.link(site.paid_later_debtor_id))
    page.goto(f"{site.base}/portal/pay/return?invoice={site.paid_later_id}")
    playwright_api.expect(page.locator("#payment-status")).to_contain_text("Wir warten")
    site.pay(site.paid_later_id, 2500, "pi_browser_js")
    playwright_api.expect(page.locator("#payment-status")).to_contain_text("Ihre Zahlung ist eingegangen", timeout=10_000)
    assert page.url.endswith(f"invoice={site.paid_later_id}")
    assert watch.console_errors == []
    context.close()


def test_without_javascript_the_same_flows_work(browser, site):
    context, watch = new_context(browser, site, js=False)
    page = context.new_page()
    page.goto(site.link())
    assert page.url == f"{site.base}/portal/"
    page.get_by_role("link", name="Jetzt bezahlen").click()
    page.get_by_label("Rechnung RE-2026-00042").uncheck()
    page.get_by_role("button", name="Betrag aktualisieren").click()
    assert "311,30" in page.locator("#pay-summary").inner_text().replace("\u00a0", " ")
    page.get_by_role("button", name="Per Überweisung bezahlen").click()
    assert "DE89 3704 0044 0532 0130 00" in page.locator("main").inner_text()
    # language switch, preferences and a request: plain links and forms
    page.goto(f"{site.base}/portal/")
    page.get_by_role("link", name="English").click()
    assert "Your open invoices" in page.title()
    page.goto(f"{site.base}/portal/preferences")
    page.fill("#phone", "0171 2345678")
    page.get_by_label("Text message (SMS)", exact=True).check()
    page.get_by_label("by text message (SMS)").check()
    page.get_by_label("English", exact=True).check()  # otherwise the record's German wins on saving
    page.get_by_role("button", name="Save").click()
    assert "Your contact preferences are saved" in page.locator("main").inner_text()
    page.goto(f"{site.base}/portal/requests/promise")
    page.fill("#pay_by", (shop_today() + timedelta(days=14)).isoformat())
    page.get_by_role("button", name="Send", exact=True).click()
    assert "/portal/cases/" in page.url
    assert "Until then you will not receive reminders." in page.locator("main").inner_text()
    assert watch.foreign == []
    context.close()


def test_without_javascript_the_return_page_refreshes_itself_until_paid(browser, site):
    with site.app.app_context():
        invoice = make_invoice(_garden(), "RE-NOJS", amount="10.00", debtor={"external_ref": "K-3", "email": "k3@example.de"})
        invoice_id, debtor_id = invoice.id, invoice.debtor_id
    context, _ = new_context(browser, site, js=False)
    page = context.new_page()
    page.goto(site.link(debtor_id))
    page.goto(f"{site.base}/portal/pay/return?invoice={invoice_id}")
    assert "Wir warten" in page.locator("main").inner_text()
    site.pay(invoice_id, 1000, "pi_browser_nojs")
    playwright_api.expect(page.locator("main")).to_contain_text("Ihre Zahlung ist eingegangen", timeout=12_000)
    context.close()


def _garden():
    from sqlalchemy import select

    from portal.models import Merchant

    return db.session.scalars(select(Merchant).where(Merchant.slug == "garden")).one()
