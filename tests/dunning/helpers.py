"""Shared test helpers for the dunning and messaging tests: a real SMTP server and debtor factories."""
from __future__ import annotations

import email
import email.policy
import socket
from datetime import date, timedelta

from aiosmtpd.controller import Controller
from sqlalchemy import select

from portal.extensions import db
from portal.models import Debtor, Message
from tests.factories import make_invoice


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """Collects what the SMTP server receives; `reply` sets the answer to DATA (e.g. a 550)."""

    def __init__(self):
        self.raw: list[bytes] = []
        self.reply = "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.reply.startswith("250"):
            self.raw.append(envelope.content)
        return self.reply

    @property
    def messages(self) -> list[email.message.EmailMessage]:
        return [email.message_from_bytes(raw, policy=email.policy.default) for raw in self.raw]


def start_smtp(app):
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_DEFAULT_SENDER="mahnung@shop.example",
                      MAIL_SUPPRESS_SEND=False)  # TESTING would otherwise swallow mail
    from portal.extensions import mail

    mail.init_app(app)  # Flask-Mail reads its settings here
    return inbox, controller


DUE = date(2025, 6, 1)  # interest periods of this scenario span the base-rate change of 1 July 2025

PEOPLE = {
    # group: (external ref, kind, date of birth, extra debtor fields)
    "standard": ("K-STD", "person", "1980-05-05", {}),
    "older": ("K-OLD", "person", "1940-02-02", {}),
    "mobile": ("K-MOB", "person", "2000-03-03", {}),
    "business": ("G-BIZ", "business", None, {"company": "Beispiel GmbH"}),
}


def make_debtor_invoice(merchant, group: str, number: str, *, amount="1000.00", due=DUE, **debtor_fields):
    ref, kind, born, extra = PEOPLE[group]
    debtor = {"external_ref": ref, "kind": kind, "name": f"Test {group.title()}", "email": f"{group}@example.de",
              "phone": "+49 170 1234567", "language": "de", "date_of_birth": born, **extra, **debtor_fields}
    invoice = make_invoice(merchant, number, issue_date=(due - timedelta(days=14)).isoformat(), due_date=due.isoformat(),
                           amount=amount, lines=[{"description": "Gartenbank", "quantity": 1, "amount": amount}], debtor=debtor)
    if group == "mobile":
        invoice.debtor.consent_sms = True
        db.session.commit()
    return invoice


def messages() -> list[Message]:
    return db.session.execute(select(Message).where(Message.debtor_id.is_not(None)).order_by(Message.id)).scalars().all()


def debtor_of(invoice) -> Debtor:
    return db.session.get(Debtor, invoice.debtor_id)
