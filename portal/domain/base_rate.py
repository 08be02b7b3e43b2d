"""The German base rate (Basiszinssatz, § 247 BGB) by half-year, read from data.

The Bundesbank publishes the rate for each half-year (from 1 January and 1 July). The
table lives in `portal/domain/data/base_rates.csv`; a half-year the table does not know
(no row, or a row marked "unknown") raises `BaseRateUnknown`: statutory interest is
never computed from a guessed rate.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
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


def half_year_start(day: date) -> date:
    return date(day.year, 1 if day.month <= 6 else 7, 1)


def next_half_year(day: date) -> date:
    start = half_year_start(day)
    return date(start.year, 7, 1) if start.month == 1 else date(start.year + 1, 1, 1)


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
