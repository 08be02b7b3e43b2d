"""The outbox worker against a real SMTP server on loopback, a Twilio stand-in and the letter store."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from datetime import date, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from sqlalchemy import select

from portal import ledger
from portal.clock import today_for
from portal.dunning import escalation
from portal.dunning.run import run
from portal.extensions import db
from portal.messaging import gsm7, worker
from portal.models import Event, Invoice, Message
from tests.dunning.helpers import DUE, free_port, make_debtor_invoice, messages, start_smtp
from tests.factories import make_merchant

# Messages are queued "now" (wall clock); the worker is driven with explicit times from just after that.
# A fixture, not a module constant: the suite may reach these tests minutes after importing them.
@pytest.fixture(autouse=True)
def _now():
    global NOW
    NOW = soon()


def soon() -> datetime:
    return datetime.now(timezone.utc) + timedelta(minutes=1)


NOW = soon()


def utc(moment: datetime) -> datetime:
    """SQLite hands back naive UTC datetimes, PostgreSQL aware ones."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@pytest.fixture
def smtp(app):
    inbox, controller = start_smtp(app)
    yield inbox
    controller.stop()


def test_a_reminder_email_arrives_multipart_in_german_with_link_amounts_and_stable_headers(app, smtp):
    merchant = make_merchant(name="Gartenhaus", support_email="hilfe@garten.example")
    make_debtor_invoice(merchant, "standard", "RE-1")
    run(today=DUE + timedelta(days=7))
    run(today=DUE + timedelta(days=21))
    run(today=DUE + timedelta(days=35))
    result = worker.drain(now=NOW)
    assert result.sent == 3
    reminder, first, second = smtp.messages
    assert second["Subject"] == "2. Mahnung von Gartenhaus"
    assert second["Reply-To"] == "hilfe@garten.example"
    assert second["To"] == "standard@example.de"
    assert "multipart/alternative" in [part.get_content_type() for part in second.walk()]
    text = second.get_body(("plain",)).get_content()
    html = second.get_body(("html",)).get_content()
    link = re.search(r"http://localhost/p/[A-Za-z0-9_-]+", text).group(0)
    assert link in html
    assert "Guten Tag Test Standard," in text
    assert "1.000,00\xa0€" in text  # principal
    # The 1st notice (Sunday 22 June 2025, email) set the deadline Wednesday 2 July: default from its end,
    # interest 3–6 July, 4 days × 1000.00 × 6.27 % / 365 = 0.687 → 0.69.
    assert "Verzugszinsen (§ 288 BGB): 0,69\xa0€" in text
    assert "Mahngebühr" not in text  # sent by email: the default fee for an email is 0 (actual costs only)
    assert "Zu zahlen insgesamt: 1.000,69\xa0€" in text
    message = messages()[2]
    assert second["Message-ID"] == message.provider_id and message.status == "sent"
    assert message.subject == "2. Mahnung von Gartenhaus"


def test_an_english_speaking_debtor_gets_english_copy(app, smtp):
    merchant = make_merchant(name="Gartenhaus")
    make_debtor_invoice(merchant, "standard", "RE-1", language="en")
    run(today=DUE + timedelta(days=7))
    worker.drain(now=NOW)
    [mail] = smtp.messages
    assert mail["Subject"] == "Payment reminder from Gartenhaus"
    assert "Dear Test Standard," in mail.get_body(("plain",)).get_content()


def test_a_payment_after_queueing_cancels_the_message(app, smtp):
    merchant = make_merchant()
    invoice = make_debtor_invoice(merchant, "standard", "RE-1")
    run(today=DUE + timedelta(days=7))
    ledger.book(invoice, kind="payment", amount_minor=100000, source="bank", external_ref="B-1",
                booked_on=DUE + timedelta(days=7), actor="test")
    db.session.commit()
    assert messages()[0].status == "cancelled"
    assert worker.drain(now=NOW).sent == 0 and smtp.raw == []


def test_a_payment_while_the_message_is_claimed_still_stops_it(app, smtp):
    merchant = make_merchant()
    invoice = make_debtor_invoice(merchant, "standard", "RE-1")
    run(today=DUE + timedelta(days=7))
    [message_id] = worker.claim(now=NOW)
    ledger.book(db.session.get(Invoice, invoice.id), kind="payment", amount_minor=100000, source="bank",
                external_ref="B-1", booked_on=DUE + timedelta(days=7), actor="test")
    db.session.commit()
    assert worker.run_once(now=NOW + worker.LEASE * 2).cancelled == 1
    assert db.session.get(Message, message_id).status == "cancelled" and smtp.raw == []


