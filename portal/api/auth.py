"""Bearer-key authentication for the whole API blueprint; sets `g.merchant` and `g.api_key`."""
from __future__ import annotations

from datetime import timedelta, timezone

from flask import abort, current_app, g, request
from sqlalchemy import select

from portal.api import bp
from portal.extensions import db, limiter
from portal.inputs import api_guard
from portal.models import ApiKey
from portal.models.types import utcnow

PUBLIC_ENDPOINTS = {"api.openapi"}
LAST_USED_RESOLUTION = timedelta(minutes=1)


@bp.before_request
def authenticate():
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        abort(401, description="Send your API key as 'Authorization: Bearer <key>'.")
    key = db.session.execute(
        select(ApiKey).where(ApiKey.key_hash == ApiKey.hash_secret(secret.strip()), ApiKey.revoked_at.is_(None))
    ).scalar_one_or_none()
    if key is None:
        abort(401, description="The API key is unknown or revoked.")
    now = utcnow()
    last = key.last_used_at
    if last is not None and last.tzinfo is None:  # SQLite hands back naive UTC
        last = last.replace(tzinfo=timezone.utc)
    # Written at most once a minute: the row lock of this update would otherwise serialise
    # every concurrent request a shop makes with the same key until each one commits.
    if last is None or now - last > LAST_USED_RESOLUTION:
        key.last_used_at = now
    g.api_key = key
    g.merchant = key.merchant
    g.actor = f"api:{key.prefix}"
    return None


# After the key is known (an unauthenticated request still answers 401): text no database can store,
# JSON nested without end and the like answer 422 with field errors (portal.inputs).
bp.before_request(api_guard)


def _key_prefix() -> str:
    return "api-key:" + (request.headers.get("Authorization", "")[:24] or request.remote_addr or "")


def _client_address() -> str:
    return f"api-auth-failures:{request.remote_addr}"


def _unauthenticated(response) -> bool:
    return response.status_code == 401


# Each key (by its public prefix) has its own budget of requests. Guessing keys is pointless (256 bits),
# but a flood of bad keys is still worth stopping, and a fresh made-up key must not mean a fresh budget:
# answers 401 are counted per client address (behind a proxy: TRUSTED_PROXIES), and an address over
# the limit is answered 429 before its key is even looked at.
limiter.limit("600/minute", key_func=_key_prefix)(bp)
limiter.limit(lambda: current_app.config["API_AUTH_FAILURE_LIMIT"], key_func=_client_address,
              deduct_when=_unauthenticated)(bp)
