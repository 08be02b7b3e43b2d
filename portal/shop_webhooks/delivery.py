"""Fan-out and delivery of outgoing webhooks (run by the outbox worker, `flask worker`).

1. `fan_out`: queued events (`webhook_queue`, filled by the trigger on `event` in the
   transaction of the change) become one delivery per enabled endpoint subscribed to the
   event's webhook type; the body is fixed then, so retries and resends sign the same bytes.
   One transaction per batch: a crash leaves the queue rows, nothing is half fanned out.
2. `run_once`: claims due deliveries as a lease (as the message worker does), POSTs each
   signed body, records the attempt. A delivery waits while an earlier delivery of the same
   invoice to the same endpoint is still pending, so each endpoint sees an invoice's events
   in the order they happened. A worker killed mid-batch leaves its claims `sending`; after
   the lease any worker sends them again (the receiver deduplicates by the body's `id`).
   Failures are retried with exponential backoff (30 s doubling, at most 3 h apart) until
   WEBHOOK_RETRY_HOURS (72 h by default) after the event; an endpoint that has failed without
   a single success for WEBHOOK_DISABLE_AFTER_HOURS is disabled and its admins get an email.
"""
from __future__ import annotations

import logging
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, delete, exists, not_, or_, select, text, update
from sqlalchemy.orm import aliased

from portal.extensions import db
from portal.models import Debtor, Event, Invoice, Message, MessageStatus, User
from portal.models.types import utcnow
from portal.models.webhook import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookQueue
from portal.shop_webhooks import addresses, signing, types

log = logging.getLogger(__name__)

BATCH = 50
FAN_OUT_BATCH = 500
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_MAX = timedelta(hours=3)
FAN_OUT_LOCK = 0x5E771E  # PostgreSQL advisory lock: one fan-out at a time keeps deliveries in event order
USER_AGENT = "Settle-Webhooks/1"


@dataclass
class DeliveryResult:
    fanned_out: int = 0
    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    disabled: int = 0

    def __add__(self, other: "DeliveryResult") -> "DeliveryResult":
        return DeliveryResult(*(a + b for a, b in zip(vars(self).values(), vars(other).values())))


def _config(key: str, default):
    return current_app.config.get(key, default)


# --- fan-out -------------------------------------------------------------------------------------------


def fan_out(*, now: datetime | None = None, limit: int = FAN_OUT_BATCH) -> int:
    """Turn up to `limit` queued events into deliveries and commit; returns how many events were taken."""
    if db.engine.dialect.name == "postgresql":
        if not db.session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": FAN_OUT_LOCK}).scalar():
            db.session.rollback()
            return 0
    ids = db.session.execute(select(WebhookQueue.event_id).order_by(WebhookQueue.event_id).limit(limit)).scalars().all()
    if not ids:
        db.session.rollback()
        return 0
    events = db.session.execute(select(Event).where(Event.id.in_(ids)).order_by(Event.id)).scalars().all()
    merchants = {e.merchant_id for e in events}
    endpoints: dict[int, list[WebhookEndpoint]] = {}
    for endpoint in db.session.execute(
        select(WebhookEndpoint).where(WebhookEndpoint.merchant_id.in_(merchants), WebhookEndpoint.enabled)
        .order_by(WebhookEndpoint.id)
    ).scalars():
        endpoints.setdefault(endpoint.merchant_id, []).append(endpoint)
    invoice_ids = {e.invoice_id for e in events if e.invoice_id is not None}
    invoices = {i.id: i for i in db.session.execute(select(Invoice).where(Invoice.id.in_(invoice_ids))).scalars()} if invoice_ids else {}
    debtor_ids = {i.debtor_id for i in invoices.values()}
    debtors = {d.id: d for d in db.session.execute(select(Debtor).where(Debtor.id.in_(debtor_ids))).scalars()} if debtor_ids else {}
    now = now or utcnow()
    rows = []
    for event in events:
        type_ = types.webhook_type(event.kind, event.data)
        if type_ is None:
            continue
        targets = [ep for ep in endpoints.get(event.merchant_id, [])
                   if type_ in (ep.events or []) and _aware(ep.created_at) <= _aware(event.occurred_at)]
        if not targets:
            continue
        invoice = invoices.get(event.invoice_id)
        webhook_id = "wh_" + uuid.uuid4().hex
        body = types.body(webhook_id=webhook_id, type_=type_, kind=event.kind, occurred_at=event.occurred_at,
                          data=event.data, invoice=invoice, debtor=debtors.get(invoice.debtor_id) if invoice else None)
        for endpoint in targets:
            rows.append({"merchant_id": event.merchant_id, "endpoint_id": endpoint.id, "event_id": event.id,
                         "invoice_id": event.invoice_id, "webhook_id": webhook_id, "type": type_, "body": body,
                         "status": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now})
    if rows:
        db.session.execute(WebhookDelivery.__table__.insert(), rows)
    db.session.execute(delete(WebhookQueue).where(WebhookQueue.event_id.in_(ids)))
    db.session.commit()
    return len(ids)


