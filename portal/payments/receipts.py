"""Receipts: after a payment is booked, the debtor is told on their own channel what arrived and what remains.

One receipt per incoming payment (a bank statement entry, a card payment, a payment the
shop reports through the API), queued in the outbox in the booking's own transaction, so
it goes out exactly when the money is booked and never twice (dedupe key per payment).
The words are the `payment_receipt` kind of `portal/messaging/texts`. The message names the
invoices in its context only (no `message_invoice` rows): a receipt is about invoices
that are typically paid now, and must not be cancelled as "no longer needed" the way a
reminder for a paid invoice is.

Channels: the debtor's preferred one among email and SMS first, then the other; no letter
(a receipt is not worth postage; the portal shows "paid on … by …" as well).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from portal.messaging import outbox
from portal.models import Debtor, Invoice

METHODS = ("card", "bank", "shop")


def channels(debtor) -> list[str]:
    return ["sms", "email"] if debtor.preferred_channel == "sms" else ["email", "sms"]


def item(debtor, *, ref: str, method: str, paid_on: date, currency: str, amount_minor: int,
         balances: Sequence[tuple[str, int]]) -> dict:
    """One receipt for `enqueue_many`: `balances` are (invoice number, open amount after the booking)."""
    return {
        "debtor": debtor, "purpose": "receipt", "template": "payment_receipt", "channels": channels(debtor),
        "dedupe_key": f"receipt:{debtor.merchant_id}:{method}:{ref}"[:200],
        "context": {
            "amount_minor": amount_minor, "currency": currency, "paid_on": paid_on.isoformat(), "method": method,
            "numbers": [number for number, _ in balances],
            "remaining_minor": sum(max(open_minor, 0) for _, open_minor in balances),
            "credit_minor": sum(max(-open_minor, 0) for _, open_minor in balances),
        },
        "invoices": [],
    }


def queue_many(items: Iterable[dict]) -> None:
    """Queue receipts in one statement (the bank import books thousands of payments at once)."""
    items = list(items)
    if items:
        outbox.enqueue_many(items)


def queue(debtor: Debtor, invoices: Sequence[Invoice], *, ref: str, method: str, paid_on: date, amount_minor: int) -> None:
    """The receipt for one payment on `invoices` (already booked: their open amounts are current).

    A repeat of the same payment (same reference) queues nothing: the dedupe key exists.
    """
    if not invoices or amount_minor <= 0:
        return
    ordered = sorted(invoices, key=lambda inv: (inv.due_date, inv.id))
    spec = item(debtor, ref=ref, method=method, paid_on=paid_on, currency=ordered[0].currency, amount_minor=amount_minor,
                balances=[(inv.number, inv.open_minor) for inv in ordered])
    outbox.enqueue(debtor=debtor, purpose=spec["purpose"], template=spec["template"], channels=spec["channels"],
                   dedupe_key=spec["dedupe_key"], context=spec["context"])
