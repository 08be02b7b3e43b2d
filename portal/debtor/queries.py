"""What the portal reads for a debtor; every query is scoped to the debtor and its merchant."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, timedelta

from flask import abort
from sqlalchemy import and_, bindparam, case, func, literal, or_, select
from sqlalchemy.orm import joinedload, selectinload

from portal.domain.money import Money
from portal.domain.statement import Breakdown, DueState, breakdown, due_state, preselect, totals
from portal.extensions import db
from portal.ledger import display_kind, itemised
from portal.models.case import OPEN_STATUSES, STANDING_STATUSES
from portal.models import Case, CaseInvoice, Debtor, Invoice, InvoiceStatus, LedgerEntry, Message, MessageInvoice, MessageStatus
from portal.models.types import utcnow


@dataclass(frozen=True)
class InvoiceView:
    invoice: Invoice
    balance: Breakdown
    state: DueState


def _view(invoice: Invoice, today: date) -> InvoiceView:
    return InvoiceView(
        invoice=invoice,
        balance=breakdown(invoice.amount_minor, invoice.currency, itemised(invoice), invoice.open_minor),
        state=due_state(status=invoice.status, due_date=invoice.due_date, today=today, paused_reason=invoice.paused_reason),
    )


def open_invoices(debtor: Debtor, today: date, *, handed_over: bool = False) -> list[InvoiceView]:
    """Every open invoice of this debtor at this merchant, oldest due date first (`handed_over`: and the
    claims handed over to collection, for paying them when the shop still collects)."""
    statuses = (InvoiceStatus.OPEN.value, InvoiceStatus.HANDED_OVER.value) if handed_over else (InvoiceStatus.OPEN.value,)
    stmt = (
        select(Invoice)
        .where(
            Invoice.debtor_id == debtor.id,
            Invoice.merchant_id == debtor.merchant_id,
            Invoice.status.in_(statuses),
            Invoice.open_minor > 0,
        )
        .options(selectinload(Invoice.entries))
        .order_by(Invoice.due_date, Invoice.id)
    )
    return [_view(invoice, today) for invoice in db.session.scalars(stmt)]


@dataclass(frozen=True, slots=True)
class InvoiceHeading:
    """The few invoice fields the overview shows (it needs no ORM object, and this is hashable)."""

    id: int
    number: str
    due_date: date


# The flat fee apart from the dunning fees (portal.ledger.is_flat_fee, in SQL).
_DISPLAY_KIND = case(
    (and_(LedgerEntry.kind == "fee", LedgerEntry.external_ref.like("fee:%:flatfee")), literal("flat_fee")),
    else_=LedgerEntry.kind,
)

# Built once (constructing a SELECT costs more Python than running this one on SQLite) and run
# on the session's connection, in its transaction, without the ORM's result machinery.
_OVERVIEW_INVOICES = (
    select(
        Invoice.id, Invoice.number, Invoice.due_date, Invoice.currency, Invoice.amount_minor,
        Invoice.open_minor, Invoice.status, Invoice.paused_reason,
        _DISPLAY_KIND, func.sum(LedgerEntry.amount_minor),
    )
    .outerjoin(LedgerEntry, LedgerEntry.invoice_id == Invoice.id)
    .where(
        Invoice.debtor_id == bindparam("debtor_id"),
        Invoice.merchant_id == bindparam("merchant_id"),
        Invoice.status == InvoiceStatus.OPEN.value,
        Invoice.open_minor > 0,
    )
    .group_by(Invoice.id, _DISPLAY_KIND)
    .order_by(Invoice.due_date, Invoice.id)
)


# Everything the overview lists about invoices, in one round trip: the open ones (with their ledger sums
# per kind), the claims handed over to collection that still owe something, and those holding a credit.
_OVERVIEW_ALL = (
    select(
        Invoice.id, Invoice.number, Invoice.due_date, Invoice.currency, Invoice.amount_minor,
        Invoice.open_minor, Invoice.status, Invoice.paused_reason, Invoice.closed_on,
        _DISPLAY_KIND, func.sum(LedgerEntry.amount_minor),
    )
    .outerjoin(LedgerEntry, LedgerEntry.invoice_id == Invoice.id)
    .where(
        Invoice.debtor_id == bindparam("debtor_id"),
        Invoice.merchant_id == bindparam("merchant_id"),
        or_(
            Invoice.open_minor < 0,
            and_(Invoice.status.in_((InvoiceStatus.OPEN.value, InvoiceStatus.HANDED_OVER.value)), Invoice.open_minor > 0),
        ),
    )
    .group_by(Invoice.id, _DISPLAY_KIND)
    .order_by(Invoice.due_date, Invoice.id)
)


@dataclass(frozen=True, slots=True)
class OverviewData:
    invoices: tuple  # InvoiceView of each open invoice, oldest due date first
    handed_over: tuple  # HandedOverClaim of each claim with the collection agency that still owes
    credits: tuple  # (number, Money) of each invoice holding a credit (the credit as a positive amount)


def overview_data(debtor: Debtor, today: date) -> OverviewData:
    """What the overview lists, read in one narrow query (plain rows, hashable for the page cache):
    the same as `overview_invoices`, `handed_over_claims` and `payments.credits.debtor_credits`."""
    params = {"debtor_id": debtor.id, "merchant_id": debtor.merchant_id}
    rows: dict[int, tuple] = {}
    sums: dict[int, dict[str, int]] = {}
    for row in db.session.connection().execute(_OVERVIEW_ALL, params):
        inv_id, kind, total = row[0], row[9], row[10]
        if inv_id not in rows:
            rows[inv_id] = tuple(row[1:9])
            sums[inv_id] = {}
        if kind is not None:
            sums[inv_id][kind] = int(total)
    views, handed, credits = [], [], []
    for inv_id, (number, due_date, currency, amount_minor, open_minor, status, paused, closed_on) in rows.items():
        if open_minor < 0:
            credits.append((number, Money(-open_minor, currency)))
        elif status == InvoiceStatus.OPEN.value:
            views.append(InvoiceView(
                invoice=InvoiceHeading(inv_id, number, due_date),
                balance=breakdown(amount_minor, currency, sums[inv_id], open_minor),
                state=due_state(status=status, due_date=due_date, today=today, paused_reason=paused),
            ))
        else:
            handed.append(HandedOverClaim(inv_id, number, Money(open_minor, currency), closed_on))
    return OverviewData(tuple(views), tuple(handed), tuple(credits))


def overview_invoices(debtor: Debtor, today: date) -> tuple[InvoiceView, ...]:
    """What `open_invoices` returns, for the overview, read in one narrow query.

    The invoices and their ledger sums per kind come back together (GROUP BY invoice and
    kind), as plain rows: no ORM objects, no second query for the entries. The result is
    hashable, so the overview's page cache can use it as part of its key.
    """
    params = {"debtor_id": debtor.id, "merchant_id": debtor.merchant_id}
    rows: dict[int, tuple] = {}
    sums: dict[int, dict[str, int]] = {}
    for row in db.session.connection().execute(_OVERVIEW_INVOICES, params):
        inv_id, kind, total = row[0], row[8], row[9]
        if inv_id not in rows:
            rows[inv_id] = tuple(row[1:8])  # number, due_date, currency, amount_minor, open_minor, status, paused
            sums[inv_id] = {}
        if kind is not None:
            sums[inv_id][kind] = int(total)
    return tuple(
        InvoiceView(
            invoice=InvoiceHeading(inv_id, number, due_date),
            balance=breakdown(amount_minor, currency, sums[inv_id], open_minor),
            state=due_state(status=status, due_date=due_date, today=today, paused_reason=paused),
        )
        for inv_id, (number, due_date, currency, amount_minor, open_minor, status, paused) in rows.items()
    )


@dataclass(frozen=True, slots=True)
class HandedOverClaim:
    """A claim handed over to the collection agency, as the portal shows it (hashable, for the page cache)."""

    id: int
    number: str
    open: Money
    handed_over_on: date | None


def handed_over_claims(debtor: Debtor) -> tuple[HandedOverClaim, ...]:
    """This debtor's claims with the collection agency that still owe something, oldest first."""
    rows = db.session.execute(
        select(Invoice.id, Invoice.number, Invoice.open_minor, Invoice.currency, Invoice.closed_on).where(
            Invoice.debtor_id == debtor.id, Invoice.merchant_id == debtor.merchant_id,
            Invoice.status == InvoiceStatus.HANDED_OVER.value, Invoice.open_minor > 0,
        ).order_by(Invoice.due_date, Invoice.id)
    ).all()
    return tuple(HandedOverClaim(i, number, Money(open_minor, currency), closed_on) for i, number, open_minor, currency, closed_on in rows)


