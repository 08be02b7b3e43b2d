"""Processing verified Stripe webhook events: stored by id, processed once, one handler per type.

The webhook view checks the signature and commits; `receive` does the rest inside the
caller's transaction. Money lands through one anchor per PaymentIntent
(`StripePayment`): whichever of checkout.session.completed,
checkout.session.async_payment_succeeded, payment_intent.succeeded or charge.refunded
arrives first books the payment, split as the checkout fixed it; the others find the
anchor and book nothing. A dispute that arrives before its payment is known is kept
as "deferred" and processed the moment the payment is booked, so every delivery order
ends in the same balances.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select

from portal.domain.allocation import split, take_back
from portal.extensions import db
from portal.models import (
    CheckoutSession,
    Event,
    Invoice,
    Merchant,
    StripeEvent,
    StripePayment,
)
from portal.models.types import utcnow
from portal.payments.booking import book_shares
from portal.payments.checkout import METADATA_CHECKOUT, METADATA_INVOICES

ACTOR = "stripe"


class EventError(Exception):
    """An event that cannot be processed now; recorded and answered 5xx so Stripe retries."""


class Outcome:
    """How a stored event ended (the `stripe_event.status` values)."""

    PROCESSED = "processed"
    IGNORED = "ignored"
    DEFERRED = "deferred"


def _day(merchant: Merchant, unix: int | None) -> date:
    moment = datetime.fromtimestamp(unix, timezone.utc) if unix else utcnow()
    return moment.astimezone(ZoneInfo(merchant.timezone)).date()


def _find_checkout(merchant: Merchant, *, public_id: str | None = None, session_id: str | None = None,
                   payment_intent: str | None = None) -> CheckoutSession | None:
    for column, value in (
        (CheckoutSession.public_id, public_id),
        (CheckoutSession.stripe_session_id, session_id),
        (CheckoutSession.payment_intent_id, payment_intent),
    ):
        if value:
            found = db.session.execute(
                select(CheckoutSession).where(CheckoutSession.merchant_id == merchant.id, column == value)
            ).scalars().first()
            if found is not None:
                return found
    return None


def _metadata(obj: dict) -> dict:
    return obj.get("metadata") or {}


def _invoices_from_metadata(merchant: Merchant, metadata: dict) -> list[Invoice]:
    numbers = [n.strip() for n in (metadata.get(METADATA_INVOICES) or "").split(",") if n.strip() and "…" not in n]
    if not numbers:
        return []
    rows = db.session.execute(
        select(Invoice).where(Invoice.merchant_id == merchant.id, Invoice.number.in_(numbers))
    ).scalars().all()
    return sorted(rows, key=lambda inv: (inv.due_date, inv.id))


def _anchor(merchant: Merchant, payment_intent: str, *, lock: bool = False) -> StripePayment | None:
    stmt = select(StripePayment).where(
        StripePayment.merchant_id == merchant.id, StripePayment.payment_intent_id == payment_intent
    )
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return db.session.execute(stmt).scalar_one_or_none()


def record_payment(
    merchant: Merchant,
    *,
    payment_intent: str,
    amount_minor: int,
    currency: str,
    checkout: CheckoutSession | None,
    metadata: dict,
    event_id: str,
    booked_on: date,
) -> StripePayment | None:
    """Book a succeeded payment once per PaymentIntent; None when it is not one of Settle's."""
    anchor = _anchor(merchant, payment_intent)
    if anchor is not None:
        return anchor
    if checkout is None:
        checkout = _find_checkout(merchant, public_id=metadata.get(METADATA_CHECKOUT), payment_intent=payment_intent)
    if checkout is not None:
        pairs = [(item.invoice, item.amount_minor) for item in checkout.items]
    else:
        pairs = [(inv, inv.open_minor) for inv in _invoices_from_metadata(merchant, metadata)]
    if not pairs:
        return None  # a payment on the merchant's Stripe account that Settle did not start
    if amount_minor <= 0:
        return None
    currency = currency.upper()
    if any(inv.currency != currency for inv, _ in pairs):
        raise EventError(f"payment {payment_intent} is in {currency}, the invoices are not")
    shares = split(amount_minor, [cap for _, cap in pairs])
    allocation = [[inv.id, share] for (inv, _), share in zip(pairs, shares)]
    anchor = StripePayment(
        merchant_id=merchant.id, payment_intent_id=payment_intent, checkout_id=checkout.id if checkout else None,
        amount_minor=amount_minor, currency=currency, allocation=allocation, refunded_minor=0, event_id=event_id,
    )
    db.session.add(anchor)
    db.session.flush()
    booked = book_shares(
        [(inv, share) for (inv, _), share in zip(pairs, shares)],
        kind="payment", source="stripe", ref=payment_intent, booked_on=booked_on, actor=ACTOR,
        memo="Card or online payment (Stripe)", data={"payment_intent": payment_intent, "event": event_id},
    )
    _flag_implausible(booked, ref=payment_intent)
    from portal.payments import receipts

    receipts.queue(pairs[0][0].debtor, [inv for inv, _ in pairs], ref=payment_intent, method="card", paid_on=booked_on,
                   amount_minor=amount_minor)
    if checkout is not None:
        checkout.status = "paid"
        checkout.payment_intent_id = checkout.payment_intent_id or payment_intent
        checkout.completed_at = checkout.completed_at or utcnow()
    _run_deferred(merchant, payment_intent)
    return anchor


