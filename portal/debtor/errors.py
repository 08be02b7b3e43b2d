"""Branded error pages for every 4xx the portal can answer, in the debtor's language, with a way back.

Routing errors (404, 405) and a request body over the limit (413, raised while the CSRF
check reads the form) happen before the blueprint's own handlers can run, so the
application's error handler (`portal.web`) hands every error under /p/ and /portal/ here.
"""
from __future__ import annotations

from flask import render_template
from werkzeug.exceptions import HTTPException

from portal.debtor import session as portal_session
from portal.debtor.guard import merchant_for_page, portal_context, set_locale

PREFIXES = ("/p/", "/portal/")


def is_portal_path(path: str) -> bool:
    return path.startswith(PREFIXES) or path in ("/p", "/portal")


def error_page(exc: HTTPException):
    code = exc.code or 500
    try:
        debtor = portal_session.load()
    except Exception:  # noqa: BLE001 — the database itself may be the error; the page must still render
        debtor = None
    if debtor is None:
        from flask import session

        merchant_for_page(session.get("link_merchant") if isinstance(session.get("link_merchant"), int) else None)
    set_locale(debtor, debtor.merchant if debtor else None)
    from portal.domain.attachments import MAX_TOTAL_BYTES

    # A routing error belongs to no blueprint, so the portal's context processor is applied by hand.
    response = render_template("debtor/error.html", **portal_context(), code=code, upload_total_mb=MAX_TOTAL_BYTES // 2**20)
    headers = {}
    if code == 405 and hasattr(exc, "valid_methods") and exc.valid_methods:
        headers["Allow"] = ", ".join(exc.valid_methods)
    return response, code, headers
