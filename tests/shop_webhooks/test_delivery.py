"""Outgoing webhooks end to end: real changes, a real receiver on loopback, the documented signature check."""
from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta, timezone

import jsonschema
from sqlalchemy import select

from portal import ledger
from portal.api.openapi import spec
from portal.cases import service
from portal.dunning.run import run
from portal.extensions import db
from portal.models import Event, Invoice, Message
from portal.models.webhook import WebhookDelivery, WebhookEndpoint, WebhookQueue
from portal.payments import booking
from portal.shop_webhooks import delivery, types
from tests.dunning.helpers import DUE, make_debtor_invoice
from tests.factories import make_invoice, make_merchant, make_user, staff_actor
from tests.shop_webhooks.receiver import Receiver, documented_verify

SECRET = "whsec_test-secret"
TODAY = date(2026, 3, 2)


def endpoint_for(merchant, url, events=None, secret=SECRET) -> WebhookEndpoint:
    endpoint = WebhookEndpoint(merchant_id=merchant.id, url=url, events=list(events or types.TYPES), secret=secret,
                               description="ERP", created_at=datetime(2020, 1, 1, tzinfo=timezone.utc))
    db.session.add(endpoint)
    db.session.commit()
    return endpoint


def _invoice(merchant, number, amount="300.00", ref=None):
    return make_invoice(merchant, number, amount=amount, lines=[], issue_date="2026-01-10", due_date="2026-01-24",
                        debtor={"external_ref": ref or f"K-{number}", "name": f"Kunde {number}"})


def every_kind(merchant) -> dict[str, Invoice]:
    """Real changes through Settle's own functions that between them produce every webhook type."""
    made = {}
    # Handover: the default policy's six steps, one daily run after the other.
    made["H"] = make_debtor_invoice(merchant, "standard", "RE-H", amount="100.00")
    for n in range(67):
        run(today=DUE - timedelta(days=3) + timedelta(days=n), merchant=merchant)
    # Payments: part, rest, and one that pays too much.
    made["P"] = _invoice(merchant, "RE-P", amount="119.00")
    for ref, minor in (("pay-1", 5000), ("pay-2", 6900)):
        ledger.book(made["P"], kind="payment", amount_minor=minor, source="api", external_ref=ref, booked_on=TODAY, actor="api")
    made["O"] = _invoice(merchant, "RE-O", amount="50.00")
    booking.book_shares([(made["O"], 6000)], kind="payment", source="bank", ref="tx-9", booked_on=TODAY, actor="bank",
                        memo="Bank transfer")
    made["C"] = _invoice(merchant, "RE-C")
    ledger.cancel(made["C"], on=TODAY, actor="api", reason="returned goods")
    db.session.commit()
    # Dispute opened (pauses), rejected (resumes).
    made["D"] = _invoice(merchant, "RE-D")
    case = service.open_dispute(made["D"].debtor, [made["D"]], reason="not_received", body="Nie angekommen.", today=TODAY)
    db.session.commit()
    service.reject_dispute(case, actor=staff_actor(merchant), today=TODAY, note="Zugestellt laut Sendungsverfolgung.")
    db.session.commit()
    # Promise made, then broken.
    made["R"] = _invoice(merchant, "RE-R")
    service.make_promise(made["R"].debtor, [made["R"]], promised_on=TODAY + timedelta(days=5), today=TODAY)
    db.session.commit()
    # Plans: one broken, one completed.
    made["B"] = _invoice(merchant, "RE-B")
    service.request_plan(made["B"].debtor, [made["B"]], rates=3, first_due=TODAY + timedelta(days=8), today=TODAY)
    made["K"] = _invoice(merchant, "RE-K", amount="200.00")
    plan = service.request_plan(made["K"].debtor, [made["K"]], rates=2, first_due=TODAY + timedelta(days=3), today=TODAY)
    for n, rate in enumerate(plan.plan.rates, 1):
        ledger.book(made["K"], kind="payment", amount_minor=rate.amount_minor, source="bank", external_ref=f"rate-{n}",
                    booked_on=rate.due_on, actor="bank")
    db.session.commit()
    service.daily(merchant, TODAY + timedelta(days=40))
    db.session.commit()
    return made


