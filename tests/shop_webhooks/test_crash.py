"""A worker killed with SIGKILL in the middle of a batch loses and duplicates nothing the receiver
cannot fold: after deduplication by `id`, every event arrives exactly once."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import func, select

from portal.extensions import db
from portal.models.webhook import WebhookDelivery
from tests.factories import make_invoice, make_merchant, shop_today
from tests.shop_webhooks.receiver import Receiver
from tests.shop_webhooks.test_delivery import SECRET, endpoint_for

ROOT = Path(__file__).resolve().parents[2]
COUNT = 30


def start_worker(database_url: str, log: Path) -> subprocess.Popen:
    env = {**os.environ, "SETTLE_SQLALCHEMY_DATABASE_URI": database_url, "SETTLE_WEBHOOK_ALLOW_PRIVATE_ADDRESSES": "true",
           "SETTLE_WEBHOOK_LEASE_SECONDS": "1", "SETTLE_SECRET_KEY": "crash-test"}
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--poll", "0.2"], cwd=ROOT,
                                env=env, stdout=out, stderr=subprocess.STDOUT)


def wait_for(condition, what: str, limit: float = 90.0):
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


def test_a_worker_killed_mid_batch_loses_nothing_and_the_receiver_sees_each_id_once_after_dedup(app, database_url, tmp_path):
    merchant = make_merchant()
    due = (shop_today() + timedelta(days=30)).isoformat()  # nothing for the worker's dunning pass to do
    with Receiver(hold=10) as receiver:
        endpoint_for(merchant, receiver.url, events=["invoice.created"], secret=SECRET)
        for n in range(COUNT):
            make_invoice(merchant, f"RE-{n:03d}", due_date=due, issue_date=shop_today().isoformat())
        first = start_worker(database_url, tmp_path / "worker-1.log")
        try:
            wait_for(receiver.holding.is_set, "the tenth delivery")
        finally:
            first.send_signal(signal.SIGKILL)  # mid-batch: nine answered, the tenth in flight, twenty claimed and unsent
            first.wait(30)
        receiver.release.set()
        assert len(receiver.requests) == 10

        second = start_worker(database_url, tmp_path / "worker-2.log")
        try:
            def all_delivered():
                db.session.rollback()
                return db.session.execute(select(func.count()).select_from(WebhookDelivery)
                                          .where(WebhookDelivery.status == "delivered")).scalar() == COUNT
            wait_for(all_delivered, "every delivery")
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(30)

    received = [body for body in receiver.bodies()]
    ids = [b["id"] for b in received]
    expected = set(db.session.execute(select(WebhookDelivery.webhook_id)).scalars())
    assert len(expected) == COUNT
    assert set(ids) == expected  # nothing lost
    unique = {b["id"]: b for b in received}
    assert sorted(b["data"]["invoice"]["number"] for b in unique.values()) == [f"RE-{n:03d}" for n in range(COUNT)]
    held = received[9]["id"]
    assert ids.count(held) == 2  # the one in flight when the worker died came again (same id), …
    assert len(ids) == COUNT + 1  # … and nothing else twice
