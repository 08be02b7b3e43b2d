"""Installment plans, promises and objections from the debtor's side of the portal."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Attachment, Case, Message
from tests.debtor.conftest import csrf_from, open_link, text
from tests.factories import make_invoice, shop_today, staff_actor

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def _post(portal, kind, data, files=None):
    page = portal.get(f"/portal/requests/{kind}").get_data(as_text=True)
    payload = {"csrf_token": csrf_from(page), **data}
    if files:
        payload["files"] = files
    return portal.post(f"/portal/requests/{kind}", data=payload, content_type="multipart/form-data" if files else None)


def test_a_plan_inside_the_rules_starts_at_once_and_shows_the_schedule_with_a_reference_per_rate(portal, invoices):
    first = (shop_today() + timedelta(days=10)).isoformat()
    response = _post(portal, "plan", {"invoices": [str(i.id) for i in invoices], "installments": "3", "first_due": first})
    assert response.status_code == 303
    case = db.session.execute(select(Case)).scalar_one()
    assert case.status == "active" and case.plan.rates_count == 3
    page = text(portal.get(response.headers["Location"]))
    assert "Stand: läuft" in page
    from portal.domain import rf

    assert rf.pretty(case.plan.rates[0].rf_reference) in page  # the first rate's own reference, ready to transfer
    assert "56,34" in page  # 169,00 € in three rates: 56,34 + 56,33 + 56,33
    assert all(inv.paused_reason == "plan" for inv in invoices)


def test_the_schedule_can_be_previewed_before_sending(portal, invoices):
    page = portal.get("/portal/requests/plan").get_data(as_text=True)
    first = (shop_today() + timedelta(days=10)).isoformat()
    response = portal.post("/portal/requests/plan", data={"csrf_token": csrf_from(page), "invoices": [str(invoices[0].id)],
                                                           "installments": "2", "first_due": first, "action": "preview"})
    assert response.status_code == 200
    assert "59,50" in text(response)  # 119,00 € in two rates
    assert db.session.execute(select(Case)).first() is None


def test_a_plan_outside_the_rules_waits_for_the_shop(portal, invoices, shop):
    shop.plan_max_rates = 3
    db.session.commit()
    first = (shop_today() + timedelta(days=10)).isoformat()
    response = _post(portal, "plan", {"invoices": [str(invoices[0].id)], "installments": "12", "first_due": first})
    case = db.session.execute(select(Case)).scalar_one()
    assert case.status == "open" and case.plan.status == "proposed"
    assert "wird Ihre Anfrage prüfen" in text(portal.get(response.headers["Location"]))


def test_a_promise_pauses_reminders_and_the_page_says_so(portal, invoices):
    day = shop_today() + timedelta(days=7)
    response = _post(portal, "promise", {"invoices": [str(invoices[1].id)], "pay_by": day.isoformat()})
    assert response.status_code == 303
    assert invoices[1].paused_reason == "promise" and invoices[0].paused_reason is None
    assert "keine Mahnungen" in text(portal.get(response.headers["Location"]))


def test_a_promise_beyond_the_shops_limit_is_refused(portal, invoices, shop):
    day = shop_today() + timedelta(days=shop.promise_max_days + 1)
    response = _post(portal, "promise", {"invoices": [str(invoices[0].id)], "pay_by": day.isoformat()})
    assert response.status_code == 422
    assert db.session.execute(select(Case)).first() is None


def test_an_objection_with_a_pdf_pauses_only_that_invoice_and_the_file_is_only_the_debtors(portal, invoices, app, shop):
    response = _post(portal, "dispute", {"invoices": [str(invoices[0].id)], "reason": "damaged",
                                         "details": "Die Bank kam mit gebrochenem Bein."},
                     files=[(__import__("io").BytesIO(PDF), "Foto.pdf")])
    assert response.status_code == 303
    assert invoices[0].paused_reason == "dispute" and invoices[1].paused_reason is None
    attachment = db.session.execute(select(Attachment)).scalar_one()
    download = portal.get(f"/portal/attachments/{attachment.id}")
    assert download.status_code == 200 and download.data == PDF
    assert download.headers["Content-Disposition"].startswith("attachment;")
    # Another debtor of the same shop cannot fetch it.
    other = make_invoice(shop, "RE-9", debtor={"external_ref": "K-2", "name": "Erika Musterfrau", "email": "erika@example.de"})
    stranger = app.test_client()
    open_link(stranger, other.debtor)
    assert stranger.get(f"/portal/attachments/{attachment.id}").status_code == 404
    assert stranger.get(f"/portal/cases/{attachment.case_id}").status_code == 404


@pytest.mark.parametrize("name, data", [("rechnung.pdf", b"MZ\x90\x00" + b"\0" * 200), ("foto.pdf", b"\x89PNG\r\n\x1a\n" + b"\0" * 50)])
def test_an_objection_with_a_bad_file_is_refused_and_nothing_is_stored(portal, invoices, name, data):
    response = _post(portal, "dispute", {"invoices": [str(invoices[0].id)], "reason": "damaged",
                                         "details": "Die Bank kam mit gebrochenem Bein."},
                     files=[(__import__("io").BytesIO(data), name)])
    assert response.status_code == 422
    assert name in text(response)
    assert db.session.execute(select(Case)).first() is None
    assert invoices[0].paused_reason is None


def test_the_debtor_answers_a_counter_offer(portal, invoices, shop):
    from portal.cases import service

    shop.plan_max_rates = 3
    db.session.commit()
    first = (shop_today() + timedelta(days=10)).isoformat()
    response = _post(portal, "plan", {"invoices": [str(invoices[0].id)], "installments": "12", "first_due": first})
    case = db.session.execute(select(Case)).scalar_one()
    service.counter_plan(case, actor=staff_actor(invoices[0].merchant), today=shop_today(), rates=3, first_due=shop_today() + timedelta(days=5))
    db.session.commit()
    page = portal.get(response.headers["Location"]).get_data(as_text=True)
    assert "3 Monatsraten" in text(portal.get(response.headers["Location"]))
    shown = text(portal.get(response.headers["Location"]))
    assert "Der vorgeschlagene Zahlungsplan" in shown
    assert "39,68" in shown and shown.count("39,66") == 2  # every rate of 119,00 €, shown before accepting
    portal.post(f"/portal/cases/{case.id}/answer", data={"csrf_token": csrf_from(page), "answer": "accept"})
    db.session.expire_all()
    assert case.status == "active" and len(case.plan.rates) == 3


def test_the_debtor_sees_shop_replies_but_not_internal_notes_and_can_answer(portal, invoices):
    from portal.cases import service

    response = _post(portal, "dispute", {"invoices": [str(invoices[0].id)], "reason": "other", "details": "Bitte um Rückruf wegen der Lieferung."})
    case = db.session.execute(select(Case)).scalar_one()
    service.reply(case, actor=staff_actor(invoices[0].merchant), body="Intern: Spedition fragen", internal=True)
    service.reply(case, actor=staff_actor(invoices[0].merchant), body="Wir haben die Spedition gefragt.")
    db.session.commit()
    page = portal.get(response.headers["Location"])
    assert "Wir haben die Spedition gefragt." in text(page) and "Intern" not in text(page)
    portal.post(f"/portal/cases/{case.id}/message", data={"csrf_token": csrf_from(page.get_data(as_text=True)), "body": "Danke!"})
    db.session.expire_all()
    assert case.notes[-1].author == "debtor" and case.notes[-1].body == "Danke!"


def test_the_overview_lists_the_debtors_requests(portal, invoices):
    _post(portal, "promise", {"invoices": [str(invoices[0].id)], "pay_by": (shop_today() + timedelta(days=5)).isoformat()})
    assert "Zahlungszusage" in text(portal.get("/portal/"))
    assert db.session.execute(select(Message).where(Message.template == "promise_confirmed")).scalar_one()


def test_the_overview_says_plan_requested_until_the_shop_agrees_and_being_paid_in_installments_after(portal, invoices, shop):
    from portal.cases import service

    shop.plan_max_rates = 3
    db.session.commit()
    first = (shop_today() + timedelta(days=10)).isoformat()
    _post(portal, "plan", {"invoices": [str(invoices[0].id)], "installments": "12", "first_due": first})
    page = text(portal.get("/portal/"))
    assert "Ratenzahlung angefragt" in page and "Wird in Raten bezahlt" not in page
    case = db.session.execute(select(Case)).scalar_one()
    service.approve_plan(case, actor=staff_actor(shop), today=shop_today())
    db.session.commit()
    page = text(portal.get("/portal/"))
    assert "Wird in Raten bezahlt" in page and "Ratenzahlung angefragt" not in page


def test_a_request_form_ticks_only_what_is_due(portal, invoices, shop):
    later = make_invoice(shop, "RE-LATER", amount="30.00", lines=[], due_date=(shop_today() + timedelta(days=20)).isoformat(),
                         issue_date=shop_today().isoformat())
    for kind in ("plan", "promise", "dispute"):
        page = portal.get(f"/portal/requests/{kind}").get_data(as_text=True)
        assert f'value="{invoices[0].id}" checked' in page and f'value="{later.id}" checked' not in page
        assert f'value="{later.id}"' in page  # listed, for whoever wants to include it


def test_with_htmx_a_changed_number_of_installments_swaps_in_only_the_new_schedule(portal, invoices):
    page = portal.get("/portal/requests/plan").get_data(as_text=True)
    assert 'hx-post="/portal/requests/plan"' in page and 'id="schedule"' in page
    first = (shop_today() + timedelta(days=10)).isoformat()
    response = portal.post("/portal/requests/plan", headers={"HX-Request": "true"}, data={
        "csrf_token": csrf_from(page), "invoices": [str(invoices[0].id)], "installments": "4", "first_due": first,
        "action": "preview"})
    assert response.status_code == 200 and "HX-Request" in response.headers.get("Vary", "")
    fragment = response.get_data(as_text=True)
    assert '<div id="schedule"' in fragment and "<html" not in fragment
    assert fragment.count("<tr><td>") == 4 and "29,75" in fragment  # 119,00 € in four installments
    assert db.session.execute(select(Case)).first() is None
