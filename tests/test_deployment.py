"""Production settings: TRUSTED_PROXIES so limits count the client's address, and a warning when several
web workers would each count rate limits in their own memory."""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.dunning.helpers import free_port

ROOT = Path(__file__).resolve().parent.parent


def _addresses(app, forwarded: str, proto: str = "https") -> str:
    @app.get("/_test/address")
    def address():
        from flask import request

        return f"{request.remote_addr} {request.scheme}"

    return app.test_client().get("/_test/address", headers={"X-Forwarded-For": forwarded, "X-Forwarded-Proto": proto},
                                 environ_base={"REMOTE_ADDR": "10.0.0.2"}).get_data(as_text=True)


def test_without_trusted_proxies_forwarded_headers_are_ignored(make_app):
    assert _addresses(make_app(), "203.0.113.9") == "10.0.0.2 http"


def test_one_trusted_proxy_gives_the_clients_address_and_scheme(make_app):
    assert _addresses(make_app(TRUSTED_PROXIES=1), "198.51.100.1, 203.0.113.9") == "203.0.113.9 https"


def test_two_trusted_proxies_take_the_address_the_outer_proxy_saw(make_app):
    # A client sending its own X-Forwarded-For cannot choose its address: only the last two hops are trusted.
    assert _addresses(make_app(TRUSTED_PROXIES=2), "6.6.6.6, 198.51.100.1, 203.0.113.9",
                      "https, https") == "198.51.100.1 https"


def test_portal_limits_count_the_debtors_address_behind_the_proxy(make_app):
    app = make_app(TRUSTED_PROXIES=1, PORTAL_LINK_RATE_LIMIT="3/minute")
    client = app.test_client()

    def open_link(debtor_ip):
        return client.get("/p/not-a-token", headers={"X-Forwarded-For": debtor_ip},
                          environ_base={"REMOTE_ADDR": "10.0.0.2"}).status_code

    assert [open_link("203.0.113.1") for _ in range(4)][-1] == 429
    assert open_link("203.0.113.2") != 429  # another debtor behind the same proxy is not held up


def test_several_workers_on_memory_storage_are_warned_about(make_app, caplog):
    with caplog.at_level(logging.WARNING):
        make_app(WEB_PROCESSES=4)
    assert any("4 web processes share RATELIMIT_STORAGE_URI=memory://" in r.getMessage() for r in caplog.records)


def test_one_worker_or_shared_storage_is_not_warned_about(make_app, caplog):
    with caplog.at_level(logging.WARNING):
        make_app()
        make_app(WEB_PROCESSES=4, RATELIMIT_STORAGE_URI="redis://127.0.0.1:6379")
    assert not any("RATELIMIT_STORAGE_URI" in r.getMessage() for r in caplog.records)


def test_gunicorn_with_two_workers_on_memory_warns_at_start(tmp_path):
    gunicorn = Path(sys.executable).with_name("gunicorn")
    port = free_port()
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'g.sqlite3'}"}
    env.pop("SETTLE_RATELIMIT_STORAGE_URI", None)
    proc = subprocess.Popen([str(gunicorn), "-w", "2", "-b", f"127.0.0.1:{port}", "wsgi:app"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        seen = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            seen.append(line)
            if "web processes share RATELIMIT_STORAGE_URI=memory://" in line:
                break
        assert any("2 web processes share RATELIMIT_STORAGE_URI=memory://" in line for line in seen), "".join(seen)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