def _flag_implausible(booked: list[tuple[Invoice, int]], *, ref: str) -> None:
    """A share far beyond what its invoice had open (it was paid another way while the checkout was open, with fees
    on top, or the limit is set low) stays booked, since the card was charged, and staff are told to refund it."""
    from portal.payments import plausibility

    for invoice, share in booked:
        before = max(invoice.open_minor + share, 0)  # ledger.book refreshed the balance under its row lock
        if not plausibility.is_plausible(invoice, share, open_minor=before):
            plausibility.flag(invoice, amount_minor=share, source="stripe", ref=ref, actor=ACTOR, booked=True,
                              open_minor=before)


def _run_deferred(merchant: Merchant, payment_intent: str) -> None:
    waiting = db.session.execute(
        select(StripeEvent).where(
            StripeEvent.merchant_id == merchant.id,
            StripeEvent.status == Outcome.DEFERRED,
            StripeEvent.payment_intent_id == payment_intent,
        ).order_by(StripeEvent.created, StripeEvent.id)
    ).scalars().all()
    for row in waiting:
        row.status = _dispatch(merchant, row.payload)
        row.processed_at = utcnow()


def _invoices_of(anchor: StripePayment) -> list[tuple[Invoice, int]]:
    return [(db.session.get(Invoice, invoice_id), amount) for invoice_id, amount in anchor.allocation]


# --- handlers: each takes (merchant, event) and returns an Outcome ------------------------------


def _checkout_paid(merchant: Merchant, event: dict) -> str:
    session = event["data"]["object"]
    checkout = _find_checkout(
        merchant, public_id=_metadata(session).get(METADATA_CHECKOUT) or session.get("client_reference_id"),
        session_id=session.get("id"),
    )
    if event["type"] == "checkout.session.completed" and session.get("payment_status") != "paid":
        # Delayed methods (SEPA Direct Debit) complete the session unpaid; the money follows days later.
        if checkout is not None and checkout.status == "open" and session.get("payment_status") == "unpaid":
            checkout.status = "processing"
        return Outcome.PROCESSED
    payment_intent = session.get("payment_intent") or session["id"]
    if checkout is not None and not checkout.payment_intent_id:
        checkout.payment_intent_id = payment_intent
    anchor = record_payment(
        merchant, payment_intent=payment_intent, amount_minor=int(session.get("amount_total") or 0),
        currency=session.get("currency") or "", checkout=checkout, metadata=_metadata(session),
        event_id=event["id"], booked_on=_day(merchant, event.get("created")),
    )
    return Outcome.PROCESSED if anchor is not None else Outcome.IGNORED


def _checkout_failed(merchant: Merchant, event: dict) -> str:
    session = event["data"]["object"]
    checkout = _find_checkout(merchant, public_id=_metadata(session).get(METADATA_CHECKOUT), session_id=session.get("id"))
    if checkout is None:
        return Outcome.IGNORED
    _failed(merchant, checkout, event, reason="async_payment_failed")
    return Outcome.PROCESSED


