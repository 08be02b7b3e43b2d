"""The dashboard's figures, computed from what Settle records (invoices, ledger, messages, events, cases).

Flask-free: every function takes the SQLAlchemy session, a `Scope` (merchant, period, filters,
today) and returns small dataclasses with integer minor units. Amounts of different currencies
are never added: a scope has exactly one currency. Each figure's one-line explanation for the
page is in `portal.office.dashboard.EXPLANATIONS`; the definitions here are the reference.

Definitions (all dates are calendar dates; "period" is [start, end] inclusive):
- open at day D: invoices issued on or before D whose balance at D (total + ledger entries
  booked on or before D) is above zero, except claims handed over on or before D. Aged by
  days past due at D: not yet due, 0–30, 31–60, 61–90, over 90.
- recovery: invoices due in the period (not cancelled). Recovered principal = per invoice
  the money received so far (payments less refunds, chargebacks, bank returns), at most its total.
  Paid invoices are counted by the last dunning step before payment and by the channel of
  the last reminder sent; days to payment = day paid − due date (nearest-rank median, 90th).
- funnel: dunning messages queued in the period, per step (of its first invoice) and channel: sent; delivered
  (no channel in use reports delivery: shown as not reported); link opened (the debtor
  opened a portal link within 7 days after sending); payment started (on one of its
  invoices within 7 days); paid within 7/14/30 days of sending (all its invoices paid).
- self-service: invoices paid in the period; settled without staff = no staff action on the
  invoice, paid in the portal by card, or under a plan or promise the customer made.
- cases opened in the period, time to the first staff answer, answered within the SLA.
- DSO per month = open at month end ÷ amount invoiced in the month × days of the month.
- handed over in the period: count and balance at handover.
- fees and interest booked in the period; collected = the part on invoices since paid.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import and_, case, exists, func, or_, select

from portal.models import Case, CaseInvoice, CaseNote, Event, Invoice, LedgerEntry, Message, MessageInvoice, Policy

BUCKETS = ("not_due", "0_30", "31_60", "61_90", "90_plus")
RECEIVED_KINDS = ("payment", "refund", "chargeback", "reversal")  # money in, less money back
FUNNEL_WINDOW = timedelta(days=7)
PAID_WITHIN = (7, 14, 30)


@dataclass(frozen=True)
class Scope:
    merchant_id: int
    start: date
    end: date
    today: date
    currency: str
    group: int | None = None  # dunning policy (customer group) id
    channel: str | None = None  # email, sms, letter

    @property
    def as_of(self) -> date:
        return min(self.end, self.today)


def _moment(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=timezone.utc)


def _group_versions(group_id: int):
    """Every version of a customer group (the editor saves versions; the group's id is its first version's)."""
    return select(Policy.id).where(or_(Policy.id == group_id, Policy.lineage_id == group_id))


def _invoice_filter(scope: Scope, inv=Invoice):
    conds = [inv.merchant_id == scope.merchant_id, inv.currency == scope.currency]
    if scope.group is not None:
        conds.append(inv.dunning_policy_id.in_(_group_versions(scope.group)))
    if scope.channel is not None:
        conds.append(exists().where(
            MessageInvoice.invoice_id == inv.id, MessageInvoice.message_id == Message.id,
            Message.purpose == "dunning", Message.status == "sent", Message.channel == scope.channel,
        ))
    return and_(*conds)


def nearest_rank(histogram: dict[int, int], p: float) -> int | None:
    """The p-th percentile by nearest rank (p in 0..1) of values given as {value: how often}: the ceil(p·n)-th smallest."""
    n = sum(histogram.values())
    if not n:
        return None
    rank, seen = max(math.ceil(p * n), 1), 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return value
    return None


def _count(histogram: dict[int, int], value: int) -> None:
    histogram[value] = histogram.get(value, 0) + 1


# --- open amounts and aging ------------------------------------------------------------------------


def bucket_of(days_past_due: int) -> str:
    if days_past_due < 0:
        return "not_due"
    if days_past_due <= 30:
        return "0_30"
    if days_past_due <= 60:
        return "31_60"
    if days_past_due <= 90:
        return "61_90"
    return "90_plus"


@dataclass
class Aging:
    day: date
    amounts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BUCKETS, 0))
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BUCKETS, 0))

    @property
    def total(self) -> int:
        return sum(self.amounts.values())

    @property
    def overdue(self) -> int:
        return self.total - self.amounts["not_due"]


def open_at(session, scope: Scope, day: date) -> Aging:
    """What was open at the end of `day`, by days past due (see the module docstring)."""
    if day >= scope.today:
        return open_now(session, scope, day)
    booked = (
        select(func.coalesce(func.sum(LedgerEntry.amount_minor), 0))
        .where(LedgerEntry.invoice_id == Invoice.id, LedgerEntry.booked_on <= day)
        .correlate(Invoice).scalar_subquery()
    )
    balance = (Invoice.amount_minor + booked).label("balance")
    rows = session.execute(
        select(Invoice.due_date, balance).where(
            _invoice_filter(scope),
            Invoice.issue_date <= day,
            # closed on or before D (paid, cancelled, written off, handed over) means nothing open at D
            or_(Invoice.closed_on.is_(None), Invoice.closed_on > day),
        )
    ).all()
    out = Aging(day)
    for due, amount in rows:
        amount = int(amount)  # PostgreSQL sums are numeric
        if amount <= 0:
            continue
        b = bucket_of((day - due).days)
        out.amounts[b] += amount
        out.counts[b] += 1
    return out


def open_now(session, scope: Scope, day: date) -> Aging:
    """Today's open amounts from the balances the ledger keeps on each invoice (the same figure, one index read)."""
    rows = session.execute(
        select(Invoice.due_date, func.sum(Invoice.open_minor), func.count())
        .where(_invoice_filter(scope), Invoice.status == "open", Invoice.open_minor > 0, Invoice.issue_date <= day)
        .group_by(Invoice.due_date)
    ).all()
    out = Aging(day)
    for due, amount, count in rows:
        b = bucket_of((day - due).days)
        out.amounts[b] += int(amount)
        out.counts[b] += int(count)
    return out