def test_every_webhook_type_arrives_signed_in_order_and_a_failed_first_attempt_comes_again(app):
    merchant = make_merchant(plan_max_rates=6, plan_min_rate_minor=2500, plan_max_total_minor=500000, plan_grace_days=7)
    verify = documented_verify()
    with Receiver(answers=[500]) as receiver:
        endpoint = endpoint_for(merchant, receiver.url)
        made = every_kind(merchant)
        t0 = datetime.now(timezone.utc)
        first = delivery.drain(now=t0)
        assert first.retried == 1  # the first attempt got a 500 …
        failed = receiver.bodies(500)
        assert len(failed) == 1
        later = delivery.drain(now=t0 + timedelta(hours=1))  # … and it comes again later, with the same id
        assert later.delivered >= 1
        delivered = receiver.bodies()
        assert failed[0]["id"] in [b["id"] for b in delivered]

    # Every request carries a valid signature by the documented snippet; a wrong secret fails it.
    for headers, body, _ in receiver.requests:
        assert verify(SECRET, headers["Settle-Signature"], body)
        assert not verify("whsec_other", headers["Settle-Signature"], body)
        assert not verify(SECRET, headers["Settle-Signature"], body + b" ")
    # Every type exactly as documented in the OpenAPI document; every type at least once.
    document = spec()
    for body in delivered:
        schema = {"$ref": f"#/components/schemas/Webhook_{body['type'].replace('.', '_')}", "components": document["components"]}
        jsonschema.validate(body, schema)
        assert body["type"] in document["webhooks"]
    assert {b["type"] for b in delivered} == set(types.TYPES)
    # Each id once (ids are unique), and one per delivery row.
    ids = [b["id"] for b in delivered]
    assert len(ids) == len(set(ids)) == db.session.query(WebhookDelivery).count()
    # In order per invoice: the event order of each invoice, although its first delivery had to be retried.
    seen = defaultdict(list)
    for body in delivered:
        if body["data"]["invoice"]:
            seen[body["data"]["invoice"]["number"]].append(body["type"])
    assert seen["RE-P"] == ["invoice.created", "invoice.partially_paid", "invoice.paid"]
    assert seen["RE-O"] == ["invoice.created", "invoice.paid", "invoice.overpaid"]
    assert seen["RE-C"] == ["invoice.created", "invoice.cancelled"]
    # (a case pauses or resumes the invoice first, then records itself)
    assert seen["RE-D"] == ["invoice.created", "invoice.paused", "dispute.opened", "invoice.resumed", "dispute.resolved"]
    assert seen["RE-R"] == ["invoice.created", "invoice.paused", "promise.made", "invoice.resumed", "promise.broken"]
    assert seen["RE-B"] == ["invoice.created", "invoice.paused", "plan.created", "invoice.resumed", "plan.broken"]
    assert seen["RE-K"] == ["invoice.created", "invoice.paused", "plan.created", "invoice.partially_paid", "invoice.paid",
                            "plan.completed"]
    assert seen["RE-H"] == ["invoice.created"] + ["invoice.step_taken"] * 6 + ["invoice.handed_over"]
    # Bodies a shop would rely on, computed by hand.
    by_type = {(b["data"]["invoice"]["number"], b["type"]): b for b in delivered if b["data"]["invoice"]}
    paid = by_type[("RE-P", "invoice.paid")]["data"]
    assert paid["invoice"] == {"number": "RE-P", "order_ref": None, "currency": "EUR", "amount": "119.00",
                               "due_date": "2026-01-24", "debtor_ref": "K-RE-P"}
    assert paid["payment"] == {"amount": "69.00", "source": "api", "reference": "pay-2"} and paid["open_amount"] == "0.00"
    assert by_type[("RE-P", "invoice.partially_paid")]["data"]["open_amount"] == "69.00"
    assert by_type[("RE-O", "invoice.overpaid")]["data"]["credit"] == "10.00"
    assert by_type[("RE-C", "invoice.cancelled")]["data"]["reason"] == "returned goods"
    assert by_type[("RE-D", "dispute.resolved")]["data"]["outcome"] == "rejected"
    assert by_type[("RE-R", "promise.made")]["data"]["promised_on"] == "2026-03-07"
    assert [r["amount"] for r in by_type[("RE-K", "plan.created")]["data"]["rates"]] == ["100.00", "100.00"]
    # The delivery log: the first delivery shows two attempts, 500 then 200.
    retried = db.session.execute(select(WebhookDelivery).where(WebhookDelivery.webhook_id == failed[0]["id"])).scalar_one()
    assert retried.status == "delivered" and retried.attempts == 2 and retried.last_status_code == 200
    assert db.session.query(WebhookQueue).count() == 0
    assert endpoint.failing_since is None