def _failed(merchant: Merchant, checkout: CheckoutSession, event: dict, *, reason: str) -> None:
    if checkout.status != "paid":
        checkout.status = "failed"
    for item in checkout.items:
        db.session.add(
            Event(merchant_id=merchant.id, invoice_id=item.invoice_id, debtor_id=checkout.debtor_id,
                  kind="payment.failed", actor=ACTOR, data={"reason": reason, "stripe_event": event["id"]})
        )


def _intent_succeeded(merchant: Merchant, event: dict) -> str:
    intent = event["data"]["object"]
    anchor = record_payment(
        merchant, payment_intent=intent["id"], amount_minor=int(intent.get("amount_received") or intent.get("amount") or 0),
        currency=intent.get("currency") or "", checkout=None, metadata=_metadata(intent),
        event_id=event["id"], booked_on=_day(merchant, event.get("created")),
    )
    return Outcome.PROCESSED if anchor is not None else Outcome.IGNORED


def _intent_failed(merchant: Merchant, event: dict) -> str:
    intent = event["data"]["object"]
    checkout = _find_checkout(merchant, public_id=_metadata(intent).get(METADATA_CHECKOUT), payment_intent=intent["id"])
    if checkout is None:
        return Outcome.IGNORED
    error = (intent.get("last_payment_error") or {}).get("code") or "payment_failed"
    _failed(merchant, checkout, event, reason=error)
    return Outcome.PROCESSED


def _charge_refunded(merchant: Merchant, event: dict) -> str:
    charge = event["data"]["object"]
    payment_intent = charge.get("payment_intent") or charge["id"]
    day = _day(merchant, event.get("created"))
    anchor = _anchor(merchant, payment_intent)
    if anchor is None and charge.get("paid", True):
        # The refund overtook the payment's own events: the charge proves the payment, book it first.
        anchor = record_payment(
            merchant, payment_intent=payment_intent, amount_minor=int(charge.get("amount_captured") or charge.get("amount") or 0),
            currency=charge.get("currency") or "", checkout=None, metadata=_metadata(charge),
            event_id=event["id"], booked_on=_day(merchant, charge.get("created")),
        )
    if anchor is None:
        return Outcome.IGNORED
    anchor = _anchor(merchant, payment_intent, lock=True)
    refunded = int(charge.get("amount_refunded") or 0)
    if refunded <= anchor.refunded_minor:
        return Outcome.PROCESSED  # an older or repeated refund notice: the higher total is booked already
    pairs = _invoices_of(anchor)
    booked = [amount for _, amount in pairs]
    before = take_back(anchor.refunded_minor, booked)
    after = take_back(refunded, booked)
    book_shares(
        [(inv, new - old) for (inv, _), new, old in zip(pairs, after, before)],
        kind="refund", source="stripe", ref=f"{payment_intent}:refund:{refunded}", booked_on=day, actor=ACTOR,
        memo="Refund (Stripe)", data={"payment_intent": payment_intent, "refunded_total_minor": refunded, "event": event["id"]},
    )
    anchor.refunded_minor = refunded
    return Outcome.PROCESSED


def _funds_withdrawn(dispute: dict) -> bool:
    # Inquiries ("warning_…") hold no money; real disputes withdraw the amount at once.
    if dispute.get("balance_transactions"):
        return True
    return not str(dispute.get("status") or "").startswith("warning_")