def month_ends(start: date, end: date) -> list[date]:
    """The last day of each month that ends inside [start, end], then `end` itself."""
    days, d = [], date(start.year, start.month, 1)
    while d <= end:
        nxt = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
        last = nxt - timedelta(days=1)
        if start <= last < end:
            days.append(last)
        d = nxt
    days.append(end)
    return days


def aging_development(session, scope: Scope, cache=None) -> list[Aging]:
    """Open amounts by bucket at each month end of the period and at its last day (or today)."""
    points = month_ends(scope.start, scope.as_of)
    if cache is None:
        return [open_at(session, scope, d) for d in points]
    return [cache(scope, d) for d in points]


# --- recovery ----------------------------------------------------------------------------------------


@dataclass
class Recovery:
    due_minor: int = 0
    recovered_minor: int = 0
    invoices: int = 0
    paid_invoices: int = 0
    by_step: dict[str | None, tuple[int, int]] = field(default_factory=dict)  # step → (count, principal)
    by_channel: dict[str | None, tuple[int, int]] = field(default_factory=dict)
    days: dict[int, int] = field(default_factory=dict)  # days from due date to payment → invoices

    @property
    def median_days(self) -> int | None:
        return nearest_rank(self.days, 0.5)

    @property
    def p90_days(self) -> int | None:
        return nearest_rank(self.days, 0.9)

    @property
    def share(self) -> float | None:
        return self.recovered_minor / self.due_minor if self.due_minor else None


def _last_channel():
    """Channel of the last dunning message sent about the invoice (correlated)."""
    return (
        select(Message.channel)
        .join(MessageInvoice, MessageInvoice.message_id == Message.id)
        .where(MessageInvoice.invoice_id == Invoice.id, Message.purpose == "dunning", Message.status == "sent")
        .order_by(Message.sent_at.desc(), Message.id.desc()).limit(1)
        .correlate(Invoice).scalar_subquery()
    )


