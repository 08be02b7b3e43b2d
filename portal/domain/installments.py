"""Installment plans: the merchant's rules, schedules of monthly rates, and when a plan is broken.

A request inside the rules is approved at once; anything else goes to staff. Rates
are equal; the cents that do not divide evenly go on the first rate, so later rates
are round and the debtor pays the odd amount while the plan is freshest.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class PlanRules:
    max_rates: int = 6  # longest plan, in monthly rates
    min_rate_minor: int = 2500  # smallest rate the merchant accepts
    max_total_minor: int = 500000  # largest amount that may be spread without staff
    first_rate_within_days: int = 30  # first rate no later than this many days from today
    include_charges: bool = True  # fees and interest are part of the plan (else waived on approval)
    grace_days: int = 7  # a rate counts as missed this many days after its due date


@dataclass(frozen=True)
class Rate:
    number: int  # 1-based
    due_on: date
    amount_minor: int


class PlanRequestError(ValueError):
    """A request that cannot be a plan at all (not merely outside the auto-approval rules)."""


def add_months(day: date, months: int) -> date:
    """Same day of month `months` later, clamped to the month's end (31 Jan + 1 → 28/29 Feb)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def schedule(total_minor: int, rates: int, first_due: date) -> list[Rate]:
    if rates < 2:
        raise PlanRequestError("a plan has at least two rates")
    if total_minor < rates:
        raise PlanRequestError("the amount is too small to split")
    base, remainder = divmod(total_minor, rates)
    return [
        Rate(n + 1, add_months(first_due, n), base + (remainder if n == 0 else 0))
        for n in range(rates)
    ]


def violations(rules: PlanRules, total_minor: int, rates: int, first_due: date, today: date) -> list[str]:
    """Why a request is outside the rules (empty: approve at once). Codes, translated by the caller."""
    out = []
    if rates > rules.max_rates:
        out.append("too_many_rates")
    if rates >= 2 and total_minor // rates < rules.min_rate_minor:
        out.append("rate_too_small")
    if total_minor > rules.max_total_minor:
        out.append("total_too_high")
    if first_due > today + timedelta(days=rules.first_rate_within_days):
        out.append("first_rate_too_late")
    return out


def validate_request(rates: int, first_due: date, today: date) -> None:
    """Hard limits no counter-offer can lift."""
    if not 2 <= rates <= 36:
        raise PlanRequestError("between 2 and 36 rates")
    if first_due < today:
        raise PlanRequestError("the first rate cannot be in the past")
    if first_due > today + timedelta(days=92):
        raise PlanRequestError("the first rate must be within three months")


def rates_paid(rates: list[Rate], paid_minor: int) -> int:
    """How many rates the payments received so far cover in full (in order)."""
    covered, running = 0, 0
    for rate in rates:
        running += rate.amount_minor
        if paid_minor >= running:
            covered += 1
        else:
            break
    return covered


def missed_rate(rates: list[Rate], paid_minor: int, today: date, grace_days: int) -> Rate | None:
    """The first rate that is unpaid beyond the grace period, if any: the plan is broken."""
    covered = rates_paid(rates, paid_minor)
    if covered < len(rates):
        rate = rates[covered]
        if today > rate.due_on + timedelta(days=grace_days):
            return rate
    return None


def next_rate(rates: list[Rate], paid_minor: int) -> Rate | None:
    covered = rates_paid(rates, paid_minor)
    return rates[covered] if covered < len(rates) else None


def amount_due_for(rates: list[Rate], paid_minor: int) -> int:
    """What the next payment must be to bring the plan up to date with its next rate."""
    nxt = next_rate(rates, paid_minor)
    if nxt is None:
        return 0
    return sum(r.amount_minor for r in rates[: nxt.number]) - paid_minor


def promise_window(today: date, max_days: int) -> tuple[date, date]:
    """Dates a debtor may promise to pay on: tomorrow up to max_days ahead."""
    return today + timedelta(days=1), today + timedelta(days=max_days)
