"""What rendering writes is committed before the message leaves, and never blocks the hand-over's marks.

A letter about two invoices shows one bank-transfer reference for both; rendering it stores that
reference (`PaymentReference`), so the reconciliation can split a transfer carrying it. On SQLite an
uncommitted write of the worker's session held the database's one write lock for the rest of the batch:
the durable marks of every later message (committed on their own connection) waited out busy_timeout and
failed with "database is locked" (the `make run` demo showed it on its first batch). And a reference the
debtor had already been sent must exist even if the worker dies before the batch is recorded.

Real aiosmtpd server; the server looks at the database from a connection of its own as each message arrives.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, text

from portal.dunning.run import run
from portal.extensions import db, mail
from portal.messaging import worker
from portal.models import Message, PaymentReference
from tests.dunning.helpers import DUE, free_port, make_debtor_invoice
from tests.factories import make_merchant



class Watching:
    """Accepts every message and notes which payment references another connection can see at that moment."""

    def __init__(self, engine):
        self.engine = engine
        self.arrived: list[tuple[str, bytes, set[str]]] = []

    async def handle_DATA(self, server, session, envelope):
        with self.engine.connect() as connection:
            visible = set(connection.execute(text("SELECT reference FROM payment_reference")).scalars())
        self.arrived.append((envelope.rcpt_tos[0], envelope.content, visible))
        return "250 OK"


@pytest.fixture
def server(app):
    with app.app_context():
        handler = Watching(db.engine)
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_DEFAULT_SENDER="mahnung@shop.example",
                      MAIL_SUPPRESS_SEND=False, MAIL_TIMEOUT_SECONDS=5)
    mail.init_app(app)
    yield handler
    controller.stop()


@pytest.fixture
def short_busy_timeout(app):
    """Without the fix each later mark would wait 10 s for the lock; 2 s shows the same failure sooner."""
    if db.engine.dialect.name != "sqlite":
        yield
        return
    from sqlalchemy import event

    def pragma(dbapi_connection, record):
        dbapi_connection.execute("PRAGMA busy_timeout = 2000")

    db.engine.dispose()
    event.listen(db.engine, "connect", pragma)
    yield
    event.remove(db.engine, "connect", pragma)
    db.engine.dispose()


def test_a_letter_about_two_invoices_stores_its_reference_before_it_leaves_and_blocks_no_later_mark(
        app, server, short_busy_timeout):
    merchant = make_merchant()
    # Letters first for the older debtor (two invoices, one letter with one transfer reference for both), then emails.
    make_debtor_invoice(merchant, "older", "RE-1", amount="120.00")
    make_debtor_invoice(merchant, "older", "RE-2", amount="80.00")
    for number, ref in (("RE-3", "K-3"), ("RE-4", "K-4"), ("RE-5", "K-5")):
        make_debtor_invoice(merchant, "standard", number, external_ref=ref, email=f"{ref.lower()}@example.de")
    run(today=DUE + timedelta(days=7))
    queued = db.session.execute(select(Message).order_by(Message.id)).scalars().all()
    assert sorted(m.channel for m in queued) == ["email", "email", "email", "letter"]
    letter = next(m for m in queued if m.channel == "letter")
    assert len(letter.invoices) == 2
    assert db.session.execute(text("SELECT count(*) FROM payment_reference")).scalar() == 0

    result = worker.run_once(now=datetime.now(timezone.utc) + timedelta(minutes=1))

    assert (result.sent, result.retried, result.dead, result.in_doubt) == (4, 0, 0, 0)
    db.session.expire_all()
    sent = db.session.execute(select(Message).order_by(Message.id)).scalars().all()
    assert [(m.status, m.last_error) for m in sent] == [("sent", None)] * 4
    joint = db.session.execute(select(PaymentReference).where(PaymentReference.debtor_id == letter.debtor_id)).scalar_one()
    assert len(server.arrived) == 3
    after_the_letter = [visible for _, content, visible in server.arrived if message_id(content) > letter.id]
    assert after_the_letter, "no email was sent after the letter"
    assert all(joint.reference in visible for visible in after_the_letter)


def message_id(content: bytes) -> int:
    return int(re.search(rb"Message-ID: <settle\.(\d+)\.", content, re.IGNORECASE).group(1))