def recovery(session, scope: Scope) -> Recovery:
    received = (
        select(func.coalesce(-func.sum(LedgerEntry.amount_minor), 0))
        .where(LedgerEntry.invoice_id == Invoice.id, LedgerEntry.kind.in_(RECEIVED_KINDS), LedgerEntry.booked_on <= scope.today)
        .correlate(Invoice).scalar_subquery()
    )
    rows = session.execute(
        select(Invoice.amount_minor, received, Invoice.status, Invoice.dunning_step, _last_channel(), Invoice.due_date,
               Invoice.closed_on)
        .where(_invoice_filter(scope), Invoice.due_date >= scope.start, Invoice.due_date <= scope.end,
               Invoice.status != "cancelled")
    ).all()
    out = Recovery()
    steps: dict = defaultdict(lambda: [0, 0])
    channels: dict = defaultdict(lambda: [0, 0])
    for amount, got, status, step, channel, due, closed in rows:
        amount, got = int(amount), int(got)
        out.invoices += 1
        out.due_minor += amount
        out.recovered_minor += max(0, min(got, amount))
        if status == "paid" and closed is not None and closed <= scope.today:
            out.paid_invoices += 1
            steps[step][0] += 1
            steps[step][1] += amount
            channels[channel][0] += 1
            channels[channel][1] += amount
            _count(out.days, (closed - due).days)
    out.by_step = {k: tuple(v) for k, v in steps.items()}
    out.by_channel = {k: tuple(v) for k, v in channels.items()}
    return out


# --- funnel ------------------------------------------------------------------------------------------


@dataclass
class FunnelRow:
    step: str  # the message's (first) escalation step key
    channel: str
    queued: int = 0
    sent: int = 0
    opened: int = 0
    started: int = 0
    paid: dict[int, int] = field(default_factory=lambda: dict.fromkeys(PAID_WITHIN, 0))


def funnel(session, scope: Scope) -> list[FunnelRow]:
    m = Message
    conds = [m.merchant_id == scope.merchant_id, m.purpose == "dunning",
             m.created_at >= _moment(scope.start), m.created_at < _moment(scope.end + timedelta(days=1))]
    if scope.channel is not None:
        conds.append(m.channel == scope.channel)
    inv_conds = [Invoice.currency == scope.currency]
    if scope.group is not None:
        inv_conds.append(Invoice.dunning_policy_id.in_(_group_versions(scope.group)))
    rows = session.execute(
        select(m.id, MessageInvoice.step, m.channel, m.status, m.sent_at, m.debtor_id, Invoice.id, Invoice.status,
               Invoice.closed_on)
        .join(MessageInvoice, MessageInvoice.message_id == m.id).join(Invoice, Invoice.id == MessageInvoice.invoice_id)
        .where(*conds, *inv_conds).order_by(m.id, MessageInvoice.id)
    ).all()
    messages: dict[int, dict] = {}
    for mid, step, channel, status, sent_at, debtor_id, inv_id, inv_status, closed in rows:
        item = messages.setdefault(mid, {"step": step, "channel": channel, "status": status,
                                         "sent_at": _aware(sent_at), "debtor": debtor_id, "invoices": []})
        item["invoices"].append((inv_id, inv_status, closed))
    debtors = {i["debtor"] for i in messages.values() if i["sent_at"] is not None}
    invoice_ids = {inv for i in messages.values() for inv, _, _ in i["invoices"]}
    opens = _event_times(session, scope, "link.opened", Event.debtor_id, debtors)
    starts = _event_times(session, scope, "payment.started", Event.invoice_id, invoice_ids)
    out: dict[tuple[str, str], FunnelRow] = {}
    for item in messages.values():
        row = out.setdefault((item["step"], item["channel"]), FunnelRow(item["step"], item["channel"]))
        row.queued += 1
        sent = item["sent_at"]
        if item["status"] != "sent" or sent is None:
            continue
        row.sent += 1
        window = sent + FUNNEL_WINDOW
        if any(sent <= t < window for t in opens.get(item["debtor"], ())):
            row.opened += 1
        if any(sent <= t < window for inv, _, _ in item["invoices"] for t in starts.get(inv, ())):
            row.started += 1
        for n in PAID_WITHIN:
            limit = sent.date() + timedelta(days=n)
            if all(status == "paid" and closed is not None and closed <= min(limit, scope.today)
                   for _, status, closed in item["invoices"]):
                row.paid[n] += 1
    return sorted(out.values(), key=lambda r: (r.step, r.channel))


