"""The simulator: what the next days bring for chosen invoices, computed by the real run.

There is no second copy of the rules here. `simulate` opens its own database connection,
starts a transaction, and inside it replays each day exactly as production does: the
debtor's what-if action of that day (through the same functions the portal and the back
office call), then `portal.dunning.run.run(today=day)` (plans, promises, steps, fees,
interest, default, handover) and then the outbox worker's `drain` (rendering, channel
choice, fallbacks, re-judging default on the channel actually used). The worker is given
a transport that records what it would hand to SMTP, the SMS provider and the letter store
instead of handing it over. What the days wrote is read back as the timeline, and at the
end the transaction is rolled back: nothing is written, nothing is sent.

While it runs (well under a second per invoice and 120 days) the simulation holds the
database's write lock on SQLite, and on PostgreSQL row locks on the invoices it replays;
payments booked meanwhile wait for it. The run's and the worker's commits become
savepoints of the outer transaction (SQLAlchemy's `join_transaction_mode="create_savepoint"`).
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.clock import today_for
from portal.domain import dunning as rules
from portal.extensions import db
from portal.messaging.channels import email as email_channel
from portal.messaging.channels import sms as sms_channel
from portal.models import Debtor, Event, Invoice, LedgerEntry, Merchant, Message, MessageInvoice, MessageStatus
from portal.models.types import utcnow

ACTOR = "system:simulator"
DAYS = 120
MAX_INVOICES = 50  # a customer group is simulated with at most this many of its open invoices
ACTIONS = ("open_link", "promise", "pay_half")

# Events worth a line of their own (steps, messages, charges, default and handover have their own entries).
NOTABLE_EVENTS = (
    "dunning.paused", "dunning.resumed", "dunning.no_policy", "dunning.interest_refused", "message.fallback",
    "message.dead", "message.cancelled", "case.promise_made", "case.promise_broken", "case.promise_completed",
    "ledger.payment", "payment.overpaid", "link.opened",
)


class SimulationError(ValueError):
    """The what-if cannot happen as asked (e.g. a promise date the merchant does not allow)."""

    def __init__(self, code: str, **details):
        super().__init__(code)
        self.code, self.details = code, details


@dataclass(frozen=True)
class WhatIf:
    """Something the debtor does on day `day` (0 = the first simulated day)."""

    action: str  # open_link | promise | pay_half
    day: int
    promise_days: int = 10  # promise: the promised payment day, days after `day`


@dataclass(frozen=True)
class Hypothetical:
    """A what-if invoice of a new debtor."""

    amount_minor: int
    kind: str = "person"
    age: int | None = 45
    language: str = "de"
    channel: str = "email"
    due_in_days: int = 7  # negative: already overdue
    currency: str = "EUR"
    token: str = "WHATIF"  # invoice number and customer number SIM-<token>: the same in a baseline and its what-if


@dataclass
class Entry:
    """One thing that happens on a day, as plain data (the sandbox's rows are gone afterwards)."""

    on: date
    kind: str  # message | fee | interest | default | handover | event
    invoices: tuple[str, ...] = ()
    channel: str | None = None
    step: str | None = None
    legal: str | None = None
    purpose: str | None = None
    subject: str | None = None
    amount_minor: int | None = None
    currency: str = "EUR"
    default_on: date | None = None
    default_rule: str | None = None
    event_kind: str | None = None
    data: dict = field(default_factory=dict)

    def key(self) -> tuple:
        """What makes two entries the same thing (for comparing a what-if with the baseline)."""
        return (self.on, self.kind, self.invoices, self.channel, self.step, self.amount_minor, self.default_on,
                self.event_kind)


@dataclass
class InvoiceOutcome:
    number: str
    currency: str
    open_minor_start: int
    open_minor_end: int = 0
    fees_minor: int = 0
    interest_minor: int = 0
    default_on: date | None = None
    default_rule: str | None = None
    handover_on: date | None = None
    status_end: str = "open"


@dataclass
class Timeline:
    start: date
    days: int
    entries: list[Entry] = field(default_factory=list)
    invoices: dict[str, InvoiceOutcome] = field(default_factory=dict)
    what_if: WhatIf | None = None
    hypothetical: bool = False

    @property
    def end(self) -> date:
        return self.start + timedelta(days=self.days - 1)

    def by_day(self) -> list[tuple[date, list[Entry]]]:
        out: dict[date, list[Entry]] = {}
        for entry in self.entries:
            out.setdefault(entry.on, []).append(entry)
        return sorted(out.items())

    def comparable(self) -> dict[str, dict]:
        """Per invoice number: messages (day, channel, step), charges (day, kind, amount), default, handover.

        The shape the suite compares with what the real run and worker produced."""
        out = {number: {"messages": [], "charges": [], "default_on": o.default_on, "default_rule": o.default_rule,
                        "handover_on": o.handover_on, "open_minor": o.open_minor_end}
               for number, o in self.invoices.items()}
        for entry in self.entries:
            if entry.kind == "message" and entry.purpose == "dunning":
                for number, step in zip(entry.invoices, entry.data.get("steps", ())):
                    if number in out:
                        out[number]["messages"].append((entry.on, entry.channel, step))
            elif entry.kind in ("fee", "interest") and entry.invoices[0] in out:
                out[entry.invoices[0]]["charges"].append((entry.on, entry.kind, entry.amount_minor))
        return out


# -- the sandbox -----------------------------------------------------------------------------


@contextmanager
def sandbox():
    """An application context whose `db.session` works inside one transaction that is always rolled back.

    Commits inside (the run commits per batch, the worker per message) release savepoints;
    a rollback inside (the worker's failure path) goes back to the last one.
    """
    if db.session().in_transaction():
        # On SQLite the caller's open transaction holds the write lock (BEGIN IMMEDIATE) and this
        # one would wait for it forever; on PostgreSQL its row locks could block the replay.
        raise RuntimeError("commit or roll back the session's transaction before simulating")
    app = current_app._get_current_object()
    connection = db.engine.connect()
    outer = connection.begin()
    if db.engine.dialect.name == "sqlite" and not connection.connection.dbapi_connection.in_transaction:
        # pysqlite opens its transaction lazily, before the first write: a SAVEPOINT outside a
        # transaction would be one, and releasing it would commit. Take the write lock now.
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    session = Session(bind=connection, join_transaction_mode="create_savepoint")
    # The run remembers per process which base rates it has caught held-back interest up with;
    # what it catches up in here is rolled back, so that memory must be too.
    from portal.dunning import run as dunning_run

    caught_up = dict(dunning_run._caught_up_with)
    try:
        with app.app_context():
            db.session.registry.set(session)
            yield session
    finally:
        session.close()
        outer.rollback()
        connection.close()
        dunning_run._caught_up_with.clear()
        dunning_run._caught_up_with.update(caught_up)


class RecordingTransport:
    """The worker's transport for the simulator: checks what the live channels check, sends nothing."""

    def __init__(self):
        self.sent: dict[int, dict] = {}

    def email(self, message: Message, outgoing: email_channel.OutgoingEmail, handing) -> str:
        email_channel.check_recipient(outgoing)  # a bad address fails here as it would at the SMTP server
        handing()
        self.sent[message.id] = {"channel": "email", "subject": outgoing.subject}
        return email_channel.message_id(message)

    def sms(self, message: Message, body: str, handing) -> str:
        sms_channel.provider()  # an unconfigured SMS provider fails (and falls back) as in production
        handing()
        self.sent[message.id] = {"channel": "sms", "body": body}
        return f"simulated:{message.id}"

    def letter(self, message: Message, day: date, html: str) -> str:
        self.sent[message.id] = {"channel": "letter"}
        return f"print:{day.isoformat()}"

    def close(self) -> None:
        pass


def worker_time(day: date, tz_name: str) -> datetime:
    """When the worker of a simulated day sends: that evening (messages queued for the morning are due)."""
    evening = datetime.combine(day, time(22, 0), ZoneInfo(tz_name)).astimezone(timezone.utc)
    return max(evening, utcnow() + timedelta(seconds=1))


# -- choosing what to simulate -------------------------------------------------------------


def group_invoice_ids(merchant_id: int, policy_id: int, today: date, limit: int = MAX_INVOICES) -> list[int]:
    """Open invoices of a customer group: already under that policy, or the run would choose it for them."""
    from portal.dunning.run import load_policies

    policies = load_policies(merchant_id)
    ids = list(db.session.execute(
        select(Invoice.id).where(Invoice.merchant_id == merchant_id, Invoice.status == "open",
                                 Invoice.dunning_policy_id == policy_id).order_by(Invoice.id).limit(limit)
    ).scalars())
    if len(ids) < limit:
        unassigned = db.session.execute(
            select(Invoice, Debtor).join(Debtor, Debtor.id == Invoice.debtor_id)
            .where(Invoice.merchant_id == merchant_id, Invoice.status == "open", Invoice.dunning_policy_id.is_(None))
            .order_by(Invoice.id).limit(2000)
        ).all()
        firsts = dict(db.session.execute(
            select(Invoice.debtor_id, func.min(Invoice.id)).where(Invoice.merchant_id == merchant_id)
            .where(Invoice.debtor_id.in_({d.id for _, d in unassigned})).group_by(Invoice.debtor_id)
        ).all()) if unassigned else {}
        for invoice, debtor in unassigned:
            facts = rules.DebtorFacts(debtor.kind, debtor.date_of_birth, debtor.language, debtor.preferred_channel,
                                      firsts.get(debtor.id) != invoice.id)
            chosen = next((p for p in policies if rules.matches(p.group, facts, invoice.amount_minor, today)), None)
            if chosen is not None and chosen.id == policy_id:
                ids.append(invoice.id)
                if len(ids) >= limit:
                    break
    return sorted(ids)


def _hypothetical_invoice(merchant: Merchant, h: Hypothetical, start: date) -> Invoice:
    from portal.domain.intake import validate_invoice
    from portal.domain.money import Money
    from portal.intake.service import submit_invoice

    token = h.token
    due = start + timedelta(days=h.due_in_days)
    amount = str(Money(h.amount_minor, h.currency).decimal)
    born = None
    if h.kind == "person" and h.age is not None:
        born = date(start.year - h.age, start.month, min(start.day, 28)) - timedelta(days=1)
    payload = {
        "number": f"SIM-{token}", "issue_date": (due - timedelta(days=14)).isoformat(), "due_date": due.isoformat(),
        "amount": amount, "currency": h.currency, "lines": [{"description": "Simulation", "quantity": 1, "amount": amount}],
        "debtor": {
            "external_ref": f"SIM-{token}", "kind": h.kind, "name": "Erika Mustermann",
            "company": "Beispiel GmbH" if h.kind == "business" else None, "email": "erika.mustermann@example.com",
            "phone": "+49 170 1234567", "language": h.language, "date_of_birth": born.isoformat() if born else None,
            "address": {"street": "Hauptstraße 5", "postal_code": "70173", "city": "Stuttgart", "country": "DE"},
        },
    }
    data, errors = validate_invoice(payload, today=start)
    if errors:
        raise SimulationError("hypothetical_invalid", errors=errors)
    invoice = submit_invoice(merchant, data, actor=ACTOR).invoice
    debtor = invoice.debtor
    debtor.preferred_channel = h.channel
    debtor.consent_email = True
    debtor.consent_sms = h.channel == "sms"
    db.session.flush()
    return invoice


# -- the what-if actions: the functions the portal and the back office call ----------------


def _act(what_if: WhatIf, day: date, debtor_ids: list[int]) -> None:
    from portal.cases.service import CaseError, make_promise
    from portal.debtor import events
    from portal.payments.booking import book_shares

    for debtor in db.session.execute(select(Debtor).where(Debtor.id.in_(debtor_ids)).order_by(Debtor.id)).scalars():
        open_invoices = [inv for inv in db.session.execute(
            select(Invoice).where(Invoice.debtor_id == debtor.id, Invoice.status == "open").order_by(Invoice.id)
        ).scalars()]
        if what_if.action == "open_link":
            events.record(debtor, "link.opened")
        elif what_if.action == "promise" and open_invoices:
            try:
                make_promise(debtor, open_invoices, promised_on=day + timedelta(days=what_if.promise_days), today=day)
            except CaseError as exc:
                raise SimulationError(f"promise_{exc.code}", **exc.details) from None
        elif what_if.action == "pay_half":
            for invoice in open_invoices:
                half = invoice.open_minor // 2
                if half > 0:
                    book_shares([(invoice, half)], kind="payment", source="staff", ref=f"simulated:{day.isoformat()}",
                                booked_on=day, actor=ACTOR, memo="Simulated payment of half the open amount")
    db.session.commit()


# -- the simulation ---------------------------------------------------------------------------


def simulate(merchant_id: int, *, invoice_ids: list[int] | None = None, debtor_id: int | None = None,
             policy_id: int | None = None, hypothetical: Hypothetical | None = None, start: date | None = None,
             days: int = DAYS, what_if: WhatIf | None = None) -> Timeline:
    """The next `days` days of the chosen invoices (all open invoices of their debtors go along,
    as the run reminds a debtor's invoices together). Writes nothing, sends nothing."""
    from portal.dunning.run import run
    from portal.messaging import worker

    with sandbox():
        merchant = db.session.get(Merchant, merchant_id)
        tz_name = merchant.timezone
        start = start or today_for(tz_name)
        if hypothetical is not None:
            invoice_ids = [_hypothetical_invoice(merchant, hypothetical, start).id]
            db.session.commit()
        elif policy_id is not None:
            invoice_ids = group_invoice_ids(merchant_id, policy_id, start)
        chosen = select(Invoice.debtor_id).where(Invoice.merchant_id == merchant_id)
        if debtor_id is not None:
            chosen = chosen.where(Invoice.debtor_id == debtor_id)
        else:
            chosen = chosen.where(Invoice.id.in_(invoice_ids or []))
        debtor_ids = sorted(set(db.session.execute(chosen).scalars()))
        tracker = _Tracker(merchant_id, debtor_ids, Timeline(start, days, what_if=what_if,
                                                              hypothetical=hypothetical is not None))
        transport = RecordingTransport()
        db.session.commit()
        end = start + timedelta(days=days)
        day = start if debtor_ids else end
        while day < end:
            if what_if is not None and start + timedelta(days=what_if.day) == day:
                _act(what_if, day, debtor_ids)
            run(today=day, merchant=merchant, debtor_ids=debtor_ids)
            worker.drain(now=worker_time(day, tz_name), transport=transport, debtor_ids=debtor_ids)
            tracker.collect(day, transport)
            day = _next_busy_day(merchant_id, debtor_ids, day + timedelta(days=1), end, what_if, start)
        tracker.finish()
        return tracker.timeline


def _next_busy_day(merchant_id: int, debtor_ids: list[int], after: date, end: date, what_if: WhatIf | None,
                   start: date) -> date:
    """The first day from `after` on which the run or the worker could do anything for these debtors.

    Only a speed-up, never a rule: on the days skipped, the run would find no invoice whose next
    action day has come and no active plan or promise, and the worker no message waiting, so
    running them would change nothing (the suite compares with the real run of every day)."""
    from portal.models import Case

    candidates = [end]
    if what_if is not None and start + timedelta(days=what_if.day) >= after:
        candidates.append(start + timedelta(days=what_if.day))
    if db.session.execute(select(Case.id).where(
            Case.merchant_id == merchant_id, Case.debtor_id.in_(debtor_ids), Case.status == "active",
            Case.kind.in_(("plan", "promise"))).limit(1)).first():
        return after
    if db.session.execute(select(Message.id).where(
            Message.debtor_id.in_(debtor_ids),
            Message.status.in_((MessageStatus.PENDING.value, MessageStatus.SENDING.value))).limit(1)).first():
        return after
    next_action = db.session.execute(select(func.min(Invoice.next_action_on)).where(
        Invoice.merchant_id == merchant_id, Invoice.debtor_id.in_(debtor_ids), Invoice.status == "open")).scalar_one()
    if next_action is not None:
        candidates.append(max(next_action, after))
    return min(candidates)


class _Tracker:
    """Reads back, after each simulated day, what that day wrote for the simulated debtors."""

    def __init__(self, merchant_id: int, debtor_ids: list[int], timeline: Timeline):
        self.merchant_id, self.debtor_ids, self.timeline = merchant_id, debtor_ids, timeline
        self.event_mark = db.session.execute(select(func.coalesce(func.max(Event.id), 0))).scalar_one()
        self.ledger_mark = db.session.execute(select(func.coalesce(func.max(LedgerEntry.id), 0))).scalar_one()
        self.reported: set[int] = set()
        self.state: dict[int, tuple] = {}
        self.numbers: dict[int, str] = {}
        for inv in db.session.execute(
            select(Invoice).where(Invoice.merchant_id == merchant_id, Invoice.debtor_id.in_(debtor_ids),
                                  Invoice.status == "open").order_by(Invoice.id)
        ).scalars():
            self.state[inv.id] = (inv.default_on, inv.default_rule, inv.status)
            self.numbers[inv.id] = inv.number
            self.timeline.invoices[inv.number] = InvoiceOutcome(inv.number, inv.currency, inv.open_minor,
                                                                default_on=inv.default_on, default_rule=inv.default_rule)

    def _invoices(self) -> list[Invoice]:
        """The simulated invoices (those open on the first day), as they stand now."""
        return db.session.execute(select(Invoice).where(Invoice.id.in_(list(self.state))).order_by(Invoice.id)).scalars().all()

    def collect(self, day: date, transport: RecordingTransport) -> None:
        entries = self.timeline.entries
        sent = db.session.execute(
            select(Message).where(Message.debtor_id.in_(self.debtor_ids), Message.status == MessageStatus.SENT.value,
                                  Message.id.in_(list(transport.sent)))
            .order_by(Message.id)
        ).scalars().all()
        for message in sent:
            if message.id in self.reported:
                continue
            self.reported.add(message.id)
            links = db.session.execute(
                select(MessageInvoice.invoice_id, MessageInvoice.step).where(MessageInvoice.message_id == message.id)
                .order_by(MessageInvoice.id)
            ).all()
            context = message.context or {}
            entries.append(Entry(
                on=day, kind="message", invoices=tuple(self.numbers.get(i, "") for i, _ in links if i in self.numbers),
                channel=message.channel, step=context.get("step"), legal=context.get("legal"), purpose=message.purpose,
                subject=message.subject, data={"steps": [s for i, s in links if i in self.numbers],
                                               "template": message.template,
                                               "sms": transport.sent[message.id].get("body")},
            ))
        for row in db.session.execute(
            select(LedgerEntry).where(LedgerEntry.id > self.ledger_mark, LedgerEntry.invoice_id.in_(list(self.numbers)),
                                      LedgerEntry.kind.in_(("fee", "interest"))).order_by(LedgerEntry.id)
        ).scalars():
            entries.append(Entry(on=row.booked_on, kind=row.kind, invoices=(self.numbers[row.invoice_id],),
                                 amount_minor=row.amount_minor, currency=row.currency,
                                 data={"label": (row.data or {}).get("label", row.kind)}))
            self.ledger_mark = max(self.ledger_mark, row.id)
        for event in db.session.execute(
            select(Event).where(Event.id > self.event_mark, Event.kind.in_(NOTABLE_EVENTS),
                                Event.debtor_id.in_(self.debtor_ids)).order_by(Event.id)
        ).scalars():
            data = dict(event.data or {})
            message = db.session.get(Message, data["message_id"]) if isinstance(data.get("message_id"), int) else None
            entries.append(Entry(
                on=day, kind="event", event_kind=event.kind, data=data,
                invoices=(self.numbers[event.invoice_id],) if event.invoice_id in self.numbers else (),
                purpose=message.purpose if message else None,
                step=next((mi.step for mi in message.invoices if mi.invoice_id == event.invoice_id), None) if message else None,
            ))
        self.event_mark = db.session.execute(select(func.coalesce(func.max(Event.id), 0))).scalar_one()
        for inv in self._invoices():
            default_on, default_rule, status = self.state[inv.id]
            if inv.default_on is not None and (inv.default_on, inv.default_rule) != (default_on, default_rule):
                entries.append(Entry(on=day, kind="default", invoices=(inv.number,), default_on=inv.default_on,
                                     default_rule=inv.default_rule))
            if inv.status == "handed_over" and status != "handed_over":
                entries.append(Entry(on=day, kind="handover", invoices=(inv.number,)))
            self.state[inv.id] = (inv.default_on, inv.default_rule, inv.status)

    def finish(self) -> None:
        for inv in self._invoices():
            outcome = self.timeline.invoices[inv.number]
            outcome.open_minor_end, outcome.status_end = inv.open_minor, inv.status
            outcome.default_on, outcome.default_rule = inv.default_on, inv.default_rule
            if inv.status == "handed_over":
                outcome.handover_on = inv.closed_on
        for entry in self.timeline.entries:
            if entry.kind in ("fee", "interest"):
                outcome = self.timeline.invoices[entry.invoices[0]]
                if entry.kind == "fee":
                    outcome.fees_minor += entry.amount_minor
                else:
                    outcome.interest_minor += entry.amount_minor


# What the what-if action itself records (shown, but not a change in the course of the reminders).
ACTION_EVENTS = ("link.opened", "case.promise_made", "ledger.payment", "payment.overpaid")


def changes_course(added: list[Entry], dropped: list[Entry]) -> bool:
    return any(e.event_kind not in ACTION_EVENTS for e in added + dropped)


def changes(baseline: Timeline, variant: Timeline) -> tuple[list[Entry], list[Entry]]:
    """What the what-if adds to and takes away from the baseline."""
    before = {e.key() for e in baseline.entries}
    after = {e.key() for e in variant.entries}
    added = [e for e in variant.entries if e.key() not in before]
    dropped = [e for e in baseline.entries if e.key() not in after]
    return added, dropped

