"""Back office for merchants and support staff: `/office`, behind a login, scoped to one merchant.

Every view in this blueprint runs after `require_login`, which sets `g.merchant` to
the signed-in user's merchant; queries filter by `g.merchant.id`, so another
merchant's ids answer 404. Staff actions are recorded with `audit()`.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, abort, g, redirect, request, session, url_for
from flask_login import current_user

from portal.extensions import db, login
from portal.models import Event, StaffSession, User

bp = Blueprint("office", __name__, url_prefix="/office")

PUBLIC_ENDPOINTS = {"office.login"}


@dataclass(frozen=True)
class NavItem:
    endpoint: str
    label: object  # a lazy string, translated when rendered
    admin_only: bool = False


NAV: list[NavItem] = []


def register_nav(endpoint: str, label, *, admin_only: bool = False) -> None:
    """Features add their pages to the back-office navigation."""
    NAV.append(NavItem(endpoint, label, admin_only))


@bp.context_processor
def inject_nav():
    role = getattr(g, "user", None) and g.user.role
    return {"office_nav": [i for i in NAV if not i.admin_only or role == "admin"]}


@login.user_loader
def load_user(user_id: str) -> User | None:
    """The signed-in user, only while the session's server-side row exists (see `auth.begin_session`)."""
    user = db.session.get(User, int(user_id)) if user_id.isdigit() else None
    if user is None or not user.active:
        return None
    token = session.get("staff_session")
    row = db.session.get(StaffSession, StaffSession.hash_token(token)) if isinstance(token, str) else None
    return user if row is not None and row.user_id == user.id else None


@bp.before_request
def require_login():
    if current_user.is_authenticated:
        g.user = current_user
        g.merchant = current_user.merchant
        g.locale = current_user.language
        return None
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    return redirect(url_for("office.login", next=request.full_path if request.method == "GET" else None))


def require_admin() -> None:
    if g.user.role != "admin":
        abort(403)


def audit(action: str, data: dict | None = None, *, invoice=None, debtor=None) -> Event:
    """Record a staff action on the timeline and in the audit trail (the caller commits)."""
    event = Event(
        merchant_id=g.merchant.id,
        invoice_id=invoice.id if invoice is not None else None,
        debtor_id=(debtor.id if debtor is not None else invoice.debtor_id if invoice is not None else None),
        kind=f"staff.{action}",
        actor=f"user:{g.user.id}",
        data={"by": g.user.email, **(data or {})},
    )
    db.session.add(event)
    return event


def scoped_get(model, object_id: int):
    """The merchant's object with this id, or 404 (also for other merchants' ids)."""
    obj = db.session.get(model, object_id)
    if obj is None or obj.merchant_id != g.merchant.id:
        abort(404)
    return obj


from portal.office import auth, views  # noqa: E402,F401
from portal.office import cases, outbox, settings, users  # noqa: E402,F401
from portal.office import payments  # noqa: E402,F401
from portal.office import webhooks  # noqa: E402,F401
from portal.office import texts  # noqa: E402,F401
from portal.simulator import views as simulator_views  # noqa: E402,F401
from portal.office import actions, audit_log, debtors, invoices, keys  # noqa: E402,F401


@bp.errorhandler(403)
def forbidden(error):
    """A clear "no permission" page inside the back office (not the generic "try again later")."""
    from flask import render_template

    return render_template("office/forbidden.html"), 403
from portal.office import dashboard  # noqa: E402,F401
from portal.office import uploads  # noqa: E402,F401
from portal.office import agency  # noqa: E402,F401
from portal.office import base_rates  # noqa: E402,F401
