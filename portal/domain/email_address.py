"""Email addresses as intake accepts them and as SMTP carries them.

Intake refuses what can never be delivered (control characters, brackets, a domain that
has no IDNA form) with a clear message; sending encodes the domain with IDNA
(`bücher.example` → `xn--bcher-kva.example`), so only a non-ASCII local part
(`jürgen@…`) needs the mail server's SMTPUTF8 extension.
"""
from __future__ import annotations

import re

# Sending needs only local@domain (`settle@localhost` is a fine sender); intake asks for a dotted domain.
_SHAPE = re.compile(r"^[^@\s]+@[^@\s]+$")
_DOTTED = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_FORBIDDEN = re.compile(r'[\x00-\x1f\x7f<>()\[\]\\,;:"]')


class AddressError(ValueError):
    """An email address that cannot be written on the wire."""


def wire_address(address: str) -> tuple[str, bool]:
    """The address as SMTP carries it, and whether it needs SMTPUTF8; raises AddressError."""
    address = address.strip()
    if not _SHAPE.match(address) or _FORBIDDEN.search(address):
        raise AddressError(f"not an email address: {address!r}")
    local, _, domain = address.rpartition("@")
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in address):
        raise AddressError(f"not an email address: {address!r}")
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise AddressError(f"the domain of {address!r} has no IDNA form") from exc
    return f"{local}@{domain}", not local.isascii()


def address_problem(address: str) -> str | None:
    """Why intake refuses this address (for the field error), or None when it can be sent."""
    try:
        wire_address(address)
    except AddressError:
        return "is not a valid email address"
    if not _DOTTED.match(address.strip()):
        return "is not a valid email address"
    return None
