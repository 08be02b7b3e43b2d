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


_GROUPED = re.compile(r"[\s\-/()]")


def readable_phone(value: str | None) -> str:
    """A phone number as people read it: written as the shop wrote it when it has separators
    ("+49 711 123456-0"); a bare E.164 number is grouped by its numbering plan ("+49 711 12345600"),
    or, where the plan does not know it, gets its country code set apart."""
    if not value:
        return ""
    text = " ".join(value.split())
    if _GROUPED.search(text) or not text.startswith("+"):
        return text
    import phonenumbers

    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        number = None
    if number is not None and phonenumbers.is_possible_number(number):
        # The numbering plan knows where the area code ends: "+49 711 12345600", "+49 170 1234567".
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    digits = text[1:]
    # Country codes are prefix-free: +1 and +7 have one digit, these have two, the rest three.
    two = {"20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46", "47", "48", "49",
           "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63", "64", "65", "66", "81", "82", "84",
           "86", "90", "91", "92", "93", "94", "95", "98"}
    size = 1 if digits[:1] in ("1", "7") else 2 if digits[:2] in two else 3
    return f"+{digits[:size]} {digits[size:]}"
