"""Portal links: compact, tamper-proof, expiring, revocable bearer tokens.

A token names a merchant and a debtor, the debtor's link version (bumping it revokes
every outstanding link) and the last day it is valid. Layout before encoding:

    varint merchant_id | varint debtor_id | varint version | varint expiry day [| varint message_id] | 12-byte MAC

The message id is there when the link was written into a message: the portal then
preselects exactly the invoices that message asked the debtor to pay. It is optional, so
links issued without it (the CLI, the API, older messages) stay valid; it costs about
three characters.

The MAC is HMAC-SHA256 over a purpose string and the fields, truncated to 96 bits:
enough against online guessing, which is rate-limited as well. Base64url without
padding gives ~27 characters, so `https://pay.example.de/p/<token>` fits an SMS.
The key is derived from SECRET_KEY, never SECRET_KEY itself.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from datetime import date, timedelta

EPOCH = date(2020, 1, 1)
MAC_BYTES = 12
_PURPOSE = b"settle.portal-link.v1"


class LinkError(ValueError):
    """A token that is malformed, forged or expired; `reason` says which."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class LinkClaims:
    merchant_id: int
    debtor_id: int
    version: int
    expires_on: date
    message_id: int | None = None  # the message the link was sent in, if any


def derive_key(secret_key: str | bytes) -> bytes:
    secret = secret_key.encode() if isinstance(secret_key, str) else secret_key
    return hmac.new(secret, _PURPOSE, hashlib.sha256).digest()


def _varint(n: int) -> bytes:
    if n < 0:
        raise ValueError("link fields are non-negative")
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varints(data: bytes, count: int, optional: int = 0) -> list[int]:
    values, pos = [], 0
    for index in range(count + optional):
        if index >= count and pos == len(data):
            break
        value = shift = 0
        while True:
            if pos >= len(data) or shift > 63:
                raise LinkError("malformed")
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        values.append(value)
    if pos != len(data):
        raise LinkError("malformed")
    return values


def _mac(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, _PURPOSE + body, hashlib.sha256).digest()[:MAC_BYTES]


def issue(key: bytes, merchant_id: int, debtor_id: int, version: int, expires_on: date,
          message_id: int | None = None) -> str:
    fields = [merchant_id, debtor_id, version, (expires_on - EPOCH).days]
    if message_id is not None:
        fields.append(message_id)
    body = b"".join(_varint(v) for v in fields)
    return base64.urlsafe_b64encode(body + _mac(key, body)).rstrip(b"=").decode()


def expiry(today: date, ttl_days: int) -> date:
    return today + timedelta(days=ttl_days)


def verify(keys: list[bytes] | bytes, token: str, today: date) -> LinkClaims:
    """The claims of a genuine, unexpired token; LinkError otherwise.

    Several keys may be given (current first, then retired ones) so a rotated
    SECRET_KEY does not break links already sent. Revocation (the debtor's link
    version) is checked by the caller against the database.
    """
    if not token or len(token) > 64 or not all(c.isalnum() or c in "-_" for c in token):
        raise LinkError("malformed")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError) as exc:
        raise LinkError("malformed") from exc
    if len(raw) <= MAC_BYTES:
        raise LinkError("malformed")
    body, mac = raw[:-MAC_BYTES], raw[-MAC_BYTES:]
    # Re-encoding must give the same text: rejects non-canonical base64 variants of a token.
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != token:
        raise LinkError("malformed")
    for key in [keys] if isinstance(keys, bytes) else keys:
        if hmac.compare_digest(_mac(key, body), mac):
            break
    else:
        raise LinkError("forged")
    merchant_id, debtor_id, version, day, *message = _read_varints(body, 4, optional=1)
    expires_on = EPOCH + timedelta(days=day)
    if today > expires_on:
        raise LinkError("expired")
    return LinkClaims(merchant_id, debtor_id, version, expires_on, message[0] if message else None)
