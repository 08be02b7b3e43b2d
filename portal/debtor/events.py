"""Engagement and request events written by the portal (Event rows; actor "debtor").

They feed the invoice timeline in the back office and later analytics; nothing leaves
the server (no third-party trackers).
"""
from __future__ import annotations

from portal.extensions import db
from portal.models import Debtor, Event, Invoice


def record(debtor: Debtor, kind: str, *, invoice: Invoice | None = None, data: dict | None = None) -> Event:
    event = Event(
        merchant_id=debtor.merchant_id,
        debtor_id=debtor.id,
        invoice_id=invoice.id if invoice is not None else None,
        kind=kind,
        actor="debtor",
        data=data,
    )
    db.session.add(event)
    return event
