"""`kill -9` of the worker at any moment of a batch: every message still reaches the SMTP server at most once,
and every message that did not is marked for staff, never silently lost.

The worker runs as its own process against a real aiosmtpd server (in this process). The server itself
kills it (SIGKILL) at chosen points of the SMTP conversation: before the message's DATA, after the final dot
but before its answer, at the next message's MAIL FROM, in a later batch; once the worker kills itself just
after its durable "handed over" mark and before the final dot. After each kill it is started again, later
than the claim's lease, until the outbox is empty. Then the server's log is counted by Message-ID.
"""
from __future__ import annotations

import email
import email.policy
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from portal.dunning.run import run
from portal.extensions import db
from portal.messaging import worker
from portal.models import Event, Message
from tests.dunning.helpers import DUE, free_port, make_debtor_invoice
from tests.factories import make_merchant

ROOT = Path(__file__).resolve().parents[2]
SUPPORT = "hilfe@garten.example"
COUNT = 30
BATCH = 8

CHILD = r"""
import json, os, signal, sys
from datetime import datetime
sys.path.insert(0, sys.argv[1])
from config import TestConfig
from portal import create_app
from portal.messaging import worker

settings = {k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()}
settings.update(json.loads(sys.argv[2]))
kill_after_handing = int(sys.argv[4])
app = create_app(settings)
with app.app_context():
    if kill_after_handing:
        real, calls = worker.Batch.handing, []

        def handing(self, message):
            real(self, message)  # the mark is committed: from here on the message counts as handed over
            calls.append(message.id)
            if len(calls) == kill_after_handing:
                print(json.dumps({"killed_after_handing": message.id}), flush=True)
                os.kill(os.getpid(), signal.SIGKILL)

        worker.Batch.handing = handing
    result = worker.drain(now=datetime.fromisoformat(sys.argv[3]), limit=int(sys.argv[5]))
    print(json.dumps({"sent": result.sent, "in_doubt": result.in_doubt}), flush=True)
"""


class KillingServer:
    """An SMTP server that logs what it accepts and SIGKILLs the worker when this run's plan says so."""

    def __init__(self):
        self.accepted: list[tuple[list[str], str]] = []  # (recipients, Message-ID), in the order accepted
        self.child: subprocess.Popen | None = None
        self.plan: tuple[str, int] | None = None  # (SMTP command, its n-th occurrence in this run)
        self.counts: Counter = Counter()
        self.killed_in_data: list[str] = []

    def start_run(self, child, plan):
        self.child, self.plan, self.counts = child, plan, Counter()

    def _tick(self, command: str) -> bool:
        self.counts[command] += 1
        if self.plan == (command, self.counts[command]) and self.child is not None:
            os.kill(self.child.pid, signal.SIGKILL)
            return True
        return False

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        self._tick("MAIL")
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self._tick("RCPT")
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message_id = email.message_from_bytes(envelope.content, policy=email.policy.default)["Message-ID"]
        self.accepted.append((list(envelope.rcpt_tos), message_id))  # delivered, whatever the client hears
        if self._tick("DATA"):
            self.killed_in_data.append(message_id)
        return "250 OK"


@pytest.fixture
def server(app):
    handler = KillingServer()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    handler.port = port
    yield handler
    controller.stop()


# Where each run of the worker is killed; None: it runs to the end.
PLANS = [
    ("server", ("RCPT", 3)),  # the third message's envelope: before DATA, nothing delivered
    ("server", ("DATA", 4)),  # the fourth message's final dot arrived, its answer never reaches the worker
    ("server", ("MAIL", 5)),  # the fifth message begins: the fourth's answer was read and marked
    ("child", 2),  # the worker's own mark for its second message is durable, the final dot not yet sent
    ("server", ("MAIL", BATCH + 2)),  # in the run's second batch
]