def _dispute(merchant: Merchant, event: dict) -> str:
    dispute = event["data"]["object"]
    payment_intent = dispute.get("payment_intent") or dispute.get("charge")
    anchor = _anchor(merchant, payment_intent) if payment_intent else None
    if anchor is None:
        return Outcome.DEFERRED
    pairs = _invoices_of(anchor)
    day = _day(merchant, event.get("created"))
    if event["type"] == "charge.dispute.created":
        for invoice, _ in pairs:
            db.session.add(
                Event(merchant_id=merchant.id, invoice_id=invoice.id, debtor_id=invoice.debtor_id, kind="payment.disputed",
                      actor=ACTOR, data={"dispute": dispute["id"], "reason": dispute.get("reason"),
                                         "amount_minor": dispute.get("amount"), "status": dispute.get("status")})
            )
        _notify_staff(merchant, dispute, pairs)
    if event["type"] == "charge.dispute.funds_reinstated":
        shares = take_back(int(dispute.get("amount") or 0), [amount for _, amount in pairs])
        book_shares(
            [(inv, share) for (inv, _), share in zip(pairs, shares)], kind="payment", source="stripe",
            ref=f"{dispute['id']}:reinstated", booked_on=day, actor=ACTOR, memo="Chargeback won (Stripe)",
            data={"dispute": dispute["id"], "event": event["id"]},
        )
        return Outcome.PROCESSED
    if _funds_withdrawn(dispute) or event["type"] == "charge.dispute.funds_withdrawn":
        shares = take_back(int(dispute.get("amount") or 0), [amount for _, amount in pairs])
        book_shares(
            [(inv, share) for (inv, _), share in zip(pairs, shares)], kind="chargeback", source="stripe",
            ref=dispute["id"], booked_on=day, actor=ACTOR, memo="Chargeback (Stripe dispute)",
            data={"dispute": dispute["id"], "reason": dispute.get("reason"), "event": event["id"]},
        )
    return Outcome.PROCESSED


def _notify_staff(merchant: Merchant, dispute: dict, pairs: list[tuple[Invoice, int]]) -> None:
    from portal.messaging import outbox

    notice = getattr(outbox, "enqueue_staff_notice", None)
    if notice is None or not merchant.support_email:
        return
    notice(
        merchant=merchant,
        template="staff_payment_disputed",
        dedupe_key=f"stripe-dispute:{merchant.id}:{dispute['id']}",
        context={
            "dispute_id": dispute["id"],
            "reason": dispute.get("reason"),
            "amount_minor": dispute.get("amount"),
            "currency": (dispute.get("currency") or "").upper(),
            "invoice_numbers": [inv.number for inv, _ in pairs],
        },
    )


HANDLERS: dict[str, Callable[[Merchant, dict], str]] = {
    "checkout.session.completed": _checkout_paid,
    "checkout.session.async_payment_succeeded": _checkout_paid,
    "checkout.session.async_payment_failed": _checkout_failed,
    "payment_intent.succeeded": _intent_succeeded,
    "payment_intent.payment_failed": _intent_failed,
    "charge.refunded": _charge_refunded,
    "charge.dispute.created": _dispute,
    "charge.dispute.funds_withdrawn": _dispute,
    "charge.dispute.funds_reinstated": _dispute,
}


def _dispatch(merchant: Merchant, event: dict) -> str:
    handler = HANDLERS.get(event.get("type", ""))
    if handler is None:
        return Outcome.IGNORED
    return handler(merchant, event)


def _payment_intent_of(event: dict) -> str | None:
    obj = (event.get("data") or {}).get("object") or {}
    value = obj.get("payment_intent") or (obj.get("id") if obj.get("object") == "payment_intent" else None)
    return value if isinstance(value, str) else None


def receive(merchant: Merchant, event: dict) -> tuple[StripeEvent, bool]:
    """Store and process a verified event once; returns (row, processed_now).

    Raises on failure; the caller rolls back and calls `record_failure`.
    """
    row = db.session.execute(
        select(StripeEvent).where(StripeEvent.merchant_id == merchant.id, StripeEvent.event_id == event["id"])
    ).scalar_one_or_none()
    if row is not None and row.status != "failed":
        return row, False
    if row is None:
        row = StripeEvent(
            merchant_id=merchant.id, event_id=event["id"], type=event.get("type", ""), created=event.get("created"),
            payment_intent_id=_payment_intent_of(event), payload=event, status="failed", attempts=1,
        )
        db.session.add(row)
        db.session.flush()  # a concurrent delivery of the same event fails here on the unique key
    else:
        row.attempts += 1
    row.status = _dispatch(merchant, event)
    row.error = None
    row.processed_at = utcnow()
    return row, True


_AMOUNT_KEYS = ("amount", "amount_total", "amount_received", "amount_captured", "amount_refunded")
_ID_KEYS = ("id", "payment_intent", "charge", "client_reference_id")
_INT32 = 2**31  # stripe_event.created is a 32-bit column (Unix seconds until 2038)


