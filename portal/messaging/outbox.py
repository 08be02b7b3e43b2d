"""Queueing messages in the transactional outbox (the worker sends them).

Callers queue inside their own transaction, next to the change that causes the
message, and commit together; nothing here commits.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import select

from portal.extensions import db
from portal.models import Debtor, Invoice, Merchant, Message, MessageInvoice, MessageStatus
from portal.models.types import utcnow


def reachable_channels(debtor: Debtor, wanted: Sequence[str]) -> list[str]:
    """The wanted channels (in order) this debtor can be reached on."""
    out = []
    for channel in wanted:
        if channel == "email" and debtor.email and debtor.consent_email:
            out.append(channel)
        elif channel == "sms" and debtor.phone and debtor.consent_sms:
            out.append(channel)
        elif channel == "letter" and debtor.street and debtor.postal_code and debtor.city:
            out.append(channel)
    return out


def recipient_for(debtor: Debtor, channel: str) -> str | None:
    return {"email": debtor.email, "sms": debtor.phone}.get(channel)


def enqueue(
    *,
    debtor: Debtor,
    purpose: str,
    template: str,
    channels: Sequence[str],
    dedupe_key: str,
    context: dict | None = None,
    invoices: Iterable[tuple[Invoice, str]] = (),
    not_before: datetime | None = None,
) -> Message | None:
    """Queue one message on the first reachable channel, the rest as fallbacks.

    Returns None when the debtor cannot be reached on any of `channels`, or when a
    message with the same `dedupe_key` exists already (a repeat is a no-op).
    """
    if db.session.execute(select(Message.id).where(Message.dedupe_key == dedupe_key)).first():
        return None
    usable = reachable_channels(debtor, channels)
    if not usable:
        return None
    message = Message(
        merchant_id=debtor.merchant_id,
        debtor_id=debtor.id,
        purpose=purpose,
        template=template,
        channel=usable[0],
        fallbacks=usable[1:],
        language=debtor.language or debtor.merchant.default_language,
        recipient=recipient_for(debtor, usable[0]),
        context=context or {},
        dedupe_key=dedupe_key,
        status=MessageStatus.PENDING.value,
        **({"not_before": not_before} if not_before else {}),
    )
    for invoice, step in invoices:
        message.invoices.append(MessageInvoice(invoice_id=invoice.id, step=step))
    db.session.add(message)
    return message


def enqueue_staff_notice(*, merchant: Merchant, template: str, dedupe_key: str, context: dict | None = None) -> Message | None:
    """Queue an email to the merchant's support address (debtor_id NULL); None if it has none or it is a repeat."""
    if not merchant.support_email:
        return None
    if db.session.execute(select(Message.id).where(Message.dedupe_key == dedupe_key)).first():
        return None
    message = Message(
        merchant_id=merchant.id,
        debtor_id=None,
        purpose="staff_notice",
        template=template,
        channel="email",
        fallbacks=[],
        language=merchant.default_language,
        recipient=merchant.support_email,
        context=context or {},
        dedupe_key=dedupe_key,
        status=MessageStatus.PENDING.value,
    )
    db.session.add(message)
    return message


def enqueue_many(items: list[dict]) -> list[int | None]:
    """Bulk form of `enqueue` for the dunning run: one INSERT for many messages.

    Each item has the keyword arguments of `enqueue` (debtor, purpose, template, channels,
    dedupe_key, context, invoices as (invoice id, step)) and may give `language` (else the
    debtor's, else the merchant's); the debtor may be any object with the Debtor's columns
    (the run passes Core rows). Core inserts, no ORM unit of work. Returns the new message
    ids in order (None where the debtor is unreachable). Dedupe keys are not looked up first: the run only queues
    steps it takes in the same transaction, and a repeated key fails the batch on the
    unique constraint rather than sending twice.
    """
    rows, links, positions = [], [], []
    now = utcnow()
    for position, item in enumerate(items):
        debtor = item["debtor"]
        usable = reachable_channels(debtor, item["channels"])
        if not usable:
            continue
        positions.append(position)
        rows.append(
            {
                "merchant_id": debtor.merchant_id, "debtor_id": debtor.id, "purpose": item["purpose"],
                "template": item["template"], "channel": usable[0], "fallbacks": usable[1:],
                "language": item.get("language") or debtor.language or debtor.merchant.default_language,
                "recipient": recipient_for(debtor, usable[0]), "context": item.get("context") or {},
                "dedupe_key": item["dedupe_key"], "status": MessageStatus.PENDING.value, "attempts": 0,
                "not_before": item.get("not_before") or now, "created_at": now,
            }
        )
    out: list[int | None] = [None] * len(items)
    if not rows:
        return out
    from portal.dunning import bulk

    # RETURNING the key with the id: the rows' order does not matter, so many rows go in one statement
    # (with SQLAlchemy's sort_by_parameter_order SQLite falls back to one INSERT per row).
    ids = {key: message_id for message_id, key in bulk.insert_rows(Message.__table__, rows, returning=("id", "dedupe_key"))}
    for position in positions:
        message_id = out[position] = ids[items[position]["dedupe_key"]]
        links.extend(
            {"message_id": message_id, "invoice_id": invoice_id, "step": step}
            for invoice_id, step in items[position]["invoices"]
        )
    bulk.insert_rows(MessageInvoice.__table__, links)
    return out
