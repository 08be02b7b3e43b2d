"""The debtor's portal session: who they are, whether they passed the step-up check, their language.

A session is started only by a genuine link (`start`); it is bound to one merchant and
one debtor and to the debtor's link version, so revoking the links also ends sessions
already open. Flask's signed cookie session is used and PERMANENT_SESSION_LIFETIME bounds
its age; each session carries a random id, and leaving the portal records that id as
ended (`PortalSessionEnd`), so a cookie kept from before "leave" (a shared computer, a
copied cookie) opens nothing, while the debtor's other sessions stay open. The check is
folded into the one query every portal request makes.
"""
from __future__ import annotations

import hashlib
import secrets
import time
from datetime import timedelta

from flask import abort, current_app, g, make_response, render_template, session
from sqlalchemy import bindparam, delete, exists, select
from sqlalchemy.orm import joinedload

from portal.extensions import db
from portal.models import Debtor, PortalSessionEnd
from portal.models.types import utcnow

VIEW_DEBOUNCE_SECONDS = 30 * 60
MAX_ASKED = 50  # invoices of one message kept in the session cookie
# Every portal request reads the debtor and, for brand, step-up and time zone, the merchant:
# one query, built once (building it per request costs more than running it).
_DEBTOR_WITH_MERCHANT = (
    select(Debtor, exists().where(PortalSessionEnd.id == bindparam("session_hash")).label("ended"))
    .options(joinedload(Debtor.merchant)).where(Debtor.id == bindparam("debtor_id"))
)


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def start(debtor: Debtor, asked: list[int] | None = None) -> None:
    """Begin a fresh session for this debtor; whatever the browser held before is dropped.

    `asked`: the invoices the message whose link was opened asked the debtor to pay (the
    portal preselects those); None when the link names no message.
    """
    session.clear()
    session.permanent = True
    session["debtor_id"] = debtor.id
    session["merchant_id"] = debtor.merchant_id
    session["link_version"] = debtor.link_version
    session["sid"] = secrets.token_urlsafe(16)
    if asked is not None:
        session["asked"] = asked[:MAX_ASKED]


def asked_invoices() -> frozenset[int] | None:
    """The invoice ids the message behind this session's link asked for, or None."""
    asked = session.get("asked")
    if not isinstance(asked, list):
        return None
    return frozenset(i for i in asked if isinstance(i, int))


def end() -> None:
    """Leave the portal: this session ends on the server too, not only in this browser (the caller commits).

    Ended sessions older than the session lifetime are forgotten on the way: their cookies have expired.
    """
    debtor = _session_debtor()
    if debtor is not None:
        lifetime = max(current_app.permanent_session_lifetime, timedelta(days=1))
        db.session.execute(delete(PortalSessionEnd).where(PortalSessionEnd.ended_at < utcnow() - lifetime))
        db.session.add(PortalSessionEnd(id=_hash(session["sid"]), debtor_id=debtor.id))
    session.clear()


def _session_debtor() -> Debtor | None:
    debtor_id, merchant_id, sid = session.get("debtor_id"), session.get("merchant_id"), session.get("sid")
    if not isinstance(debtor_id, int) or not isinstance(merchant_id, int) or not isinstance(sid, str):
        return None
    row = db.session.execute(_DEBTOR_WITH_MERCHANT, {"debtor_id": debtor_id, "session_hash": _hash(sid)}).one_or_none()
    if row is None:
        return None
    debtor, ended = row
    if ended or debtor.merchant_id != merchant_id or debtor.link_version != session.get("link_version"):
        return None
    return debtor


def load() -> Debtor | None:
    """Read the session afresh for this request (called first thing by the blueprint's guard).

    Request-scoped values are reset here explicitly: in tests one app context, and so one
    `g`, may span several requests.
    """
    for key in ("lang_next", "portal_merchant", "locale"):
        g.pop(key, None)
    g.debtor = _session_debtor()
    return g.debtor


def optional_debtor() -> Debtor | None:
    """The debtor of this session, or None (no session, or its links were revoked)."""
    return g.debtor if "debtor" in g else load()


def current_debtor() -> Debtor:
    """The debtor of this session; without one, answers 403 with the "open your link again" page."""
    debtor = optional_debtor()
    if debtor is None:
        from portal.debtor.forms import NewLinkForm

        response = make_response(
            render_template("debtor/link_invalid.html", reason="no_session", form=NewLinkForm()), 403
        )
        abort(response)
    return debtor


def is_verified(debtor: Debtor) -> bool:
    """Passed the step-up check in this session, or the merchant asks for none."""
    return not debtor.merchant.link_step_up or session.get("verified") == debtor.id


def mark_verified(debtor: Debtor) -> None:
    session["verified"] = debtor.id


def chosen_language() -> str | None:
    lang = session.get("lang")
    return lang if lang in current_app.config["LANGUAGES"] else None


def choose_language(lang: str) -> None:
    session["lang"] = lang


def first_view(key: str, now: float | None = None) -> bool:
    """True when `key` (a page) was not seen in this session in the last half hour.

    Page views are recorded once per half hour and page, not on every reload, so the
    timeline stays readable and a reload does not cost a database write.
    """
    now = now if now is not None else time.time()
    seen = {k: t for k, t in (session.get("seen") or {}).items() if now - t < VIEW_DEBOUNCE_SECONDS}
    if key in seen:
        if len(seen) != len(session.get("seen") or {}):
            session["seen"] = seen
        return False
    seen[key] = int(now)
    session["seen"] = seen
    return True
