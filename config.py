"""Configuration: laptop-friendly defaults, overridden by SETTLE_* environment variables.

Every `SETTLE_<KEY>` environment variable sets the Flask config key `<KEY>` (values are
parsed as JSON when they look like JSON, as Flask's `from_prefixed_env` does).
`DATABASE_URL` is honoured as well, as hosting platforms set it.
"""
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = BASE_DIR / "instance"


def _database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        # Platforms still hand out the scheme SQLAlchemy dropped; use psycopg 3.
        if url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url[len("postgres://"):]
        elif url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://"):]
        return url
    return f"sqlite:///{INSTANCE_DIR / 'settle.sqlite3'}"


class Config:
    """Defaults that work on a laptop with nothing else installed."""

    # Signing key for sessions, CSRF and portal links. Set SETTLE_SECRET_KEY in production.
    SECRET_KEY = "dev-only-secret-change-me"
    SQLALCHEMY_DATABASE_URI = _database_url()
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}
    # Public base URL used in links written into messages (no request is around then).
    BASE_URL = "http://127.0.0.1:5000"
    # Outgoing mail (Flask-Mail). Default: a local relay on port 1025.
    MAIL_SERVER = "127.0.0.1"
    MAIL_PORT = 1025
    MAIL_USE_TLS = False
    MAIL_USE_SSL = False
    MAIL_USERNAME = None
    MAIL_PASSWORD = None
    MAIL_DEFAULT_SENDER = "settle@localhost"
    # Longest wait for the mail server (connecting, each answer, each write), seconds. A server that stops
    # answering then costs the message in hand one retry instead of stalling the worker.
    MAIL_TIMEOUT_SECONDS = 30
    # Languages offered to debtors and staff.
    LANGUAGES = ["de", "en"]
    BABEL_DEFAULT_LOCALE = "de"
    BABEL_DEFAULT_TIMEZONE = "Europe/Berlin"
    # Rate-limit storage; "redis://127.0.0.1:6379" to share counters across processes. Required as soon as
    # more than one process serves the web (gunicorn -w 2 and up): each would count on its own otherwise,
    # and Settle warns at start when it sees several workers on memory://.
    RATELIMIT_STORAGE_URI = "memory://"
    # Reverse proxies in front of Settle that set X-Forwarded-For / X-Forwarded-Proto (0: none, Settle
    # faces the clients). With the right number of hops, limits count the debtor's address, not the
    # proxy's; more hops than there are proxies would let clients choose their own address.
    TRUSTED_PROXIES = 0
    # Web processes sharing this configuration; set by gunicorn.conf.py from gunicorn's worker count.
    WEB_PROCESSES = 1
    # A payment may exceed the open balance of the invoices it pays by at most this share of the invoice
    # amount (100: the invoice paid once more). Beyond it, it is not booked on one word alone (shop API: 422;
    # bank transfer: left for staff to assign; staff: confirm on the form; Stripe: booked, the card was
    # charged) and staff are notified (timeline + email), so a typo of cents as euros never becomes a credit.
    PAYMENT_PLAUSIBLE_EXCESS_PERCENT = 100
    # Shop API: answers 401 (unknown or revoked keys) per client address before it is answered 429.
    API_AUTH_FAILURE_LIMIT = "30/minute;300/hour"
    RATELIMIT_HEADERS_ENABLED = True
    # Debtor portal, per client IP: opening links (/p/<token>), asking for a new link, the step-up check.
    PORTAL_LINK_RATE_LIMIT = "20/minute;200/day"
    PORTAL_NEW_LINK_RATE_LIMIT = "5/minute;30/day"
    PORTAL_STEP_UP_RATE_LIMIT = "10/minute;50/day"
    # Rendered overview pages kept per worker process (LRU, keyed by what they show); 0 turns it off.
    PORTAL_PAGE_CACHE_SIZE = 512
    # Cookies: secure by default; SETTLE_SESSION_COOKIE_SECURE=false only for plain-HTTP development.
    SESSION_COOKIE_SECURE = True
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = True
    REMEMBER_COOKIE_HTTPONLY = True
    PERMANENT_SESSION_LIFETIME = 60 * 60 * 8
    WTF_CSRF_TIME_LIMIT = None  # bound to the session instead
    # Largest request body (uploads, imports), bytes.
    MAX_CONTENT_LENGTH = 25 * 1024 * 1024
    # The portal's objection form takes larger requests than that, so that photos over the total limit are
    # answered with the same form, the typed text kept, instead of a bare 413 (portal.debtor.requests).
    PORTAL_UPLOAD_REQUEST_LIMIT = 100 * 1024 * 1024
    # Stripe: point the SDK at a local stand-in (e.g. localstripe) in development/tests.
    STRIPE_API_BASE = None
    # Where uploaded attachments and generated letters live (outside the web root).
    STORAGE_DIR = str(INSTANCE_DIR / "storage")
    # Days a portal link stays valid when the merchant sets nothing else.
    LINK_TTL_DAYS = 60
    # SMS provider for reminders: "twilio" (Messages API) or None (SMS falls back to the next channel).
    SMS_PROVIDER = None
    TWILIO_ACCOUNT_SID = None
    TWILIO_AUTH_TOKEN = None
    TWILIO_FROM = None  # sender number (E.164) or a Messaging Service SID (MG…)
    TWILIO_API_BASE = "https://api.twilio.com"
    # Outgoing webhooks to the shop (docs/webhooks.md). Private, loopback and link-local addresses are
    # refused unless allowed here (only for a receiver on the same host or network you control).
    WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    WEBHOOK_TIMEOUT_SECONDS = 10  # a receiver that answers later counts as failed
    WEBHOOK_LEASE_SECONDS = 120  # a claimed delivery whose worker died is sent again after this
    WEBHOOK_RETRY_HOURS = 72  # retries (30 s doubling, at most 3 h apart) stop this long after the event
    WEBHOOK_DISABLE_AFTER_HOURS = 72  # an endpoint failing this long without a success is disabled, admins emailed


class TestConfig(Config):
    """Used by the test suite: fast, deterministic, no outside services unless asked for."""

    TESTING = True
    SECRET_KEY = "test-secret-key"
    SQLALCHEMY_DATABASE_URI = "sqlite://"
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_SECURE = False
    BASE_URL = "http://localhost"
    RATELIMIT_ENABLED = True
    # The webhook tests run a real receiver on 127.0.0.1.
    WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
