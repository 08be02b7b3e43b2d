"""The German base rate (Basiszinssatz, § 247 BGB) by half-year, read from data.

The Bundesbank publishes the rate for each half-year (from 1 January and 1 July). The
shipped table lives in `portal/domain/data/base_rates.csv`; rates entered later (back
office, `flask base-rates set`) are laid over it with `BaseRateTable.with_entries`. A
half-year the table does not know (no row, or a row marked "unknown") raises
`BaseRateUnknown`: statutory interest is never computed from a guessed rate, and
`known_through` tells how far interest can be computed now (the rest follows when the
rate is entered).
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

DEFAULT_TABLE = Path(__file__).resolve().parent / "data" / "base_rates.csv"


class BaseRateUnknown(LookupError):
    """The base rate for this day is not in the table (yet)."""

    def __init__(self, day: date):
        super().__init__(f"the base rate for {half_year_start(day).isoformat()} is not in the table")
        self.day = day
        self.half_year = half_year_start(day)


@dataclass(frozen=True, slots=True)
class BaseRateTable:
    """Half-year start → rate in percent per annum (None: known to be missing)."""

    rates: dict[date, Decimal | None]

    def rate_on(self, day: date) -> Decimal:
        rate = self.rates.get(half_year_start(day))
        if rate is None:
            raise BaseRateUnknown(day)
        return rate

    def knows(self, day: date) -> bool:
        return self.rates.get(half_year_start(day)) is not None

    def with_entries(self, entries: dict[date, Decimal]) -> "BaseRateTable":
        """This table with entered rates laid over it (an entered rate wins over the shipped row)."""
        return BaseRateTable({**self.rates, **entries})

    def known_through(self, first_day: date, last_day: date) -> date | None:
        """The last day of first_day..last_day up to which every half-year's rate is known (None: not even the first)."""
        day = first_day
        while day <= last_day:
            if not self.knows(day):
                return day - timedelta(days=1) if day > first_day else None
            day = next_half_year(day)
        return last_day

    def first_unknown(self, first_day: date, last_day: date) -> date | None:
        """The start of the first half-year in first_day..last_day without a rate."""
        through = self.known_through(first_day, last_day)
        if through == last_day:
            return None
        return half_year_start(first_day if through is None else through + timedelta(days=1))


def half_year_start(day: date) -> date:
    return date(day.year, 1 if day.month <= 6 else 7, 1)


def next_half_year(day: date) -> date:
    start = half_year_start(day)
    return date(start.year, 7, 1) if start.month == 1 else date(start.year + 1, 1, 1)


# Plausibility bounds for an entered rate, in percent: the lowest base rate so far was -0.88 %, the highest 6.17 %
# (2000–2001, as the "Basiszinssatz" of the DÜG); anything outside this range is a typo, not a publication.
RATE_MIN = Decimal("-10")
RATE_MAX = Decimal("20")


class InvalidBaseRate(ValueError):
    """An entered rate that cannot be right; `reason` is a stable code for the message shown."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


def validate_entry(valid_from: date, rate: Decimal) -> tuple[date, Decimal]:
    """A rate someone enters: for a half-year start (1 January or 1 July), within the sane range, to 0.01 points."""
    if (valid_from.month, valid_from.day) not in ((1, 1), (7, 1)):
        raise InvalidBaseRate("not_half_year", f"a base rate starts on 1 January or 1 July, not {valid_from.isoformat()}")
    if not rate.is_finite() or rate != rate.quantize(Decimal("0.01")):
        raise InvalidBaseRate("precision", f"the base rate has at most two decimals, not {rate}")
    if not RATE_MIN <= rate <= RATE_MAX:
        raise InvalidBaseRate("range", f"a base rate of {rate} % is outside {RATE_MIN} … {RATE_MAX} %")
    return valid_from, rate.quantize(Decimal("0.01"))


def parse_rate(text: str) -> Decimal:
    """'1.27', '1,27', '-0,88', '1.27 %' → Decimal; InvalidBaseRate('format') for anything else."""
    from decimal import InvalidOperation

    cleaned = (text or "").strip().removesuffix("%").strip().replace("\u2212", "-").replace(",", ".")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise InvalidBaseRate("format", f"not a rate: {text!r}") from None
    if not cleaned or not value.is_finite():
        raise InvalidBaseRate("format", f"not a rate: {text!r}")
    return value


def parse_table(lines) -> BaseRateTable:
    rows = csv.DictReader(line for line in lines if line.strip() and not line.lstrip().startswith("#"))
    rates: dict[date, Decimal | None] = {}
    for row in rows:
        start = date.fromisoformat(row["valid_from"].strip())
        if start != half_year_start(start) or start.day != 1 or start.month not in (1, 7):
            raise ValueError(f"base rate rows start on 1 January or 1 July, not {start}")
        status = row["status"].strip()
        if status == "published":
            rates[start] = Decimal(row["rate_percent"].strip())
        elif status == "unknown":
            rates[start] = None
        else:
            raise ValueError(f"unknown status {status!r} for {start}")
    return BaseRateTable(rates)


@lru_cache(maxsize=4)
def load_table(path: str | None = None) -> BaseRateTable:
    with open(path or DEFAULT_TABLE, encoding="utf-8") as fh:
        return parse_table(fh)