_REQUESTED_PLANS = (
    select(CaseInvoice.invoice_id)
    .join(Case, Case.id == CaseInvoice.case_id)
    .where(
        Case.debtor_id == bindparam("debtor_id"), Case.merchant_id == bindparam("merchant_id"),
        Case.kind == "plan", Case.status.in_(OPEN_STATUSES),
    )
)


def with_requested_plans(debtor: Debtor, views, cases=None):
    """The views, with "installment plan requested" for invoices whose plan the shop has not agreed yet.

    Escalation pauses as soon as a plan is requested, so the invoice's own state says
    "plan"; only an active plan is "being paid in installments". `cases`: the debtor's case
    headings when the caller has them (no query at all when none is a requested plan).
    """
    if cases is not None and not any(c.kind == "plan" and c.status in OPEN_STATUSES for c in cases):
        return views
    ids = set(db.session.connection().execute(
        _REQUESTED_PLANS, {"debtor_id": debtor.id, "merchant_id": debtor.merchant_id}).scalars())
    if not ids:
        return views
    out = [replace(v, state=DueState("paused_plan_requested")) if v.invoice.id in ids and v.state.kind == "paused_plan" else v
           for v in views]
    return tuple(out) if isinstance(views, tuple) else out


# Built once, like the overview's queries: constructing the statement cost more than running it.
_INVOICE_OF = (
    select(Invoice)
    .where(Invoice.id == bindparam("invoice_id"), Invoice.debtor_id == bindparam("debtor_id"),
           Invoice.merchant_id == bindparam("merchant_id"))
    .options(joinedload(Invoice.entries))  # one round trip: an invoice has a handful of entries
)


