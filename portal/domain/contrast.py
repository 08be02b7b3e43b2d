"""Readable brand colours: WCAG 2.x contrast ratios and a safe adjustment of shop colours.

A merchant picks a primary colour (buttons, header, links) and an accent colour (soft
backgrounds). The portal puts white text on the primary colour and dark text on the
accent colour, so both must reach the 4.5:1 contrast WCAG asks of body text. Colours that
fail are darkened (primary) or lightened (accent) step by step, keeping their hue, and
fall back to Settle's defaults only when a colour cannot be parsed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

WHITE = "#ffffff"
TEXT = "#1a1a1a"
PAGE = "#f6f7f9"  # the portal's page background, where the primary colour is the colour of links
MIN_RATIO = 4.5
DEFAULT_PRIMARY = "#1f4e79"
DEFAULT_ACCENT = "#e8f0f8"
_HEX = re.compile(r"^#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})$")


def parse_hex(value: str | None) -> tuple[int, int, int] | None:
    """(r, g, b) from "#rrggbb" or "#rgb"; None for anything else."""
    if not value:
        return None
    m = _HEX.match(value.strip())
    if not m:
        return None
    digits = m.group(1)
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def to_hex(rgb: tuple[int, int, int]) -> str:
    return "#" + "".join(f"{max(0, min(255, round(c))):02x}" for c in rgb)


def _channel(c: int) -> float:
    s = c / 255
    return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4


def relative_luminance(rgb: tuple[int, int, int]) -> float:
    r, g, b = (_channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: str, b: str) -> float:
    """WCAG contrast ratio of two colours, 1.0 … 21.0."""
    la, lb = relative_luminance(parse_hex(a)), relative_luminance(parse_hex(b))
    hi, lo = max(la, lb), min(la, lb)
    return (hi + 0.05) / (lo + 0.05)


def _mix(rgb: tuple[int, int, int], target: tuple[int, int, int], t: float) -> tuple[int, int, int]:
    return tuple(round(c + (x - c) * t) for c, x in zip(rgb, target))  # type: ignore[return-value]


def readable_against(colour: str | None, *others: str, towards: str, fallback: str) -> str:
    """`colour`, moved towards `towards` (black or white) just far enough to reach 4.5:1 with every one of `others`."""
    rgb = parse_hex(colour)
    if rgb is None:
        return fallback
    target = parse_hex(towards)
    for step in range(0, 101):
        candidate = to_hex(_mix(rgb, target, step / 100))
        if all(contrast_ratio(candidate, other) >= MIN_RATIO for other in others):
            return candidate
    return fallback


@dataclass(frozen=True, slots=True)
class Palette:
    """The colours the portal actually uses for a merchant, each readable with its text colour."""

    primary: str  # background of buttons and header with white text; also the link colour on white and on the page
    on_primary: str
    primary_dark: str  # hover/pressed state of buttons
    accent: str  # soft background with dark text
    text: str
    primary_adjusted: bool
    accent_adjusted: bool


def palette(primary: str | None, accent: str | None) -> Palette:
    safe_primary = readable_against(primary, WHITE, PAGE, towards="#000000", fallback=DEFAULT_PRIMARY)
    safe_accent = readable_against(accent, TEXT, towards="#ffffff", fallback=DEFAULT_ACCENT)
    dark = to_hex(_mix(parse_hex(safe_primary), (0, 0, 0), 0.2))
    return Palette(
        primary=safe_primary,
        on_primary=WHITE,
        primary_dark=dark,
        accent=safe_accent,
        text=TEXT,
        primary_adjusted=to_hex(parse_hex(primary) or (0, 0, 0)) != safe_primary,
        accent_adjusted=to_hex(parse_hex(accent) or (0, 0, 0)) != safe_accent,
    )
