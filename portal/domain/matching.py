"""Rules for matching a bank transfer to invoices, without the database.

Order of evidence, strongest first:
1. an RF creditor reference — structured (CdtrRefInf) or anywhere in the free text,
   spaces and case ignored, ISO 7064 mod-97 check digits verified;
2. invoice numbers written in the remittance text;
3. the amount, together with the payer's name or IBAN.
"""
from __future__ import annotations

import re
import unicodedata

from portal.domain import rf

_TOKEN = re.compile(r"[0-9A-Za-z][0-9A-Za-z\-_/.]*[0-9A-Za-z]|[0-9A-Za-z]")


def references(structured: str | None, text: str | None) -> list[str]:
    """Valid RF references, the structured one first; invalid check digits are never trusted."""
    found: list[str] = []
    if structured:
        compact = rf.normalize(structured)
        if _valid(compact):
            found.append(compact)
        else:
            found += [r for r in rf.find_in_text(structured) if r not in found]
    found += [r for r in rf.find_in_text(text or "") if r not in found]
    return found


_RF = re.compile(r"RF[0-9]{2}[0-9A-Z]{1,21}")
_AS_DIGITS = {ord(c): str(int(c, 36)) for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}


def _valid(compact: str) -> bool:
    """`rf.is_valid` for a compact reference: the ISO 7064 mod 97-10 check done directly (a bank file
    carries one per transfer, and the general validator costs twenty times as much)."""
    if not _RF.fullmatch(compact):
        return rf.is_valid(compact)
    return int((compact[4:] + compact[:4]).translate(_AS_DIGITS)) % 97 == 1


def number_candidates(text: str | None) -> list[str]:
    """Words in the remittance text that could be invoice numbers (the caller looks them up).

    Both the word as written and its upper-case form are offered, and a number split by
    the bank's line wrapping ("RE-2025- 0001") is tried joined as well.
    """
    if not text:
        return []
    words = _TOKEN.findall(text)
    out: list[str] = []
    for word in words + [a + b for a, b in zip(words, words[1:]) if a.endswith(("-", "/"))]:
        for form in (word, word.upper()):
            if len(form) >= 3 and any(c.isdigit() for c in form) and form not in out:
                out.append(form)
    return out


def _name_key(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    letters = "".join(c for c in decomposed if c.isalnum() or c.isspace())
    return " ".join(sorted(letters.split()))


def same_name(payer: str | None, *names: str | None) -> bool:
    """The payer's name equals one of the debtor's names, ignoring case, accents, punctuation and word order."""
    if not payer:
        return False
    key = _name_key(payer)
    return bool(key) and any(name and _name_key(name) == key for name in names)
