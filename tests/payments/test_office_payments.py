"""Back office: upload a statement, see what could not be matched, assign it; other merchants' entries are 404."""
from __future__ import annotations

import io
from pathlib import Path

from sqlalchemy import select

from portal.extensions import db
from portal.models import BankEntry, Event, Invoice
from portal.uploads import jobs
from tests.factories import make_invoice, make_merchant, make_user
from tests.office.conftest import PASSWORD, csrf_from, sign_in
from tests.payments.camt_builder import entry, statement

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "camt"  # copied from ../shared/samples (MIT, see README there)


def test_staff_upload_a_statement_and_assign_the_unmatched_payment(client, app):
    merchant = make_merchant("alpha")
    user = make_user(merchant, "support@alpha.example", password=PASSWORD)
    invoice = make_invoice(merchant, "RE-77", amount="42.00")
    assert sign_in(client, user.email).status_code == 303

    page = client.get("/office/payments")
    token = csrf_from(page.get_data(as_text=True))
    data = statement(entry("42.00", ref="B1", text="Danke fuer die Lieferung", name="Erika Muster"))
    response = client.post("/office/payments/upload", data={"csrf_token": token, "statement": (io.BytesIO(data), "day.xml")},
                           content_type="multipart/form-data")
    assert response.status_code == 303  # queued; the worker imports it
    assert db.session.execute(select(BankEntry)).first() is None
    assert jobs.drain("test-worker") == 1
    status = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "0 Zahlung(en) gebucht, 1 zuzuordnen" in status
    listing = client.get("/office/payments").get_data(as_text=True)
    assert "Erika Muster" in listing and "Danke fuer die Lieferung" in listing

    entry_id = db.session.execute(select(BankEntry.id)).scalar_one()
    wrong = client.post(f"/office/payments/entries/{entry_id}/assign", data={"csrf_token": token, "invoices": "RE-404"})
    assert wrong.status_code == 422 and "RE-404" in wrong.get_data(as_text=True)
    ok = client.post(f"/office/payments/entries/{entry_id}/assign", data={"csrf_token": token, "invoices": "RE-77"})
    assert ok.status_code == 303
    db.session.expire_all()
    assert db.session.get(Invoice, invoice.id).status == "paid"
    assert db.session.execute(select(Event).where(Event.kind == "staff.bank_entry.assigned")).scalar_one()


def test_a_rejected_upload_says_why_and_books_nothing(client, app):
    merchant = make_merchant("alpha")
    user = make_user(merchant, "support@alpha.example", password=PASSWORD)
    sign_in(client, user.email)
    token = csrf_from(client.get("/office/payments").get_data(as_text=True))
    bad = (SAMPLES / "camt053-v02-wrong.xml").read_bytes()
    response = client.post("/office/payments/upload", data={"csrf_token": token, "statement": (io.BytesIO(bad), "wrong.xml")},
                           content_type="multipart/form-data")
    assert response.status_code == 303
    jobs.drain("test-worker")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Die Datei enthält keinen Kontoauszug (Stmt)." in page and "Es wurde nichts importiert" in page
    assert db.session.execute(select(BankEntry)).first() is None


def test_a_file_that_is_no_statement_is_refused_at_once(client, app):
    merchant = make_merchant("alpha")
    user = make_user(merchant, "support@alpha.example", password=PASSWORD)
    sign_in(client, user.email)
    token = csrf_from(client.get("/office/payments").get_data(as_text=True))
    response = client.post("/office/payments/upload", data={"csrf_token": token, "statement": (io.BytesIO(b"%PDF-1.7 ..."), "day.xml")},
                           content_type="multipart/form-data")
    assert response.status_code == 422
    assert "Kontoauszug" in response.get_data(as_text=True)


def test_another_merchants_entry_answers_404(client, app):
    mine = make_merchant("alpha")
    theirs = make_merchant("beta")
    user = make_user(mine, "support@alpha.example", password=PASSWORD)
    from datetime import date

    from portal.payments.reconcile import import_statements

    import_statements(theirs, statement(entry("5.00", ref="X", text="?")), "x.xml", actor="t", today=date(2026, 1, 1))
    db.session.commit()
    foreign = db.session.execute(select(BankEntry.id)).scalar_one()
    sign_in(client, user.email)
    token = csrf_from(client.get("/office/payments").get_data(as_text=True))
    assert client.post(f"/office/payments/entries/{foreign}/assign", data={"csrf_token": token, "invoices": "RE-1"}).status_code == 404
