"""The outbox worker: claims due messages, sends them, records the outcome.

Claiming marks rows `sending` with a claim token and time and commits at once
(PostgreSQL: `FOR UPDATE SKIP LOCKED`, so several workers on several machines take
disjoint rows; SQLite: one conditional UPDATE, SQLite serialises writers). A claim is a
lease: a worker killed in a batch leaves its rows `sending`, and after LEASE any worker
takes them over. Nothing is lost and nothing goes out twice: durable marks set where a
message changes hands tell the next worker what the killed one had done (`Batch`); the
one message that may be caught between its final dot and the server's answer is never
sent again but marked dead "in doubt", with a notice to staff. Failures are retried with
exponential backoff; after MAX_ATTEMPTS on a channel, or at once for a permanent
failure, the next channel is tried; when none is left the message is dead and staff
get a notice. A dunning message whose invoices were all paid, cancelled or paused
meanwhile is cancelled, not sent.
"""
from __future__ import annotations

import logging
import os
import queue
import signal
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask import current_app
from sqlalchemy import and_, event, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import selectinload

from portal.clock import today_for
from portal.extensions import db
from portal.messaging import outbox, render
from portal.messaging.channels import ChannelError
from portal.messaging.channels import email as email_channel
from portal.messaging.channels import letter as letter_channel
from portal.messaging.channels import sms as sms_channel
from portal.models import Debtor, Event, Merchant, Message, MessageStatus
from portal.models.types import utcnow

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 5
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=6)
BATCH = 50


@dataclass
class WorkerResult:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    fell_back: int = 0
    dead: int = 0
    cancelled: int = 0
    in_doubt: int = 0  # handed over, answer lost: marked dead for staff, never sent twice

    def __add__(self, other: "WorkerResult") -> "WorkerResult":
        return WorkerResult(*(a + b for a, b in zip(vars(self).values(), vars(other).values())))


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _claimable(now: datetime):
    return or_(
        and_(Message.status == MessageStatus.PENDING.value, Message.not_before <= now),
        and_(Message.status == MessageStatus.SENDING.value, Message.claimed_at < now - LEASE),
    )


def claim(*, now: datetime | None = None, limit: int = BATCH, worker: str | None = None, debtor_ids=None) -> list[int]:
    """Claim up to `limit` due messages (or stale claims) and commit the claim; returns their ids."""
    now = now or utcnow()
    token = f"{worker or worker_name()}:{uuid.uuid4().hex[:8]}"
    pick = select(Message.id).where(_claimable(now))
    if debtor_ids is not None:
        pick = pick.where(Message.debtor_id.in_(list(debtor_ids)))
    pick = pick.order_by(Message.not_before, Message.id).limit(limit)
    if db.engine.dialect.name == "postgresql":
        ids = db.session.execute(pick.with_for_update(skip_locked=True)).scalars().all()
        if ids:
            db.session.execute(
                update(Message).where(Message.id.in_(ids))
                .values(status=MessageStatus.SENDING.value, claimed_at=now, claimed_by=token)
                .execution_options(synchronize_session=False)
            )
    else:
        db.session.execute(
            update(Message).where(Message.id.in_(pick.scalar_subquery()), _claimable(now))
            .values(status=MessageStatus.SENDING.value, claimed_at=now, claimed_by=token)
            .execution_options(synchronize_session=False)
        )
        ids = db.session.execute(
            select(Message.id).where(Message.claimed_by == token, Message.status == MessageStatus.SENDING.value)
            .order_by(Message.id)
        ).scalars().all()
    db.session.commit()
    return list(ids)


class LiveTransport:
    """Hands rendered messages to the real channels: SMTP, the SMS provider, the letter store.

    The worker renders every message itself and gives the result to a transport; the
    simulator (portal/simulator/engine.py) passes one that records instead of sending,
    so what it shows is rendered and routed by this same code. `handing` is the worker's
    durable mark, called at the last moment before the message cannot be taken back.
    """

    def __init__(self):
        self.session = email_channel.EmailSession()

    def email(self, message: Message, outgoing: email_channel.OutgoingEmail, handing) -> str:
        self.session.send(outgoing, handing)
        return outgoing.message_id

    def sms(self, message: Message, body: str, handing) -> str:
        provider = sms_channel.provider()
        handing()
        return provider.send(message.recipient, body)

    def letter(self, message: Message, day: date, html: str) -> str:
        # Stored under the message's id, replacing an earlier copy: producing a letter twice is harmless.
        return letter_channel.store(message, day, letter_channel.pdf_from_html(html))

    def close(self) -> None:
        self.session.close()


