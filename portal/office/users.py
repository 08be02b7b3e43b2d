"""Staff accounts: admins add colleagues, change roles and deactivate accounts; everyone can
change their own password. Accounts are never deleted, so the audit trail keeps its names."""
from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from portal.extensions import db, limiter
from portal.models import User
from portal.office import audit, bp, register_nav, require_admin, scoped_get
from portal.office.auth import end_other_sessions
from portal.office.forms import NewUserForm, PasswordForm

register_nav("office.users", _l("Team"), admin_only=True)


@bp.route("/users", methods=["GET", "POST"])
def users():
    require_admin()
    form = NewUserForm()
    status = 200
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        if db.session.execute(select(User.id).where(User.email == email)).first():
            form.email.errors = [*form.email.errors, _("This email address already has an account.")]
            status = 422
        else:
            user = User(merchant_id=g.merchant.id, email=email, name=(form.name.data or "").strip() or None,
                        role=form.role.data, language=g.user.language)
            user.set_password(form.password.data)
            db.session.add(user)
            db.session.flush()
            audit("user.create", {"user_id": user.id, "email": email, "role": user.role})
            db.session.commit()
            flash(_("Account for %(email)s created.", email=email), "success")
            return redirect(url_for("office.users"), code=303)
    elif form.is_submitted():
        status = 422
    team = db.session.execute(select(User).where(User.merchant_id == g.merchant.id).order_by(User.email)).scalars().all()
    return render_template("office/users.html", form=form, team=team), status


@bp.post("/users/<int:user_id>")
def user_update(user_id: int):
    user = scoped_get(User, user_id)  # another merchant's id answers 404 before any role check
    require_admin()
    if user.id == g.user.id:
        abort(409)  # admins do not demote or lock themselves out
    role = request.form.get("role")
    active = request.form.get("active") == "1"
    changes = {}
    if role in ("admin", "support") and role != user.role:
        changes["role"] = [user.role, role]
        user.role = role
    if active != user.active:
        changes["active"] = [user.active, active]
        user.active = active
    if changes:
        audit("user.update", {"user_id": user.id, "email": user.email, **changes})
        db.session.commit()
        flash(_("Account of %(email)s updated.", email=user.email), "success")
    return redirect(url_for("office.users"), code=303)


@bp.route("/account/password", methods=["GET", "POST"])
@limiter.limit("10/hour", methods=["POST"])
def password():
    form = PasswordForm()
    status = 200
    if form.validate_on_submit():
        if not g.user.check_password(form.current.data):
            form.current.errors = [*form.current.errors, _("The current password is not correct.")]
            status = 422
        else:
            g.user.set_password(form.new.data)
            ended = end_other_sessions(g.user)  # whoever knew the old password is signed out everywhere else
            audit("user.password_changed", {"user_id": g.user.id, "sessions_ended": ended})
            db.session.commit()
            flash(_("Your password has been changed."), "success")
            return redirect(url_for("office.dashboard"), code=303)
    elif form.is_submitted():
        status = 422
    return render_template("office/password.html", form=form), status
