"""Server-drawn SVG charts for the dashboard: plain markup, no script, no style attributes (strict CSP).

Each chart is `role="img"` with a `<title>` and a `<desc>` that says the numbers in words; the page
puts the same numbers in a table next to it, for screen readers and for copying. Geometry is
simple on purpose, so a test can compute it by hand: the plot area is PLOT units wide, a bar's
length is value × PLOT ÷ the largest value (rounded to 0.1), rows are ROW units apart. The
viewBox scales to the width of the page, so the chart reads on a 390-pixel phone.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

from markupsafe import Markup, escape

LABEL = 120  # units left of the plot for the row labels
PLOT = 200  # plot width
VALUE = 100  # room right of the bars for the value text
ROW = 28
BAR = 18
WIDTH = LABEL + PLOT + VALUE

_ids = itertools.count(1)


@dataclass(frozen=True)
class Bar:
    label: str
    value: int | float
    text: str  # the value as the reader sees it (formatted money, a share …)


@dataclass(frozen=True)
class Segment:
    value: int
    css: str  # class of the segment (its colour comes from office.css)


def length(value, largest) -> float:
    return round(value * PLOT / largest, 1) if largest else 0.0


def _frame(title: str, desc: str, height: int, body: list[str], legend: str = "") -> Markup:
    n = next(_ids)
    return Markup(
        f'<svg class="chart" role="img" aria-labelledby="chart{n}-t chart{n}-d" viewBox="0 0 {WIDTH} {height}" '
        f'xmlns="http://www.w3.org/2000/svg"><title id="chart{n}-t">{escape(title)}</title>'
        f'<desc id="chart{n}-d">{escape(desc)}</desc>{"".join(body)}</svg>{legend}'
    )


def bars(title: str, rows: list[Bar], *, css: str = "bar") -> Markup:
    """Horizontal bars, one per row, longest = the largest value."""
    largest = max((r.value for r in rows), default=0)
    body = []
    for i, row in enumerate(rows):
        y = i * ROW
        w = length(row.value, largest)
        body.append(
            f'<g class="row"><text class="label" x="{LABEL - 6}" y="{y + 13}">{escape(row.label)}</text>'
            f'<rect class="{css}" x="{LABEL}" y="{y}" width="{w}" height="{BAR}"></rect>'
            f'<text class="value" x="{LABEL + w + 6}" y="{y + 13}">{escape(row.text)}</text></g>'
        )
    desc = "; ".join(f"{r.label}: {r.text}" for r in rows)
    return _frame(title, desc, max(len(rows), 1) * ROW, body)


def stacked(title: str, rows: list[tuple[str, list[Segment], str]], legend: list[tuple[str, str]]) -> Markup:
    """One stacked bar per row (label, segments, total text); the longest row total spans the plot."""
    largest = max((sum(s.value for s in segs) for _, segs, _ in rows), default=0)
    body = []
    for i, (label, segments, total) in enumerate(rows):
        y, x = i * ROW, float(LABEL)
        parts = [f'<g class="row"><text class="label" x="{LABEL - 6}" y="{y + 13}">{escape(label)}</text>']
        for seg in segments:
            w = length(seg.value, largest)
            if w:
                parts.append(f'<rect class="{seg.css}" x="{round(x, 1)}" y="{y}" width="{w}" height="{BAR}"></rect>')
            x += w
        parts.append(f'<text class="value" x="{round(x + 6, 1)}" y="{y + 13}">{escape(total)}</text></g>')
        body.append("".join(parts))
    key = Markup('<ul class="legend">') + Markup("").join(
        Markup('<li><span class="swatch {}" aria-hidden="true"></span>{}</li>').format(css, text) for css, text in legend
    ) + Markup("</ul>")
    desc = "; ".join(f"{label}: {total}" for label, _, total in rows)
    return _frame(title, desc, max(len(rows), 1) * ROW, body, key)