def run_once(*, now: datetime | None = None, limit: int = BATCH, worker: str | None = None,
             transport=None, debtor_ids=None) -> WorkerResult:
    """Claim one batch and send it (see `Batch`).

    `transport` (default: the live channels) and `debtor_ids` (only these debtors' messages)
    are for the simulator; the command line and the daemon use the defaults. For them, "send me a
    new link" requests are looked up first, so the links they queue go out in this batch.
    """
    if transport is None and debtor_ids is None:
        from portal.messaging import link_requests

        link_requests.process_pending()
    now = now or utcnow()
    ids = claim(now=now, limit=limit, worker=worker, debtor_ids=debtor_ids)
    result = WorkerResult(claimed=len(ids))
    if not ids:
        return result
    transport = transport or LiveTransport()
    try:
        Batch(now, transport, result).run(ids)
    finally:
        transport.close()
    return result


def drain(*, now: datetime | None = None, worker: str | None = None, limit: int = BATCH, transport=None,
          debtor_ids=None) -> WorkerResult:
    """Send until nothing is due (`flask worker --once`)."""
    total = WorkerResult()
    while True:
        result = run_once(now=now, worker=worker, limit=limit, transport=transport, debtor_ids=debtor_ids)
        total = total + result
        if result.claimed == 0:
            return total


