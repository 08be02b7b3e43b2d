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
    fees: Money  # dunning fees (not the flat fee)
    interest: Money
    paid: Money  # net money received (payments less refunds, chargebacks and bank returns)
    credited: Money  # credit notes and write-offs
    open: Money
    flat_fee: Money | None = None  # § 288 (5) BGB, "Verzugspauschale": never a dunning fee

    @property
    def has_charges(self) -> bool:
        return bool(self.fees.minor or self.interest.minor or (self.flat_fee and self.flat_fee.minor))


def breakdown(amount_minor: int, currency: str, sums: dict[str, int], open_minor: int) -> Breakdown:
    """Itemise an invoice from its ledger sums per kind (signed minor units, as the ledger stores them;
    the flat fee under "flat_fee", apart from the dunning fees, as `portal.ledger.itemised` gives them)."""
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
        flat_fee=m(sums.get("flat_fee", 0)),
    )


@dataclass(frozen=True, slots=True)
class DueState:
    """Where an invoice stands for the debtor: `kind` picks the sentence, `days` fills it in."""

    kind: str  # not_due, due_today, overdue, paid, closed, paused_dispute, paused_plan, paused_promise,
    #            paused_plan_requested (set by the portal: a plan asked for, not yet agreed)
    days: int = 0

    @property
    def is_overdue(self) -> bool:
        return self.kind == "overdue"


def due_state(*, status: str, due_date: date, today: date, paused_reason: str | None = None) -> DueState:
    if status == "paid":
        return DueState("paid")
    if status == "handed_over":
        return DueState("handed_over")  # with the collection agency: never shown as settled
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


PAYABLE_NOW = ("overdue", "due_today")


def preselect(states: Iterable[tuple[int, DueState]], asked: frozenset[int] | None) -> list[int]:
    """The invoices the portal ticks for the debtor at first (pay, plan, promise and dispute forms alike).

    Exactly what the message behind the debtor's link asked them to pay (`asked`; of those,
    the ones still open and not on hold), so the amount on the page is the amount in the
    message. Without a message, or when none of its invoices is still payable: the invoices
    that are due. A not-yet-due invoice is listed but never ticked unless the message itself
    asked for it (a reminder before the due date). Invoices on hold (dispute, plan, promise)
    are never ticked: a request about one invoice concerns only that one.
    """
    states = [(invoice_id, state) for invoice_id, state in states if not state.kind.startswith("paused")]
    if asked:
        named = [invoice_id for invoice_id, _ in states if invoice_id in asked]
        if named:
            return named
    return [invoice_id for invoice_id, state in states if state.kind in PAYABLE_NOW]
