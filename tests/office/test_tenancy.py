"""A support user of merchant A requests every back-office route with merchant B's ids: all 404."""
import re
from datetime import date

import pytest

from portal.cases import service
from portal.cases.service import Upload
from portal.extensions import db
from portal.models import Policy
from tests.factories import make_invoice, make_user, shop_today
from tests.office.conftest import csrf_from

PDF = b"%PDF-1.4\n%%EOF\n"


def foreign_ids(merchant_b) -> dict[str, int]:
    """One object of merchant B for every kind of id a back-office URL can carry."""
    today = shop_today()
    inv = make_invoice(merchant_b, "RE-B-1")
    case = service.open_dispute(inv.debtor, [inv], reason="damaged", body="b", uploads=[Upload("b.pdf", PDF)], today=today)
    db.session.commit()
    ids = {
        "invoice_id": inv.id,
        "case_id": case.id,
        "attachment_id": case.attachments[0].id,
        "user_id": make_user(merchant_b, "staff@beta.example").id,
        "debtor_id": inv.debtor_id,
        "day": today.isoformat(),
    }
    ids.update(extra_foreign_ids(merchant_b, inv))
    return ids


def extra_foreign_ids(merchant_b, invoice) -> dict[str, int]:
    """Ids of other features' objects (messages, bank entries, …) owned by merchant B."""
    from portal.messaging.outbox import enqueue

    message = enqueue(debtor=invoice.debtor, purpose="test", template="new_link", channels=["email"],
                      dedupe_key="tenancy-test", invoices=[(invoice, "tenancy")])
    from portal.payments.reconcile import import_statements
    from tests.payments.camt_builder import entry, statement

    import_statements(merchant_b, statement(entry("9.99", ref="B-1", text="no reference")), "b.xml",
                      actor="test", today=shop_today())
    db.session.commit()
    from portal.models import BankEntry

    bank_entry = db.session.query(BankEntry).filter_by(merchant_id=merchant_b.id).one()
    from portal.models import Event, WebhookDelivery, WebhookEndpoint

    endpoint = WebhookEndpoint(merchant_id=merchant_b.id, url="https://erp.beta.example/hook", events=["invoice.paid"], secret="s")
    db.session.add(endpoint)
    db.session.flush()
    event = db.session.query(Event).filter_by(merchant_id=merchant_b.id).first()
    hook = WebhookDelivery(merchant_id=merchant_b.id, endpoint_id=endpoint.id, event_id=event.id, webhook_id="wh_b", type="invoice.paid",
                           body="{}", status="failed")
    db.session.add(hook)
    db.session.commit()
    from portal.models import ApiKey
    from tests.factories import make_api_key

    make_api_key(merchant_b)
    key = db.session.query(ApiKey).filter_by(merchant_id=merchant_b.id).first()
    from portal.models import MessageText

    db.session.add(MessageText(merchant_id=merchant_b.id, kind="first_notice", language="de", version=1,
                               texts={"intro": "b"}, action="save", created_by="staff@beta.example"))
    db.session.commit()
    from portal.uploads import jobs

    upload = jobs.queue(merchant_b, None, "invoices", "b.csv", b"number;amount\nRE-1;1,00\n")
    db.session.commit()
    return {"kind": "unknown_kind", "language": "de", "version": 1, "job_id": upload.id,  # texts: unknown kinds answer 404 before the role check
            "message_id": message.id, "entry_id": bank_entry.id, "endpoint_id": endpoint.id, "delivery_id": hook.id,
            "key_id": key.id, "group_id": db.session.query(Policy).filter_by(merchant_id=merchant_b.id).first().group_id,
            "step": 0}  # policy previews: without a signed draft of this merchant there is nothing to show


def office_rules(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/office") and rule.arguments:
            yield rule


def test_every_back_office_route_with_another_merchants_id_answers_404(app, signed_in, merchant_b):
    ids = foreign_ids(merchant_b)
    token = csrf_from(signed_in.get("/office/").get_data(as_text=True))
    checked, unknown = [], []
    for rule in office_rules(app):
        missing = [a for a in rule.arguments if a not in ids]
        if missing:
            unknown.append((rule.rule, missing))
            continue
        url = rule.rule
        for arg in rule.arguments:
            url = re.sub(rf"<(?:\w+:)?{arg}>", str(ids[arg]), url)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if method == "GET":
                response = signed_in.get(url)
            else:
                response = signed_in.open(url, method=method, data={"csrf_token": token, "body": "x", "mode": "full",
                                                                    "note": "x", "rates": "3", "amount": "1,00"})
            checked.append((method, url, response.status_code))
    assert not unknown, f"routes with ids this test cannot fill yet: {unknown}"
    wrong = [c for c in checked if c[2] != 404]
    assert not wrong, f"answered something other than 404 for merchant B's ids: {wrong}"
    assert len(checked) >= 10


def test_the_foreign_objects_are_reachable_for_their_own_merchant(app, client, merchant_b):
    """The same URLs do answer for B's own staff, so the 404s above come from tenant scoping."""
    ids = foreign_ids(merchant_b)
    from tests.office.conftest import sign_in

    make_user(merchant_b, "own@beta.example", password="correct horse battery")
    assert sign_in(client, "own@beta.example").status_code == 303
    assert client.get(f"/office/cases/{ids['case_id']}").status_code == 200
    assert client.get(f"/office/invoices/{ids['invoice_id']}").status_code == 200
    assert client.get(f"/office/attachments/{ids['attachment_id']}").status_code == 200
