""""Ask a question": the debtor's message becomes a case in the support queue, answered by message and in the portal."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from sqlalchemy import select

from portal.cases import service
from portal.extensions import db
from portal.models import Case, Event, Message
from tests.debtor.conftest import csrf_from, text
from tests.factories import staff_actor


def _ask(portal, data, query=""):
    page = portal.get(f"/portal/requests/question{query}").get_data(as_text=True)
    return portal.post("/portal/requests/question", data={"csrf_token": csrf_from(page), **data})


def test_the_overview_and_the_contact_page_lead_to_the_question_form_not_a_static_page(portal, invoices):
    for path in ("/portal/", "/portal/contact"):
        assert 'href="/portal/requests/question"' in portal.get(path).get_data(as_text=True), path
    page = portal.get("/portal/requests/question")
    assert page.status_code == 200
    words = text(page)
    assert "Frage stellen" in words and "Bitte senden Sie keine Bank- oder Kartendaten." in words
    assert "checked" not in page.get_data(as_text=True)  # a question is about nothing in particular unless the debtor says so


def test_a_question_from_an_invoice_page_is_about_that_invoice(portal, invoices):
    page = portal.get(f"/portal/invoices/{invoices[1].id}").get_data(as_text=True)
    assert f'/portal/requests/question?invoice={invoices[1].id}' in page
    form = portal.get(f"/portal/requests/question?invoice={invoices[1].id}").get_data(as_text=True)
    assert f'value="{invoices[1].id}" checked' in form and f'value="{invoices[0].id}" checked' not in form


def test_a_question_becomes_a_case_in_the_queue_without_pausing_reminders(portal, invoices, shop):
    shop.support_email = "service@garden.example"
    db.session.commit()
    response = _ask(portal, {"invoices": [str(invoices[0].id)], "message": "Ist die Lieferung schon unterwegs?"})
    assert response.status_code == 303
    case = db.session.execute(select(Case)).scalar_one()
    assert (case.kind, case.status, case.body) == ("question", "open", "Ist die Lieferung schon unterwegs?")
    assert [i.id for i in case.invoices] == [invoices[0].id] and case.sla_due_at is not None
    assert all(inv.paused_reason is None for inv in invoices)  # a question is no objection
    notice = db.session.execute(select(Message).where(Message.purpose == "staff_notice")).scalar_one()
    assert notice.context["kind"] == "question" and notice.recipient == "service@garden.example"
    page = text(portal.get(response.headers["Location"]))
    assert "Frage" in page and "Stand: wartet auf Antwort" in page
    assert "Ist die Lieferung schon unterwegs?" in page
    overview = text(portal.get("/portal/"))
    assert "Frage : wartet auf Antwort" in overview


def test_a_question_about_no_invoice_is_taken_and_an_empty_one_is_not(portal, invoices):
    empty = _ask(portal, {"message": "   "})
    assert empty.status_code == 422 and "Bitte schreiben Sie Ihre Frage." in text(empty)
    assert db.session.execute(select(Case)).first() is None
    response = _ask(portal, {"message": "Kann ich die Rechnungsadresse ändern?"})
    assert response.status_code == 303
    case = db.session.execute(select(Case)).scalar_one()
    assert case.invoices == []
    assert "Rechnungen:" not in text(portal.get(response.headers["Location"]))


def test_a_question_does_not_block_an_objection_or_a_plan_for_the_same_invoice(portal, invoices):
    _ask(portal, {"invoices": [str(invoices[0].id)], "message": "Warum ist eine Mahngebühr dabei?"})
    page = portal.get("/portal/requests/dispute").get_data(as_text=True)
    response = portal.post("/portal/requests/dispute", data={
        "csrf_token": csrf_from(page), "invoices": [str(invoices[0].id)], "reason": "wrong_amount",
        "details": "Die Mahngebühr ist nicht berechtigt."})
    assert response.status_code == 303
    kinds = sorted(c.kind for c in db.session.execute(select(Case)).scalars())
    assert kinds == ["dispute", "question"]


def test_the_answer_is_sent_by_message_shown_in_the_portal_and_a_follow_up_reopens_the_question(portal, invoices, shop):
    response = _ask(portal, {"message": "Bis wann muss ich zahlen?"})
    case = db.session.execute(select(Case)).scalar_one()
    service.reply(case, actor=staff_actor(shop), body="Bitte bis zum 16.12.2026.")
    db.session.commit()
    assert case.status == "resolved" and case.resolution == "answered"
    sent = db.session.execute(select(Message).where(Message.template == "case_reply")).scalar_one()
    assert sent.debtor_id == case.debtor_id and sent.context["body"] == "Bitte bis zum 16.12.2026."
    page = portal.get(response.headers["Location"])
    words = text(page)
    assert "Stand: beantwortet" in words and "Bitte bis zum 16.12.2026." in words
    portal.post(f"/portal/cases/{case.id}/message", data={"csrf_token": csrf_from(page.get_data(as_text=True)),
                                                          "body": "Geht auch der 20.12.2026?"})
    db.session.expire_all()
    assert case.status == "open" and case.resolution is None and case.closed_at is None
    kinds = [e.kind for e in db.session.execute(select(Event).where(Event.debtor_id == case.debtor_id)).scalars()]
    assert {"case.question_asked", "case.question_answered", "case.question_reopened"} <= set(kinds)


def test_staff_see_the_question_in_the_waiting_queue_and_answer_it_from_the_case_page(app, shop, invoices):
    from tests.factories import make_user
    from tests.office.conftest import PASSWORD, sign_in

    case = service.ask_question(invoices[0].debtor, [invoices[0]], body="Haben Sie meine Rücksendung erhalten?")
    db.session.commit()
    user = make_user(shop, "desk@garden.example")
    staff = app.test_client()
    sign_in(staff, user.email, PASSWORD)
    queue = staff.get("/office/cases").get_data(as_text=True)
    assert f"/office/cases/{case.id}" in queue and "Frage" in queue
    page = staff.get(f"/office/cases/{case.id}").get_data(as_text=True)
    assert "Haben Sie meine Rücksendung erhalten?" in page and "pausiert keine Mahnungen" in page.replace("\u00a0", " ")
    answer = staff.post(f"/office/cases/{case.id}/reply", data={"csrf_token": csrf_from(page), "body": "Ja, am Montag."})
    assert answer.status_code == 303
    db.session.expire_all()
    assert case.status == "resolved"
    assert f"/office/cases/{case.id}" not in staff.get("/office/cases").get_data(as_text=True)
    audit = db.session.execute(select(Event).where(Event.kind == "staff.case.reply")).scalar_one()
    assert audit.actor == f"user:{user.id}"
