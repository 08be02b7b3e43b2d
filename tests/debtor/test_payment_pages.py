"""Choosing invoices and paying: card through Stripe Checkout, bank transfer with a QR code, waiting for the money."""
from __future__ import annotations

from datetime import date
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from portal import ledger
from portal.extensions import db
from portal.models import Event
from tests.debtor.conftest import csrf_from, html, text
from tests.payments.stripe_helpers import SECRET_KEY
from tests.payments.stripe_standin import StripeStandIn
from tests.factories import shop_today


@pytest.fixture
def stripe(app, shop):
    with StripeStandIn() as server:
        app.config.update(STRIPE_API_BASE=server.url, STRIPE_MAX_NETWORK_RETRIES=0)
        shop.stripe_secret_key = SECRET_KEY
        db.session.commit()
        yield server


def test_payment_page_preselects_every_open_invoice(portal, invoices):
    page = html(portal.get("/portal/pay"))
    assert page.count('name="invoice"') == 2 and page.count(" checked") == 2
    assert "Zu zahlender Betrag: 169,00 €" in text(portal.get("/portal/pay"))
    assert "Per Überweisung bezahlen" in page
    assert "Mit Karte bezahlen" not in page  # this shop has no Stripe key


def test_choosing_invoices_with_htmx_returns_only_the_total_and_varies_on_hx_request(portal, invoices):
    response = portal.get(f"/portal/pay?chosen=1&invoice={invoices[1].id}", headers={"HX-Request": "true"})
    assert "HX-Request" in response.headers["Vary"]
    body = html(response)
    assert body.lstrip().startswith('<div id="pay-summary">') and "<html" not in body
    assert "50,00" in body
    full = portal.get(f"/portal/pay?chosen=1&invoice={invoices[1].id}")
    assert "HX-Request" in full.headers["Vary"] and "<html" in html(full)
    none = portal.get("/portal/pay?chosen=1", headers={"HX-Request": "true"})
    assert "Bitte wählen Sie mindestens eine Rechnung aus." in text(none) and 'value="transfer"' not in html(none)


def test_without_javascript_the_update_button_keeps_the_choice(portal, invoices):
    token = csrf_from(html(portal.get("/portal/pay")))
    response = portal.post("/portal/pay", data={"csrf_token": token, "chosen": "1", "invoice": [str(invoices[0].id)], "method": "update"})
    assert response.status_code == 303
    page = html(portal.get(response.headers["Location"]))
    assert page.count(" checked") == 1 and "119,00" in text(portal.get(response.headers["Location"]))


def test_bank_transfer_shows_account_reference_and_qr_code_and_records_the_start(portal, invoices, shop):
    token = csrf_from(html(portal.get("/portal/pay")))
    response = portal.post("/portal/pay", data={"csrf_token": token, "chosen": "1", "method": "transfer",
                                                "invoice": [str(i.id) for i in invoices]})
    assert response.status_code == 303 and response.headers["Location"].startswith("/portal/pay/transfer?")
    page = html(portal.get(response.headers["Location"]))
    assert "DE89 3704 0044 0532 0130 00" in page
    assert "<svg" in page and "<script" not in page.split("<svg", 1)[1].split("</svg>", 1)[0]
    assert "169,00" in text(portal.get(response.headers["Location"]))
    assert "RF" in page
    started = db.session.scalars(select(Event).where(Event.kind == "payment.started")).all()
    assert sorted(e.invoice_id for e in started) == sorted(i.id for i in invoices)
    assert started[0].data["method"] == "transfer" and started[0].data["amount_minor"] == 16900


def test_posting_with_no_invoice_chosen_asks_to_choose_one(portal, invoices):
    token = csrf_from(html(portal.get("/portal/pay")))
    response = portal.post("/portal/pay", data={"csrf_token": token, "chosen": "1", "method": "transfer"})
    assert response.status_code == 303
    assert "Bitte wählen Sie mindestens eine Rechnung aus." in text(portal.get(response.headers["Location"]))


def test_card_payment_redirects_to_stripe_checkout_with_return_urls_without_tokens(portal, invoices, stripe):
    page = html(portal.get("/portal/pay"))
    assert "Mit Karte bezahlen" in page
    response = portal.post("/portal/pay", data={"csrf_token": csrf_from(page), "chosen": "1", "method": "card",
                                                "invoice": [str(invoices[0].id)]})
    assert response.status_code == 303
    assert response.headers["Location"].startswith("https://checkout.stripe.com/")
    form = stripe.requests[-1]["form"]
    success = urlsplit(form["success_url"])
    assert success.path == "/portal/pay/return" and parse_qs(success.query)["invoice"] == [str(invoices[0].id)]
    assert urlsplit(form["cancel_url"]).path == "/portal/pay"
    started = db.session.scalars(select(Event).where(Event.kind == "payment.started")).all()
    assert [(e.invoice_id, e.data["method"]) for e in started] == [(invoices[0].id, "card")]


def test_card_payment_failing_at_stripe_sends_the_debtor_back_with_a_clear_message(portal, invoices, stripe):
    stripe.fail_with = 500
    page = html(portal.get("/portal/pay"))
    response = portal.post("/portal/pay", data={"csrf_token": csrf_from(page), "chosen": "1", "method": "card",
                                                "invoice": [str(invoices[0].id)]})
    assert response.status_code == 303 and response.headers["Location"].startswith("/portal/pay?")
    assert "Kartenzahlung ist im Moment nicht möglich" in text(portal.get(response.headers["Location"]))
    assert db.session.scalars(select(Event).where(Event.kind == "payment.started")).all() == []


def test_the_return_page_polls_until_the_invoice_is_paid(portal, invoices):
    url = f"/portal/pay/return?invoice={invoices[0].id}"
    waiting = portal.get(url)
    page = html(waiting)
    assert 'hx-trigger="every 2s"' in page
    assert '<noscript><meta http-equiv="refresh" content="5"></noscript>' in page
    assert "Wir warten auf die Bestätigung" in text(waiting)
    partial = portal.get(url, headers={"HX-Request": "true"})
    assert partial.status_code == 200 and "<html" not in html(partial) and "every 2s" in html(partial)
    ledger.book(invoices[0], kind="payment", amount_minor=11900, source="stripe", external_ref="pi_1",
                booked_on=shop_today(), actor="stripe")
    db.session.commit()
    done = portal.get(url, headers={"HX-Request": "true"})
    assert done.status_code == 286  # htmx stops polling
    assert "every 2s" not in html(done) and "Ihre Zahlung ist eingegangen" in text(done)
    full = portal.get(url)
    assert "http-equiv" not in html(full) and "Ihre Zahlung ist eingegangen" in text(full)