def invoice_of(debtor: Debtor, invoice_id: int, today: date) -> InvoiceView:
    """One invoice of this debtor (any status); 404 for anyone else's."""
    invoice = db.session.scalars(
        _INVOICE_OF, {"invoice_id": invoice_id, "debtor_id": debtor.id, "merchant_id": debtor.merchant_id}
    ).unique().one_or_none()
    if invoice is None:
        abort(404)
    return _view(invoice, today)


def preselected(views: Iterable[InvoiceView], asked: frozenset[int] | None) -> list[InvoiceView]:
    """The invoices ticked at first: what the message behind the link asked for, else the due ones
    (`portal.domain.statement.preselect`)."""
    views = list(views)
    ids = set(preselect(((v.invoice.id, v.state) for v in views), asked))
    return [v for v in views if v.invoice.id in ids]


def selected(views: list[InvoiceView], ids: Iterable[int], *, default: list[InvoiceView] | None = None) -> list[InvoiceView]:
    """The chosen ones among `views` (ids of anything else are ignored); `default` when given
    and nothing valid was chosen (the first visit of the payment page)."""
    wanted = set(ids)
    chosen = [v for v in views if v.invoice.id in wanted]
    return chosen if chosen or default is None else list(default)


def total_of(views: Iterable[InvoiceView]) -> list[Money]:
    return totals(v.balance.open for v in views)


