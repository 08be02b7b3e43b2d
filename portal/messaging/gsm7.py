"""GSM 03.38 (GSM-7) text: what fits into one 160-character SMS.

Characters of the basic set count one septet, those of the extension table (€, [, ], {,
}, \\, ~, ^, |) two. Text with any other character would be sent as UCS-2 (70
characters per part), so SMS templates must stay within GSM-7.
"""
from __future__ import annotations

BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
EXTENSION = "^{}\\[~]|€\f"
SINGLE_SMS = 160

# Common characters outside GSM-7 and their closest GSM-7 spelling.
_REPLACE = {"–": "-", "—": "-", "„": '"', "“": '"', "”": '"', "‚": "'", "‘": "'", "’": "'", "\u00a0": " ",
            "\u202f": " ", "…": "...", "ç": "c", "á": "a", "â": "a", "ê": "e", "ë": "e", "í": "i", "î": "i",
            "ï": "i", "ó": "o", "ô": "o", "ú": "u", "û": "u", "ı": "i", "ş": "s", "ğ": "g", "Ş": "S", "İ": "I"}


def septets(text: str) -> int | None:
    """Length in GSM-7 septets, or None if the text is not GSM-7."""
    total = 0
    for ch in text:
        if ch in BASIC:
            total += 1
        elif ch in EXTENSION:
            total += 2
        else:
            return None
    return total


def to_gsm7(text: str) -> str:
    """Replace typographic characters by their GSM-7 equivalents; others become '?'."""
    out = []
    for ch in text:
        ch = _REPLACE.get(ch, ch)
        out.append(ch if all(c in BASIC or c in EXTENSION for c in ch) else "?")
    return "".join(out)
