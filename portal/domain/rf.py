"""ISO 11649 structured creditor references ("RF references").

An RF reference is `RF`, two check digits (ISO 7064 mod 97-10) and up to 21
alphanumerics. Banks carry it unchanged in the structured remittance field, which is
what makes automatic matching of bank transfers reliable.
"""
from __future__ import annotations

import re
import secrets

from stdnum import iso11649

_ALPHABET = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I or O: people read these aloud


def _check_digits(body: str) -> str:
    # Move "RF00" to the end, letters to numbers (A=10 … Z=35), then 98 - (n mod 97).
    digits = "".join(str(int(c, 36)) for c in body + "RF00")
    return f"{98 - int(digits) % 97:02d}"


def make(body: str) -> str:
    """The RF reference for `body` (1–21 letters and digits)."""
    body = body.upper()
    if not re.fullmatch(r"[0-9A-Z]{1,21}", body):
        raise ValueError("an RF reference body is 1 to 21 letters and digits")
    return f"RF{_check_digits(body)}{body}"


def new(length: int = 12) -> str:
    """A fresh random reference (12 characters of body ≈ 61 bits; uniqueness is still enforced by the database)."""
    return make("".join(secrets.choice(_ALPHABET) for _ in range(length)))


def normalize(text: str) -> str:
    return re.sub(r"\s+", "", text).upper()


def is_valid(text: str) -> bool:
    return iso11649.is_valid(normalize(text))


def pretty(reference: str) -> str:
    """Groups of four, as printed on paper: "RF18 5390 0754 7034"."""
    ref = normalize(reference)
    return " ".join(ref[i : i + 4] for i in range(0, len(ref), 4))


_IN_TEXT = re.compile(r"R\s*F\s*\d\s*\d(?:\s*[0-9A-Z]){1,21}", re.IGNORECASE)


def find_in_text(text: str) -> list[str]:
    """Every valid RF reference inside free text (spaces and case ignored, check digits verified)."""
    found: list[str] = []
    for match in _IN_TEXT.finditer(text or ""):
        candidate = normalize(match.group(0))
        # The greedy match may run into following words; try the longest valid prefix.
        for end in range(len(candidate), 4, -1):
            if iso11649.is_valid(candidate[:end]):
                if candidate[:end] not in found:
                    found.append(candidate[:end])
                break
    return found
