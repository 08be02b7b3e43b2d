"""Files Settle writes for people to open: CSV cells a spreadsheet will not execute, and
file names inside ZIPs that cannot escape the folder they are unpacked into.

Every CSV export (handover, open items, audit log, analytics) writes through `write_csv`;
every name put into a ZIP goes through `safe_zip_name`. Excel, LibreOffice and Google
Sheets run a cell that begins with `=`, `+`, `-` or `@` as a formula (and some also treat
a leading tab or carriage return so), so such a cell is prefixed with an apostrophe, the
convention (OWASP "CSV injection") that spreadsheets show as plain text.
"""
from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence

FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """The text of one cell, neutralised when a spreadsheet would run it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        text = "yes" if value else "no"
    else:
        text = str(value)
    if text.startswith(FORMULA_LEADS):
        return "'" + text
    return text


def read_cell(text: str) -> str:
    """The inverse of `safe_cell` for files Settle reads back: "'=x" is the cell "=x" (an export imports unchanged)."""
    if text[:1] == "'" and text[1:2] and text[1] in FORMULA_LEADS:
        return text[1:]
    return text


def write_csv(rows: Iterable[Mapping[str, object] | Sequence[object]], fieldnames: Sequence[str], *,
              delimiter: str = ";", bom: bool = True) -> str:
    """A whole CSV document: header, then one line per row (dicts by field name, or sequences).

    `;` and a UTF-8 byte-order mark by default, so German Excel opens it with umlauts intact.
    """
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow([safe_cell(name) for name in fieldnames])
    for row in rows:
        values = [row.get(name) for name in fieldnames] if isinstance(row, Mapping) else list(row)
        writer.writerow([safe_cell(v) for v in values])
    return ("\ufeff" if bom else "") + out.getvalue()


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_zip_part(text: object, *, fallback: str = "x", max_length: int = 80) -> str:
    """One path segment for a ZIP member, built from safe characters only.

    Letters outside ASCII are folded (`Müller` → `Muller`), everything else that is not a
    letter, digit, `.`, `_` or `-` becomes `_`, and dots and underscores at either end are
    dropped (`../../x` → `.._x` would still look hidden), so neither `/`, `..`, a leading dot
    nor control characters survive, whatever an invoice number contains.
    """
    folded = unicodedata.normalize("NFKD", str(text or "")).encode("ascii", "ignore").decode("ascii")
    part = _UNSAFE.sub("_", folded).strip("._")[:max_length].strip("._") or fallback
    return part


def safe_zip_name(*parts: object) -> str:
    """A member name `a/b/c` from parts that are each made safe."""
    return "/".join(safe_zip_part(p) for p in parts)
