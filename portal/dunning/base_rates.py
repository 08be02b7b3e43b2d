"""The base-rate table in force (§ 247 BGB): shipped rows plus rates entered since, and entering one.

`current_table()` is what every process computes interest with. It keeps the table in memory
and compares a cheap version (count and highest id of `base_rate_entry`) with the database on
every call (a new or restored database differs in it too), so a rate entered in the back office or with `flask base-rates set` is used by every
web worker and by `flask worker` from their next request or batch, without a restart.

`set_rate()` is the one way to enter a rate (back office and CLI): it validates, records the
entry (the history is the audit trail of the table; the back office adds a staff audit row) and
charges the interest the missing rate held back (`portal.dunning.interest.catch_up`), all in
the caller's transaction.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from portal.domain.base_rate import (
    BaseRateTable,
    InvalidBaseRate,
    half_year_start,
    load_table,
    next_half_year,
    validate_entry,
)
from portal.extensions import db
from portal.models import BaseRateEntry

BANNER_DAYS = 14  # the back office warns this many days before a half-year whose rate is not entered

_lock = threading.Lock()
_cached: tuple[tuple, BaseRateTable] | None = None


def _version() -> tuple:
    """Count, highest id and latest time of the entries: one index-only aggregate over a table of a few rows."""
    return tuple(db.session.execute(
        select(func.count(BaseRateEntry.id), func.max(BaseRateEntry.id), func.max(BaseRateEntry.entered_at))
    ).one())


def entered_rates() -> dict[date, Decimal]:
    """The latest entered rate per half-year."""
    rates: dict[date, Decimal] = {}
    for valid_from, rate in db.session.execute(
        select(BaseRateEntry.valid_from, BaseRateEntry.rate_percent).order_by(BaseRateEntry.id)
    ):
        rates[valid_from] = Decimal(rate).quantize(Decimal("0.01"))
    return rates


def current_table() -> BaseRateTable:
    """The shipped table with every entered rate over it; re-read only when the database's version moved."""
    global _cached
    version = _version()
    cached = _cached
    if cached is not None and cached[0] == version:
        return cached[1]
    table = load_table().with_entries(entered_rates())
    with _lock:
        _cached = (version, table)
    return table


def current_version() -> tuple:
    """The version of the entries the last `current_table()` call found (empty before the first)."""
    cached = _cached
    return cached[0] if cached is not None else ()


def forget_cache() -> None:
    """Tests that replace the database under a running process call this (a new database restarts ids)."""
    global _cached
    _cached = None


@dataclass(frozen=True)
class SetResult:
    valid_from: date
    rate: Decimal
    previous: Decimal | None
    changed: bool
    invoices: int = 0  # invoices charged interest that the missing rate had held back
    amount_minor: int = 0
    after_handover: int = 0  # of those, claims already with the collection agency (supplements)


def set_rate(valid_from: date, rate: Decimal, *, actor: str, today: date, actor_email: str | None = None,
             merchant_id: int | None = None) -> SetResult:
    """Enter the base rate for the half-year starting `valid_from`; the caller commits.

    Refused (`InvalidBaseRate`): a day that is not 1 January or 1 July, a rate outside the sane range
    or with more than two decimals, and changing a rate of a half-year that has already begun
    (interest may have been charged with it; a correction goes through support, not a silent edit).
    Entering the rate that is already in force changes nothing and is not recorded again.
    """
    valid_from, rate = validate_entry(valid_from, rate)
    table = current_table()
    previous = table.rates.get(valid_from)
    if previous is not None and previous == rate:
        return SetResult(valid_from, rate, previous, False)
    if previous is not None and valid_from <= today:
        raise InvalidBaseRate("begun", f"the rate for the half-year from {valid_from.isoformat()} is in force and may "
                                       f"have been charged already; it stays {previous} %")
    db.session.add(BaseRateEntry(valid_from=valid_from, rate_percent=rate, previous_percent=previous, actor=actor,
                                 actor_email=actor_email, merchant_id=merchant_id))
    db.session.flush()
    from portal.dunning.interest import catch_up_all

    caught = catch_up_all(current_table(), today)
    return SetResult(valid_from, rate, previous, True, caught.invoices, caught.amount_minor, len(caught.after_handover))


def rows(table: BaseRateTable, today: date, *, future: int = 1) -> list[dict]:
    """The table as shown: newest half-year first, from the next half-year(s) back to 1 January 2002."""
    last = half_year_start(today)
    for _ in range(future):
        last = next_half_year(last)
    entered = {e.valid_from: e for e in db.session.execute(select(BaseRateEntry).order_by(BaseRateEntry.id)).scalars()}
    out = []
    day = last
    oldest = min(table.rates) if table.rates else last
    while day >= oldest:
        rate = table.rates.get(day)
        out.append({"valid_from": day, "rate": rate, "entry": entered.get(day), "current": day == half_year_start(today),
                    "begun": day <= today})
        day = _previous_half_year(day)
    return out


def _previous_half_year(day: date) -> date:
    return date(day.year, 1, 1) if day.month == 7 else date(day.year - 1, 7, 1)


def pending_half_year(today: date, table: BaseRateTable | None = None) -> tuple[date, bool] | None:
    """A half-year whose rate is missing and that the back office warns about: (its start, already begun).

    The running half-year without a rate (interest is held back now), else the next one from
    `BANNER_DAYS` days before it begins.
    """
    table = table or current_table()
    if not table.knows(today):
        return half_year_start(today), True
    upcoming = next_half_year(today)
    if upcoming - today <= timedelta(days=BANNER_DAYS) and not table.knows(upcoming):
        return upcoming, False
    return None
