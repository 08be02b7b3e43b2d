"""The merchant's logo (admins): upload a PNG or JPEG, see it as customers will, remove it."""
from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from portal.extensions import db
from portal.office import audit, bp, require_admin
from portal.uploads import logo


def refusal(exc: logo.LogoRefused) -> str:
    return {
        "empty": lambda: _("Please choose a logo file (PNG or JPEG)."),
        "too_large": lambda: _("The logo is larger than %(mb)s MB; please save it smaller.", mb=exc.params.get("megabytes")),
        "svg": lambda: _("SVG logos are not accepted, because an SVG file can contain scripts and links to other websites. "
                         "Please export your logo as PNG (your drawing program can do that) and upload that file."),
        "not_image": lambda: _("This file is not a PNG or JPEG image (its content was checked, not its name)."),
        "too_many_pixels": lambda: _("The image is larger than %(side)s × %(side)s pixels; please scale it down.",
                                     side=exc.params.get("side")),
        "broken": lambda: _("The image cannot be read; it may be damaged. Please export it again as PNG or JPEG."),
    }[exc.reason]()


def _page(status: int = 200, error: str | None = None):
    return render_template("office/logo.html", error=error, current=g.merchant.logo_url), status


@bp.get("/settings/logo")
def logo_page():
    require_admin()
    return _page()


@bp.post("/settings/logo")
def logo_upload():
    require_admin()
    merchant = g.merchant
    if request.form.get("remove"):
        if merchant.logo_url:
            merchant.logo_url = None
            audit("settings.logo", {"action": "removed"})
            db.session.commit()
        flash(_("The logo was removed."), "success")
        return redirect(url_for("office.logo_page"), 303)
    upload = request.files.get("logo")
    data = b""
    if upload is not None:
        with upload.stream:  # a large part is spooled to a temporary file: close it now
            data = upload.read() if upload.filename else b""
    try:
        name = logo.store(merchant.id, data)
    except logo.LogoRefused as exc:
        return _page(422, refusal(exc))
    merchant.logo_url = url_for("debtor.brand_logo", merchant_id=merchant.id, name=name)
    audit("settings.logo", {"action": "uploaded", "bytes": len(data)})
    db.session.commit()
    flash(_("Your logo was saved; customers see it in the portal from now on."), "success")
    return redirect(url_for("office.logo_page"), 303)