def test_a_worker_killed_between_claim_and_send_loses_no_message(app, smtp, database_url):
    merchant = make_merchant()
    make_debtor_invoice(merchant, "standard", "RE-1")
    run(today=DUE + timedelta(days=7))
    script = (
        "import sys, time\n"
        "from datetime import datetime, timezone\n"
        "from portal import create_app\n"
        "from portal.messaging import worker\n"
        "app = create_app({'SQLALCHEMY_DATABASE_URI': sys.argv[1]})\n"
        "with app.app_context():\n"
        "    print(worker.claim(now=datetime.fromisoformat(sys.argv[2])), flush=True)\n"
        "    time.sleep(300)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script, database_url, NOW.isoformat()], stdout=subprocess.PIPE,
                             text=True, cwd=os.getcwd())
    try:
        claimed = child.stdout.readline().strip()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
    assert claimed == f"[{messages()[0].id}]"
    db.session.expire_all()
    assert messages()[0].status == "sending"
    assert worker.run_once(now=NOW + timedelta(minutes=1)).claimed == 0  # the lease still holds
    assert worker.run_once(now=NOW + worker.LEASE + timedelta(minutes=1)).sent == 1
    assert len(smtp.raw) == 1


def test_smtp_failures_back_off_then_fall_back_to_the_next_channel(app, smtp):
    merchant = make_merchant()
    make_debtor_invoice(merchant, "standard", "RE-1")
    run(today=DUE + timedelta(days=7))
    smtp.reply = "451 try again later"
    now = NOW
    for attempt in range(1, worker.MAX_ATTEMPTS):
        assert worker.run_once(now=now).retried == 1
        message = messages()[0]
        assert message.attempts == attempt and message.status == "pending" and "451" in message.last_error
        assert utc(message.not_before) == now + worker.BACKOFF_BASE * 2 ** (attempt - 1)
        now = utc(message.not_before)
    assert worker.run_once(now=now).fell_back == 1
    message = messages()[0]
    assert (message.channel, message.fallbacks, message.attempts) == ("letter", [], 0)
    assert worker.run_once(now=now).sent == 1
    assert messages()[0].provider_id == f"print:{today_for(merchant.timezone, now).isoformat()}"


def test_a_rejected_address_falls_back_at_once(app, smtp):
    merchant = make_merchant()
    make_debtor_invoice(merchant, "standard", "RE-1")
    run(today=DUE + timedelta(days=7))
    smtp.reply = "550 no such user"
    assert worker.run_once(now=NOW).fell_back == 1
    assert messages()[0].channel == "letter"


