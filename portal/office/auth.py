"""Sign-in and sign-out for staff: hashed passwords, rate-limited attempts, fresh session on login.

Sessions live on the server as well as in the cookie: signing in stores a row
(`StaffSession`) whose token the cookie carries, signing out deletes it, and a password
change deletes every other session of that user. A cookie kept or copied from before is
refused once its row is gone.
"""
from __future__ import annotations

import secrets
from datetime import timedelta
from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import login_user, logout_user
from sqlalchemy import delete, select
from werkzeug.security import check_password_hash, generate_password_hash

from portal.extensions import db, limiter
from portal.models import Event, StaffSession, User
from portal.models.types import utcnow
from portal.office import bp
from portal.office.forms import LoginForm

# Compared against when the email is unknown, so both cases take the same time.
_DUMMY_HASH = generate_password_hash("settle-timing-equaliser")


def _login_email_key() -> str:
    """Failed sign-ins are counted per email address *and* client address: someone guessing a user's
    password from elsewhere uses up only their own attempts, never the real user's (who signs in from
    their own address). Rotating addresses does not help either: each one is also held to the per-address
    limit of every sign-in."""
    return f"office-login:{request.remote_addr}:" + (request.form.get("email") or "").strip().lower()


def _failed_sign_in(response) -> bool:
    return response.status_code != 303  # a successful sign-in redirects and is not counted


def _safe_next(target: str | None) -> str:
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/office"):
            return target
    return url_for("office.dashboard")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("10/minute;100/day", methods=["POST"])
@limiter.limit("20/hour", methods=["POST"], key_func=_login_email_key, deduct_when=_failed_sign_in)
def login():
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        user = db.session.execute(select(User).where(User.email == email)).scalar_one_or_none()
        ok = check_password_hash(user.password_hash if user else _DUMMY_HASH, form.password.data)
        if user is not None and ok and user.active:
            session.clear()  # no session fixation: a new session for the signed-in user
            begin_session(user)
            login_user(user)
            db.session.add(Event(merchant_id=user.merchant_id, kind="staff.login", actor=f"user:{user.id}", data={"ip": request.remote_addr}))
            db.session.commit()
            return redirect(_safe_next(request.args.get("next")), code=303)
        if user is not None:
            db.session.add(Event(merchant_id=user.merchant_id, kind="staff.login_failed", actor="anonymous", data={"ip": request.remote_addr}))
            db.session.commit()
        flash(_("The email address or password is not correct."), "error")
        status = 401
    elif request.method == "POST":
        status = 422
    return render_template("office/login.html", form=form), status


@bp.post("/logout")
def logout():
    end_session()
    db.session.commit()
    logout_user()
    session.clear()
    return redirect(url_for("office.login"), code=303)


def begin_session(user: User) -> None:
    """Store a new server-side session for this user and put its token into the cookie session.

    Sessions older than the cookie lifetime are dropped on the way (the caller commits).
    """
    lifetime = current_app.permanent_session_lifetime
    db.session.execute(delete(StaffSession).where(StaffSession.created_at < utcnow() - max(lifetime, timedelta(days=1))))
    token = secrets.token_urlsafe(32)
    db.session.add(StaffSession(id=StaffSession.hash_token(token), user_id=user.id))
    session["staff_session"] = token


def end_session() -> None:
    """End the current request's session on the server (the caller commits)."""
    token = session.get("staff_session")
    if isinstance(token, str):
        db.session.execute(delete(StaffSession).where(StaffSession.id == StaffSession.hash_token(token)))


def end_other_sessions(user: User) -> int:
    """End every session of this user except the current request's; returns how many (the caller commits)."""
    token = session.get("staff_session")
    keep = StaffSession.hash_token(token) if isinstance(token, str) else ""
    return db.session.execute(
        delete(StaffSession).where(StaffSession.user_id == user.id, StaffSession.id != keep)
    ).rowcount
