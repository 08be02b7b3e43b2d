"""Outgoing webhooks to the shop: endpoints, the queue of events to fan out, deliveries and their attempts.

Every Event row of a merchant that has an enabled endpoint is copied into `webhook_queue`
by a database trigger on `event` (SQLite and PostgreSQL), inside the transaction that writes
the event. So whatever code path records an event (ORM, Core bulk inserts, raw executemany)
feeds the outbox, and a rolled-back change sends nothing. The worker maps queued events to
webhook types (`portal.shop_webhooks.types`) and writes one delivery per subscribed endpoint.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import DDL, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.types import JSONType, UTCDateTime, utcnow


class WebhookEndpoint(db.Model):
    __tablename__ = "webhook_endpoint"

    id: Mapped[int] = mapped_column(primary_key=True, comment="Surrogate key")
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id", ondelete="CASCADE"), index=True, comment="Tenant")
    url: Mapped[str] = mapped_column(String(2000), comment="Where deliveries are POSTed (http or https)")
    description: Mapped[str | None] = mapped_column(String(200), comment="What the endpoint is for, as the admin wrote it")
    events: Mapped[list] = mapped_column(JSONType, comment="Webhook types this endpoint receives, e.g. [\"invoice.paid\"]")
    secret: Mapped[str] = mapped_column(String(80), comment="HMAC-SHA256 signing secret (shown to the admin once)")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, comment="Disabled endpoints receive nothing")
    disabled_reason: Mapped[str | None] = mapped_column(String(200), comment="Why it was disabled (by an admin, or failing)")
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime, comment="First failed attempt since the last success")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, comment="When it was registered")


class WebhookQueue(db.Model):
    """Events waiting to be turned into deliveries (filled by the trigger on `event`)."""

    __tablename__ = "webhook_queue"

    event_id: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"), primary_key=True, comment="The event to fan out")
    merchant_id: Mapped[int] = mapped_column(Integer, comment="Tenant of the event (copied by the trigger)")


class WebhookDelivery(db.Model):
    __tablename__ = "webhook_delivery"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id", name="uq_webhook_delivery_endpoint_event"),
        CheckConstraint("status IN ('pending', 'sending', 'delivered', 'failed')", name="status_known"),
        # The worker's queue: due deliveries; and the per-invoice order check.
        Index("ix_webhook_delivery_queue", "status", "next_attempt_at"),
        Index("ix_webhook_delivery_order", "endpoint_id", "invoice_id", "event_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="Surrogate key")
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id", ondelete="CASCADE"), index=True, comment="Tenant")
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoint.id", ondelete="CASCADE"), comment="Receiver")
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"), comment="The event it reports")
    invoice_id: Mapped[int | None] = mapped_column(Integer, comment="Invoice concerned: deliveries of one invoice go out in event order")
    webhook_id: Mapped[str] = mapped_column(String(40), comment="The body's `id`, the same for every endpoint and every resend")
    type: Mapped[str] = mapped_column(String(40), comment="Webhook type, e.g. invoice.paid")
    body: Mapped[str] = mapped_column(Text, comment="The exact JSON that is signed and sent")
    status: Mapped[str] = mapped_column(String(16), default="pending", comment="pending, sending, delivered, failed (gave up)")
    attempts: Mapped[int] = mapped_column(Integer, default=0, comment="Attempts so far")
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, comment="Not before this time")
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, comment="Lease start while a worker sends it")
    claimed_by: Mapped[str | None] = mapped_column(String(120), comment="Worker holding the lease")
    last_status_code: Mapped[int | None] = mapped_column(Integer, comment="HTTP status of the last attempt (NULL: no answer)")
    last_error: Mapped[str | None] = mapped_column(String(500), comment="Why the last attempt failed")
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, comment="When the receiver answered 2xx")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, comment="When it was queued")

    endpoint: Mapped[WebhookEndpoint] = relationship()


class WebhookAttempt(db.Model):
    __tablename__ = "webhook_attempt"

    id: Mapped[int] = mapped_column(primary_key=True, comment="Surrogate key")
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_delivery.id", ondelete="CASCADE"), index=True, comment="Delivery")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, comment="When the attempt was made")
    status_code: Mapped[int | None] = mapped_column(Integer, comment="HTTP status answered (NULL: no answer)")
    error: Mapped[str | None] = mapped_column(String(500), comment="Connection error or refusal, if any")
    duration_ms: Mapped[int] = mapped_column(Integer, default=0, comment="How long the receiver took")


# --- the trigger that makes `event` the outbox ------------------------------------------------------

SQLITE_TRIGGER = """
CREATE TRIGGER IF NOT EXISTS trg_event_webhook_queue AFTER INSERT ON event
FOR EACH ROW WHEN EXISTS (SELECT 1 FROM webhook_endpoint w WHERE w.merchant_id = NEW.merchant_id AND w.enabled)
BEGIN
  INSERT INTO webhook_queue (event_id, merchant_id) VALUES (NEW.id, NEW.merchant_id);
END
"""
POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION settle_event_webhook_queue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM webhook_endpoint w WHERE w.merchant_id = NEW.merchant_id AND w.enabled) THEN
    INSERT INTO webhook_queue (event_id, merchant_id) VALUES (NEW.id, NEW.merchant_id);
  END IF;
  RETURN NULL;
END $$
"""
POSTGRES_TRIGGER = """
CREATE TRIGGER trg_event_webhook_queue AFTER INSERT ON event
FOR EACH ROW EXECUTE FUNCTION settle_event_webhook_queue()
"""


def create_trigger_statements(dialect: str) -> list[str]:
    """The DDL that creates the trigger (used by create_all and by the migration)."""
    if dialect == "postgresql":
        return [POSTGRES_FUNCTION, "DROP TRIGGER IF EXISTS trg_event_webhook_queue ON event", POSTGRES_TRIGGER]
    return [SQLITE_TRIGGER]


def drop_trigger_statements(dialect: str) -> list[str]:
    if dialect == "postgresql":
        return ["DROP TRIGGER IF EXISTS trg_event_webhook_queue ON event", "DROP FUNCTION IF EXISTS settle_event_webhook_queue()"]
    return ["DROP TRIGGER IF EXISTS trg_event_webhook_queue"]


for _dialect in ("sqlite", "postgresql"):
    for _number, _sql in enumerate(create_trigger_statements(_dialect)):
        event.listen(WebhookQueue.__table__, "after_create", DDL(_sql).execute_if(dialect=_dialect))
