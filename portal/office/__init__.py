"""Back office for merchants and support staff: `/office`, behind a login, scoped to one merchant.

Every view in this blueprint runs after `require_login`, which sets `g.merchant` to
the signed-in user's merchant; queries filter by `g.merchant.id`, so another
merchant's ids answer 404. Staff actions are recorded with `audit()`.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, abort, g, redirect, request, session, url_for
from flask_login import current_user
from flask_wtf.csrf import CSRFError

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
    user = db.session.get(User, int(user_id)) if user_id.isascii() and user_id.isdigit() else None
    if user is None or not user.active:
        return None
    token = session.get("staff_session")
    row = db.session.get(StaffSession, StaffSession.hash_token(token)) if isinstance(token, str) else None
    return user if row is not None and row.user_id == user.id else None


def _signed_in() -> bool:
    """Set the staff member, their merchant and language on `g` (also for error pages raised before the views)."""
    if not current_user.is_authenticated:
        return False
    g.user = current_user
    g.merchant = current_user.merchant
    g.locale = current_user.language
    return True


@bp.before_request
def require_login():
    if _signed_in():
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


def _back() -> str | None:
    """The form the request came from, when it is one of ours (for a "back" link)."""
    from urllib.parse import urlsplit

    referrer = request.referrer or ""
    parts = urlsplit(referrer)
    if parts.netloc == request.host and parts.path.startswith("/office/"):
        return parts.path
    return None


@bp.errorhandler(CSRFError)
def form_expired(error):
    """An expired or missing form token: say what happened and what to do (not "try again later")."""
    from flask import render_template
    from flask_babel import gettext as _

    return render_template(
        "office/request_error.html", heading=_("The form has expired"), back=_back() if _signed_in() else None,
        message=_("For your security, forms in the back office are valid for a limited time and only in the browser window "
                  "that opened them. Please open the page again and repeat your entry; nothing was saved."),
    ), 400


@bp.errorhandler(413)
def upload_too_large(error):
    """A file above MAX_CONTENT_LENGTH never reaches the view: explain it on the page."""
    from flask import current_app, render_template
    from flask_babel import gettext as _

    from portal.office.uploads import filesize

    _signed_in()
    limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
    return render_template(
        "office/request_error.html", heading=_("The file is too large"), back=_back(),
        message=_("Files of up to %(size)s can be uploaded; nothing was imported. Please split the file into smaller "
                  "files (for CSV: fewer lines per file) and upload them one after the other.", size=filesize(limit)),
    ), 413
from portal.office import dashboard  # noqa: E402,F401
from portal.office import logo, uploads  # noqa: E402,F401
from portal.office import agency  # noqa: E402,F401
from portal.office import base_rates  # noqa: E402,F401
from portal.office import policies  # noqa: E402,F401
