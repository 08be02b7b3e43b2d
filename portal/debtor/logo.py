"""The merchant's uploaded logo, served from our origin (the portal makes no third-party requests)."""
from __future__ import annotations

from flask import abort, send_file

from portal.debtor import bp
from portal.uploads import logo


@bp.route("/portal/brand/<int:merchant_id>/<name>")
def brand_logo(merchant_id: int, name: str):
    path = logo.path_of(merchant_id, name)
    if path is None:
        abort(404)
    response = send_file(path, mimetype=logo.MIMETYPES[name.rsplit(".", 1)[1]], max_age=31536000, conditional=True)
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"  # the name is the content's hash
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Disposition"] = "inline"
    return response
