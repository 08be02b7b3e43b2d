"""Incoming webhooks: `/webhooks/stripe/<merchant-slug>` (CSRF-exempt, no session, no cookies).

The signature is checked with that merchant's webhook secret on the raw body before
anything else (5 minutes tolerance); only then is the event stored and processed, in
one transaction. Failures are recorded and answered 500 so Stripe retries.
"""
from __future__ import annotations

import json

import stripe
from flask import Blueprint, abort, current_app, jsonify, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.models import Merchant
from portal.payments import stripe_events

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")

SIGNATURE_TOLERANCE = 300  # seconds, as Stripe's own libraries default to


@bp.post("/stripe/<slug>")
def stripe_webhook(slug: str):
    merchant = db.session.execute(select(Merchant).where(Merchant.slug == slug)).scalar_one_or_none()
    if merchant is None:
        abort(404)
    if not merchant.stripe_webhook_secret:
        return jsonify(error="not_configured", message="No webhook secret is set for this merchant."), 400
    raw = request.get_data(cache=False, as_text=False)
    try:
        stripe.Webhook.construct_event(
            raw, request.headers.get("Stripe-Signature", ""), merchant.stripe_webhook_secret, tolerance=SIGNATURE_TOLERANCE
        )
        event = json.loads(raw)
    except (ValueError, stripe.SignatureVerificationError):
        return jsonify(error="bad_signature", message="Signature or payload invalid."), 400
    if not isinstance(event, dict) or not isinstance(event.get("id"), str):
        return jsonify(error="bad_payload", message="Not a Stripe event."), 400

    try:
        row, fresh = stripe_events.receive(merchant, event)
        status = row.status
        db.session.commit()
    except IntegrityError:
        # The same event is being processed by a concurrent delivery: let Stripe retry later.
        db.session.rollback()
        return jsonify(error="busy", message="Event is being processed; retry."), 503
    except Exception as exc:  # recorded and answered 5xx: Stripe retries
        db.session.rollback()
        current_app.logger.exception("Stripe event %s for %s failed", event.get("id"), slug)
        merchant = db.session.get(Merchant, merchant.id)
        stripe_events.record_failure(merchant, event, f"{type(exc).__name__}: {exc}")
        db.session.commit()
        return jsonify(error="processing_failed", message="Recorded; please retry."), 500
    return jsonify(received=True, status=status, duplicate=not fresh), 200


def init_app(app) -> None:
    from portal.extensions import csrf

    app.register_blueprint(bp)
    csrf.exempt(bp)
