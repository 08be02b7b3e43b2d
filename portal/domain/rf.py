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


_AS_DIGITS = {ord(c): str(int(c, 36)) for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
_BODY = re.compile(r"[0-9A-Z]{1,21}")


def _check_digits(body: str) -> str:
    # Move "RF00" to the end, letters to numbers (A=10 … Z=35), then 98 - (n mod 97).
    return f"{98 - int((body + 'RF00').translate(_AS_DIGITS)) % 97:02d}"


def make(body: str) -> str:
    """The RF reference for `body` (1–21 letters and digits)."""
    body = body.upper()
    if not _BODY.fullmatch(body):
        raise ValueError("an RF reference body is 1 to 21 letters and digits")
    return f"RF{_check_digits(body)}{body}"


_PAIRS = [a + b for b in _ALPHABET for a in _ALPHABET]  # two base-34 digits per divmod
_PAIR_BASE = len(_PAIRS)


def new_many(count: int, length: int = 12) -> list[str]:
    """`count` fresh references from one read of the OS CSPRNG (for bulk imports)."""
    space = len(_ALPHABET) ** length
    if space > 2**64:
        return [new(length) for _ in range(count)]
    limit = 2**64 - 2**64 % space  # rejection sampling keeps every body equally likely
    out: list[str] = []
    while len(out) < count:
        pool = secrets.token_bytes(8 * (count - len(out) + 8))
        for i in range(0, len(pool), 8):
            n = int.from_bytes(pool[i : i + 8], "big")
            if n >= limit:
                continue
            n %= space
            body = []
            for _ in range(length // 2):
                n, pair = divmod(n, _PAIR_BASE)
                body.append(_PAIRS[pair])
            if length % 2:
                body.append(_ALPHABET[n])
            body_text = "".join(body)
            out.append(f"RF{_check_digits(body_text)}{body_text}")
            if len(out) == count:
                break
    return out


def new(length: int = 12) -> str:
    """A fresh random reference (12 characters of body ≈ 61 bits; uniqueness is still enforced by the database)."""
    # One draw from the OS CSPRNG, written in base 34 (bulk imports make hundreds of thousands of these).
    n = secrets.randbelow(len(_ALPHABET) ** length)
    body = []
    for _ in range(length):
        n, digit = divmod(n, len(_ALPHABET))
        body.append(_ALPHABET[digit])
    return make("".join(body))


def normalize(text: str) -> str:
    return re.sub(r"\s+", "", text).upper()


def is_valid(text: str) -> bool:
    return iso11649.is_valid(normalize(text))


def pretty(reference: str) -> str:
    """Groups of four, as printed on paper: "RF18 5390 0754 7034"."""
    ref = normalize(reference)
    return " ".join(ref[i : i + 4] for i in range(0, len(ref), 4))


_WORD = re.compile(r"[0-9A-Za-z]+")
_START = re.compile(r"RF\d\d", re.IGNORECASE)


def find_in_text(text: str) -> list[str]:
    """Every valid RF reference inside free text (case ignored, check digits verified).

    References arrive written as one word ("RF18539007547034") or in the printed groups
    of four ("rf18 5390 0754 7034"). A candidate therefore ends at a word boundary:
    it starts at a word beginning with RF and two digits and continues over the
    following words only while the previous word was a full group of four and the
    words are separated by blanks alone. The whole run and the run without its last
    word (a short word that merely follows the reference, "… 7034 4711") are tried;
    shorter prefixes are not, as each extra try lets a mistyped reference pass by chance.
    When both readings carry valid check digits (mod 97 allows it), both are returned:
    the caller looks references up, and only the real one exists.
    """
    found: list[str] = []
    words = list(_WORD.finditer(text or ""))
    for i, word in enumerate(words):
        if not _START.match(word.group(0)):
            continue
        run = [word.group(0)]
        j = i
        while (
            len(run[-1]) == 4
            and j + 1 < len(words)
            and len(words[j + 1].group(0)) <= 4
            and text[words[j].end() : words[j + 1].start()].strip(" \t") == ""
            and sum(map(len, run)) + len(words[j + 1].group(0)) <= 25
        ):
            j += 1
            run.append(words[j].group(0))
        for end in range(len(run), max(len(run) - 2, 0), -1):
            candidate = "".join(run[:end]).upper()
            if len(candidate) > 4 and iso11649.is_valid(candidate):
                if candidate not in found:
                    found.append(candidate)
    return found
