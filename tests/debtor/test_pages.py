"""What a debtor sees and can do in the portal, in German and English, with and without htmx."""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from portal import ledger
from portal.extensions import db
from portal.models import Debtor, Event, Message, MessageInvoice
from tests.debtor.conftest import csrf_from, html, open_link, text
from tests.factories import make_invoice, make_merchant, shop_today


def events(kind: str) -> list[Event]:
    return db.session.scalars(select(Event).where(Event.kind == kind).order_by(Event.id)).all()


def test_overview_lists_every_open_invoice_with_total_status_and_one_pay_action(portal, invoices):
    page = text(portal.get("/portal/"))
    assert html(portal.get("/portal/")).count('href="/portal/pay"') == 1
    assert "Sie haben 2 offene Rechnungen bei Gartenhaus Sonnenberg." in page
    assert "169,00 €" in page  # 119.00 + 50.00
    assert "Rechnung RE-1" in page and "Rechnung RE-2" in page
    assert page.count("seit 16 Tagen überfällig") == 2
    assert "Jetzt bezahlen" in page


def test_overview_itemises_fees_and_interest_and_what_was_paid(portal, invoices):
    invoice = invoices[0]
    today = shop_today()
    for kind, minor, ref in (("fee", 250, "fee-1"), ("interest", 137, "int-1"), ("payment", 2000, "pay-1")):
        ledger.book(invoice, kind=kind, amount_minor=minor, source="dunning" if kind != "payment" else "api",
                    external_ref=ref, booked_on=today, actor="test")
    db.session.commit()
    page = text(portal.get("/portal/"))
    assert "Rechnungsbetrag 119,00 €" in page
    assert "Mahngebühren 2,50 €" in page
    assert "Verzugszinsen 1,37 €" in page
    assert "Bereits bezahlt -20,00 €" in page
    assert "Noch offen 102,87 €" in page
    assert "152,87 €" in page  # total: 102.87 + 50.00


def test_status_words_for_not_yet_due_and_due_today(portal, shop, debtor):
    soon = shop_today() + timedelta(days=5)
    make_invoice(shop, "RE-SOON", issue_date=(shop_today() - timedelta(days=3)).isoformat(), due_date=soon.isoformat())
    make_invoice(shop, "RE-TODAY", issue_date=(shop_today() - timedelta(days=3)).isoformat(), due_date=shop_today().isoformat())
    page = text(portal.get("/portal/"))
    assert "fällig in 5 Tagen" in page
    assert "Heute fällig" in page
    english = text(portal.get("/portal/", headers={"Accept-Language": "en"}))  # the debtor record says German
    assert "fällig in 5 Tagen" in english


def test_english_debtor_gets_english_pages_with_english_money(client, shop):
    invoice = make_invoice(shop, "RE-EN", amount="1234.50", debtor={"external_ref": "K-EN", "language": "en", "email": "en@example.com"})
    open_link(client, invoice.debtor)
    assert '<html lang="en">' in html(client.get("/portal/"))
    page = text(client.get("/portal/"))
    assert "You have 1 open invoice with Gartenhaus Sonnenberg." in page
    assert "€1,234.50" in page
    assert "16 days overdue" in page


def test_accept_language_decides_when_the_record_has_no_language(client, shop):
    invoice = make_invoice(shop, "RE-N", debtor={"external_ref": "K-N", "language": None, "email": "n@example.com"})
    open_link(client, invoice.debtor)
    assert "Total due" in text(client.get("/portal/", headers={"Accept-Language": "en-GB,en;q=0.9"}))
    assert "Zu zahlen" in text(client.get("/portal/", headers={"Accept-Language": "de-DE"}))


def test_the_language_switch_is_a_link_that_sticks_for_the_session(portal):
    page = html(portal.get("/portal/pay"))
    switch = re.search(r'href="(/portal/language/en\?next=[^"]+)"', page).group(1)
    response = portal.get(switch.replace("&amp;", "&"))
    assert response.status_code == 303 and response.headers["Location"] == "/portal/pay"
    assert "Pay your invoices" in text(portal.get("/portal/pay"))
    assert "Your open invoices" in text(portal.get("/portal/"))


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "/p/sometoken"])
def test_the_language_switch_never_redirects_away_or_to_a_token_url(portal, target):
    response = portal.get("/portal/language/en", query_string={"next": target})
    assert response.headers["Location"] == "/portal/"


def test_personal_pages_are_never_cached(portal, invoices):
    for path in ("/portal/", f"/portal/invoices/{invoices[0].id}", "/portal/pay", "/portal/contact", "/portal/preferences"):
        response = portal.get(path)
        assert response.status_code == 200, path
        assert response.headers["Cache-Control"] == "no-store", path
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        body = response.get_data(as_text=True)
        assert "<script>" not in body and " style=" not in body and " onclick=" not in body


