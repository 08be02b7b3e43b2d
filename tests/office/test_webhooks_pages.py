"""Admins register webhook endpoints (secret shown once), read the delivery log and resend; support staff cannot."""
from __future__ import annotations

import re

from sqlalchemy import select

from portal.extensions import db
from portal.models import Event, WebhookDelivery, WebhookEndpoint
from portal.shop_webhooks import delivery
from tests.factories import make_invoice, make_user
from tests.office.conftest import PASSWORD, csrf_from, sign_in
from tests.shop_webhooks.receiver import Receiver, documented_verify


def test_an_admin_registers_an_endpoint_sees_the_secret_once_and_can_resend_from_the_log(app, client, merchant_a):
    make_user(merchant_a, "admin@alpha.example", role="admin", password=PASSWORD)
    assert sign_in(client, "admin@alpha.example").status_code == 303
    page = client.get("/office/webhooks").get_data(as_text=True)
    token = csrf_from(page)
    # Not http(s): refused with a reason, nothing stored.
    refused = client.post("/office/webhooks", data={"csrf_token": token, "url": "ftp://erp.example/in", "events": ["invoice.paid"]})
    assert refused.status_code == 422 and "http- oder https-Adresse" in refused.get_data(as_text=True)  # in the admin's German
    assert db.session.query(WebhookEndpoint).count() == 0
    with Receiver() as receiver:
        created = client.post("/office/webhooks", data={"csrf_token": token, "url": receiver.url, "description": "Warenwirtschaft",
                                                        "events": ["invoice.created", "invoice.cancelled"]})
        assert created.status_code == 201
        html = created.get_data(as_text=True)
        secret = re.search(r"(whsec_[A-Za-z0-9_-]+)", html).group(1)
        endpoint = db.session.execute(select(WebhookEndpoint)).scalar_one()
        assert endpoint.secret == secret and endpoint.events == ["invoice.created", "invoice.cancelled"]
        assert secret not in client.get("/office/webhooks").get_data(as_text=True)  # shown once
        assert secret not in client.get(f"/office/webhooks/{endpoint.id}").get_data(as_text=True)
        audit = db.session.execute(select(Event).where(Event.kind == "staff.webhook.create")).scalar_one()
        assert "secret" not in str(audit.data)

        make_invoice(merchant_a, "RE-77")
        delivery.drain()
        log = client.get(f"/office/webhooks/{endpoint.id}").get_data(as_text=True)
        assert "invoice.created" in log and "200" in log
        item = db.session.execute(select(WebhookDelivery)).scalar_one()
        resent = client.post(f"/office/webhooks/{endpoint.id}/deliveries/{item.id}/resend", data={"csrf_token": token})
        assert resent.status_code == 303
        delivery.drain()
        bodies = receiver.bodies()
        assert [b["id"] for b in bodies] == [item.webhook_id, item.webhook_id]  # the same event, the same id
        verify = documented_verify()
        assert all(verify(secret, h["Settle-Signature"], body) for h, body, _ in receiver.requests)
        # Disabled: nothing more is sent; enabled again: it is.
        client.post(f"/office/webhooks/{endpoint.id}/state", data={"csrf_token": token, "enabled": "0"})
        make_invoice(merchant_a, "RE-78")
        delivery.drain()
        assert len(receiver.requests) == 2
        client.post(f"/office/webhooks/{endpoint.id}/state", data={"csrf_token": token, "enabled": "1"})
        assert db.session.get(WebhookEndpoint, endpoint.id).enabled


def test_support_staff_cannot_open_the_webhook_pages(signed_in):
    assert signed_in.get("/office/webhooks").status_code == 403
