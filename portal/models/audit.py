"""Events: the timeline of every invoice and the audit trail of every staff action."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.models.types import JSONType, UTCDateTime, utcnow


class Event(db.Model):
    __tablename__ = "event"
    __table_args__ = (
        Index("ix_event_invoice_time", "invoice_id", "occurred_at"),
        # A customer's timeline, newest first, read from the index's end instead of sorting all their events
        Index("ix_event_debtor_time", "debtor_id", "occurred_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="Surrogate key")
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id", ondelete="CASCADE"), index=True, comment="Tenant")
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoice.id", ondelete="CASCADE"), comment="Invoice concerned, if any")
    debtor_id: Mapped[int | None] = mapped_column(ForeignKey("debtor.id", ondelete="CASCADE"), comment="Debtor concerned, if any")
    kind: Mapped[str] = mapped_column(String(40), comment="What happened, e.g. invoice.created, payment.booked, link.opened")
    actor: Mapped[str] = mapped_column(String(80), comment="Who did it: api:<key prefix>, user:<id>, debtor, system, import")
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, comment="When it happened (UTC)")
    data: Mapped[dict | None] = mapped_column(JSONType, comment="Details: changed fields, amounts, references")

    @classmethod
    def on_invoice(cls, invoice, kind: str, actor: str, data: dict | None = None) -> "Event":
        """An event on an invoice's timeline (merchant and debtor taken from the invoice)."""
        return cls(merchant_id=invoice.merchant_id, invoice_id=invoice.id, debtor_id=invoice.debtor_id,
                   kind=kind, actor=actor, data=data)
