"""The pre-aggregate behind the dashboard: figures per past day, kept correct when things arrive late.

Two caches, both per merchant, day and filter (currency, customer group, channel):
- `analytics_open_day`: what was open at the end of a day, by days past due (aging, its
  development, DSO);
- `analytics_day_figure`: each additive figure's share of one day, anchored on the day its
  records belong to: recovery on the due date, the funnel on the day a message was queued,
  self-service and handover on the day an invoice was closed, cases on the day they were
  opened, fees and interest on their booking date. A period's figure is the sum of its days.

Only past days are cached; today is always computed live.

Late changes: before answering, `refresh` reads the rows written since its last look (ledger
entries, invoices, messages, events, cases, case notes; by id) and deletes the cached days
they can change: for a booking, its booking date and its invoice's issue, due and closing
days and the days of that invoice's messages; for a new message its day; for an event about
an invoice that invoice's days; for a link opening the days of the debtor's dunning messages
sent in the seven days before it (the funnel's window); events about neither (a sign-in, a
settings change) change no figure; for a case or a case note the
day the case was opened; for open amounts every day from the earliest booking, issue date or
closing day of a touched invoice on (a handover books nothing, but it ends what is open from
the day of the run that made it, which may lie in the past). A payment imported today with a value date three weeks ago therefore drops exactly the
days it changes; the next request computes them again from the records. The ids looked at
lag five minutes (`pending`), so a transaction that commits a lower id after a higher one
(PostgreSQL hands out ids before commit) is still seen. Nothing here commits.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from sqlalchemy import case, delete, func, select

from portal.analytics import queries
from portal.models import Case, CaseInvoice, CaseNote, Event, Invoice, LedgerEntry, Message, MessageInvoice
from portal.models.analytics import DayFigure, OpenDay, Watermark
from portal.models.types import utcnow

LAG = timedelta(minutes=5)
LIVE_DAYS = 1  # today is never cached
SOURCES = {"ledger_entry": LedgerEntry, "invoice": Invoice, "message": Message, "event": Event, "support_case": Case,
           "case_note": CaseNote}


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _day(value) -> date | None:
    if value is None:
        return None
    return _aware(value).date() if isinstance(value, datetime) else value


def _invoice_days(session, merchant_id: int, invoice_ids: set[int]) -> tuple[set[date], set[date]]:
    """The days the figures of these invoices are anchored on, and the days they were closed on."""
    days: set[date] = set()
    closed: set[date] = set()
    ids = sorted(invoice_ids)
    for start in range(0, len(ids), 1000):
        chunk = ids[start:start + 1000]
        for row in session.execute(select(Invoice.issue_date, Invoice.due_date, Invoice.closed_on)
                                   .where(Invoice.merchant_id == merchant_id, Invoice.id.in_(chunk))):
            days.update(d for d in row if d is not None)
            if row.closed_on is not None:
                closed.add(row.closed_on)
        days.update(_day(d) for (d,) in session.execute(
            select(Message.created_at).join(MessageInvoice, MessageInvoice.message_id == Message.id)
            .where(MessageInvoice.invoice_id.in_(chunk))))
    return days, closed


def _opened_days(session, merchant_id: int, opened: list[tuple[int, datetime]]) -> set[date]:
    """Days of the dunning messages whose funnel window (sent, 7 days) holds one of these link openings."""
    days: set[date] = set()
    if not opened:
        return days
    by_debtor: dict[int, list[datetime]] = {}
    for debtor_id, at in opened:
        by_debtor.setdefault(debtor_id, []).append(at)
    earliest = min(at for _, at in opened) - queries.FUNNEL_WINDOW
    ids = sorted(by_debtor)
    for start in range(0, len(ids), 1000):
        for created, sent, debtor_id in session.execute(
                select(Message.created_at, Message.sent_at, Message.debtor_id).where(
                    Message.merchant_id == merchant_id, Message.debtor_id.in_(ids[start:start + 1000]),
                    Message.purpose == "dunning", Message.sent_at >= earliest)):
            sent = _aware(sent)
            if any(sent <= at < sent + queries.FUNNEL_WINDOW for at in by_debtor[debtor_id]):
                days.add(_day(created))
    return days


def refresh(session, merchant_id: int) -> tuple[date | None, set[date]]:
    """Drop cached days that rows written since the last look change; returns (first open day dropped, figure days dropped)."""
    mark = session.get(Watermark, merchant_id)
    top = {name: session.execute(select(func.coalesce(func.max(model.id), 0))).scalar() for name, model in SOURCES.items()}
    now = utcnow()
    if mark is None:
        session.add(Watermark(merchant_id=merchant_id, marks=top, pending=top, pending_at=now, currencies=None))
        session.execute(delete(OpenDay).where(OpenDay.merchant_id == merchant_id))
        session.execute(delete(DayFigure).where(DayFigure.merchant_id == merchant_id))
        return None, set()
    seen = mark.marks
    m = merchant_id
    touched: set[int] = set()
    days: set[date] = set()
    open_from: list[date] = []
    for booked, invoice_id in session.execute(select(LedgerEntry.booked_on, LedgerEntry.invoice_id).where(
            LedgerEntry.id > seen.get("ledger_entry", 0), LedgerEntry.merchant_id == m)):
        days.add(booked)
        open_from.append(booked)
        touched.add(invoice_id)
    for invoice_id, issued in session.execute(select(Invoice.id, Invoice.issue_date).where(
            Invoice.id > seen.get("invoice", 0), Invoice.merchant_id == m)):
        touched.add(invoice_id)
        open_from.append(issued)
        mark.currencies = None  # a new invoice may bring a currency or change which has the most
    for created, invoice_id in session.execute(
            select(Message.created_at, MessageInvoice.invoice_id).join(MessageInvoice, MessageInvoice.message_id == Message.id)
            .where(Message.id > seen.get("message", 0), Message.merchant_id == m)):
        days.add(_day(created))
        touched.add(invoice_id)
    opened: list[tuple[int, datetime]] = []
    for at, invoice_id, debtor_id, kind in session.execute(select(Event.occurred_at, Event.invoice_id, Event.debtor_id, Event.kind)
                                                           .where(Event.id > seen.get("event", 0), Event.merchant_id == m)):
        if invoice_id is not None:  # a payment started, a message sent, a staff action: that invoice's days
            touched.add(invoice_id)
        elif kind == "link.opened" and debtor_id is not None:  # the funnel of the messages sent in the 7 days before
            opened.append((debtor_id, _aware(at)))
    days |= _opened_days(session, m, opened)
    case_ids = set(session.execute(select(Case.id).where(Case.id > seen.get("support_case", 0), Case.merchant_id == m)).scalars())
    case_ids |= set(session.execute(select(CaseNote.case_id).join(Case, Case.id == CaseNote.case_id).where(
        CaseNote.id > seen.get("case_note", 0), Case.merchant_id == m)).scalars())
    if case_ids:
        days.update(_day(d) for d in session.execute(select(Case.created_at).where(Case.id.in_(case_ids))).scalars())
        touched |= set(session.execute(select(CaseInvoice.invoice_id).where(CaseInvoice.case_id.in_(case_ids))).scalars())
    invoice_days, closed_days = _invoice_days(session, m, touched)
    days |= invoice_days
    # A claim closed without a booking (a handover, dated by the run that made it) leaves the open amounts from that day on.
    open_from.extend(closed_days)
    days.discard(None)
    if days:
        listed = sorted(days)
        for start in range(0, len(listed), 500):
            session.execute(delete(DayFigure).where(DayFigure.merchant_id == m, DayFigure.day.in_(listed[start:start + 500])))
    first_open = min(open_from, default=None)
    if first_open is not None:
        session.execute(delete(OpenDay).where(OpenDay.merchant_id == m, OpenDay.day >= first_open))
    if now - _aware(mark.pending_at) >= LAG:  # what was the top five minutes ago is settled now
        mark.marks, mark.pending, mark.pending_at = dict(mark.pending), top, now
    return first_open, days


def currencies(session, merchant_id: int) -> list[str]:
    """The merchant's invoice currencies, most invoices first; on a tie the euro (Settle serves German shops), then by
    code, so the default is stable. Counted again only after new invoices arrived (call `refresh` first)."""
    mark = session.get(Watermark, merchant_id)
    if mark is not None and mark.currencies is not None:
        return list(mark.currencies)
    found = session.execute(
        select(Invoice.currency).where(Invoice.merchant_id == merchant_id).group_by(Invoice.currency)
        .order_by(func.count().desc(), case((Invoice.currency == "EUR", 0), else_=1), Invoice.currency)
    ).scalars().all()
    if mark is not None:
        mark.currencies = list(found)
    return list(found)


class Cache:
    """What the dashboard asks the pre-aggregate: `open_on(scope, day)` and `figure(name, scope)`."""

    def __init__(self, session):
        self.session = session
        self.refreshed: set[int] = set()
        self.memo: dict = {}

    def _refresh(self, merchant_id: int) -> None:
        if merchant_id not in self.refreshed:
            refresh(self.session, merchant_id)
            self.refreshed.add(merchant_id)

    def currencies(self, merchant_id: int) -> list[str]:
        self._refresh(merchant_id)
        return currencies(self.session, merchant_id)

    @staticmethod
    def _filters(scope: queries.Scope) -> tuple:
        return scope.currency, scope.group or 0, scope.channel or ""

    def _cacheable(self, scope: queries.Scope, day: date) -> bool:
        return day <= scope.today - timedelta(days=LIVE_DAYS)

    def open_on(self, scope: queries.Scope, day: date) -> queries.Aging:
        key = ("open", scope.merchant_id, day, *self._filters(scope))
        if key in self.memo:
            return self.memo[key]
        if not self._cacheable(scope, day):
            self.memo[key] = queries.open_at(self.session, scope, day)
            return self.memo[key]
        self._refresh(scope.merchant_id)
        currency, group, channel = self._filters(scope)
        rows = self.session.execute(select(OpenDay).where(
            OpenDay.merchant_id == scope.merchant_id, OpenDay.day == day, OpenDay.currency == currency,
            OpenDay.group_id == group, OpenDay.channel == channel)).scalars().all()
        if rows:
            aging = queries.Aging(day)
            for row in rows:
                aging.amounts[row.bucket], aging.counts[row.bucket] = row.amount_minor, row.invoices
        else:
            aging = queries.open_at(self.session, scope, day)
            self.session.add_all(OpenDay(merchant_id=scope.merchant_id, day=day, currency=currency, group_id=group,
                                         channel=channel, bucket=b, amount_minor=aging.amounts[b], invoices=aging.counts[b])
                                 for b in queries.BUCKETS)
            self.session.flush()
        self.memo[key] = aging
        return aging

    def figure(self, name: str, scope: queries.Scope):
        """The figure over the period: cached days summed with the days computed now (and stored)."""
        compute, codec = queries.FIGURES[name], CODECS[name]
        self._refresh(scope.merchant_id)
        currency, group, channel = self._filters(scope)
        last_cached = min(scope.end, scope.today - timedelta(days=LIVE_DAYS))
        stored = {row.day: row.data for row in self.session.execute(select(DayFigure).where(
            DayFigure.merchant_id == scope.merchant_id, DayFigure.figure == name, DayFigure.currency == currency,
            DayFigure.group_id == group, DayFigure.channel == channel,
            DayFigure.day >= scope.start, DayFigure.day <= last_cached)).scalars()}
        parts = []
        day = scope.start
        while day <= last_cached:
            if day in stored:
                parts.append(codec.load(stored[day]))
            else:
                result = compute(self.session, _one_day(scope, day))
                parts.append(result)
                self.session.add(DayFigure(merchant_id=scope.merchant_id, figure=name, day=day, currency=currency,
                                           group_id=group, channel=channel, data=codec.dump(result)))
            day += timedelta(days=1)
        if day <= scope.end:  # the live days: computed together, never stored
            parts.append(compute(self.session, _between(scope, day, scope.end)))
        self.session.flush()
        return codec.merge(parts)


def _one_day(scope: queries.Scope, day: date) -> queries.Scope:
    return _between(scope, day, day)


def _between(scope: queries.Scope, start: date, end: date) -> queries.Scope:
    return queries.Scope(merchant_id=scope.merchant_id, start=start, end=end, today=scope.today, currency=scope.currency,
                         group=scope.group, channel=scope.channel)


# --- how each figure's day is stored and how days add up --------------------------------------------------------


def _pairs(mapping: dict) -> list:
    return [[k, *v] if isinstance(v, tuple) else [k, v] for k, v in mapping.items()]


def _add_hist(into: dict, pairs) -> None:
    for value, count in pairs:
        into[int(value)] = into.get(int(value), 0) + count


class RecoveryCodec:
    @staticmethod
    def dump(r: queries.Recovery):
        return {"due": r.due_minor, "got": r.recovered_minor, "n": r.invoices, "paid": r.paid_invoices,
                "steps": _pairs(r.by_step), "channels": _pairs(r.by_channel), "days": _pairs(r.days)}

    @staticmethod
    def load(d) -> queries.Recovery:
        return queries.Recovery(due_minor=d["due"], recovered_minor=d["got"], invoices=d["n"], paid_invoices=d["paid"],
                                by_step={k: (c, a) for k, c, a in d["steps"]}, by_channel={k: (c, a) for k, c, a in d["channels"]},
                                days={int(k): v for k, v in d["days"]})

    @staticmethod
    def merge(parts) -> queries.Recovery:
        out = queries.Recovery()
        for p in parts:
            out.due_minor += p.due_minor
            out.recovered_minor += p.recovered_minor
            out.invoices += p.invoices
            out.paid_invoices += p.paid_invoices
            for target, source in ((out.by_step, p.by_step), (out.by_channel, p.by_channel)):
                for k, (c, a) in source.items():
                    old = target.get(k, (0, 0))
                    target[k] = (old[0] + c, old[1] + a)
            _add_hist(out.days, p.days.items())
        return out


class FunnelCodec:
    @staticmethod
    def dump(rows):
        return [[r.step, r.channel, r.queued, r.sent, r.opened, r.started, *(r.paid[n] for n in queries.PAID_WITHIN)] for r in rows]

    @staticmethod
    def load(d):
        return [queries.FunnelRow(step, channel, q, s, o, st, dict(zip(queries.PAID_WITHIN, paid)))
                for step, channel, q, s, o, st, *paid in d]

    @staticmethod
    def merge(parts):
        out: dict = {}
        for rows in parts:
            for r in rows:
                row = out.setdefault((r.step, r.channel), queries.FunnelRow(r.step, r.channel))
                row.queued += r.queued
                row.sent += r.sent
                row.opened += r.opened
                row.started += r.started
                for n in queries.PAID_WITHIN:
                    row.paid[n] += r.paid[n]
        return sorted(out.values(), key=lambda r: (r.step, r.channel))


class FieldsCodec:
    """Dataclasses of integer counters: dump as a list, add field by field."""

    def __init__(self, cls, fields):
        self.cls, self.fields = cls, fields

    def dump(self, r):
        return [getattr(r, f) for f in self.fields]

    def load(self, d):
        return self.cls(**dict(zip(self.fields, d)))

    def merge(self, parts):
        return self.cls(**{f: sum(getattr(p, f) for p in parts) for f in self.fields})


class CasesCodec:
    @staticmethod
    def dump(c: queries.Cases):
        return {"opened": c.opened, "answered": c.answered, "in_time": c.within_sla, "waiting": c.waiting, "hours": _pairs(c.hours)}

    @staticmethod
    def load(d) -> queries.Cases:
        return queries.Cases(opened=dict(d["opened"]), answered=d["answered"], within_sla=d["in_time"], waiting=d["waiting"],
                             hours={int(k): v for k, v in d["hours"]})

    @staticmethod
    def merge(parts) -> queries.Cases:
        out = queries.Cases()
        for p in parts:
            for k, v in p.opened.items():
                out.opened[k] = out.opened.get(k, 0) + v
            out.answered += p.answered
            out.within_sla += p.within_sla
            out.waiting += p.waiting
            _add_hist(out.hours, p.hours.items())
        return out


CODECS = {
    "recovery": RecoveryCodec,
    "funnel": FunnelCodec,
    "self_service": FieldsCodec(queries.SelfService, ("settled", "portal_card", "plan", "promise", "with_staff")),
    "cases": CasesCodec,
    "handover": FieldsCodec(queries.Handover, ("count", "amount_minor")),
    "charges": FieldsCodec(queries.Charges, ("fee_charged", "fee_collected", "interest_charged", "interest_collected")),
}


def cached_open(session):
    """Compatibility: the open-amount half of the cache as a function (scope, day) → Aging."""
    return Cache(session).open_on