def test_invoice_detail_shows_lines_reminders_sent_and_payments(portal, invoices, debtor):
    invoice = invoices[0]
    sent = Message(merchant_id=debtor.merchant_id, debtor_id=debtor.id, purpose="dunning", template="reminder_1",
                   channel="email", language="de", recipient=debtor.email, dedupe_key="r1", status="sent",
                   sent_at=datetime.now(timezone.utc) - timedelta(days=3), subject="Zahlungserinnerung RE-1")
    sent.invoices.append(MessageInvoice(invoice_id=invoice.id, step="reminder_1"))
    pending = Message(merchant_id=debtor.merchant_id, debtor_id=debtor.id, purpose="dunning", template="reminder_2",
                      channel="email", language="de", recipient=debtor.email, dedupe_key="r2", status="pending",
                      subject="Zweite Mahnung")
    pending.invoices.append(MessageInvoice(invoice_id=invoice.id, step="reminder_2"))
    db.session.add_all([sent, pending])
    ledger.book(invoice, kind="payment", amount_minor=1900, source="api", external_ref="p1", booked_on=shop_today(), actor="test")
    db.session.commit()
    page = text(portal.get(f"/portal/invoices/{invoice.id}"))
    assert "Gartenbank" in page
    assert "Erinnerung per E-Mail gesendet: „Zahlungserinnerung RE-1“" in page
    assert "Zweite Mahnung" not in page  # not sent yet
    assert "Zahlung eingegangen: 19,00 €" in page
    assert "Rechnung herunterladen" not in page  # no PDF stored


def test_invoice_pdf_is_served_as_an_attachment_only_to_its_debtor(app, portal, invoices, client):
    invoice = invoices[0]
    storage = Path(app.config["STORAGE_DIR"]) / "invoices"
    storage.mkdir(parents=True)
    (storage / "re-1.pdf").write_bytes(b"%PDF-1.4 test invoice")
    invoice.pdf_file = "invoices/re-1.pdf"
    db.session.commit()
    assert "Rechnung herunterladen (PDF)" in text(portal.get(f"/portal/invoices/{invoice.id}"))
    with portal.get(f"/portal/invoices/{invoice.id}/pdf") as response:
        data = response.data
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert "RE-1.pdf" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "no-store"
    assert data == b"%PDF-1.4 test invoice"
    with app.test_client() as stranger:
        assert stranger.get(f"/portal/invoices/{invoice.id}/pdf").status_code == 403


def test_a_pdf_path_outside_the_storage_folder_is_not_served(app, portal, invoices):
    invoices[0].pdf_file = "../../etc/passwd"
    db.session.commit()
    assert portal.get(f"/portal/invoices/{invoices[0].id}/pdf").status_code == 404


def test_page_views_are_recorded_once_per_half_hour_and_page(portal, invoices):
    for _ in range(3):
        portal.get("/portal/")
    portal.get(f"/portal/invoices/{invoices[0].id}")
    portal.get("/portal/pay")
    views = events("page.viewed")
    assert [(e.data["page"], e.invoice_id) for e in views] == [("overview", None), ("detail", invoices[0].id), ("pay", None)]
    assert all(e.actor == "debtor" for e in views)


def test_contact_page_shows_the_shops_support(portal):
    page = html(portal.get("/portal/contact"))
    assert 'href="mailto:support@shop' in page
    assert 'href="tel:+497111234560"' in page
    assert "Mo–Fr 9–17 Uhr" in page
    assert "K-1001" in page


def test_footer_carries_imprint_privacy_and_support(portal):
    page = html(portal.get("/portal/"))
    assert 'href="https://garden.example/impressum"' in page and "Impressum" in page
    assert 'href="https://garden.example/datenschutz"' in page and "Datenschutz" in page
    assert "Kontakt zu Gartenhaus Sonnenberg" in page


def test_leaving_ends_the_session(portal):
    token = csrf_from(portal.get("/portal/").get_data(as_text=True))
    response = portal.post("/portal/leave", data={"csrf_token": token})
    assert response.status_code == 303
    assert portal.get("/portal/").status_code == 403


# --- branding -----------------------------------------------------------------------------------

def test_brand_colours_are_served_as_a_cacheable_stylesheet_with_readable_contrast(app, client, shop, debtor):
    shop.primary_color = "#7fd67f"  # too light for white text
    db.session.commit()
    open_link(client, debtor)
    page = client.get("/portal/").get_data(as_text=True)
    href = re.search(r'href="(/portal/brand/\d+\.css\?v=[0-9a-f]+)"', page).group(1)
    css = client.get(href)
    assert css.mimetype == "text/css"
    assert "immutable" in css.headers["Cache-Control"]
    from portal.domain.contrast import contrast_ratio

    primary = re.search(r"--brand:(#[0-9a-f]{6})", css.get_data(as_text=True)).group(1)
    assert primary != "#7fd67f"
    assert contrast_ratio(primary, "#ffffff") >= 4.5
    shop.primary_color = "#123456"
    db.session.commit()
    assert href not in client.get("/portal/").get_data(as_text=True)  # a colour change changes the URL


