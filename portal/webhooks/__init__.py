"""Incoming webhooks: `/webhooks/stripe/<merchant-slug>` (CSRF-exempt, no session, no cookies).

The signature is checked with that merchant's webhook secret on the raw body before
anything else (5 minutes tolerance); only then is the event stored and processed, in
one transaction. Failures are recorded and answered 500 so Stripe retries. A signed body that is
no usable event (not JSON, fields of the wrong type, text no database stores) is recorded and
answered 400; a signature dated more than the tolerance ahead is refused like a stale one.
"""
from __future__ import annotations

import time

import stripe
from flask import Blueprint, abort, current_app, jsonify, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.models import Merchant
from portal.payments import stripe_events

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")

SIGNATURE_TOLERANCE = 300  # seconds, as Stripe's own libraries default to


def _signed_at(header: str) -> int | None:
    """The `t=` of a Stripe-Signature header (the time the signature claims), or None."""
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isascii() and value.isdigit() and len(value) < 16:
            return int(value)
    return None


@bp.post("/stripe/<slug>")
def stripe_webhook(slug: str):
    merchant = db.session.execute(select(Merchant).where(Merchant.slug == slug)).scalar_one_or_none()
    if merchant is None:
        abort(404)
    if not merchant.stripe_webhook_secret:
        return jsonify(error="not_configured", message="No webhook secret is set for this merchant."), 400
    raw = request.get_data(cache=False, as_text=False)
    header = request.headers.get("Stripe-Signature", "")
    signed_at = _signed_at(header)
    # Stripe's library refuses signatures older than the tolerance, not ones dated ahead: a signature made
    # for a later moment (a leaked secret, a skewed clock) would stay replayable until then.
    if signed_at is not None and signed_at > time.time() + SIGNATURE_TOLERANCE:
        return jsonify(error="bad_signature", message="The signature is dated in the future."), 400
    try:
        stripe.WebhookSignature.verify_header(raw, header, merchant.stripe_webhook_secret, tolerance=SIGNATURE_TOLERANCE)
    except (ValueError, stripe.SignatureVerificationError):  # ValueError: a body that is not UTF-8
        return jsonify(error="bad_signature", message="Signature or payload invalid."), 400

    # Signed by Stripe (or whoever holds the secret) from here on: whatever the body is, it is recorded.
    try:
        event = current_app.json.loads(raw)
    except ValueError as exc:  # not JSON, NaN, nested without end (portal.inputs.StrictJSONProvider)
        return _malformed(merchant, raw, None, f"not JSON: {exc}")
    problem = stripe_events.malformed(event)
    if problem:
        return _malformed(merchant, raw, event, problem)

    try:
        row, fresh = stripe_events.receive(merchant, event)
        status = row.status
        db.session.commit()
    except IntegrityError:
        # The same event is being processed by a concurrent delivery: let Stripe retry later.
        db.session.rollback()
        return jsonify(error="busy", message="Event is being processed; retry."), 503
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        # A field of a shape the handler cannot read, past the checks of `malformed`: the event, not Settle.
        db.session.rollback()
        current_app.logger.warning("Stripe event %s for %s is malformed: %r", event.get("id"), slug, exc)
        return _malformed(db.session.get(Merchant, merchant.id), raw, event, f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # recorded and answered 5xx: Stripe retries
        db.session.rollback()
        current_app.logger.exception("Stripe event %s for %s failed", event.get("id"), slug)
        merchant = db.session.get(Merchant, merchant.id)
        stripe_events.record_failure(merchant, event, f"{type(exc).__name__}: {exc}")
        db.session.commit()
        return jsonify(error="processing_failed", message="Recorded; please retry."), 500
    return jsonify(received=True, status=status, duplicate=not fresh), 200


def _malformed(merchant: Merchant, raw: bytes, event, reason: str):
    """A validly signed body that is no usable event: recorded for staff (once per body) and answered 400."""
    stripe_events.record_malformed(merchant, raw, event, reason)
    db.session.commit()
    return jsonify(error="bad_payload", message=f"Not a usable Stripe event: {reason}"[:500]), 400


def init_app(app) -> None:
    from portal.extensions import csrf

    app.register_blueprint(bp)
    csrf.exempt(bp)
