"""Statutory charges on a late invoice (German law): default interest, flat fee, dunning fees.

- Default interest, § 288 (1) and (2) BGB: base rate (§ 247 BGB) + 5 percentage points
  for consumers, + 9 for businesses, from the day after default. Day count: every day
  counts with the rate of its half-year and the principal open at its start; each day
  is worth principal × rate / 365 (also in leap years); the period's sum is rounded
  once, half-up, to the minor unit. Payments reduce the principal from the day after
  their value date (allocated to the principal first, which is never to the debtor's
  disadvantage). No interest on interest or fees (§ 289 BGB).
- Flat fee, § 288 (5) BGB: 40 EUR once per invoice from a business debtor in default,
  when the merchant opts in. Dunning fees are credited against it (§ 288 (5) sentence 3),
  so a business debtor who is charged the flat fee pays no separate dunning fees.
- Dunning fees: only for notices sent while the debtor is already in default (the
  notice that causes default is free), never above the merchant's cap, and only the
  actual cost of the channel used: a letter at most its postage and print (merchant
  setting), email and SMS 0 by default (courts accept actual costs only).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from portal.domain.base_rate import BaseRateTable, next_half_year

MARGIN_CONSUMER = Decimal(5)
MARGIN_BUSINESS = Decimal(9)
DAYS_PER_YEAR = 365
FLAT_FEE_MINOR = {"EUR": 4000}
# Marker in the ledger entry's `data` of the § 288 (5) BGB flat fee: it is credited against later
# collection costs (§ 288 (5) sentence 3 BGB), so the handover export must deduct it from the agency's costs.
COLLECTION_COST_CREDIT = "credit_against_collection_costs"
FLAT_FEE_LAW = "§ 288 (5) BGB"


@dataclass(frozen=True, slots=True)
class InterestSegment:
    """Days with the same principal and rate."""

    start: date
    end: date  # inclusive
    principal_minor: int
    base_rate: Decimal
    rate: Decimal  # percent per annum

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def as_dict(self) -> dict:
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "days": self.days,
            "principal_minor": self.principal_minor,
            "base_rate": str(self.base_rate),
            "rate": str(self.rate),
        }


@dataclass(frozen=True, slots=True)
class Interest:
    amount_minor: int
    exact_minor: Decimal
    segments: tuple[InterestSegment, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict:
        return {
            "convention": "actual/365, rounded once half-up",
            "exact_minor": str(self.exact_minor),
            "segments": [s.as_dict() for s in self.segments],
        }


def margin(business: bool) -> Decimal:
    return MARGIN_BUSINESS if business else MARGIN_CONSUMER


def principal_on(day: date, amount_minor: int, movements: list[tuple[date, int]]) -> int:
    """Principal at the start of `day`: the amount plus non-charge movements booked before it."""
    return max(0, amount_minor + sum(delta for booked_on, delta in movements if booked_on < day))


def default_interest(
    *,
    amount_minor: int,
    movements: list[tuple[date, int]],
    first_day: date,
    last_day: date,
    business: bool,
    table: BaseRateTable,
) -> Interest:
    """Interest for the days first_day..last_day (inclusive); BaseRateUnknown if a rate is missing.

    `movements` are (value date, signed minor units) of payments, credits, refunds and
    the like (not fees or interest): they change the principal from the next day on.
    """
    if last_day < first_day:
        return Interest(0, Decimal(0))
    breaks = {next_half_year(first_day)}
    while max(breaks) <= last_day:
        breaks.add(next_half_year(max(breaks)))
    breaks |= {booked_on + timedelta(days=1) for booked_on, _ in movements}
    cuts = sorted(b for b in breaks if first_day < b <= last_day)
    segments: list[InterestSegment] = []
    start = first_day
    for end_exclusive in [*cuts, last_day + timedelta(days=1)]:
        base = table.rate_on(start)
        rate = base + margin(business)
        principal = principal_on(start, amount_minor, movements)
        segment = InterestSegment(start, end_exclusive - timedelta(days=1), principal, base, rate)
        if segments and (segments[-1].rate, segments[-1].principal_minor) == (rate, principal):
            previous = segments.pop()
            segment = InterestSegment(previous.start, segment.end, principal, base, rate)
        segments.append(segment)
        start = end_exclusive
    exact = sum(
        (Decimal(s.principal_minor) * s.rate * s.days / (100 * DAYS_PER_YEAR) for s in segments),
        Decimal(0),
    )
    # A negative base rate can push the rate below zero for consumers (2016–2022: −0.88 + 5 > 0, never
    # happened); interest is never negative.
    exact = max(exact, Decimal(0))
    return Interest(int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP)), exact, tuple(segments))


@dataclass(frozen=True, slots=True)
class Charge:
    kind: str  # fee or interest
    amount_minor: int
    ref: str  # external reference suffix, unique per invoice
    label: str  # fee_dunning, fee_flat, interest
    data: dict | None = None


def fees_for_step(
    *,
    step_key: str,
    step_fee_minor: int,
    fee_cap_minor: int,
    in_default: bool,
    business: bool,
    flat_fee_enabled: bool,
    flat_fee_booked: bool,
    currency: str,
    channel: str | None = None,
) -> list[Charge]:
    """The fees a step books; `in_default` means default began before this step's day.

    `step_fee_minor` is the step's fee for the channel it goes out on (`StepRule.fee_for`:
    a letter at most its postage and print, email and SMS 0 unless the merchant says otherwise).
    """
    if not in_default:
        return []
    charges: list[Charge] = []
    flat = FLAT_FEE_MINOR.get(currency)
    if business and flat_fee_enabled and flat:
        if not flat_fee_booked:
            charges.append(Charge("fee", flat, "flatfee", "fee_flat", {"law": FLAT_FEE_LAW, COLLECTION_COST_CREDIT: True}))
        # Dunning costs are credited against the flat fee (§ 288 (5) sentence 3 BGB).
        return charges
    fee = min(step_fee_minor, fee_cap_minor)
    if fee > 0:
        data = {"step": step_key, "cap_minor": fee_cap_minor, **({"channel": channel} if channel else {})}
        charges.append(Charge("fee", fee, f"fee:{step_key}", "fee_dunning", data))
    return charges