def test_a_worker_killed_at_any_moment_delivers_each_message_at_most_once_and_loses_none(app, server, database_url,
                                                                                          tmp_path):
    app.config["MAIL_DEFAULT_SENDER"] = "mahnung@shop.example"  # as the worker's, for the Message-IDs
    merchant = make_merchant(name="Gartenhaus", support_email=SUPPORT)
    for i in range(COUNT):
        make_debtor_invoice(merchant, "standard", f"RE-{i}", email=f"kunde{i}@example.de", external_ref=f"K-{i}")
    run(today=DUE + timedelta(days=7))
    queued = db.session.execute(select(Message.id)).scalars().all()
    assert len(queued) == COUNT
    settings = {"SQLALCHEMY_DATABASE_URI": database_url, "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": server.port,
                "MAIL_DEFAULT_SENDER": "mahnung@shop.example", "MAIL_SUPPRESS_SEND": False,
                "STORAGE_DIR": str(tmp_path / "storage")}
    start = datetime.now(timezone.utc) + timedelta(minutes=1)
    outcomes, killed_after_handing = [], []
    for run_number in range(len(PLANS) + 5):
        kind, plan = PLANS[run_number] if run_number < len(PLANS) else (None, None)
        now = start + run_number * (worker.LEASE + timedelta(minutes=1))  # every earlier claim has gone stale
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(ROOT), json.dumps(settings), now.isoformat(),
             str(plan if kind == "child" else 0), str(BATCH)],
            stdout=subprocess.PIPE, text=True, cwd=ROOT)
        server.start_run(child, plan if kind == "server" else None)
        out, _ = child.communicate(timeout=300)
        server.child = None
        lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        killed_after_handing += [line["killed_after_handing"] for line in lines if "killed_after_handing" in line]
        outcomes.append(child.returncode)
        if kind is None and child.returncode == 0 and lines[-1]["sent"] == 0:
            break
    assert outcomes[:len(PLANS)] == [-signal.SIGKILL] * len(PLANS)  # each planned kill happened
    assert outcomes[-1] == 0

    db.session.expire_all()
    rows = db.session.execute(select(Message).order_by(Message.id)).scalars().all()
    delivered = Counter(message_id for _, message_id in server.accepted)
    assert all(n == 1 for n in delivered.values()), delivered  # never twice, staff notices included
    in_doubt = [m for m in rows if m.status == "dead"]
    assert {m.status for m in rows} <= {"sent", "dead"}  # nothing left pending or claimed
    sent_events_of = Counter(e.data["message_id"] for e in db.session.execute(
        select(Event).where(Event.kind == "message.sent")).scalars())
    for message in rows:
        sent_events = sent_events_of[message.id]
        if message.status == "sent":
            assert delivered[message.provider_id] == 1, message.id  # exactly once
            assert sent_events == 1, message.id  # its record completed once, also after a kill
        else:
            assert message.last_error.startswith("in doubt") and message.handed_at is not None
            assert sent_events == 0
            # Staff were told, by a notice that itself arrived exactly once.
            notice = db.session.execute(select(Message).where(Message.dedupe_key == f"doubt:{message.id}")).scalar_one()
            assert notice.recipient == SUPPORT and notice.status == "sent" and delivered[notice.provider_id] == 1
    debtor_messages = [m for m in rows if m.debtor_id is not None]
    assert len(debtor_messages) == COUNT
    # Only the two kills inside the hand-over leave a message in doubt: after the final dot (it did arrive)
    # and between the mark and the dot (it did not). Every other kill costs nothing.
    assert len(in_doubt) == 2
    by_mid = {worker_message_id(m): m for m in debtor_messages}
    [killed_in_data] = server.killed_in_data
    assert by_mid[killed_in_data].status == "dead" and delivered[killed_in_data] == 1
    [not_delivered] = killed_after_handing
    unsent = db.session.get(Message, not_delivered)
    assert unsent.status == "dead" and delivered[worker_message_id(unsent)] == 0
    # Every customer got their reminder exactly once, except the two in doubt (one of them got it too).
    customers = Counter(rcpt for rcpts, _ in server.accepted for rcpt in rcpts if rcpt != SUPPORT)
    assert len(customers) == COUNT - 1 and set(customers.values()) == {1}


def worker_message_id(message: Message) -> str:
    from portal.messaging.channels.email import message_id

    return message_id(message)
