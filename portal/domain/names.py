"""A person's name split the way an agency's file wants it: salutation, title, first and last name.

Settle stores one `name` per debtor ("Frau Dr. Erika Mustermann", "Max von Mustermann"). The
split is a best effort for the collection agency's import; the stored name stays the truth
and travels with it. Rules: leading salutations (Herr, Frau, Mr, Mrs, Ms, Mx) and academic
titles (Dr., Prof., Dipl.-Ing. …) are taken off the front; the last word is the last name,
together with the name particles right before it (von, van, de, zu, …); the rest are the
first names. A single word is a last name.
"""
from __future__ import annotations

from dataclasses import dataclass

SALUTATIONS = {"herr": "Herr", "herrn": "Herr", "frau": "Frau", "mr": "Mr", "mrs": "Mrs", "ms": "Ms", "mx": "Mx",
               "divers": ""}
TITLES = ("dr", "prof", "dipl", "mag", "ing", "med", "rer", "nat", "phil", "jur", "h.c", "mba")
PARTICLES = {"von", "van", "de", "der", "den", "zu", "zur", "vom", "ten", "ter", "da", "di", "del", "la", "le", "du", "dos", "y"}


@dataclass(frozen=True, slots=True)
class PersonName:
    salutation: str
    title: str
    first_name: str
    last_name: str


def _bare(word: str) -> str:
    return word.casefold().rstrip(".,")


def _is_title(word: str) -> bool:
    bare = _bare(word)
    return any(bare == t or bare.startswith(t + ".") or bare.startswith(t + "-") for t in TITLES)


def split_name(name: str | None) -> PersonName:
    words = (name or "").split()
    salutation, titles = "", []
    while words and _bare(words[0]) in SALUTATIONS and len(words) > 1:
        salutation = salutation or SALUTATIONS[_bare(words.pop(0))]
    while words and _is_title(words[0]) and len(words) > 1:
        titles.append(words.pop(0))
    if not words:
        return PersonName(salutation, " ".join(titles), "", "")
    last = [words.pop()]
    while words and len(words) > 1 and _bare(words[-1]) in PARTICLES:
        last.insert(0, words.pop())
    if len(words) == 1 and _bare(words[0]) in PARTICLES:  # "von Bülow" alone: no first name
        last.insert(0, words.pop())
    return PersonName(salutation, " ".join(titles), " ".join(words), " ".join(last))