def test_only_same_origin_logos_are_shown(client, shop, debtor):
    shop.logo_url = "https://cdn.example/logo.png"
    db.session.commit()
    open_link(client, debtor)
    assert "cdn.example" not in client.get("/portal/").get_data(as_text=True)
    shop.logo_url = "/static/img/demo-logo.svg"
    db.session.commit()
    assert 'src="/static/img/demo-logo.svg"' in client.get("/portal/").get_data(as_text=True)


# --- step-up --------------------------------------------------------------------------------------

@pytest.fixture
def stepped(shop, invoices):
    shop.link_step_up = True
    db.session.commit()
    return shop


def test_step_up_shows_only_amounts_until_the_postal_code_is_given(stepped, portal, invoices):
    response = portal.get("/portal/")
    assert response.status_code == 303 and response.headers["Location"] == "/portal/verify"
    page = html(portal.get("/portal/verify"))
    assert "169,00\u00a0€" in page and "RE-1" not in page and "Postleitzahl" in page
    assert portal.get(f"/portal/invoices/{invoices[0].id}").status_code == 303
    token = csrf_from(page)
    wrong = portal.post("/portal/verify", data={"answer": "10115", "csrf_token": token})
    assert wrong.status_code == 422 and "Noch 4 Versuche" in text(wrong)
    right = portal.post("/portal/verify", data={"answer": " 70 173 ", "csrf_token": token})
    assert right.status_code == 303
    assert "Rechnung RE-1" in text(portal.get("/portal/"))
    assert [e.kind for e in events("stepup.failed") + events("stepup.passed")] == ["stepup.failed", "stepup.passed"]


def test_step_up_locks_after_five_wrong_answers_even_across_new_sessions(stepped, client, debtor):
    open_link(client, debtor)
    token = csrf_from(client.get("/portal/verify").get_data(as_text=True))
    codes = [client.post("/portal/verify", data={"answer": f"0000{i}", "csrf_token": token}).status_code for i in range(5)]
    assert codes == [422] * 5
    open_link(client, debtor)  # a new session does not reset the count
    token = csrf_from(client.get("/portal/verify").get_data(as_text=True)) if "csrf_token" in client.get("/portal/verify").get_data(as_text=True) else token
    locked = client.post("/portal/verify", data={"answer": "70173", "csrf_token": token})
    assert locked.status_code == 429
    assert "für 24 Stunden gesperrt" in text(locked)
    assert client.get("/portal/").status_code == 303


def test_step_up_asks_for_the_customer_number_when_no_postal_code_is_on_file(client, shop):
    shop.link_step_up = True
    invoice = make_invoice(shop, "RE-NP", debtor={"external_ref": "K-77", "email": "np@example.de", "address": {}})
    open_link(client, invoice.debtor)
    page = client.get("/portal/verify").get_data(as_text=True)
    assert "Kundennummer" in page
    assert client.post("/portal/verify", data={"answer": "k-77", "csrf_token": csrf_from(page)}).status_code == 303


# --- contact preferences ------------------------------------------------------------------------------

def _prefs(portal, **data):
    token = csrf_from(portal.get("/portal/preferences").get_data(as_text=True))
    return portal.post("/portal/preferences", data={"csrf_token": token, **data})


def test_preferences_save_a_normalised_mobile_number_and_consent(portal, debtor):
    response = _prefs(portal, email="Max@Example.de", phone="0171 / 98 76 543", preferred_channel="sms",
                      language="en", consent_email="y", consent_sms="y")
    assert response.status_code == 303
    db.session.refresh(debtor)
    assert (debtor.phone, debtor.email, debtor.preferred_channel, debtor.language, debtor.consent_sms) == (
        "+491719876543", "max@example.de", "sms", "en", True)
    event = events("debtor.preferences_changed")[-1]
    assert {"phone", "preferred_channel", "language", "consent_sms"} <= set(event.data["changed"])
    assert event.data["consent_version"]
    assert "Your contact preferences are saved" in text(portal.get("/portal/preferences"))


def test_preferences_refuse_sms_without_number_or_consent(portal, debtor):
    response = _prefs(portal, email=debtor.email, phone="", preferred_channel="sms", language="de", consent_email="y")
    assert response.status_code == 422
    assert "Bitte geben Sie eine Mobilnummer an" in text(response)
    response = _prefs(portal, email=debtor.email, phone="12", preferred_channel="email", language="de", consent_email="y")
    assert response.status_code == 422 and "Bitte geben Sie eine Mobilnummer ein" in text(response)
    assert events("debtor.preferences_changed") == []


