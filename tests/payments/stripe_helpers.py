"""Signing and building Stripe webhook events the way Stripe does (with the SDK's own signing code)."""
from __future__ import annotations

import json
import time

import stripe

WEBHOOK_SECRET = "whsec_test_settle_0123456789abcdef"
SECRET_KEY = "sk_test_settle_0123456789"


def signed(event: dict, secret: str = WEBHOOK_SECRET, *, at: int | None = None) -> tuple[bytes, dict]:
    """The raw body and headers of one delivery of `event`, signed at time `at`."""
    payload = json.dumps(event, separators=(",", ":"))
    t = int(time.time()) if at is None else at
    signature = stripe.WebhookSignature._compute_signature(f"{t}.{payload}", secret)
    return payload.encode(), {"Stripe-Signature": f"t={t},v1={signature}", "Content-Type": "application/json"}


def deliver(client, slug: str, event: dict, **kwargs):
    body, headers = signed(event, **kwargs)
    return client.post(f"/webhooks/stripe/{slug}", data=body, headers=headers)


def event(event_id: str, type_: str, obj: dict, created: int = 1_767_000_000) -> dict:
    return {"id": event_id, "object": "event", "type": type_, "created": created, "livemode": False,
            "api_version": "2024-06-20", "data": {"object": obj}}


def session_completed(event_id, *, session_id, payment_intent, amount, checkout_public_id=None, status="paid",
                      type_="checkout.session.completed", currency="eur", invoices=""):
    metadata = {"settle_invoices": invoices}
    if checkout_public_id:
        metadata["settle_checkout"] = checkout_public_id
    return event(event_id, type_, {
        "id": session_id, "object": "checkout.session", "payment_status": status, "payment_intent": payment_intent,
        "amount_total": amount, "currency": currency, "metadata": metadata, "client_reference_id": checkout_public_id,
    })


def intent_succeeded(event_id, *, payment_intent, amount, checkout_public_id=None, currency="eur", invoices=""):
    metadata = {"settle_invoices": invoices}
    if checkout_public_id:
        metadata["settle_checkout"] = checkout_public_id
    return event(event_id, "payment_intent.succeeded", {
        "id": payment_intent, "object": "payment_intent", "amount": amount, "amount_received": amount,
        "currency": currency, "status": "succeeded", "metadata": metadata,
    })


def charge_refunded(event_id, *, payment_intent, amount, refunded, checkout_public_id=None, currency="eur", invoices=""):
    metadata = {"settle_invoices": invoices}
    if checkout_public_id:
        metadata["settle_checkout"] = checkout_public_id
    return event(event_id, "charge.refunded", {
        "id": "ch_" + payment_intent[3:], "object": "charge", "payment_intent": payment_intent, "amount": amount,
        "amount_captured": amount, "amount_refunded": refunded, "paid": True, "refunded": refunded == amount,
        "currency": currency, "metadata": metadata, "created": 1_767_000_000,
    })


def dispute_created(event_id, *, dispute_id, payment_intent, amount, currency="eur", status="needs_response"):
    return event(event_id, "charge.dispute.created", {
        "id": dispute_id, "object": "dispute", "amount": amount, "currency": currency,
        "charge": "ch_" + payment_intent[3:], "payment_intent": payment_intent, "reason": "fraudulent",
        "status": status, "balance_transactions": [] if status.startswith("warning_") else [{"id": "txn_1"}],
    })
