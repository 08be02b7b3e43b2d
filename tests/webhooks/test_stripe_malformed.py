"""Validly signed but malformed Stripe events answer 400 and are recorded; signatures dated in the future
beyond the tolerance are refused."""
from __future__ import annotations

import time

import pytest
import stripe
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import LedgerEntry, StripeEvent
from tests.factories import make_invoice, make_merchant
from tests.payments.stripe_helpers import SECRET_KEY, WEBHOOK_SECRET, deliver, event, intent_succeeded, signed


@pytest.fixture
def merchant(app):
    return make_merchant("garden", stripe_secret_key=SECRET_KEY, stripe_webhook_secret=WEBHOOK_SECRET)


def post_raw(client, body: bytes, at: int | None = None):
    t = int(time.time()) if at is None else at
    signature = stripe.WebhookSignature._compute_signature(f"{t}.{body.decode('utf-8', 'surrogatepass')}", WEBHOOK_SECRET)
    return client.post("/webhooks/stripe/garden", data=body,
                       headers={"Stripe-Signature": f"t={t},v1={signature}", "Content-Type": "application/json"})


def intent(**obj):
    base = {"id": "pi_1", "object": "payment_intent", "amount": 11900, "amount_received": 11900, "currency": "eur",
            "metadata": {"settle_invoices": "RE-1"}}
    return event("evt_bad", "payment_intent.succeeded", {**base, **obj})


MALFORMED = {
    "no data object": {**event("evt_bad", "payment_intent.succeeded", {}), "data": None},
    "object is a list": {**event("evt_bad", "payment_intent.succeeded", {}), "data": {"object": [1, 2]}},
    "amount as text": intent(amount_received="11900", amount="lots"),
    "negative amount": intent(amount_received=-5, amount=-5),
    "amount beyond 64 bits": intent(amount_received=2**70, amount=2**70),
    "amount as a float": intent(amount_received=119.5),
    "currency as a number": intent(currency=978),
    "metadata as a string": intent(metadata="RE-1"),
    "id missing": {k: v for k, v in intent().items() if k != "id"},
    "id as a number": {**intent(), "id": 12},
    "created far beyond 2038": {**intent(), "created": 10**12},
    "type as a list": {**intent(), "type": ["payment_intent.succeeded"]},
    "nul in an id": intent(id="pi_\x001"),
    "lone surrogate in metadata": intent(metadata={"settle_invoices": "RE-\ud8001"}),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_signed_but_malformed_event_answers_400_and_is_recorded(client, merchant, case):
    make_invoice(merchant, "RE-1")
    response = deliver(client, "garden", MALFORMED[case])
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_payload"
    row = db.session.execute(select(StripeEvent)).scalar_one()
    assert row.status == "ignored" and row.error.startswith("malformed: ")
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "payment")) == 0
    # Stripe retries a 400: the same body is counted on the same row, not stored again.
    assert deliver(client, "garden", MALFORMED[case]).status_code == 400
    db.session.expire_all()
    assert db.session.execute(select(StripeEvent.attempts)).scalar_one() == 2


@pytest.mark.parametrize("body", [b"not json at all", b'{"id": "evt_1", "amount": NaN}', b"[" * 100_000 + b"]" * 100_000,
                                  b'{"id": "evt_1", "type": "x", "data": {"object": {"id": "\\u0000"}}}'])
def test_a_signed_body_that_is_not_json_answers_400_and_is_recorded(client, merchant, body):
    response = post_raw(client, body)
    assert response.status_code == 400
    row = db.session.execute(select(StripeEvent)).scalar_one()
    assert row.error.startswith("malformed: ")


def test_the_real_event_with_the_id_a_broken_one_claimed_is_still_processed(client, merchant):
    make_invoice(merchant, "RE-1")
    assert deliver(client, "garden", intent(amount_received="11900")).status_code == 400
    good = intent_succeeded("evt_bad", payment_intent="pi_1", amount=11900, invoices="RE-1")
    assert deliver(client, "garden", good).status_code == 200
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "payment")) == 1


def test_a_signature_dated_in_the_future_beyond_the_tolerance_is_refused(client, merchant):
    make_invoice(merchant, "RE-1")
    good = intent_succeeded("evt_1", payment_intent="pi_1", amount=11900, invoices="RE-1")
    response = deliver(client, "garden", good, at=int(time.time()) + 3600)
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_signature"
    assert db.session.scalar(select(func.count()).select_from(StripeEvent)) == 0
    # A clock a little ahead (within the tolerance) is fine.
    assert deliver(client, "garden", good, at=int(time.time()) + 60).status_code == 200


def test_an_unsigned_malformed_body_is_not_recorded(client, merchant):
    body, headers = signed(intent(amount_received="x"), secret="whsec_someone_else")
    assert client.post("/webhooks/stripe/garden", data=body, headers=headers).status_code == 400
    assert db.session.scalar(select(func.count()).select_from(StripeEvent)) == 0
