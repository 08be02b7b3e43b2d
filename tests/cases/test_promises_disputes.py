"""Promises to pay and disputes: pausing, reminding, breaking, resolving."""
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from portal import ledger
from portal.cases import service, storage
from portal.cases.service import CaseError, Upload
from portal.extensions import db
from portal.models import Attachment, Event, Message
from tests.factories import make_invoice, make_merchant, staff_actor

TODAY = date(2026, 3, 2)
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@pytest.fixture
def merchant(app):
    return make_merchant(promise_max_days=14)


def _invoice(merchant, number, amount="120.00", ref="K-1001"):
    return make_invoice(merchant, number, amount=amount, lines=[], issue_date="2026-01-10", due_date="2026-01-24",
                        debtor={"external_ref": ref})


def _sent(template):
    return db.session.execute(select(Message).where(Message.template == template)).scalars().all()


def test_a_promise_pauses_until_the_date_reminds_the_day_before_and_resumes_once_when_broken(merchant):
    inv = _invoice(merchant, "RE-1")
    promised = TODAY + timedelta(days=10)
    case = service.make_promise(inv.debtor, [inv], promised_on=promised, today=TODAY)
    db.session.commit()
    assert inv.paused_reason == "promise" and len(_sent("promise_confirmed")) == 1
    for offset in range(1, 12):
        service.daily(merchant, TODAY + timedelta(days=offset))
        service.daily(merchant, TODAY + timedelta(days=offset))  # a repeated run changes nothing
        db.session.commit()
    reminders = _sent("promise_reminder")
    assert len(reminders) == 1
    assert case.status == "broken"
    assert inv.paused_reason is None
    assert len(_sent("promise_broken")) == 1
    assert len(db.session.execute(select(Event).where(Event.invoice_id == inv.id, Event.kind == "dunning.resumed")).scalars().all()) == 1


def test_a_kept_promise_completes(merchant):
    inv = _invoice(merchant, "RE-1")
    case = service.make_promise(inv.debtor, [inv], promised_on=TODAY + timedelta(days=3), today=TODAY)
    ledger.book(inv, kind="payment", amount_minor=inv.open_minor, source="bank", external_ref="t-1",
                booked_on=TODAY + timedelta(days=2), actor="bank")
    service.daily(merchant, TODAY + timedelta(days=5))
    db.session.commit()
    assert case.status == "completed" and not _sent("promise_broken")


@pytest.mark.parametrize("days", [0, 15])
def test_a_promise_outside_the_window_is_refused(merchant, days):
    inv = _invoice(merchant, "RE-1")
    with pytest.raises(CaseError) as exc:
        service.make_promise(inv.debtor, [inv], promised_on=TODAY + timedelta(days=days), today=TODAY)
    assert exc.value.code == "promise_out_of_range"


def test_a_dispute_pauses_only_the_disputed_invoice_and_keeps_its_attachment(merchant):
    disputed = _invoice(merchant, "RE-1")
    other = _invoice(merchant, "RE-2")
    case = service.open_dispute(disputed.debtor, [disputed], reason="damaged", body="Die Bank kam zerkratzt an.",
                                uploads=[Upload("Foto Schaden.pdf", PDF)], today=TODAY)
    db.session.commit()
    assert disputed.paused_reason == "dispute" and other.paused_reason is None
    [att] = db.session.execute(select(Attachment)).scalars().all()
    assert att.mime_type == "application/pdf" and storage.load(att.storage_key) == PDF
    assert case.notes[0].body == "Die Bank kam zerkratzt an."


@pytest.mark.parametrize("name, data, code", [
    ("tool.exe", b"MZ" + b"\0" * 100, "file_executable"),
    ("scan.pdf", b"\x89PNG\r\n\x1a\n" + b"\0" * 20, "file_extension_mismatch"),
    ("huge.pdf", PDF + b"0" * (10 * 1024 * 1024), "file_too_large"),
])
def test_a_bad_upload_refuses_the_whole_dispute_and_stores_nothing(merchant, name, data, code):
    inv = _invoice(merchant, "RE-1")
    with pytest.raises(CaseError) as exc:
        service.open_dispute(inv.debtor, [inv], reason="other", body="x", uploads=[Upload(name, data)], today=TODAY)
    assert exc.value.code == code
    db.session.rollback()
    assert inv.paused_reason is None
    assert db.session.execute(select(Attachment)).first() is None


def test_a_partial_credit_resolves_the_dispute_and_escalation_resumes_for_the_rest(merchant):
    inv = _invoice(merchant, "RE-1", amount="120.00")
    case = service.open_dispute(inv.debtor, [inv], reason="wrong_amount", body="Nur 100 € vereinbart.", today=TODAY)
    service.resolve_dispute(case, actor=staff_actor(merchant), today=TODAY, credit_minor={inv.id: 2000}, note="Wir schreiben 20 € gut.")
    db.session.commit()
    assert inv.open_minor == 10000 and inv.status == "open"
    assert inv.paused_reason is None and case.status == "resolved"
    assert len(_sent("dispute_resolved")) == 1


def test_a_full_credit_cancels_the_invoice(merchant):
    inv = _invoice(merchant, "RE-1")
    case = service.open_dispute(inv.debtor, [inv], reason="returned", body="Retoure am 3.2.", today=TODAY)
    service.resolve_dispute(case, actor=staff_actor(merchant), today=TODAY, full=True)
    db.session.commit()
    assert inv.status == "cancelled" and inv.open_minor == 0


def test_a_rejected_dispute_resumes_escalation_not_before_the_new_deadline(merchant):
    inv = _invoice(merchant, "RE-1")
    case = service.open_dispute(inv.debtor, [inv], reason="not_received", body="Nie angekommen.", today=TODAY)
    deadline = TODAY + timedelta(days=14)
    service.reject_dispute(case, actor=staff_actor(merchant), today=TODAY, note="Zustellung am 12.1. belegt (Sendungsnummer anbei).", resume_on=deadline)
    db.session.commit()
    assert case.status == "rejected" and inv.paused_reason is None
    assert inv.next_action_on >= deadline


def test_staff_replies_go_to_the_debtor_but_internal_notes_do_not(merchant):
    inv = _invoice(merchant, "RE-1")
    case = service.open_dispute(inv.debtor, [inv], reason="other", body="Frage zur Rechnung", today=TODAY)
    service.reply(case, actor=staff_actor(merchant), body="Intern: Lager fragen", internal=True)
    service.reply(case, actor=staff_actor(merchant), body="Wir prüfen das und melden uns.")
    db.session.commit()
    replies = _sent("case_reply")
    assert len(replies) == 1 and replies[0].context["body"] == "Wir prüfen das und melden uns."
