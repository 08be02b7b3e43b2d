""""Send me a new link": the request only queues; the worker looks up and sends.

The portal's answer must not tell anyone whether an address belongs to a customer: not in its
words (always the same page) and not in its time. Looking the contact up and queueing a message
only when it matched took measurably longer than finding nothing, so the request now does the same
work in both cases (`queue`: one `link_request` row) and the worker does the rest (`process_pending`):
the lookup, at most one new link per debtor and hour, the `link.requested` event on the debtor's
timeline, and erasing the contact from the row.
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import func, select

from portal.domain.contact import Contact
from portal.extensions import db
from portal.messaging import outbox
from portal.models import Debtor, Event, LinkRequest
from portal.models.types import utcnow

MAX_MATCHES = 5  # one person rarely is a customer of more shops than this on one installation
BATCH = 100


def queue(contact: Contact, merchant_id: int | None) -> LinkRequest:
    """The request's whole work, the same for every contact: one row, no lookup."""
    row = LinkRequest(merchant_id=merchant_id if isinstance(merchant_id, int) else None,
                      contact_kind=contact.kind, contact=contact.value)
    db.session.add(row)
    return row


def debtors_with(contact_kind: str, value: str, merchant_id: int | None) -> list[Debtor]:
    column = func.lower(Debtor.email) if contact_kind == "email" else Debtor.phone
    stmt = select(Debtor).where(column == value).order_by(Debtor.id).limit(MAX_MATCHES)
    if merchant_id is not None:
        stmt = stmt.where(Debtor.merchant_id == merchant_id)
    return list(db.session.scalars(stmt))


def process_pending(*, limit: int = BATCH) -> int:
    """Look up pending requests, queue a new link for each debtor found, erase the contacts; commits.
    Returns how many requests were processed."""
    stmt = select(LinkRequest).where(LinkRequest.processed_at.is_(None)).order_by(LinkRequest.id).limit(limit)
    if db.engine.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)  # several workers take disjoint requests
    rows = db.session.scalars(stmt).all()
    for row in rows:
        found = debtors_with(row.contact_kind, row.contact or "", row.merchant_id) if row.contact else []
        for debtor in found:
            _send_new_link(debtor, row.contact_kind, row.requested_at)
        row.matched = len(found)
        row.contact = None
        row.processed_at = utcnow()
    db.session.commit()
    return len(rows)


def _send_new_link(debtor: Debtor, matched: str, requested_at: datetime) -> None:
    # At most one new link per debtor and hour (of the request), however often the form is sent.
    moment = requested_at if requested_at.tzinfo else requested_at.replace(tzinfo=timezone.utc)
    hour = moment.astimezone(timezone.utc).strftime("%Y%m%d%H")
    channels = ["email", "sms"] if matched == "email" else ["sms", "email"]
    message = outbox.enqueue(debtor=debtor, purpose="new_link", template="new_link", channels=channels,
                             dedupe_key=f"new_link:{debtor.id}:{hour}")
    if message is not None:
        db.session.add(Event(merchant_id=debtor.merchant_id, debtor_id=debtor.id, kind="link.requested", actor="debtor",
                             data={"matched": matched, "channel": message.channel}))