def malformed(event) -> str | None:
    """Why a signed body cannot be taken as a Stripe event (None: it can). Checks what the handlers read,
    so a field of the wrong type is answered 400 and recorded instead of ending in a 500."""
    from portal.domain.money import MAX_MINOR
    from portal.domain.text import json_problems

    if not isinstance(event, dict):
        return "the body is not a JSON object"
    for path, problem in json_problems(event):
        return f"{path or 'the body'} {problem}"
    if not isinstance(event.get("id"), str) or not 0 < len(event["id"]) <= 255:
        return "id is not a Stripe event id"
    if not isinstance(event.get("type"), str) or len(event["type"]) > 80:
        return "type is not an event type"
    created = event.get("created")
    if created is not None and (type(created) is not int or not 0 <= created < _INT32):
        return "created is not a Unix time"
    if event["type"] not in HANDLERS:
        return None  # kept and ignored; nothing reads its data
    obj = (event.get("data") or {}).get("object") if isinstance(event.get("data"), dict) else None
    if not isinstance(obj, dict):
        return "data.object is not an object"
    if not isinstance(obj.get("id"), str) or not obj["id"]:
        return "data.object.id is missing"
    for key in _ID_KEYS:
        if obj.get(key) is not None and (not isinstance(obj[key], str) or len(obj[key]) > 255):
            return f"data.object.{key} is not an id"
    for key in _AMOUNT_KEYS:
        value = obj.get(key)
        if value is not None and (type(value) is not int or not 0 <= value <= MAX_MINOR):
            return f"data.object.{key} is not an amount in minor units"
    currency = obj.get("currency")
    if currency is not None and (not isinstance(currency, str) or len(currency) != 3 or not currency.isascii()
                                 or not currency.isalpha()):
        return "data.object.currency is not a currency code"
    metadata = obj.get("metadata")
    if metadata is not None and (not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values())):
        return "data.object.metadata is not a map of strings"
    if obj.get("created") is not None and (type(obj["created"]) is not int or not 0 <= obj["created"] < _INT32):
        return "data.object.created is not a Unix time"
    return None


def record_malformed(merchant: Merchant, raw: bytes, event, reason: str) -> StripeEvent:
    """Keep a signed but unusable body (status "ignored", the reason in `error`), once per body.

    Its row is keyed by a hash of the body, not by the id it claims: the id itself may be what is
    wrong, and a real event of that id must not be taken for a repeat of the broken one.
    """
    import hashlib

    from portal.domain.text import json_problems, text_problem

    key = "malformed:" + hashlib.sha256(raw).hexdigest()[:40]
    row = db.session.execute(
        select(StripeEvent).where(StripeEvent.merchant_id == merchant.id, StripeEvent.event_id == key)
    ).scalar_one_or_none()
    if row is not None:
        row.attempts += 1
        return row
    if isinstance(event, dict) and not any(True for _ in json_problems(event)):
        payload = event
    else:  # text no database stores: kept as escaped text
        payload = {"body": raw[:4000].decode("ascii", "backslashreplace").replace("\x00", "\\x00")}
    kind = event.get("type") if isinstance(event, dict) and isinstance(event.get("type"), str) else ""
    row = StripeEvent(merchant_id=merchant.id, event_id=key, type="" if text_problem(kind) else kind[:80],
                      created=None, payment_intent_id=None, payload=payload, status=Outcome.IGNORED, attempts=1,
                      error=f"malformed: {reason}"[:2000], processed_at=utcnow())
    db.session.add(row)
    return row


def record_failure(merchant: Merchant, event: dict, error: str) -> None:
    """After a rollback: keep the failed event (not as processed) with its error, for the retry and for staff."""
    row = db.session.execute(
        select(StripeEvent).where(StripeEvent.merchant_id == merchant.id, StripeEvent.event_id == event["id"])
    ).scalar_one_or_none()
    if row is None:
        row = StripeEvent(
            merchant_id=merchant.id, event_id=event["id"], type=event.get("type", ""), created=event.get("created"),
            payment_intent_id=_payment_intent_of(event), payload=event, status="failed", attempts=1,
        )
        db.session.add(row)
    elif row.status == "failed":
        row.attempts += 1
    else:
        return  # processed meanwhile by another delivery
    row.error = error[:2000]
