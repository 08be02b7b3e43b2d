"""Contact details typed by debtors: an email address or a mobile number, normalised.

Used by the "send me a new link" form (find the debtor by what is on file) and the
contact preferences page (store what the debtor gives us in canonical form).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from portal.domain.email_address import address_problem
from portal.domain.intake import normalize_phone

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True, slots=True)
class Contact:
    kind: str  # "email" or "phone"
    value: str  # lower-cased address or E.164 number


def normalize_email(raw: str | None) -> str | None:
    text = (raw or "").strip()
    if not text or len(text) > 254 or not EMAIL.match(text) or address_problem(text):
        return None
    return text.lower()


def parse_contact(raw: str | None, country: str | None = "DE") -> Contact | None:
    """An email address if it has an @, otherwise a phone number; None when it is neither."""
    text = (raw or "").strip()
    if "@" in text:
        email = normalize_email(text)
        return Contact("email", email) if email else None
    if not text or len(text) > 40:
        return None
    phone = normalize_phone(text, country)
    return Contact("phone", phone) if phone else None
