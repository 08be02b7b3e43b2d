"""API keys for the shop (admins): create with a name (the secret is shown once), list, revoke.

Only the key's hash is stored; a revoked key answers 401 at once (`portal.api.auth` reads
`revoked_at` on every request).
"""
from __future__ import annotations

from flask import g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from portal.extensions import db
from portal.models import ApiKey
from portal.models.types import utcnow
from portal.office import audit, bp, register_nav, require_admin, scoped_get

register_nav("office.api_keys", _l("API keys"), admin_only=True)


def _page(status: int = 200, secret: str | None = None, error: str | None = None, created: ApiKey | None = None):
    keys = db.session.execute(
        select(ApiKey).where(ApiKey.merchant_id == g.merchant.id).order_by(ApiKey.revoked_at.is_not(None), ApiKey.created_at.desc())
    ).scalars().all()
    return render_template("office/api_keys.html", keys=keys, secret=secret, error=error, created=created), status


@bp.get("/api-keys")
def api_keys():
    require_admin()
    return _page()


@bp.post("/api-keys")
def api_key_create():
    require_admin()
    name = (request.form.get("name") or "").strip()
    if not name or len(name) > 100:
        return _page(422, error=_("Please give the key a name (up to 100 characters), e.g. the shop system it is for."))
    key, secret = ApiKey.generate(g.merchant, name)
    db.session.add(key)
    db.session.flush()
    audit("api_key.create", {"key_id": key.id, "prefix": key.prefix, "name": name})
    db.session.commit()
    # Shown on this response only, never stored in the session or a redirect.
    return _page(201, secret=secret, created=key)


@bp.post("/api-keys/<int:key_id>/revoke")
def api_key_revoke(key_id: int):
    key = scoped_get(ApiKey, key_id)  # another merchant's key answers 404 whatever the role
    require_admin()
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        audit("api_key.revoke", {"key_id": key.id, "prefix": key.prefix, "name": key.name})
        db.session.commit()
    return redirect(url_for("office.api_keys"), code=303)