def _aware(moment: datetime) -> datetime:
    from datetime import timezone

    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


# --- claiming and sending ----------------------------------------------------------------------------------


def _lease() -> timedelta:
    return timedelta(seconds=float(_config("WEBHOOK_LEASE_SECONDS", 120)))


def _claimable(now: datetime):
    d = WebhookDelivery
    earlier = aliased(WebhookDelivery)
    blocked = exists().where(
        earlier.endpoint_id == d.endpoint_id, earlier.invoice_id == d.invoice_id, earlier.event_id < d.event_id,
        earlier.status.in_(("pending", "sending")),
    )
    due = or_(and_(d.status == "pending", d.next_attempt_at <= now),
              and_(d.status == "sending", d.claimed_at < now - _lease()))
    enabled = exists().where(WebhookEndpoint.id == d.endpoint_id, WebhookEndpoint.enabled)
    return and_(due, enabled, or_(d.invoice_id.is_(None), not_(blocked)))


def claim(*, now: datetime, limit: int = BATCH, worker: str) -> list[int]:
    token = f"{worker}:{uuid.uuid4().hex[:8]}"
    d = WebhookDelivery
    pick = select(d.id).where(_claimable(now)).order_by(d.event_id, d.id).limit(limit)
    if db.engine.dialect.name == "postgresql":
        ids = db.session.execute(pick.with_for_update(of=d, skip_locked=True)).scalars().all()
        if ids:
            db.session.execute(update(d).where(d.id.in_(ids)).values(status="sending", claimed_at=now, claimed_by=token)
                               .execution_options(synchronize_session=False))
    else:
        db.session.execute(update(d).where(d.id.in_(pick.scalar_subquery()))
                           .values(status="sending", claimed_at=now, claimed_by=token)
                           .execution_options(synchronize_session=False))
        ids = db.session.execute(select(d.id).where(d.claimed_by == token, d.status == "sending")
                                 .order_by(d.event_id, d.id)).scalars().all()
    db.session.commit()
    return list(ids)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # a 3xx is an answer, not an instruction
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def post(url: str, body: str, secret: str, *, webhook_id: str, timeout: float) -> tuple[int | None, str | None]:
    """One signed POST, stamped with the real time of sending; returns (HTTP status or None, error text or None)."""
    request = urllib.request.Request(url, data=body.encode(), method="POST", headers={
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Settle-Signature": signing.signature(secret, int(time.time()), body),
        "Settle-Webhook-Id": webhook_id,
    })
    try:
        with _opener.open(request, timeout=timeout) as response:
            response.read(1024)
            return response.status, None
    except urllib.error.HTTPError as exc:
        return exc.code, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return None, f"{type(exc).__name__}: {reason}"[:500]


