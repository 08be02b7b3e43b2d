"""Messages in the back office: the outbox as the customer sees it, print batches and handover export."""
import io
import zipfile
from datetime import timedelta

from sqlalchemy import select

from portal.dunning.run import run
from portal.extensions import db
from portal.messaging import worker
from portal.models import Event, Message
from tests.dunning.helpers import DUE, make_debtor_invoice
from tests.factories import make_user
from tests.messaging.test_worker import soon
from tests.office.conftest import csrf_from, sign_in


def test_the_outbox_lists_queued_reminders_and_shows_them_as_the_customer_sees_them(signed_in, merchant_a):
    make_debtor_invoice(merchant_a, "standard", "RE-1")
    run(today=DUE + timedelta(days=7))
    message = db.session.execute(select(Message)).scalar_one()
    html = signed_in.get("/office/messages").get_data(as_text=True)
    assert f"/office/messages/{message.id}" in html
    detail = signed_in.get(f"/office/messages/{message.id}").get_data(as_text=True)
    assert "Zahlungserinnerung" in detail  # the rendered subject, in the debtor's language
    assert "RE-1" in detail
    preview = signed_in.get(f"/office/messages/{message.id}/preview.html")
    assert preview.status_code == 200
    assert "sandbox" in preview.headers["Content-Security-Policy"]
    assert "script-src" not in preview.headers["Content-Security-Policy"]
    assert "/p/" in preview.get_data(as_text=True) and "https://…/p/…" in preview.get_data(as_text=True)


def test_the_print_batch_of_a_day_downloads_as_one_pdf(signed_in, merchant_a, app):
    make_debtor_invoice(merchant_a, "older", "RE-1")  # the older customers' group gets letters
    run(today=DUE + timedelta(days=7))
    worker.drain(now=soon())
    letters = signed_in.get("/office/letters").get_data(as_text=True)
    day = db.session.execute(select(Message.provider_id).where(Message.channel == "letter")).scalar_one().removeprefix("print:")
    assert f"/office/letters/{day}.pdf" in letters
    response = signed_in.get(f"/office/letters/{day}.pdf")
    assert response.status_code == 200 and response.data.startswith(b"%PDF")
    assert signed_in.get("/office/letters/2001-01-01.pdf").status_code == 404


def test_the_handover_export_is_for_admins_and_audited(client, signed_in, merchant_a):
    make_debtor_invoice(merchant_a, "standard", "RE-1")
    for offset in (7, 21, 35, 49, 63):
        run(today=DUE + timedelta(days=offset))
    assert signed_in.get("/office/handover").status_code == 403
    assert signed_in.post("/office/handover/export.zip", data={}).status_code in (400, 403)
    make_user(merchant_a, "admin@alpha.example", role="admin", password="correct horse battery")
    signed_in.post("/office/logout")
    admin = client
    assert sign_in(admin, "admin@alpha.example").status_code == 303
    page = admin.get("/office/handover").get_data(as_text=True)
    assert admin.get("/office/handover/export.zip").status_code == 405  # an export is recorded: never on a GET
    response = admin.post("/office/handover/export.zip", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(response.data)).namelist()
    assert {"claims.csv", "claims.json", "entries.csv", "interest.csv", "messages.csv", "disputes.csv"} <= set(names)
    event = db.session.execute(select(Event).where(Event.kind == "staff.handover.export")).scalar_one()
    assert event.data["claims"] == 1 and event.data["supplements"] == 0