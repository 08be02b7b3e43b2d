"""Default interest that is never lost: the days a missing base rate held back are charged once it is known.

A dunning step charges interest up to its day, but only as far as the base rate of every
half-year is known (`BaseRateTable.known_through`); `Invoice.interest_through` marks how far
it got. When a rate is entered later (back office, `flask base-rates set`, or a release that
ships it), `catch_up` charges each invoice the days from `interest_through` to its last step
day (`dunning_last_on`) — exactly what the steps would have charged — through the ledger's
dunning path, and moves `interest_through`, so a repeat finds nothing to do.

Claims already handed over to collection get the same interest, up to the handover day, as a
supplement the agency must be told about: the ledger entry is of kind `interest` with
`data["supplement"] == "after_handover"` (open claims: `"rate_entered_late"`); the handover
export selects them by that field (docs/dunning.md, "Interest supplements").
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import func, select

from portal import ledger
from portal.clock import today_for
from portal.domain import charges as law
from portal.domain.base_rate import BaseRateTable
from portal.extensions import db
from portal.models import Debtor, Event, Invoice, LedgerEntry, Merchant
from portal.models.invoice import CHARGE_KINDS

ACTOR = "system:base_rate"
SUPPLEMENT_AFTER_HANDOVER = "after_handover"
SUPPLEMENT_RATE_ENTERED_LATE = "rate_entered_late"
MEMO_AFTER_HANDOVER = "Default interest (§ 288 BGB), supplement after handover"
MEMO_RATE_ENTERED_LATE = "Default interest (§ 288 BGB), charged when the base rate was entered"


@dataclass(frozen=True)
class InterestDue:
    """What a step may charge now: the interest up to `through` and the first half-year still without a rate."""

    interest: law.Interest | None
    through: date | None  # last day charged (None: nothing could be charged)
    missing_half_year: date | None


def interest_due(*, amount_minor: int, movements: list[tuple[date, int]], first_day: date, last_day: date,
                 business: bool, table: BaseRateTable) -> InterestDue:
    """Interest for first_day..last_day as far as the base rates are known; the rest waits for the rate."""
    if last_day < first_day:
        return InterestDue(None, None, None)
    through = table.known_through(first_day, last_day)
    missing = table.first_unknown(first_day, last_day)
    if through is None:
        return InterestDue(None, None, missing)
    interest = law.default_interest(amount_minor=amount_minor, movements=movements, first_day=first_day,
                                    last_day=through, business=business, table=table)
    return InterestDue(interest, through, missing)


@dataclass
class CatchUpResult:
    invoices: int = 0
    amount_minor: int = 0
    after_handover: list[str] = field(default_factory=list)  # invoice numbers of handed-over claims that got a supplement

    def add(self, other: "CatchUpResult") -> None:
        self.invoices += other.invoices
        self.amount_minor += other.amount_minor
        self.after_handover += other.after_handover


def catch_up(merchant: Merchant, table: BaseRateTable, today: date | None = None) -> CatchUpResult:
    """Charge every invoice of `merchant` the interest a missing rate held back, as far as `table` now knows.

    Writes in the caller's transaction (the caller commits): ledger entries through
    `ledger.book_charges`, `interest_through`, one event per invoice.
    """
    today = today or today_for(merchant.timezone)
    result = CatchUpResult()
    start_of_interest = func.coalesce(Invoice.interest_through, Invoice.default_on)
    stmt = (
        select(Invoice.id, Invoice.number, Invoice.debtor_id, Invoice.status, Invoice.currency, Invoice.amount_minor,
               Invoice.default_on, Invoice.interest_through, Invoice.dunning_last_on, Debtor.kind)
        .join(Debtor, Debtor.id == Invoice.debtor_id)
        .where(Invoice.merchant_id == merchant.id, Invoice.status.in_(("open", "handed_over")),
               Invoice.default_on.is_not(None), Invoice.dunning_last_on.is_not(None),
               Invoice.dunning_last_on > start_of_interest)
        .order_by(Invoice.id)
    )
    if db.engine.dialect.name == "postgresql":
        stmt = stmt.with_for_update(of=Invoice)  # a dunning batch or payment on these invoices waits, or we wait for it
    candidates = db.session.execute(stmt).all()
    if not candidates:
        return result
    movements: dict[int, list[tuple[date, int]]] = {inv.id: [] for inv in candidates}
    from portal.dunning import bulk

    for row in db.session.execute(
        select(LedgerEntry.invoice_id, LedgerEntry.booked_on, LedgerEntry.amount_minor)
        .where(bulk.among(LedgerEntry.invoice_id, list(movements)), LedgerEntry.kind.not_in(CHARGE_KINDS))
    ):
        movements[row.invoice_id].append((row.booked_on, row.amount_minor))
    charges, updates, events = [], [], []
    for inv in candidates:
        first_day = max(inv.default_on, inv.interest_through or inv.default_on) + timedelta(days=1)
        due = interest_due(amount_minor=inv.amount_minor, movements=movements[inv.id], first_day=first_day,
                           last_day=min(inv.dunning_last_on, today), business=inv.kind == "business", table=table)
        if due.through is None:
            continue
        handed_over = inv.status == "handed_over"
        supplement = SUPPLEMENT_AFTER_HANDOVER if handed_over else SUPPLEMENT_RATE_ENTERED_LATE
        updates.append({"id": inv.id, "interest_through": due.through})
        result.invoices += 1
        amount = due.interest.amount_minor
        if amount > 0:
            charges.append({
                "merchant_id": merchant.id, "invoice_id": inv.id, "debtor_id": inv.debtor_id, "kind": "interest",
                "amount_minor": amount, "currency": inv.currency,
                "external_ref": f"interest:{inv.id}:{first_day.isoformat()}..{due.through.isoformat()}",
                "booked_on": today, "memo": MEMO_AFTER_HANDOVER if handed_over else MEMO_RATE_ENTERED_LATE,
                "data": {"label": "interest", "supplement": supplement, **due.interest.as_dict()},
            })
            result.amount_minor += amount
            if handed_over:
                result.after_handover.append(inv.number)
        events.append({
            "merchant_id": merchant.id, "invoice_id": inv.id, "debtor_id": inv.debtor_id, "kind": "dunning.interest_caught_up",
            "actor": ACTOR, "data": {"amount_minor": amount, "currency": inv.currency, "from": first_day.isoformat(),
                                     "to": due.through.isoformat(), "supplement": supplement},
        })
    ledger.book_charges(charges, actor=ACTOR)
    bulk.update_rows(Invoice.__table__, updates)
    bulk.insert_rows(Event.__table__, events)
    if result.after_handover:
        from portal.messaging import outbox

        numbers = sorted(result.after_handover)
        outbox.enqueue_staff_notice(
            merchant=merchant, template="staff_interest_supplement",
            dedupe_key=f"staff:interest_supplement:{merchant.id}:{today.isoformat()}:{','.join(numbers)[:120]}",
            context={"today": today.isoformat(), "values": numbers},
        )
    return result


def catch_up_all(table: BaseRateTable, today: date | None = None) -> CatchUpResult:
    """`catch_up` for every merchant (the base rate is the same for all)."""
    total = CatchUpResult()
    for merchant in db.session.execute(select(Merchant).order_by(Merchant.id)).scalars():
        total.add(catch_up(merchant, table, today))
    return total
