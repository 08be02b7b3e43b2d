"""EPC QR code payloads ("GiroCode", EPC069-12, version 002) for SEPA credit transfers.

The payload is plain text, one field per line (LF):

    BCD / 002 / 1 (UTF-8) / SCT / BIC (optional in 002) / name (≤ 70) / IBAN /
    EUR<amount> / purpose (empty) / structured RF reference / unstructured text

The structured reference and the unstructured text exclude each other: a payload
carries one or the other, never both. Trailing empty lines are left out. Line breaks
inside any field would shift every following field in the banking app, so they are
replaced by a space in every field. The whole payload is at most 331 bytes (UTF-8).
"""
from __future__ import annotations

import re

from portal.domain import rf
from portal.domain.money import minor_to_str

MAX_PAYLOAD_BYTES = 331
MAX_NAME = 70
MAX_TEXT = 140
MAX_AMOUNT_MINOR = 99_999_999_999  # EUR 999,999,999.99

_LINE_BREAKS = re.compile(r"[\r\n\u0085\u000b\u000c\u2028\u2029]+")


class EpcError(ValueError):
    """Data that cannot be put into an EPC QR code."""


def clean(value: str | None) -> str:
    """A field without line breaks (each run of them becomes one space) and outer blanks."""
    return _LINE_BREAKS.sub(" ", value or "").strip()


def epc_payload(
    *,
    name: str,
    iban: str,
    bic: str | None,
    amount_minor: int | None,
    currency: str,
    reference: str | None = None,
    text: str | None = None,
) -> str:
    """The EPC QR payload; `reference` (an RF reference) and `text` exclude each other.

    The name is cut to 70 characters and the text to 140, and the text is shortened
    further when multi-byte characters would push the payload beyond 331 bytes.
    """
    if currency != "EUR":
        raise EpcError("EPC QR codes are for euro transfers only")
    name = clean(name)[:MAX_NAME]
    if not name:
        raise EpcError("the beneficiary name is required")
    iban = re.sub(r"\s+", "", clean(iban)).upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{1,30}", iban):
        raise EpcError("the IBAN is required")
    bic = re.sub(r"\s+", "", clean(bic)).upper()
    if bic and not re.fullmatch(r"[A-Z0-9]{8}([A-Z0-9]{3})?", bic):
        raise EpcError("the BIC has 8 or 11 letters and digits")
    if amount_minor is None:
        amount = ""
    elif 1 <= amount_minor <= MAX_AMOUNT_MINOR:
        amount = "EUR" + minor_to_str(amount_minor, "EUR")
    else:
        raise EpcError("the amount must be between 0.01 and 999999999.99 EUR")
    reference = rf.normalize(clean(reference)) if reference else ""
    text = clean(text)
    if reference and text:
        raise EpcError("a payment carries a structured reference or a text, not both")
    if reference and not rf.is_valid(reference):
        raise EpcError(f"{reference!r} is not a valid RF creditor reference")

    lines = ["BCD", "002", "1", "SCT", bic, name, iban, amount, "", reference]
    text = text[:MAX_TEXT]
    while True:
        payload = "\n".join(lines + [text]).rstrip("\n")
        if len(payload.encode("utf-8")) <= MAX_PAYLOAD_BYTES:
            return payload
        if not text:  # cannot happen with the limits above; kept as a guard for future fields
            raise EpcError("the payload is longer than 331 bytes")
        text = text[:-1].rstrip()
