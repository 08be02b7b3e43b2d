"""Starting a Stripe Checkout: what Settle asks Stripe for, recorded by a local stand-in of the API."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import CheckoutSession
from portal.payments.checkout import CheckoutUnavailable, start_checkout
from tests.factories import make_invoice, make_merchant
from tests.payments.stripe_helpers import SECRET_KEY
from tests.payments.stripe_standin import StripeStandIn


@pytest.fixture
def standin(app):
    with StripeStandIn() as server:
        app.config.update(STRIPE_API_BASE=server.url, STRIPE_MAX_NETWORK_RETRIES=0)
        yield server


@pytest.fixture
def merchant(app):
    return make_merchant("garden", stripe_secret_key=SECRET_KEY)


def test_checkout_for_several_invoices_asks_for_their_open_amounts_oldest_first(standin, merchant):
    newer = make_invoice(merchant, "RE-2", amount="50.00", due_date="2026-01-20", issue_date="2026-01-01")
    older = make_invoice(merchant, "RE-1", amount="119.00", due_date="2026-01-10", issue_date="2026-01-01")
    url = start_checkout(older.debtor, [newer, older], success_url="https://portal.example/paid",
                         cancel_url="https://portal.example/back")
    db.session.commit()

    assert url.startswith("https://checkout.stripe.com/c/pay/cs_test_")
    [request] = standin.requests
    form = request["form"]
    assert request["path"] == "/v1/checkout/sessions"
    assert request["headers"]["Authorization"] == f"Bearer {SECRET_KEY}"
    assert request["headers"]["Idempotency-Key"].startswith("settle-chk_")
    assert form["mode"] == "payment"
    assert form["success_url"] == "https://portal.example/paid"
    assert form["cancel_url"] == "https://portal.example/back"
    assert (form["line_items[0][price_data][unit_amount]"], form["line_items[0][price_data][product_data][name]"]) == ("11900", "RE-1")
    assert (form["line_items[1][price_data][unit_amount]"], form["line_items[1][price_data][product_data][name]"]) == ("5000", "RE-2")
    assert form["line_items[0][price_data][currency]"] == "eur"
    assert form["metadata[settle_invoices]"] == "RE-1, RE-2"
    assert form["payment_intent_data[metadata][settle_checkout]"] == form["metadata[settle_checkout]"]
    assert not any(key.startswith("payment_method_types") for key in form)  # the merchant's dashboard decides

    checkout = db.session.execute(select(CheckoutSession)).scalar_one()
    assert checkout.public_id == form["metadata[settle_checkout]"] == form["client_reference_id"]
    assert checkout.amount_minor == 16900 and checkout.status == "open" and checkout.url == url
    assert [(item.invoice.number, item.amount_minor) for item in checkout.items] == [("RE-1", 11900), ("RE-2", 5000)]


def test_clicking_pay_twice_reuses_the_open_checkout(standin, merchant):
    invoice = make_invoice(merchant, "RE-1")
    first = start_checkout(invoice.debtor, [invoice], success_url="https://x/s", cancel_url="https://x/c")
    db.session.commit()
    second = start_checkout(invoice.debtor, [invoice], success_url="https://x/s", cancel_url="https://x/c")
    assert first == second
    assert len(standin.requests) == 1


def test_an_installment_amount_pays_the_oldest_invoice_first(standin, merchant):
    a = make_invoice(merchant, "RE-1", amount="100.00", due_date="2026-01-10", issue_date="2026-01-01")
    b = make_invoice(merchant, "RE-2", amount="100.00", due_date="2026-01-20", issue_date="2026-01-01")
    start_checkout(a.debtor, [a, b], success_url="https://x/s", cancel_url="https://x/c", amount_minor=15000)
    form = standin.requests[0]["form"]
    assert form["line_items[0][price_data][unit_amount]"] == "10000"
    assert form["line_items[1][price_data][unit_amount]"] == "5000"


def test_no_stripe_key_means_checkout_unavailable(standin, app):
    merchant = make_merchant("nostripe")
    invoice = make_invoice(merchant, "RE-1")
    with pytest.raises(CheckoutUnavailable):
        start_checkout(invoice.debtor, [invoice], success_url="https://x/s", cancel_url="https://x/c")
    assert standin.requests == []


def test_stripe_failing_means_checkout_unavailable_and_nothing_recorded(standin, merchant):
    standin.fail_with = 500
    invoice = make_invoice(merchant, "RE-1")
    with pytest.raises(CheckoutUnavailable):
        start_checkout(invoice.debtor, [invoice], success_url="https://x/s", cancel_url="https://x/c")
    assert db.session.execute(select(CheckoutSession)).first() is None


def test_the_return_page_sees_the_checkout_state_only_for_its_own_debtor(standin, merchant):
    from portal.payments.checkout import checkout_status

    invoice = make_invoice(merchant, "RE-1")
    other = make_invoice(merchant, "RE-2", debtor={"external_ref": "K-2"})
    start_checkout(invoice.debtor, [invoice], success_url="https://x/s", cancel_url="https://x/c")
    db.session.commit()
    session_id = db.session.execute(select(CheckoutSession.stripe_session_id)).scalar_one()
    assert checkout_status(invoice.debtor, session_id) == "open"
    assert checkout_status(other.debtor, session_id) is None
