"""PaymentIntent flows against localstripe (a stateful fake of the Stripe API), with real signed webhooks.

localstripe supports PaymentIntents created with confirm=True and sends signed
payment_intent.* webhooks about a second later; it has no Checkout Sessions and sends
no charge.* events, which the other webhook tests cover with events signed by the SDK.
"""
from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
import stripe
from sqlalchemy import select
from werkzeug.serving import make_server

from portal.extensions import db
from portal.models import Invoice, StripeEvent
from tests.factories import make_invoice, make_merchant
from tests.payments.stripe_helpers import SECRET_KEY, WEBHOOK_SECRET

PORT = 8420
BIN = Path(sys.executable).with_name("localstripe")

pytestmark = pytest.mark.skipif(not BIN.exists() and not shutil.which("localstripe"),
                                reason="localstripe is not installed (pip install localstripe)")


def _wait_for_port(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


@pytest.fixture
def localstripe(tmp_path):
    exe = str(BIN) if BIN.exists() else shutil.which("localstripe")
    proc = subprocess.Popen([exe, "--port", str(PORT), "--from-scratch"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_port(PORT, time.monotonic() + 20)
        yield f"http://127.0.0.1:{PORT}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def live_app(app):
    """The app served over HTTP on a free port, so localstripe can deliver webhooks to it."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


def wait_until(condition, seconds: float = 20.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        db.session.expire_all()
        db.session.rollback()
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_a_confirmed_payment_intent_pays_the_invoice_through_a_signed_webhook(app, localstripe, live_app):
    merchant = make_merchant("garden", stripe_secret_key=SECRET_KEY, stripe_webhook_secret=WEBHOOK_SECRET)
    invoice = make_invoice(merchant, "RE-1", amount="119.00")
    invoice_id = invoice.id
    requests.post(f"{localstripe}/_config/webhooks/settle", timeout=5,
                  data={"url": f"{live_app}/webhooks/stripe/garden", "secret": WEBHOOK_SECRET}).raise_for_status()

    client = stripe.StripeClient(SECRET_KEY, base_addresses={"api": localstripe}, max_network_retries=0)
    intent = client.v1.payment_intents.create({
        "amount": 11900, "currency": "eur", "payment_method": "pm_card_visa", "confirm": True,
        "metadata": {"settle_invoices": "RE-1"},
    })
    assert intent.status == "succeeded"

    status = wait_until(lambda: db.session.execute(select(Invoice.status).where(Invoice.id == invoice_id)).scalar_one() == "paid")
    assert status
    row = db.session.execute(select(StripeEvent).where(StripeEvent.type == "payment_intent.succeeded")).scalar_one()
    assert row.status == "processed" and row.payment_intent_id == intent.id
    # Read the amount from the database: the invoice object in this session may have been loaded before the webhook paid it.
    assert db.session.execute(select(Invoice.open_minor).where(Invoice.id == invoice_id)).scalar_one() == 0