def _deliver(delivery_id: int, now: datetime, result: DeliveryResult) -> None:
    delivery = db.session.get(WebhookDelivery, delivery_id, populate_existing=True)
    if delivery is None or delivery.status != "sending":
        return
    endpoint = delivery.endpoint
    started = time.monotonic()
    try:
        addresses.check(endpoint.url, allow_private=bool(_config("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", False)))
    except addresses.AddressRefused as exc:
        code, error = None, f"refused: {exc}"
    else:
        code, error = post(endpoint.url, delivery.body, endpoint.secret, webhook_id=delivery.webhook_id,
                           timeout=float(_config("WEBHOOK_TIMEOUT_SECONDS", 10)))
    ok = code is not None and 200 <= code < 300
    db.session.add(WebhookAttempt(delivery_id=delivery.id, at=now, status_code=code, error=None if ok else error,
                                  duration_ms=int((time.monotonic() - started) * 1000)))
    delivery.attempts += 1
    delivery.last_status_code = code
    delivery.claimed_at = delivery.claimed_by = None
    if ok:
        delivery.status, delivery.delivered_at, delivery.last_error = "delivered", now, None
        endpoint.failing_since = None
        result.delivered += 1
        return
    delivery.last_error = (error or f"HTTP {code}")[:500]
    endpoint.failing_since = endpoint.failing_since or now
    if now - _aware(delivery.created_at) >= timedelta(hours=float(_config("WEBHOOK_RETRY_HOURS", 72))):
        delivery.status = "failed"
        result.failed += 1
    else:
        delivery.status = "pending"
        delivery.next_attempt_at = now + min(BACKOFF_BASE * (2 ** (delivery.attempts - 1)), BACKOFF_MAX)
        result.retried += 1
    if now - _aware(endpoint.failing_since) >= timedelta(hours=float(_config("WEBHOOK_DISABLE_AFTER_HOURS", 72))):
        disable(endpoint, reason="failing", now=now)
        result.disabled += 1


def disable(endpoint: WebhookEndpoint, *, reason: str, now: datetime) -> None:
    """Disable an endpoint (the caller commits); when it kept failing, its merchant's admins get an email."""
    if not endpoint.enabled:
        return
    endpoint.enabled = False
    endpoint.disabled_reason = reason
    if reason != "failing":
        return  # staff disabling it: their audit row says so
    db.session.add(Event(merchant_id=endpoint.merchant_id, kind="webhook.disabled", actor="system:worker",
                         data={"endpoint_id": endpoint.id, "url": endpoint.url, "reason": reason}))
    admins = db.session.execute(
        select(User).where(User.merchant_id == endpoint.merchant_id, User.role == "admin", User.active).order_by(User.id)
    ).scalars().all()
    since = _aware(endpoint.failing_since or now)
    for admin in admins:
        key = f"webhook-disabled:{endpoint.id}:{since.isoformat()}:{admin.id}"
        if db.session.execute(select(Message.id).where(Message.dedupe_key == key)).first():
            continue
        db.session.add(Message(
            merchant_id=endpoint.merchant_id, debtor_id=None, purpose="staff_notice", template="staff_webhook_disabled",
            channel="email", fallbacks=[], language=admin.language or "de", recipient=admin.email,
            context={"endpoint_id": endpoint.id, "url": endpoint.url, "failing_since": since.isoformat(),
                     "description": endpoint.description},
            dedupe_key=key, status=MessageStatus.PENDING.value,
        ))


def run_once(*, now: datetime | None = None, limit: int = BATCH, worker: str = "worker") -> DeliveryResult:
    """Fan out what is queued, then claim one batch of due deliveries and send it (each outcome committed on its own)."""
    now = now or utcnow()
    result = DeliveryResult()
    while True:
        taken = fan_out(now=now)
        result.fanned_out += taken
        if taken < FAN_OUT_BATCH:
            break
    ids = claim(now=now, limit=limit, worker=worker)
    result.claimed = len(ids)
    for delivery_id in ids:
        _deliver(delivery_id, now, result)
        db.session.commit()
    return result


def drain(*, now: datetime | None = None, worker: str = "worker") -> DeliveryResult:
    """Send until nothing more is due now (`flask worker --once`, tests)."""
    total = DeliveryResult()
    while True:
        result = run_once(now=now, worker=worker)
        total = total + result
        if result.claimed == 0:
            return total


def resend(delivery: WebhookDelivery, *, now: datetime | None = None) -> None:
    """Send a delivery again as soon as possible, with the same body and id (the caller commits)."""
    delivery.status = "pending"
    delivery.next_attempt_at = now or utcnow()
    delivery.created_at = now or utcnow()  # a fresh retry window
    delivery.claimed_at = delivery.claimed_by = None
