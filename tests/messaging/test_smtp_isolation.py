"""One bad address never harms another message on the same SMTP connection (real aiosmtpd server)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from aiosmtpd.controller import Controller

from portal.dunning.run import run
from portal.extensions import db, mail
from portal.messaging import worker
from tests.dunning.helpers import DUE, free_port, make_debtor_invoice, messages
from tests.factories import make_merchant


class Envelopes:
    """What the server accepted: (recipients, content) per message."""

    def __init__(self):
        self.accepted: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        self.accepted.append((list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@pytest.fixture(params=[False, True], ids=["server without SMTPUTF8", "server with SMTPUTF8"])
def server(app, request):
    handler = Envelopes()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, enable_SMTPUTF8=request.param)
    controller.start()
    # A short timeout: a worker that waits for an answer the server will never give fails here instead of hanging.
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_DEFAULT_SENDER="mahnung@shop.example",
                      MAIL_SUPPRESS_SEND=False, MAIL_TIMEOUT_SECONDS=5)
    mail.init_app(app)
    handler.smtputf8 = request.param
    yield handler
    controller.stop()


def queue_three_reminders(middle_email: str):
    merchant = make_merchant()
    for number, address in (("RE-1", "erste@example.de"), ("RE-2", middle_email), ("RE-3", "dritte@example.de")):
        make_debtor_invoice(merchant, "standard", number, email=address, external_ref=f"K-{number}")
    run(today=DUE + timedelta(days=7))
    queued = messages()
    assert [m.recipient for m in queued] == ["erste@example.de", middle_email, "dritte@example.de"]
    assert all(m.channel == "email" for m in queued)
    return queued


def now() -> datetime:
    return datetime.now(timezone.utc) + timedelta(minutes=1)


def test_a_non_ascii_address_in_the_middle_harms_neither_neighbour(app, server):
    queue_three_reminders("jürgen@example.de")
    result = worker.run_once(now=now())  # one batch, one connection
    first, middle, third = messages()
    recipients = [rcpt for rcpt, _ in server.accepted]
    assert (first.status, third.status) == ("sent", "sent")
    assert ["erste@example.de"] in recipients and ["dritte@example.de"] in recipients
    if server.smtputf8:
        assert middle.status == "sent" and result.sent == 3
        assert recipients == [["erste@example.de"], ["jürgen@example.de"], ["dritte@example.de"]]
        assert "To: jürgen@example.de".encode() in server.accepted[1][1]
    else:
        # Refused for good on email (the server cannot carry the address), so the message moves on
        # to the debtor's next channel; the neighbours' outcome is theirs alone.
        assert result.sent == 2 and result.fell_back == 1
        assert middle.channel == "letter" and "SMTPUTF8" in middle.last_error
        assert recipients == [["erste@example.de"], ["dritte@example.de"]]
        assert "permanent" not in (first.last_error or "") and third.attempts == 1


def test_an_internationalised_domain_goes_out_in_its_ascii_form(app, server):
    queue_three_reminders("kunde@bücher.example")
    worker.run_once(now=now())
    assert [m.status for m in messages()] == ["sent", "sent", "sent"]
    assert [rcpt for rcpt, _ in server.accepted][1] == ["kunde@xn--bcher-kva.example"]


class Wire:
    """Everything the worker writes to the SMTP server, per connection, and one fault in the middle message's DATA."""

    def __init__(self, monkeypatch, fault: str):
        import smtplib

        self.writes: list[tuple[int, bytes]] = []  # (connection, bytes), in the order written
        self.fault, self.faulted_at = fault, None  # (connection, how many writes had been made) when it struck
        real_send = smtplib.SMTP.send
        real_handing = worker.Batch.handing
        wire = self

        def send(smtp, data):
            raw = data.encode("ascii") if isinstance(data, str) else data
            if wire.faulted_at is None and isinstance(data, bytes) and b"To: zweite@example.de" in data:
                if wire.fault == "an exception while the body is written":
                    wire.faulted_at = (id(smtp), len(wire.writes))
                    raise RuntimeError("the connection to the renderer broke mid-message")
                if wire.fault == "the socket failing half-way through the body":
                    half = raw[: len(raw) // 2]
                    wire.writes.append((id(smtp), half))
                    real_send(smtp, half)
                    wire.faulted_at = (id(smtp), len(wire.writes))
                    raise BrokenPipeError(32, "Broken pipe")
            wire.writes.append((id(smtp), raw))
            return real_send(smtp, data)

        def handing(batch, message):
            if wire.fault == "the durable mark refused before the final dot" and wire.faulted_at is None \
                    and message.recipient == "zweite@example.de":
                smtp = batch.transport.session._conn.host
                wire.faulted_at = (id(smtp), len(wire.writes))
                raise RuntimeError("the database refused the hand-over mark")
            return real_handing(batch, message)

        monkeypatch.setattr(smtplib.SMTP, "send", send)
        monkeypatch.setattr(worker.Batch, "handing", handing)

    def after_the_fault(self) -> list[bytes]:
        """What was written on the faulty connection after the fault struck (nothing may be)."""
        connection, seen = self.faulted_at
        return [raw for conn, raw in self.writes[seen:] if conn == connection]


FAULTS = {
    "an exception while the body is written": "RuntimeError",
    "the socket failing half-way through the body": "BrokenPipeError",
    "the durable mark refused before the final dot": "RuntimeError",
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_fault_in_the_middle_of_one_conversation_is_not_the_next_messages_failure(app, server, monkeypatch, fault):
    """The middle message breaks inside DATA, after the server accepted its MAIL FROM, RCPT TO and DATA and
    while it takes every byte as message text. Nothing more is written on that connection (RSET or QUIT would
    become message text, the final dot would deliver a truncated message, and the next MAIL FROM would wait
    for an answer that never comes); the server discards the half message; the next message goes out on a
    fresh connection. Only the middle one is retried, and it arrives once, whole, on its retry."""
    queue_three_reminders("zweite@example.de")
    wire = Wire(monkeypatch, fault)
    result = worker.run_once(now=now())
    first, middle, third = messages()
    assert wire.faulted_at is not None, "the fault was not injected on the worker's path"
    assert wire.after_the_fault() == []
    assert [rcpt for rcpt, _ in server.accepted] == [["erste@example.de"], ["dritte@example.de"]]
    assert (first.status, third.status) == ("sent", "sent")
    assert (middle.status, middle.attempts, middle.channel, middle.handed_at) == ("pending", 1, "email", None)
    assert FAULTS[fault] in middle.last_error and "in doubt" not in middle.last_error
    assert (third.attempts, third.last_error) == (1, None)
    assert result.sent == 2 and result.retried == 1 and result.dead == result.in_doubt == result.fell_back == 0

    retry = worker.run_once(now=middle.not_before + timedelta(seconds=1))
    assert (retry.claimed, retry.sent) == (1, 1)
    assert [rcpt for rcpt, _ in server.accepted] == [["erste@example.de"], ["dritte@example.de"], ["zweite@example.de"]]
    retried = server.accepted[2][1]
    assert b"To: zweite@example.de" in retried and retried.rstrip().endswith(b"--")  # whole: the closing boundary
    assert [m.status for m in messages()] == ["sent", "sent", "sent"]


def test_a_server_that_stops_answering_costs_one_retry_not_the_worker(app, server, monkeypatch):
    """The server takes the middle message's RCPT TO and then says nothing: the worker waits no longer than
    MAIL_TIMEOUT_SECONDS, retries only that message (nothing was handed over) and sends the third on a
    fresh connection."""
    import asyncio

    queue_three_reminders("zweite@example.de")
    app.config["MAIL_TIMEOUT_SECONDS"] = 0.5

    async def handle_RCPT(srv, session, envelope, address, rcpt_options):
        if address == "zweite@example.de" and not getattr(server, "stalled", False):
            server.stalled = True
            await asyncio.sleep(3)  # longer than the worker waits
        envelope.rcpt_tos.append(address)
        return "250 OK"

    server.handle_RCPT = handle_RCPT
    result = worker.run_once(now=now())
    first, middle, third = messages()
    assert server.stalled and [rcpt for rcpt, _ in server.accepted] == [["erste@example.de"], ["dritte@example.de"]]
    assert (first.status, third.status, third.attempts, third.last_error) == ("sent", "sent", 1, None)
    assert (middle.status, middle.attempts, middle.handed_at) == ("pending", 1, None)
    assert "timed out" in middle.last_error and result.retried == 1 and result.in_doubt == 0
