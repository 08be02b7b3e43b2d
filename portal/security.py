"""Security headers on every response: strict CSP, no referrers, no caching of personal pages;
and the session cookie's refresh policy."""
from __future__ import annotations

from datetime import datetime, timezone

from flask import Flask, Response, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import BadSignature

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self' https://checkout.stripe.com",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)


def apply_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    if request.endpoint != "static" and "Cache-Control" not in response.headers:
        # Everything but static files may show personal or account data.
        response.headers["Cache-Control"] = "no-store"
    return response


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed cookie session, re-signed only when it changed or is a few minutes old.

    Flask re-signs and re-sends a permanent session's cookie on every response so that its
    lifetime slides with use (SESSION_REFRESH_EACH_REQUEST). That costs a serialisation, an
    HMAC and a Set-Cookie header on every page view. Here an unchanged session is refreshed
    only once its signature is older than REFRESH_AFTER seconds: the lifetime still slides
    (PERMANENT_SESSION_LIFETIME after the last refresh, which is at most REFRESH_AFTER
    before the last request), and expiry is still enforced by the signature's timestamp.
    """

    REFRESH_AFTER = 5 * 60

    def open_session(self, app: Flask, request) -> SecureCookieSession | None:
        s = self.get_signing_serializer(app)
        if s is None:
            return None
        val = request.cookies.get(self.get_cookie_name(app))
        if not val:
            return self.session_class()
        max_age = int(app.permanent_session_lifetime.total_seconds())
        try:
            data, signed_at = s.loads(val, max_age=max_age, return_timestamp=True)
        except BadSignature:
            return self.session_class()
        session = self.session_class(data)
        session.signed_at = signed_at
        return session

    def should_set_cookie(self, app: Flask, session) -> bool:
        if session.modified:
            return True
        if not (session.permanent and app.config["SESSION_REFRESH_EACH_REQUEST"]):
            return False
        signed_at = getattr(session, "signed_at", None)
        return signed_at is None or (datetime.now(timezone.utc) - signed_at).total_seconds() >= self.REFRESH_AFTER


def init_app(app: Flask) -> None:
    app.after_request(apply_headers)
    app.session_interface = SessionCookies()
