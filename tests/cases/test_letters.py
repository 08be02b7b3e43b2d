"""Debtors reachable only by post get case messages as letters, with the email's words."""
from datetime import date, timedelta

import pytest
import subprocess

from portal.cases import service
from portal.extensions import db
from portal.messaging import worker
from portal.messaging.channels.letter import stored_pdf
from portal.models import Message
from tests.factories import make_invoice, make_merchant, shop_today, staff_actor
from tests.messaging.test_worker import soon


def test_a_letter_only_debtor_gets_the_objection_answer_by_post(app):
    merchant = make_merchant(name="Gartenhaus")
    invoice = make_invoice(merchant, "RE-1", debtor={"email": None, "phone": None, "name": "Helga Krüger <b>"})
    case = service.open_dispute(invoice.debtor, [invoice], reason="damaged", body="kaputt", today=shop_today())
    service.reply(case, actor=staff_actor(merchant), body="Wir schicken Ersatz & entschuldigen uns.")
    db.session.commit()
    result = worker.drain(now=soon())
    letters = db.session.query(Message).filter(Message.channel == "letter", Message.status == "sent").all()
    assert result.sent >= 2 and len(letters) == 2
    reply = next(m for m in letters if m.template == "case_reply")
    text = subprocess.run(["pdftotext", "-layout", str(stored_pdf(reply)), "-"], capture_output=True, text=True, check=True).stdout
    assert "Eine Antwort auf Ihre Anfrage" in text
    assert "Wir schicken Ersatz & entschuldigen uns." in text
    assert "Helga Krüger <b>" in text  # shown as written, never as markup