class Batch:
    """One claimed batch: read in a few set queries, rendered and handed over one by one, recorded together.

    Exactly once, whenever the worker is killed. Two small durable marks per email and SMS, on a
    connection of their own, commit where the message changes hands: `handed_at` just before the
    point of no return (SMTP's final dot, the SMS request), `sent_at` (with provider id and subject)
    as soon as the provider accepted it. Everything else (status, event, the step's effect on
    default, cancellations, failures and retries) is recorded for the whole batch in one transaction
    at its end. A worker that takes over a stale claim reads the marks: `sent_at` set → it was
    accepted, its record is completed; `handed_at` without `sent_at` → it may or may not have
    arrived (or the server refused it after the dot and the refusal was not recorded): never sent
    again, marked dead as "in doubt" with a notice to staff; neither → the server has nothing (a
    transaction without its dot is discarded): sent now. The in-doubt window is one message's final
    dot and answer; a batch costs two tiny commits per message and one per batch.

    With the live channels the hand-over runs in a thread of its own on the batch's one SMTP
    connection, so the next message is rendered while the server answers the last (both in this
    process, on the GIL; the wait for the server is what overlaps). A message about an invoice
    that an earlier message of the batch is still being sent about waits for it: `reminder_sent`
    and the invoices still open are read after that one's outcome.
    """

    def __init__(self, now: datetime, transport, result: WorkerResult):
        self.now, self.transport, self.result = now, transport, result
        # Outcomes not yet recorded, appended by the renderer and the hand-over (list.append is atomic):
        # ("sent", message, provider id, subject), ("cancelled", message), ("failed", message, ChannelError),
        # ("in_doubt", message, detail).
        self.done: list[tuple] = []
        self.marks = None
        self.prefetch: render.Prefetch | None = None
        self.flushes = 0  # flushes of the session while the batch renders (see commit_rendering)

    def run(self, ids: list[int]) -> None:
        messages = db.session.execute(
            select(Message).where(Message.id.in_(ids), Message.status == MessageStatus.SENDING.value)
            .order_by(Message.id).options(selectinload(Message.invoices)).execution_options(populate_existing=True)
        ).scalars().all()
        todo = []
        for message in messages:
            if message.sent_at is not None:  # accepted before the last worker was killed: complete its record
                self.done.append(("sent", message, message.provider_id, message.subject))
            elif message.handed_at is not None:
                self.done.append(("in_doubt", message, f"{message.channel}: handed over by a worker that stopped "
                                                       "before the answer was recorded"))
            else:
                todo.append(message)
        self.prefetch = render.Prefetch.load(todo)
        session = db.session()
        event.listen(session, "after_flush", self._flushed)
        try:
            self.send(todo)
        finally:
            event.remove(session, "after_flush", self._flushed)
        self.flush()

    def send(self, todo: list[Message]) -> None:
        sender = _Sender(self) if _threaded(self.transport) else None
        switch = sys.getswitchinterval()
        if sender is not None:
            # The sender wakes on every answer of the server (four per email) and needs the GIL at once; with
            # the default 5 ms it waits for the renderer to give it up, longer than the server took to answer.
            sys.setswitchinterval(0.0002)
        try:
            in_flight: set[int] = set()
            for message in todo:
                invoice_ids = {link.invoice_id for link in message.invoices}
                if sender is not None and invoice_ids & in_flight:
                    sender.wait()
                    in_flight.clear()
                job = self.prepare(message)
                if job is None:
                    continue
                if sender is None or job[1] == "letter":
                    if sender is not None:  # a letter is produced here: PDF rendering is all CPU, nothing to overlap
                        sender.wait()
                    self.hand_over(job)
                else:
                    sender.submit(job)
                    in_flight |= invoice_ids
        finally:
            if sender is not None:
                sender.finish()
                sys.setswitchinterval(switch)
            elif self.marks is not None:
                self.marks.close()

    def prepare(self, message: Message):
        """Render one message (in this thread: it reads the session); None when it is not to be sent."""
        if message.purpose != "staff_notice" and self.prefetch.invoices.get(message.id) \
                and not render.live_invoices(message, prefetch=self.prefetch):
            self.done.append(("cancelled", message))
            return None
        session = db.session()
        flushes = self.flushes
        try:
            job = _render(message, self.now, self.prefetch)
            if self.flushes != flushes and not _sandboxed():
                self.commit_rendering(session)  # (the simulator's sandbox is one transaction, rolled back at its end)
            return job
        except ChannelError as exc:
            self.done.append(("failed", message, exc))
        except Exception as exc:  # noqa: BLE001 — a template or data bug: recorded on the message and retried, never lost
            log.exception("message %s failed", message.id)
            self.done.append(("failed", message, ChannelError(f"{type(exc).__name__}: {exc}")))
        return None

    def commit_rendering(self, session) -> None:
        """Commit what rendering wrote before the message is handed over. Rendering writes little (the payment
        reference of a message about several invoices, whose transfer details it shows); but on SQLite an open
        write would hold the database's one write lock while the hand-over's marks wait on their own connection
        (`database is locked` after busy_timeout), and what a debtor is told to pay with must exist once the
        message has left, even if the worker is killed before the batch is recorded. Nothing is expired: the
        batch's messages stay loaded as they are (the hand-over thread reads them)."""
        expire, session.expire_on_commit = session.expire_on_commit, False
        try:
            session.commit()
        finally:
            session.expire_on_commit = expire

    def _flushed(self, session, context) -> None:
        self.flushes += 1

    def hand_over(self, job) -> None:
        """Give one rendered message to its channel, with the durable marks (in the sender thread, if any)."""
        message, channel, payload, subject = job
        try:
            if channel == "email":
                provider_id = self.transport.email(message, payload, lambda: self.handing(message))
            elif channel == "sms":
                provider_id = self.transport.sms(message, payload, lambda: self.handing(message))
            else:
                provider_id = self.transport.letter(message, *payload)
        except email_channel.InDoubt as exc:
            self.done.append(("in_doubt", message, str(exc)))
            return
        except ChannelError as exc:
            self.done.append(("failed", message, exc))
            return
        except Exception as exc:  # noqa: BLE001 — recorded on the message and retried, never lost
            log.exception("message %s failed", message.id)
            self.done.append(("failed", message, ChannelError(f"{type(exc).__name__}: {exc}")))
            return
        if channel in MARKED:
            try:
                self.mark(message.id, sent_at=self.now, provider_id=provider_id, subject=subject or message.subject)
            except Exception:  # noqa: BLE001 — it was accepted: the batch's record below says so all the same
                log.exception("message %s: accepted, but its mark could not be written", message.id)
        self.done.append(("sent", message, provider_id, subject))
        self.prefetch.record_sent(message)

    def handing(self, message: Message) -> None:
        self.mark(message.id, handed_at=utcnow())

    def mark(self, message_id: int, **values) -> None:
        """One durable mark, committed at once on the marks' own connection (the session holds no writes)."""
        if self.marks is None:
            self.marks = _Marks()
        self.marks.set(message_id, values)

    def flush(self) -> None:
        """Record the outcomes in one transaction (each failure after what came before it)."""
        for outcome in self.done:
            kind, message = outcome[0], outcome[1]
            if kind == "sent":
                _sent(message, outcome[2], outcome[3], self.now, self.result)
            elif kind == "cancelled":
                _cancelled(message, self.result)
            elif kind == "failed":
                db.session.commit()
                _failed(message, outcome[2], self.now, self.result)
            else:
                db.session.commit()
                _in_doubt(db.session.get(Message, message.id), outcome[2], self.result)
        self.done = []
        db.session.commit()