def test_no_endpoint_no_queue_and_an_endpoint_gets_only_its_events_from_its_registration_on(app):
    merchant, other = make_merchant(), make_merchant()
    _invoice(merchant, "RE-1")
    assert db.session.query(WebhookQueue).count() == 0  # merchants without webhooks pay nothing
    with Receiver() as receiver:
        endpoint = WebhookEndpoint(merchant_id=merchant.id, url=receiver.url, events=["invoice.cancelled"], secret=SECRET)
        db.session.add(endpoint)
        db.session.commit()
        inv = _invoice(merchant, "RE-2")
        _invoice(other, "RE-3")  # another merchant's event never reaches this endpoint
        ledger.cancel(inv, on=TODAY, actor="api")
        db.session.rollback()  # a change that rolls back is not reported
        ledger.cancel(db.session.get(Invoice, inv.id), on=TODAY, actor="api", reason="x")
        db.session.commit()
        delivery.drain()
        assert [(b["type"], b["data"]["invoice"]["number"]) for b in receiver.bodies()] == [("invoice.cancelled", "RE-2")]


def test_an_endpoint_that_keeps_failing_is_retried_with_backoff_then_disabled_and_admins_are_emailed(app):
    merchant = make_merchant()
    make_user(merchant, "chefin@shop.example", role="admin")
    make_user(merchant, "hilfe@shop.example", role="support")
    with Receiver(answers=[503] * 100) as receiver:
        endpoint = endpoint_for(merchant, receiver.url, events=["invoice.created"])
        _invoice(merchant, "RE-1")
        start = datetime.now(timezone.utc)
        moments, now = [], start
        while endpoint.enabled and now < start + timedelta(days=5):
            result = delivery.drain(now=now)
            if result.claimed:
                moments.append(now)
            db.session.refresh(endpoint)
            item = db.session.execute(select(WebhookDelivery)).scalar_one()
            due = item.next_attempt_at.replace(tzinfo=timezone.utc) if item.next_attempt_at.tzinfo is None else item.next_attempt_at
            now = max(now + timedelta(seconds=1), due)
    gaps = [(b - a).total_seconds() for a, b in zip(moments, moments[1:])]
    assert gaps[:4] == [30, 60, 120, 240]  # exponential backoff …
    assert max(gaps) == 3 * 3600  # … capped at three hours
    assert moments[-1] - moments[0] >= timedelta(hours=24)  # retried for at least a day
    assert not endpoint.enabled and endpoint.disabled_reason == "failing"
    assert moments[-1] - moments[0] >= timedelta(hours=72)
    notices = db.session.execute(select(Message).where(Message.template == "staff_webhook_disabled")).scalars().all()
    assert [m.recipient for m in notices] == ["chefin@shop.example"]  # admins, not support staff
    from portal.messaging import render

    mail = render.render_email(notices[0])
    assert "Webhook" in mail.subject and receiver.url in mail.text
    assert db.session.execute(select(Event).where(Event.kind == "webhook.disabled")).scalar_one()


def test_private_and_loopback_addresses_are_refused_unless_the_operator_allows_them(app):
    from portal.shop_webhooks import addresses

    for url in ("http://127.0.0.1/x", "http://localhost/x", "http://10.1.2.3/", "http://169.254.169.254/latest",
                "http://[::1]/", "http://192.168.0.10/", "http://[::ffff:127.0.0.1]/"):
        try:
            addresses.check(url, allow_private=False)
        except addresses.AddressRefused:
            continue
        raise AssertionError(f"{url} was allowed")
    for url in ("ftp://example.com/", "file:///etc/passwd", "javascript:alert(1)", "http://user:pw@example.com/"):
        try:
            addresses.check(url, allow_private=True)
        except addresses.AddressRefused:
            continue
        raise AssertionError(f"{url} was allowed")
    addresses.check("http://127.0.0.1:8080/hook", allow_private=True)
    public = lambda host, port, **kw: [(2, 1, 6, "", ("93.184.215.14", port))]  # noqa: E731 — a resolver answering a public address
    addresses.check("https://shop.example/hooks", allow_private=False, resolve=public)

    # At delivery time, too: with the operator's permission withdrawn, nothing is sent to loopback.
    merchant = make_merchant()
    with Receiver() as receiver:
        endpoint_for(merchant, receiver.url, events=["invoice.created"])
        _invoice(merchant, "RE-1")
        app.config["WEBHOOK_ALLOW_PRIVATE_ADDRESSES"] = False
        delivery.drain()
        assert receiver.requests == []
    item = db.session.execute(select(WebhookDelivery)).scalar_one()
    assert item.status == "pending" and item.last_error.startswith("refused")
