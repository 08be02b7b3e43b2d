"""Bearer-key authentication for the whole API blueprint; sets `g.merchant` and `g.api_key`."""
from __future__ import annotations

from datetime import timedelta, timezone

from flask import abort, g, request
from sqlalchemy import select

from portal.api import bp
from portal.extensions import db, limiter
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


# Guessing keys is pointless (256 bits), but a flood of bad keys is still worth slowing down.
limiter.limit("600/minute", key_func=lambda: request.headers.get("Authorization", "")[:24] or request.remote_addr)(bp)
