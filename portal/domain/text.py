"""Text that arrives from outside and cannot be stored or shown: NUL bytes, lone surrogates, JSON
nested without end. Flask-free, so the request guard (`portal.inputs`), the intake validator and the
CSV import use the same rule and the same words.

PostgreSQL refuses NUL in text columns and every UTF-8 encoder refuses a lone surrogate (`"\\ud800"`
is valid JSON, and Python decodes it into a string no database, template or log can write); either
used to end in a 500 far from where it came in. Refusing them where the text enters turns that into
a 400/422 that names the field.
"""
from __future__ import annotations

from collections.abc import Iterator

# JSON deeper than this is no invoice; parsing far deeper documents recurses until Python gives up.
MAX_JSON_DEPTH = 32

NUL_MESSAGE = "must not contain NUL bytes"
SURROGATE_MESSAGE = "is not valid Unicode (contains a lone surrogate)"
DEPTH_MESSAGE = f"is nested too deeply (at most {MAX_JSON_DEPTH} levels)"


def text_problem(text: str) -> str | None:
    """Why `text` cannot be taken, or None. Fast for ordinary text (one `isprintable` pass)."""
    if text.isprintable():
        return None
    if "\x00" in text:
        return NUL_MESSAGE
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return SURROGATE_MESSAGE
    return None


def json_problems(value: object, path: str = "") -> Iterator[tuple[str, str]]:
    """(field path, message) for every string (keys included) in decoded JSON that cannot be taken,
    and for nesting beyond MAX_JSON_DEPTH. Paths as the API's errors write them: `debtor.name`,
    `lines[0].description`; the document itself is ""."""
    stack: list[tuple[object, str, int]] = [(value, path, 0)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:
                yield where, problem
        elif isinstance(item, (dict, list)):
            if depth >= MAX_JSON_DEPTH:
                yield where, DEPTH_MESSAGE
                continue
            if isinstance(item, dict):
                for key, child in item.items():
                    key_text = str(key)
                    problem = text_problem(key_text)
                    child_path = f"{where}.{_printable(key_text)}" if where else _printable(key_text)
                    if problem:
                        yield child_path, problem
                    stack.append((child, child_path, depth + 1))
            else:
                for i, child in enumerate(item):
                    stack.append((child, f"{where}[{i}]", depth + 1))


def _printable(key: str) -> str:
    """A key as it can be written back in an error (its bad characters escaped)."""
    return key if key.isprintable() else key.encode("unicode_escape").decode("ascii")
