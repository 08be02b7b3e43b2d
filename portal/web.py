"""Application-wide routes and error pages: health check, JSON errors under /api."""
from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from sqlalchemy import text
from werkzeug.exceptions import HTTPException

from portal.extensions import db


def healthz():
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 — reported to the probe, not swallowed
        db.session.rollback()
        return jsonify(status="error", database=type(exc).__name__), 503
    return jsonify(status="ok", database="ok")


def handle_http_error(exc: HTTPException):
    if request.path.startswith("/api/") or request.path.startswith("/webhooks/"):
        response = jsonify(error=exc.name.lower().replace(" ", "_"), message=exc.description)
        response.status_code = exc.code or 500
        if exc.code == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="settle"'
        return response
    from portal.debtor.errors import error_page, is_portal_path

    if is_portal_path(request.path):  # the debtor's language and the shop's brand, with a way back
        return error_page(exc)
    return render_template("error.html", error=exc), exc.code or 500


def init_app(app: Flask) -> None:
    app.add_url_rule("/healthz", "healthz", healthz)
    app.register_error_handler(HTTPException, handle_http_error)