class TwilioStandIn(BaseHTTPRequestHandler):
    received: list = []
    status = 201

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        from urllib.parse import parse_qs

        TwilioStandIn.received.append((self.path, self.headers["Authorization"], parse_qs(body)))
        answer = {"sid": f"SM{len(TwilioStandIn.received):032d}", "status": "queued"} if self.status == 201 else {
            "code": 21211, "message": "The 'To' number is not a valid phone number.", "status": 400}
        payload = json.dumps(answer).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def twilio(app):
    TwilioStandIn.received, TwilioStandIn.status = [], 201
    server = HTTPServer(("127.0.0.1", free_port()), TwilioStandIn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.config.update(SMS_PROVIDER="twilio", TWILIO_ACCOUNT_SID="AC123", TWILIO_AUTH_TOKEN="secret",
                      TWILIO_FROM="+4915100000000", TWILIO_API_BASE=f"http://127.0.0.1:{server.server_port}")
    yield TwilioStandIn
    server.shutdown()
    server.server_close()


def test_mobile_first_debtors_get_one_gsm7_sms_with_their_link(app, twilio, smtp):
    merchant = make_merchant(name="Gartenhaus Sonnenberg am Killesberg")
    make_debtor_invoice(merchant, "mobile", "RE-1", amount="12345.67", name="Maximiliane Mustermann-Überlänge")
    run(today=DUE + timedelta(days=7))
    run(today=DUE + timedelta(days=35))
    assert worker.drain(now=NOW).sent == 2
    _, (path, auth, form) = twilio.received
    assert path == "/2010-04-01/Accounts/AC123/Messages.json" and auth.startswith("Basic ")
    assert form["To"] == ["+491701234567"] and form["From"] == ["+4915100000000"]
    body = form["Body"][0]
    assert gsm7.septets(body) <= 160
    assert re.search(r"http://localhost/p/[A-Za-z0-9_-]+$", body)
    assert "12.345,67" in body and "1. Mahnung" in body
    assert messages()[1].provider_id == "SM" + "2".zfill(32)


def test_an_sms_the_provider_rejects_falls_back_to_email(app, twilio, smtp):
    twilio.status = 400
    merchant = make_merchant()
    make_debtor_invoice(merchant, "mobile", "RE-1")
    run(today=DUE + timedelta(days=7))
    result = worker.drain(now=NOW)
    assert result.fell_back == 1 and result.sent == 1
    message = messages()[0]
    assert (message.channel, message.status) == ("email", "sent")
    [fallback] = db.session.execute(select(Event).where(Event.kind == "message.fallback")).scalars().all()
    assert fallback.data["from"] == "sms" and "21211" in fallback.data["error"]
    assert len(smtp.raw) == 1


def test_286_3_a_notice_email_that_falls_back_to_a_letter_counts_from_the_letters_receipt(app, smtp):
    merchant = make_merchant()
    invoice = make_debtor_invoice(merchant, "standard", "RE-1")
    run(today=DUE - timedelta(days=3))  # Thu 29 May 2025: the pre-due email with the § 286 (3) notice
    invoice = db.session.get(Invoice, invoice.id)
    assert (invoice.default_on, invoice.default_rule) == (date(2025, 7, 1), "thirty_days")  # email received Fri 30 May
    smtp.reply = "550 no such user"
    assert worker.drain(now=NOW).sent == 1
    [message] = messages()
    assert message.channel == "letter"
    invoice = db.session.get(Invoice, invoice.id, populate_existing=True)
    # the letter is presumed received Mon 2 June, after the due date: 2 June + 30 → Wed 2 July
    assert (invoice.default_on, invoice.default_rule) == (date(2025, 7, 2), "thirty_days")
    changed = db.session.execute(select(Event).where(Event.kind == "dunning.default_changed")).scalar_one()
    assert changed.data["was"] == "2025-07-01" and changed.data["channel"] == "letter"


def test_pause_cancels_pending_reminders_and_resume_plans_anew(app):
    merchant = make_merchant()
    invoice = make_debtor_invoice(merchant, "standard", "RE-1")
    run(today=DUE + timedelta(days=7))
    run(today=DUE + timedelta(days=21))
    invoice = db.session.get(Invoice, invoice.id)
    escalation.pause(invoice, "dispute", today=DUE + timedelta(days=22))
    db.session.commit()
    assert messages()[1].status == "cancelled"
    for n in range(23, 60):
        run(today=DUE + timedelta(days=n))
    assert len(messages()) == 2  # nothing while the dispute stands
    invoice = db.session.get(Invoice, invoice.id)
    escalation.resume(invoice, today=DUE + timedelta(days=60))
    db.session.commit()
    assert invoice.next_action_on == DUE + timedelta(days=67)  # second notice, after the grace period
    run(today=DUE + timedelta(days=66))
    assert len(messages()) == 2
    run(today=DUE + timedelta(days=67))
    assert [m.template for m in messages()] == ["payment_reminder", "first_notice", "second_notice"]


def test_a_pause_until_a_promised_day_resumes_by_itself(app):
    merchant = make_merchant()
    invoice = make_debtor_invoice(merchant, "standard", "RE-1")
    run(today=DUE + timedelta(days=7))
    run(today=DUE + timedelta(days=21))
    escalation.pause(db.session.get(Invoice, invoice.id), "promise", until=DUE + timedelta(days=40), today=DUE + timedelta(days=22))
    db.session.commit()
    for n in range(23, 47):
        run(today=DUE + timedelta(days=n))
    assert len(messages()) == 2
    assert db.session.get(Invoice, invoice.id).paused_reason is None
    run(today=DUE + timedelta(days=47))  # promise day 40 + 7 days grace
    assert [m.template for m in messages()] == ["payment_reminder", "first_notice", "second_notice"]