@dataclass(frozen=True)
class TimelineItem:
    on: date
    kind: str  # issued, due, reminder, payment, fee, interest, credit, refund, …
    channel: str | None = None
    subject: str | None = None
    amount: Money | None = None
    method: str | None = None  # for payments: card, bank, shop
    periods: tuple = ()  # for interest: (first day, last day, rate, base rate) of each period as booked


PAYMENT_METHODS = {"stripe": "card", "bank": "bank", "api": "shop"}


def paid_by(invoice: Invoice) -> str | None:
    """How the last payment on this invoice arrived (card, bank, shop), for "paid on … by …"."""
    payments = [e for e in invoice.entries if e.kind == "payment"]
    if not payments:
        return None
    last = max(payments, key=lambda e: (e.booked_on, e.id or 0))
    return PAYMENT_METHODS.get(last.source)


def _periods(entry: LedgerEntry) -> tuple:
    return tuple((date.fromisoformat(s["from"]), date.fromisoformat(s["to"]), s["rate"], s.get("base_rate"))
                 for s in (entry.data or {}).get("segments") or ())


# The messages sent about one invoice, as the history lists them (plain rows, statement built once).
_SENT_MESSAGES = (
    select(Message.sent_at, Message.created_at, Message.purpose, Message.channel, Message.subject)
    .join(MessageInvoice, MessageInvoice.message_id == Message.id)
    .where(
        MessageInvoice.invoice_id == bindparam("invoice_id"),
        Message.debtor_id == bindparam("debtor_id"),
        Message.merchant_id == bindparam("merchant_id"),
        Message.status == MessageStatus.SENT.value,
    )
    .order_by(Message.sent_at)
)


def timeline(debtor: Debtor, view: InvoiceView) -> list[TimelineItem]:
    """Invoice issued and due, reminders sent, and every booking, in date order."""
    invoice = view.invoice
    items = [TimelineItem(invoice.issue_date, "issued"), TimelineItem(invoice.due_date, "due")]
    sent = db.session.connection().execute(
        _SENT_MESSAGES, {"invoice_id": invoice.id, "debtor_id": debtor.id, "merchant_id": debtor.merchant_id})
    for sent_at, created_at, purpose, channel, subject in sent:
        when = (sent_at or created_at).date()
        items.append(TimelineItem(when, "reminder" if purpose == "dunning" else "message", channel, subject))
    entry: LedgerEntry
    for entry in invoice.entries:
        items.append(TimelineItem(entry.booked_on, display_kind(entry), amount=Money(abs(entry.amount_minor), entry.currency),
                                  method=PAYMENT_METHODS.get(entry.source) if entry.kind == "payment" else None,
                                  periods=_periods(entry) if entry.kind == "interest" else ()))
    order = {"issued": 0, "due": 2}
    return sorted(items, key=lambda i: (i.on, order.get(i.kind, 1)))


@dataclass(frozen=True, slots=True)
class CaseHeading:
    """The fields of a case the overview lists."""

    id: int
    kind: str
    status: str


_CASE_HEADINGS = (
    select(Case.id, Case.kind, Case.status)
    .where(
        Case.debtor_id == bindparam("debtor_id"), Case.merchant_id == bindparam("merchant_id"),
        or_(Case.status.in_(STANDING_STATUSES), Case.closed_at >= bindparam("closed_since")),
    )
    .order_by(Case.id.desc())
)


def case_headings(debtor) -> tuple[CaseHeading, ...]:
    """The debtor's cases that still matter, newest first: standing ones and those closed in the last 60 days."""
    rows = db.session.connection().execute(_CASE_HEADINGS, {
        "debtor_id": debtor.id, "merchant_id": debtor.merchant_id, "closed_since": utcnow() - timedelta(days=60),
    })
    return tuple(CaseHeading(*row) for row in rows)
