"""The step-up check some merchants want before the portal shows more than amounts.

A link alone proves possession of a message; the step-up asks for something the debtor
knows and a finder of a forwarded SMS probably does not: the postal code of the billing
address, or (when no address is on file) the customer number. Attempts are limited.
"""
from __future__ import annotations

import hmac
import unicodedata
from datetime import datetime, timedelta

MAX_FAILURES = 5
WINDOW = timedelta(hours=24)


def normalize(answer: str | None) -> str:
    """Case, spaces and punctuation do not matter: "ab1 2cd" equals "AB12CD"."""
    text = unicodedata.normalize("NFKC", answer or "")
    return "".join(ch for ch in text.upper() if ch.isalnum())


def question(postal_code: str | None) -> str:
    """Which fact is asked: the postal code when one is on file, else the customer number."""
    return "postal_code" if normalize(postal_code) else "customer_number"


def expected_answer(*, postal_code: str | None, customer_number: str) -> str:
    return normalize(postal_code) if question(postal_code) == "postal_code" else normalize(customer_number)


def matches(expected: str, given: str | None) -> bool:
    """Constant-time comparison of the normalised answers; an empty expectation never matches."""
    got = normalize(given)
    return bool(expected) and bool(got) and hmac.compare_digest(expected.encode(), got.encode())


def locked(failures_at: list[datetime], now: datetime) -> bool:
    """True when MAX_FAILURES failed attempts fall within the last WINDOW."""
    return sum(1 for t in failures_at if now - t < WINDOW) >= MAX_FAILURES
