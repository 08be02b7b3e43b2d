"""`flask worker` survives any exception of its daily pass (and of its sending passes): it logs the
traceback, carries on with the other merchants and with sending, and tries the failed pass again later."""
from __future__ import annotations

import logging
import os
import signal
from datetime import timedelta

import pytest

from portal.dunning import run as dunning_run_module
from portal.messaging import worker
from portal.models.types import utcnow
from tests.factories import make_merchant


class Boom(RuntimeError):
    pass


@pytest.fixture(autouse=True)
def _worker_log_enabled(monkeypatch):
    # Alembic's fileConfig (tests/test_migrations.py runs it in this process) disables existing loggers.
    monkeypatch.setattr(logging.getLogger("portal.messaging.worker"), "disabled", False)


@pytest.fixture
def two_merchants(app):
    return make_merchant("broken-shop"), make_merchant("fine-shop")


REAL_RUN = dunning_run_module.run


def _failing_for(slug: str, ran: list):
    real = REAL_RUN

    def run(*, today=None, merchant=None, **kwargs):
        ran.append(merchant.slug)
        if merchant.slug == slug:
            raise Boom("a policy the pass cannot read")
        return real(today=today, merchant=merchant, **kwargs)

    return run


def test_one_merchants_failing_pass_is_logged_and_the_others_still_run(app, two_merchants, monkeypatch, caplog):
    broken, fine = two_merchants
    ran: list = []
    monkeypatch.setattr(dunning_run_module, "run", _failing_for("broken-shop", ran))
    state = worker.WorkerState()
    with caplog.at_level(logging.ERROR, logger="portal.messaging.worker"):
        worker.daily_pass(state)
    assert ran == ["broken-shop", "fine-shop"]
    assert fine.id in state.done and broken.id not in state.done
    failure = next(r for r in caplog.records if "broken-shop" in r.getMessage())
    assert failure.exc_info and failure.exc_info[0] is Boom  # the traceback is in the log

    # Not again on the next poll, but after the retry interval; then it succeeds.
    worker.daily_pass(state)
    assert ran == ["broken-shop", "fine-shop"]
    monkeypatch.setattr(dunning_run_module, "run", _failing_for("nobody", ran))
    worker.daily_pass(state, now=utcnow() + worker.DAILY_RETRY + timedelta(seconds=1))
    assert ran[-1] == "broken-shop" and broken.id in state.done and not state.failed


def test_a_failing_sending_pass_does_not_end_the_poll(app, two_merchants, monkeypatch, caplog):
    def broken_run_once(**kwargs):
        raise Boom("the outbox query failed")

    monkeypatch.setattr(worker, "run_once", broken_run_once)
    with caplog.at_level(logging.ERROR, logger="portal.messaging.worker"):
        assert worker.tick(worker.WorkerState()) == 0
    assert any(r.exc_info and r.exc_info[0] is Boom for r in caplog.records)


def test_the_running_worker_keeps_polling_after_its_daily_pass_raised(app, two_merchants, monkeypatch, caplog):
    ran: list = []
    monkeypatch.setattr(dunning_run_module, "run", _failing_for("broken-shop", ran))
    polls = {"n": 0}
    real_tick = worker.tick

    def counting_tick(state, **kwargs):
        polls["n"] += 1
        claimed = real_tick(state, **kwargs)
        if polls["n"] == 3:
            os.kill(os.getpid(), signal.SIGTERM)  # the worker's own handler: finish, then leave
        return claimed

    monkeypatch.setattr(worker, "tick", counting_tick)
    monkeypatch.setattr(worker.time, "sleep", lambda seconds: None)
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    try:
        with caplog.at_level(logging.ERROR, logger="portal.messaging.worker"):
            worker.run_forever(poll_seconds=0)
    finally:
        signal.signal(signal.SIGTERM, before[0])
        signal.signal(signal.SIGINT, before[1])
    assert polls["n"] == 3
    assert ran == ["broken-shop", "fine-shop"]  # tried once (retry later), the other merchant done
    assert any("broken-shop" in r.getMessage() and r.exc_info for r in caplog.records)
