"""Issuing and resolving debtor portal links against the database (rules in portal.domain.links)."""
from __future__ import annotations

from datetime import date

from flask import current_app

from portal.clock import today_for
from portal.domain import links
from portal.extensions import db
from portal.models import Debtor, Merchant


def _keys() -> list[bytes]:
    keys = [links.derive_key(current_app.config["SECRET_KEY"])]
    keys += [links.derive_key(k) for k in current_app.config.get("SECRET_KEY_FALLBACKS") or []]
    return keys


def token_for(debtor: Debtor, today: date | None = None, message_id: int | None = None) -> str:
    merchant = debtor.merchant
    today = today or today_for(merchant.timezone)
    return links.issue(
        _keys()[0],
        merchant.id,
        debtor.id,
        debtor.link_version,
        links.expiry(today, merchant.link_ttl_days),
        message_id,
    )


def url_for_debtor(debtor: Debtor, today: date | None = None, message_id: int | None = None) -> str:
    """The absolute portal URL written into messages (with the message's id) and API answers."""
    base = current_app.config["BASE_URL"].rstrip("/")
    return f"{base}/p/{token_for(debtor, today, message_id)}"


def resolve(token: str, today: date | None = None) -> Debtor:
    return resolve_claims(token, today)[0]


def resolve_claims(token: str, today: date | None = None) -> tuple[Debtor, links.LinkClaims]:
    """The debtor a genuine, unexpired, unrevoked token names; LinkError otherwise."""
    # Without an explicit day, expiry is judged below in the merchant's calendar alone (the
    # server's own date may already be tomorrow while the merchant's last valid day runs).
    claims = links.verify(_keys(), token, today or links.EPOCH)
    debtor = db.session.get(Debtor, claims.debtor_id)
    if debtor is None or debtor.merchant_id != claims.merchant_id:
        raise links.LinkError("unknown")
    if debtor.link_version != claims.version:
        raise links.LinkError("revoked")
    if today is None:
        # Expiry is reckoned in the merchant's calendar, like every legal date.
        merchant = db.session.get(Merchant, claims.merchant_id)
        if today_for(merchant.timezone) > claims.expires_on:
            raise links.LinkError("expired")
    return debtor, claims


def revoke_all(debtor: Debtor) -> None:
    """Invalidate every link sent to this debtor so far (the caller commits)."""
    debtor.link_version += 1


def peek(token: str) -> links.LinkClaims | None:
    """The claims of a token with a genuine signature, ignoring expiry and revocation; None otherwise.

    Only for presentation: the "link expired" page is branded and worded for the shop
    and debtor the old link named. Never grants access.
    """
    try:
        return links.verify(_keys(), token, links.EPOCH)
    except links.LinkError:
        return None