def _sandboxed() -> bool:
    """The session is bound to one connection: the simulator's sandbox, one transaction rolled back at its end."""
    return isinstance(db.session.get_bind(), Connection)


def _threaded(transport) -> bool:
    """The hand-over gets its own thread for the live channels, outside the simulator's sandbox."""
    return isinstance(transport, LiveTransport) and not _sandboxed()


class _Sender:
    """The batch's hand-over thread: takes rendered messages in order, one SMTP connection, its own marks."""

    def __init__(self, batch: Batch):
        self.batch = batch
        self.jobs: queue.Queue = queue.Queue(maxsize=4)
        self.app = current_app._get_current_object()
        self.thread = threading.Thread(target=self._run, name="outbox-sender", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with self.app.app_context():
            try:
                while True:
                    job = self.jobs.get()
                    try:
                        if job is None:
                            return
                        self.batch.hand_over(job)
                    finally:
                        self.jobs.task_done()
            finally:
                if self.batch.marks is not None:
                    self.batch.marks.close()
                    self.batch.marks = None
                db.session.remove()

    def submit(self, job) -> None:
        while True:
            try:
                self.jobs.put(job, timeout=1)
                return
            except queue.Full:
                if not self.thread.is_alive():
                    raise RuntimeError("the outbox sender thread ended") from None

    def wait(self) -> None:
        """Until every message submitted so far is handed over."""
        self.jobs.join()

    def finish(self) -> None:
        self.submit(None)
        self.thread.join()


# Channels whose hand-over cannot be taken back (a letter is stored under its own name: producing it twice is harmless).
MARKED = ("email", "sms")


class _Marks:
    """The connection the durable marks are committed on. On PostgreSQL it commits without waiting for the
    disk flush (synchronous_commit off, this connection only): a mark then survives any crash of the worker,
    as a SQLite commit in WAL mode with synchronous=NORMAL does; only a crash of the database server itself
    in the next fraction of a second could lose one (and that message could then go out a second time).

    A mark is one UPDATE by primary key, committed before `set` returns, written on the driver's own
    connection (a pooled one, given back as it was): SQLAlchemy's statement machinery and its SQLite
    transaction hooks (BEGIN IMMEDIATE, which one autocommitted statement does not need) cost more than
    the write, twice per message. On PostgreSQL the connection autocommits, so a mark is one round trip
    to the server instead of two (UPDATE, then COMMIT). The values go through the columns' own bind
    processors, so they are stored exactly as the ORM stores them.

    A session bound to one connection (the simulator's sandbox, rolled back at its end) gets its marks
    in that transaction: nothing leaves it, and on SQLite a second connection would wait for its lock."""

    def __init__(self):
        self.sandboxed = _sandboxed()
        self.postgres = db.engine.dialect.name == "postgresql"
        self.statements: dict[tuple[str, ...], tuple[str, list]] = {}
        if self.sandboxed:
            return
        self.connection = db.engine.raw_connection()
        self.driver = self.connection.dbapi_connection
        if self.postgres:
            self.driver.autocommit = True
            self.driver.execute("SET synchronous_commit TO off")
        self.cursor = self.connection.cursor()

    def _statement(self, names: tuple[str, ...]) -> tuple[str, list]:
        if names not in self.statements:
            dialect = db.engine.dialect
            table = Message.__table__
            mark = "%s" if self.postgres else "?"
            sql = f"UPDATE {table.name} SET {', '.join(f'{n} = {mark}' for n in names)} WHERE id = {mark}"
            self.statements[names] = (sql, [table.c[n].type._cached_bind_processor(dialect) for n in names])
        return self.statements[names]

    def set(self, message_id: int, values: dict) -> None:
        if self.sandboxed:
            db.session.execute(update(Message.__table__).where(Message.__table__.c.id == message_id).values(**values))
            return
        names = tuple(values)
        sql, processors = self._statement(names)
        params = [proc(values[n]) if proc else values[n] for n, proc in zip(names, processors)]
        self.cursor.execute(sql, (*params, message_id))
        if not self.postgres:
            self.driver.commit()

    def close(self) -> None:
        if self.sandboxed:
            return
        try:
            self.cursor.close()
            if self.postgres:
                self.driver.execute("RESET synchronous_commit")
                self.driver.autocommit = False
        except Exception:  # noqa: BLE001 — a broken connection (or one left autocommitting) never goes back to the pool
            log.warning("outbox marks: connection discarded", exc_info=True)
            self.connection.invalidate()
        finally:
            self.connection.close()  # back to the pool (which rolls back what is left: nothing)


def _sent(message: Message, provider_id: str, subject: str | None, now: datetime, result: WorkerResult) -> None:
    message.status = MessageStatus.SENT.value
    message.sent_at = message.sent_at or now
    message.provider_id = provider_id
    message.subject = subject or message.subject
    message.last_error = None
    message.attempts += 1
    _release(message)
    _event(message, "message.sent", {"channel": message.channel, "provider_id": provider_id})
    if message.purpose == "dunning":
        from portal.dunning.escalation import rejudge_default

        rejudge_default(message)
    result.sent += 1


def _cancelled(message: Message, result: WorkerResult) -> None:
    message.status = MessageStatus.CANCELLED.value
    message.last_error = "every invoice of this message is paid, cancelled or paused"
    _release(message)
    _event(message, "message.cancelled", {"reason": message.last_error})
    result.cancelled += 1


def _in_doubt(message: Message, detail: str, result: WorkerResult) -> None:
    """Handed over, answer unknown: it may have arrived. Never sent again (no duplicate); staff decide."""
    message.status = MessageStatus.DEAD.value
    message.last_error = f"in doubt: {detail}; it may have been delivered and is not sent again"[:2000]
    message.attempts += 1
    _release(message)
    _event(message, "message.in_doubt", {"channel": message.channel, "error": message.last_error})
    if message.purpose != "staff_notice":
        merchant = db.session.get(Merchant, message.merchant_id)
        debtor = db.session.get(Debtor, message.debtor_id) if message.debtor_id else None
        outbox.enqueue_staff_notice(
            merchant=merchant, template="staff_in_doubt", dedupe_key=f"doubt:{message.id}",
            context={"message_id": message.id, "channel": message.channel, "error": message.last_error,
                     "debtor": debtor.display_name if debtor else None, "template": message.template},
        )
    result.in_doubt += 1


def _render(message: Message, now: datetime, prefetch: render.Prefetch) -> tuple:
    """(message, channel, what the transport takes, subject)."""
    merchant = db.session.get(Merchant, message.merchant_id)
    if message.channel == "email":
        if not message.recipient:
            raise ChannelError("no email address", permanent=True)
        rendered = render.render_email(message, prefetch=prefetch)
        outgoing = email_channel.build(message, merchant, rendered.subject, rendered.text, rendered.html)
        return message, "email", outgoing, rendered.subject
    if message.channel == "sms":
        if not message.recipient:
            raise ChannelError("no phone number", permanent=True)
        return message, "sms", render.render_sms(message, prefetch=prefetch), None
    if message.channel == "letter":
        html = render.render_letter_html(message, prefetch=prefetch)
        subject = render.render_email(message, link="", prefetch=prefetch).subject if message.template else None
        return message, "letter", (today_for(merchant.timezone, now), html), subject
    raise ChannelError(f"unknown channel {message.channel!r}", permanent=True)


def _failed(message: Message, exc: ChannelError, now: datetime, result: WorkerResult) -> None:
    db.session.rollback()  # drop anything the failed attempt left in the session
    message = db.session.get(Message, message.id, populate_existing=True)
    message.handed_at = None  # refused or never handed over: the next attempt starts afresh
    message.attempts += 1
    message.last_error = f"{message.channel}: {exc}"[:2000]
    if exc.permanent or message.attempts >= MAX_ATTEMPTS:
        debtor = db.session.get(Debtor, message.debtor_id) if message.debtor_id else None
        fallbacks = list(message.fallbacks or [])
        if fallbacks and debtor is not None:
            previous = message.channel
            message.channel, message.fallbacks = fallbacks[0], fallbacks[1:]
            message.recipient = outbox.recipient_for(debtor, message.channel)
            message.attempts = 0
            message.status = MessageStatus.PENDING.value
            message.not_before = now
            _release(message)
            _event(message, "message.fallback", {"from": previous, "to": message.channel, "error": message.last_error})
            result.fell_back += 1
            return
        message.status = MessageStatus.DEAD.value
        _release(message)
        _event(message, "message.dead", {"error": message.last_error})
        if message.purpose != "staff_notice":
            merchant = db.session.get(Merchant, message.merchant_id)
            outbox.enqueue_staff_notice(
                merchant=merchant, template="staff_dead_letter", dedupe_key=f"dead:{message.id}",
                context={"message_id": message.id, "error": message.last_error,
                         "debtor": debtor.display_name if debtor else None, "template": message.template},
            )
        result.dead += 1
        return
    delay = min(BACKOFF_BASE * (2 ** (message.attempts - 1)), BACKOFF_MAX)
    message.status = MessageStatus.PENDING.value
    message.not_before = now + delay
    _release(message)
    result.retried += 1


def _release(message: Message) -> None:
    message.claimed_at = None
    message.claimed_by = None


def _event(message: Message, kind: str, data: dict) -> None:
    first = message.invoices[0].invoice_id if message.invoices else None
    db.session.add(Event(merchant_id=message.merchant_id, invoice_id=first, debtor_id=message.debtor_id, kind=kind,
                         actor="system:worker", data={"message_id": message.id, **data}))


# A daily pass that failed is tried again after this long (not on every poll: the log would fill).
DAILY_RETRY = timedelta(minutes=15)


@dataclass
class WorkerState:
    """What a running worker remembers between polls: each merchant's last daily pass, and failed ones."""

    done: dict = field(default_factory=dict)  # merchant id → the merchant day whose dunning pass is done
    failed: dict = field(default_factory=dict)  # merchant id → (day, when it failed)


def daily_pass(state: WorkerState, *, now: datetime | None = None) -> None:
    """The dunning pass for each merchant whose day has not had one. An exception in one merchant's pass
    (a bad policy, a database hiccup, a bug) is logged with its traceback, rolled back and tried again
    after DAILY_RETRY; it never ends the worker nor keeps the other merchants from their pass."""
    from portal.dunning.run import run as dunning_run

    now = now or utcnow()
    try:
        merchants = db.session.execute(select(Merchant.id, Merchant.slug, Merchant.timezone)).all()
    except Exception:  # noqa: BLE001 — the database may be away; the next poll tries again
        log.exception("daily pass: cannot list merchants")
        db.session.rollback()
        return
    for merchant_id, slug, tz in merchants:
        day = today_for(tz)
        if state.done.get(merchant_id) == day:
            continue
        failed = state.failed.get(merchant_id)
        if failed and failed[0] == day and now - failed[1] < DAILY_RETRY:
            continue
        try:
            result = dunning_run(today=day, merchant=db.session.get(Merchant, merchant_id))
        except Exception:  # noqa: BLE001 — logged with its traceback; the worker keeps sending
            log.exception("daily pass for %s on %s failed; retrying in %s", slug, day, DAILY_RETRY)
            db.session.rollback()
            state.failed[merchant_id] = (day, now)
            continue
        log.info("dunning %s %s: %s", slug, day, result.summary())
        state.done[merchant_id] = day
        state.failed.pop(merchant_id, None)


def tick(state: WorkerState, *, dunning: bool = True) -> int:
    """One poll of `flask worker`: the daily pass when due, then messages, outgoing webhooks, uploaded files.
    Returns how many items were claimed (0: idle). No exception of any part ends the worker."""
    from portal.shop_webhooks import delivery as shop_webhooks
    from portal.uploads import jobs as upload_jobs

    claimed = 0
    if dunning:
        daily_pass(state)
    steps = (
        ("outbox", lambda: run_once().claimed),
        ("webhooks", lambda: shop_webhooks.run_once(worker=worker_name()).claimed),  # outgoing webhooks to the shop
        ("uploads", lambda: upload_jobs.run_once(worker_name())),  # files staff uploaded in the back office
    )
    for name, step in steps:
        try:
            claimed += step()
        except Exception:  # noqa: BLE001 — logged; the next poll tries again
            log.exception("worker: %s pass failed", name)
            db.session.rollback()
        finally:
            db.session.remove()
    return claimed


def run_forever(*, poll_seconds: float = 5.0, dunning: bool = True) -> None:
    """`flask worker`: send what is due (messages, then webhooks), import uploaded files; once per merchant day, run the dunning pass first."""
    stop = {"now": False}

    def _stop(signum, frame):  # finish the current message, then leave
        stop["now"] = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    state = WorkerState()
    while not stop["now"]:
        if tick(state, dunning=dunning) == 0:
            # Idle: wait for the next poll in small steps so SIGTERM is answered quickly.
            deadline = time.monotonic() + poll_seconds
            while not stop["now"] and time.monotonic() < deadline:
                time.sleep(0.2)
