"""The transactional outbox: every message to a debtor or to staff, and which invoices it concerns.

A message row is written in the same transaction as the change that causes it (an
escalation step, a new link, a staff reply). The worker claims rows, sends them and
records the outcome; `dedupe_key` and the (invoice, step) key make reruns and crashes
harmless: the same step can never be queued twice.
"""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.types import JSONType, UTCDateTime, utcnow


class MessageStatus(str, enum.Enum):
    PENDING = "pending"  # waiting to be sent (again)
    SENDING = "sending"  # claimed by a worker
    SENT = "sent"  # handed to the provider
    CANCELLED = "cancelled"  # no longer needed (invoice paid, cancelled, paused)
    DEAD = "dead"  # gave up after the last attempt on every channel


CHANNELS = ("email", "sms", "letter")


class Message(db.Model):
    __tablename__ = "message"
    __table_args__ = (
        CheckConstraint("channel IN ('email', 'sms', 'letter')", name="channel_known"),
        CheckConstraint("status IN ('pending', 'sending', 'sent', 'cancelled', 'dead')", name="status_known"),
        CheckConstraint("attempts >= 0", name="attempts_nonneg"),
        # The worker's queue: pending messages by due time.
        Index("ix_message_queue", "status", "not_before"),
        # The dashboard's funnel: a merchant's messages by the day they were queued.
        Index("ix_message_merchant_created", "merchant_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="Surrogate key")
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id", ondelete="CASCADE"), index=True, comment="Tenant")
    debtor_id: Mapped[int | None] = mapped_column(ForeignKey("debtor.id", ondelete="CASCADE"), index=True, comment="Recipient debtor; NULL for staff notices")
    purpose: Mapped[str] = mapped_column(String(30), comment="Why it is sent: dunning, new_link, plan, promise, dispute_reply, staff_notice …")
    template: Mapped[str] = mapped_column(String(60), comment="Template name under templates/email|sms|letter")
    channel: Mapped[str] = mapped_column(String(10), comment="Channel of the current attempt: email, sms or letter")
    fallbacks: Mapped[list] = mapped_column(JSONType, default=list, comment="Channels to try next, in order, if this one fails for good")
    language: Mapped[str] = mapped_column(String(5), default="de", comment="Language the message is rendered in")
    recipient: Mapped[str | None] = mapped_column(String(254), comment="Email address or phone number; NULL for letters (address in context)")
    context: Mapped[dict] = mapped_column(JSONType, default=dict, comment="Data the template renders, fixed when queued")
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True, comment="Idempotency key: the same key is never queued twice")
    status: Mapped[str] = mapped_column(String(12), default=MessageStatus.PENDING.value, comment="pending, sending, sent, cancelled, dead")
    attempts: Mapped[int] = mapped_column(Integer, default=0, comment="Send attempts on the current channel")
    not_before: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, comment="Earliest time of the next attempt (backoff)")
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, comment="When a worker claimed it; stale claims are taken over")
    claimed_by: Mapped[str | None] = mapped_column(String(80), comment="Worker that holds the claim")
    handed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, comment="When the worker began to hand it over (just before SMTP's final dot, the SMS request); with sent_at NULL and the worker gone: in doubt, never sent again")
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, comment="When the provider accepted it")
    provider_id: Mapped[str | None] = mapped_column(String(200), comment="Provider's id: SMTP Message-ID, SMS id, print batch")
    last_error: Mapped[str | None] = mapped_column(Text, comment="Last failure, kept for staff")
    subject: Mapped[str | None] = mapped_column(String(300), comment="Rendered subject, for lists and the timeline")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, comment="When it was queued")

    invoices: Mapped[list["MessageInvoice"]] = relationship(back_populates="message", cascade="all, delete-orphan")


class MessageInvoice(db.Model):
    """Which invoices a message is about, and which escalation step it carries for each."""

    __tablename__ = "message_invoice"
    __table_args__ = (UniqueConstraint("invoice_id", "step"),)

    id: Mapped[int] = mapped_column(primary_key=True, comment="Surrogate key")
    message_id: Mapped[int] = mapped_column(ForeignKey("message.id", ondelete="CASCADE"), index=True, comment="The message")
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id", ondelete="CASCADE"), comment="An invoice it concerns")
    step: Mapped[str] = mapped_column(String(60), comment="Escalation step key (unique per invoice), or purpose:key for other messages")

    message: Mapped[Message] = relationship(back_populates="invoices")


class MessageText(db.Model):
    """A merchant's own words for one message kind and language, versioned: every save, restore or
    return to the default is a new row; the highest version is in force. `texts` maps slot names
    (portal/messaging/wording.py SLOTS) to text; an empty mapping means the shipped default."""

    __tablename__ = "message_text"
    __table_args__ = (
        UniqueConstraint("merchant_id", "kind", "language", "version"),
        CheckConstraint("version >= 1", name="version_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="Surrogate key")
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id", ondelete="CASCADE"), index=True, comment="Tenant")
    kind: Mapped[str] = mapped_column(String(60), comment="Message kind (dunning step template or case message)")
    language: Mapped[str] = mapped_column(String(5), comment="Language of the words (de, en)")
    version: Mapped[int] = mapped_column(Integer, comment="1, 2, 3 … per merchant, kind and language; the highest is in force")
    texts: Mapped[dict] = mapped_column(JSONType, default=dict, comment="Slot name to text; empty: the shipped default")
    action: Mapped[str] = mapped_column(String(20), default="save", comment="save, restore (of an earlier version) or default")
    restored_from: Mapped[int | None] = mapped_column(Integer, comment="For a restore: the version it copies")
    created_by: Mapped[str] = mapped_column(String(254), comment="Email of the staff member who made this version")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, comment="When this version was made")