def _aware(moment):
    if moment is None:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _event_times(session, scope: Scope, kind: str, column, keys: set[int]) -> dict[int, list[datetime]]:
    out: dict[int, list[datetime]] = defaultdict(list)
    keys = sorted(k for k in keys if k is not None)
    lo, hi = _moment(scope.start), _moment(scope.end + timedelta(days=1)) + FUNNEL_WINDOW
    for chunk in range(0, len(keys), 5000):
        for key, at in session.execute(
            # by debtor or invoice id only (they are this merchant's): the planner then takes that index
            select(column, Event.occurred_at).where(
                Event.kind == kind, column.in_(keys[chunk:chunk + 5000]),
                Event.occurred_at >= lo, Event.occurred_at < hi)
        ):
            out[key].append(_aware(at))
    return out


# --- self-service and cases --------------------------------------------------------------------------------


@dataclass
class SelfService:
    settled: int = 0
    portal_card: int = 0
    plan: int = 0
    promise: int = 0
    with_staff: int = 0

    @property
    def without_staff(self) -> int:
        return self.portal_card + self.plan + self.promise

    @property
    def share(self) -> float | None:
        return self.without_staff / self.settled if self.settled else None


def self_service(session, scope: Scope) -> SelfService:
    staff = exists().where(Event.invoice_id == Invoice.id, Event.actor.like("user:%"))
    card = exists().where(LedgerEntry.invoice_id == Invoice.id, LedgerEntry.kind == "payment", LedgerEntry.source == "stripe")

    def case_kind(kind):
        return exists().where(CaseInvoice.invoice_id == Invoice.id, Case.id == CaseInvoice.case_id, Case.kind == kind,
                              Case.status.in_(("completed", "active")))

    rows = session.execute(
        select(staff, card, case_kind("plan"), case_kind("promise"))
        .where(_invoice_filter(scope), Invoice.status == "paid", Invoice.closed_on >= scope.start,
               Invoice.closed_on <= scope.end)
    ).all()
    out = SelfService()
    for has_staff, by_card, by_plan, by_promise in rows:
        out.settled += 1
        if has_staff:
            out.with_staff += 1
        elif by_plan:
            out.plan += 1
        elif by_promise:
            out.promise += 1
        elif by_card:
            out.portal_card += 1
    return out


@dataclass
class Cases:
    opened: dict[str, int] = field(default_factory=dict)  # kind → count
    answered: int = 0
    within_sla: int = 0
    waiting: int = 0
    hours: dict[int, int] = field(default_factory=dict)  # hours to the first answer → cases

    @property
    def median_hours(self) -> int | None:
        return nearest_rank(self.hours, 0.5)

    @property
    def p90_hours(self) -> int | None:
        return nearest_rank(self.hours, 0.9)


def cases(session, scope: Scope) -> Cases:
    first_answer = (
        select(func.min(CaseNote.created_at)).where(CaseNote.case_id == Case.id, CaseNote.author == "staff",
                                                    CaseNote.internal.is_(False))
        .correlate(Case).scalar_subquery()
    )
    conds = [Case.merchant_id == scope.merchant_id, Case.created_at >= _moment(scope.start),
             Case.created_at < _moment(scope.end + timedelta(days=1))]
    in_scope = exists().where(CaseInvoice.case_id == Case.id, CaseInvoice.invoice_id == Invoice.id, _invoice_filter(scope))
    rows = session.execute(
        select(Case.kind, Case.status, Case.created_at, Case.sla_due_at, first_answer).where(*conds, in_scope)
    ).all()
    out = Cases()
    for kind, status, created, sla_due, answered in rows:
        out.opened[kind] = out.opened.get(kind, 0) + 1
        if answered is None:
            out.waiting += status in ("open", "countered")  # settled by the customer alone needs no answer
            continue
        out.answered += 1
        created, answered = _aware(created), _aware(answered)
        if sla_due is None or answered <= _aware(sla_due):
            out.within_sla += 1
        _count(out.hours, round((answered - created).total_seconds() / 3600))
    return out


