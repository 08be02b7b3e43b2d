"""Queueing messages in the transactional outbox (the worker sends them).

Callers queue inside their own transaction, next to the change that causes the
message, and commit together; nothing here commits.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import select

from portal.extensions import db
from portal.models import Debtor, Invoice, Message, MessageInvoice, MessageStatus


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
