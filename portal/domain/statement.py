"""What a debtor owes, in the words the portal uses: itemised balances and plain-language status.

Flask-free: takes ledger sums (`portal.ledger.charges`) and `today`, returns small values
the templates turn into sentences ("seit 12 Tagen überfällig").
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from portal.domain.money import Money


@dataclass(frozen=True, slots=True)
class Breakdown:
    """One invoice's balance: principal plus fees and interest, less what was paid or credited."""

    principal: Money  # invoice total, corrected by adjustments
    fees: Money
    interest: Money
    paid: Money  # net money received (payments less refunds, chargebacks and bank returns)
    credited: Money  # credit notes and write-offs
    open: Money

    @property
    def has_charges(self) -> bool:
        return bool(self.fees.minor or self.interest.minor)


def breakdown(amount_minor: int, currency: str, sums: dict[str, int], open_minor: int) -> Breakdown:
    """Itemise an invoice from its ledger sums per kind (signed minor units, as the ledger stores them)."""
    def m(minor: int) -> Money:
        return Money(minor, currency)

    returned = sums.get("refund", 0) + sums.get("chargeback", 0) + sums.get("reversal", 0)
    return Breakdown(
        principal=m(amount_minor + sums.get("adjustment", 0)),
        fees=m(sums.get("fee", 0)),
        interest=m(sums.get("interest", 0)),
        paid=m(-sums.get("payment", 0) - returned),
        credited=m(-sums.get("credit", 0) - sums.get("write_off", 0)),
        open=m(open_minor),
    )


@dataclass(frozen=True, slots=True)
class DueState:
    """Where an invoice stands for the debtor: `kind` picks the sentence, `days` fills it in."""

    kind: str  # not_due, due_today, overdue, paid, closed, paused_dispute, paused_plan, paused_promise
    days: int = 0

    @property
    def is_overdue(self) -> bool:
        return self.kind == "overdue"


def due_state(*, status: str, due_date: date, today: date, paused_reason: str | None = None) -> DueState:
    if status == "paid":
        return DueState("paid")
    if status != "open":
        return DueState("closed")
    if paused_reason in ("dispute", "plan", "promise"):
        return DueState(f"paused_{paused_reason}")
    delta = (today - due_date).days
    if delta > 0:
        return DueState("overdue", delta)
    if delta == 0:
        return DueState("due_today")
    return DueState("not_due", -delta)


def totals(amounts: Iterable[Money]) -> list[Money]:
    """Sum per currency, in order of first appearance (nearly always a single EUR total)."""
    out: dict[str, int] = {}
    for amount in amounts:
        out[amount.currency] = out.get(amount.currency, 0) + amount.minor
    return [Money(minor, currency) for currency, minor in out.items()]