# --- DSO, handover, charges -------------------------------------------------------------------------------


@dataclass
class DsoMonth:
    month: date  # first day
    receivables: int
    sales: int

    @property
    def days(self) -> int:
        nxt = date(self.month.year + (self.month.month == 12), self.month.month % 12 + 1, 1)
        return (nxt - self.month).days

    @property
    def dso(self) -> float | None:
        return round(self.receivables / self.sales * self.days, 1) if self.sales else None


def dso(session, scope: Scope, open_cache=None) -> list[DsoMonth]:
    out = []
    month = date(scope.start.year, scope.start.month, 1)
    while month <= scope.as_of:
        nxt = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
        last = min(nxt - timedelta(days=1), scope.as_of)
        sales = session.execute(
            select(func.coalesce(func.sum(Invoice.amount_minor), 0))
            .where(_invoice_filter(scope), Invoice.issue_date >= month, Invoice.issue_date < nxt)
        ).scalar()
        aging = open_cache(scope, last) if open_cache else open_at(session, scope, last)
        out.append(DsoMonth(month, aging.total, int(sales)))
        month = nxt
    return out


@dataclass
class Handover:
    count: int = 0
    amount_minor: int = 0


def handed_over(session, scope: Scope) -> Handover:
    booked = (
        select(func.coalesce(func.sum(LedgerEntry.amount_minor), 0))
        .where(LedgerEntry.invoice_id == Invoice.id, LedgerEntry.booked_on <= Invoice.closed_on)
        .correlate(Invoice).scalar_subquery()
    )
    count, amount = session.execute(
        select(func.count(), func.coalesce(func.sum(Invoice.amount_minor + booked), 0))
        .where(_invoice_filter(scope), Invoice.status == "handed_over", Invoice.closed_on >= scope.start,
               Invoice.closed_on <= scope.end)
    ).one()
    return Handover(int(count), int(amount))


@dataclass
class Charges:
    fee_charged: int = 0
    fee_collected: int = 0
    interest_charged: int = 0
    interest_collected: int = 0


def charges(session, scope: Scope) -> Charges:
    rows = session.execute(
        select(LedgerEntry.kind, func.sum(LedgerEntry.amount_minor),
               func.sum(case((Invoice.status == "paid", LedgerEntry.amount_minor), else_=0)))
        .join(Invoice, Invoice.id == LedgerEntry.invoice_id)
        .where(_invoice_filter(scope), LedgerEntry.merchant_id == scope.merchant_id, LedgerEntry.kind.in_(("fee", "interest")),
               LedgerEntry.booked_on >= scope.start, LedgerEntry.booked_on <= scope.end)
        .group_by(LedgerEntry.kind)
    ).all()
    out = Charges()
    for kind, charged, collected in rows:
        setattr(out, f"{kind}_charged", int(charged or 0))
        setattr(out, f"{kind}_collected", int(collected or 0))
    return out


# --- everything at once --------------------------------------------------------------------------------------


@dataclass
class Dashboard:
    scope: Scope
    aging: Aging
    development: list[Aging]
    recovery: Recovery
    funnel: list[FunnelRow]
    self_service: SelfService
    cases: Cases
    dso: list[DsoMonth]
    handover: Handover
    charges: Charges


FIGURES = {"recovery": recovery, "funnel": funnel, "self_service": self_service, "cases": cases,
           "handover": handed_over, "charges": charges}


def dashboard(session, scope: Scope, open_cache=None, figures=None) -> Dashboard:
    """Every figure; `open_cache` and `figures` (name, scope) → result let the pre-aggregate answer instead."""
    development = aging_development(session, scope, open_cache)
    figure = figures or (lambda name, s: FIGURES[name](session, s))
    return Dashboard(
        scope=scope, aging=development[-1], development=development, recovery=figure("recovery", scope),
        funnel=figure("funnel", scope), self_service=figure("self_service", scope), cases=figure("cases", scope),
        dso=dso(session, scope, open_cache), handover=figure("handover", scope), charges=figure("charges", scope),
    )
