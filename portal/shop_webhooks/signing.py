"""The `Settle-Signature` header: `t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.

The receiver's side (what docs/webhooks.md shows) is `verify`; the tests run the snippet
from the docs itself against real deliveries.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: str) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"
