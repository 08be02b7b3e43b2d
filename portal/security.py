"""Security headers on every response: strict CSP, no referrers, no caching of personal pages;
and the session cookie's refresh policy."""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from datetime import datetime, timezone

from flask import Flask, Response, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import BadSignature, URLSafeTimedSerializer

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


# Set on every response unless the view set its own value; built once (name, value, lower-case name).
HEADERS = tuple((name, value, name.lower()) for name, value in (
    ("Content-Security-Policy", CSP),
    ("Referrer-Policy", "no-referrer"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
))
HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains", "strict-transport-security")
NO_STORE = ("Cache-Control", "no-store", "cache-control")


def apply_headers(response: Response) -> Response:
    """The security headers, in one pass over the response's headers (a view's own value wins)."""
    headers = response.headers
    present = {name.lower() for name, _ in headers}
    wanted = [*HEADERS, HSTS] if request.is_secure else list(HEADERS)
    if request.endpoint != "static":
        wanted.append(NO_STORE)  # everything but static files may show personal or account data
    headers.extend([(name, value) for name, value, key in wanted if key not in present])
    return response


class _Verified:
    """Session cookies whose signature was checked in this process: cookie → (payload, signed at).

    Only cookies that passed the check are kept (a forged one is checked afresh each time, and
    cannot fill the memo), bounded (least recently used out first). The payload is kept as the
    serialised text and parsed again for each request, so no request sees another's objects.
    Expiry is checked on every use, as the serializer does.
    """

    def __init__(self, serializer: URLSafeTimedSerializer, maxsize: int = 4096) -> None:
        self.serializer = serializer
        self.maxsize = maxsize
        self._data: OrderedDict[str, tuple[str, datetime]] = OrderedDict()
        self._lock = threading.Lock()

    def loads(self, value: str, max_age: int) -> tuple[dict, datetime]:
        with self._lock:
            hit = self._data.get(value)
            if hit is not None:
                self._data.move_to_end(value)
        if hit is None:
            data, signed_at = self.serializer.loads(value, max_age=max_age, return_timestamp=True)
            with self._lock:
                self._data[value] = (self.serializer.serializer.dumps(data), signed_at)
                while len(self._data) > self.maxsize:
                    self._data.popitem(last=False)
            return data, signed_at
        payload, signed_at = hit
        age = int(time.time()) - int(signed_at.timestamp())  # whole seconds, as the serializer counts
        if age > max_age or age < 0:
            raise BadSignature("session cookie expired")
        return self.serializer.serializer.loads(payload), signed_at


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

    def _verified(self, app: Flask) -> _Verified | None:
        """The signing serializer and its memo of checked cookies, built once per key set (Flask
        builds the serializer on every request, and checking a signature derives the key anew)."""
        if not app.secret_key:
            return None
        keys = (app.secret_key, *(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        memo = app.extensions.get("settle_session_cookies")
        if memo is None or memo[0] != keys:
            memo = app.extensions["settle_session_cookies"] = (keys, _Verified(super().get_signing_serializer(app)))
        return memo[1]

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        verified = self._verified(app)
        return verified.serializer if verified else None

    def open_session(self, app: Flask, request) -> SecureCookieSession | None:
        verified = self._verified(app)
        if verified is None:
            return None
        val = request.cookies.get(self.get_cookie_name(app))
        if not val:
            return self.session_class()
        max_age = int(app.permanent_session_lifetime.total_seconds())
        try:
            data, signed_at = verified.loads(val, max_age=max_age)
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
