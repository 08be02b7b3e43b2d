"""The portal under concurrent load in a real server: gunicorn with two workers, many connections at once.

Counts, not times: every request is answered 200 with the debtor's own page and the security
headers, none fails, and no page ever shows another debtor's data (the page cache is per
process and shared by all requests of a worker). bench/portal_load.py measures the speed.
"""
from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from portal.links import token_for
from tests.dunning.helpers import free_port
from tests.factories import make_invoice

ROOT = Path(__file__).resolve().parents[2]
CONNECTIONS = 48  # at once
REQUESTS_EACH = 12  # per connection, alternating overview and invoice page


@pytest.fixture
def server(app, database_url):
    port = free_port()
    env = {**os.environ, "SETTLE_SQLALCHEMY_DATABASE_URI": database_url, "SETTLE_SECRET_KEY": app.config["SECRET_KEY"],
           "SETTLE_SESSION_COOKIE_SECURE": "false", "SETTLE_BASE_URL": f"http://127.0.0.1:{port}"}
    env.pop("DATABASE_URL", None)
    proc = subprocess.Popen([str(Path(sys.executable).with_name("gunicorn")), "-w", "2", "--log-level", "error",
                             "-b", f"127.0.0.1:{port}", "wsgi:app"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if request(port, "/healthz")[0] == 200:
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not start: {proc.stderr.read().decode()[-2000:]}")
                time.sleep(0.2)
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stderr.close()


def request(port: int, path: str, cookie: str | None = None) -> tuple[int, dict, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        connection.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read().decode()
    finally:
        connection.close()


def signed_in(port: int, debtor, invoice) -> str:
    """The session cookie of a browser that opened the link and saw both pages once (views recorded)."""
    status, headers, _ = request(port, f"/p/{token_for(debtor)}")
    assert status == 303
    cookie = headers["set-cookie"].split(";", 1)[0]
    for path in ("/portal/", f"/portal/invoices/{invoice.id}"):
        status, headers, _ = request(port, path, cookie)
        assert status == 200
        if "set-cookie" in headers:
            cookie = headers["set-cookie"].split(";", 1)[0]
    return cookie


def test_many_concurrent_connections_get_every_page_with_its_headers_and_only_their_own_data(shop, server):
    max_invoice = make_invoice(shop, "RE-MAX-1")
    erika_invoice = make_invoice(shop, "RE-ERIKA-1", amount="77.00", lines=[],
                                 debtor={"external_ref": "K-2002", "name": "Erika Musterfrau", "email": "erika@example.de"})
    debtors = {
        "Max Mustermann": (max_invoice, signed_in(server, max_invoice.debtor, max_invoice)),
        "Erika Musterfrau": (erika_invoice, signed_in(server, erika_invoice.debtor, erika_invoice)),
    }
    problems: list[str] = []
    answered = []
    lock = threading.Lock()
    start = threading.Barrier(CONNECTIONS)

    def browse(n: int) -> None:
        name, (invoice, cookie) = list(debtors.items())[n % 2]
        other, (other_invoice, _) = next((k, v) for k, v in debtors.items() if k != name)
        start.wait()
        for i in range(REQUESTS_EACH):
            path = "/portal/" if i % 2 == 0 else f"/portal/invoices/{invoice.id}"
            try:
                status, headers, body = request(server, path, cookie)
            except Exception as exc:  # noqa: BLE001 — a failed request is what this test counts
                with lock:
                    problems.append(f"{path}: {type(exc).__name__}: {exc}")
                continue
            found = []
            if status != 200:
                found.append(f"status {status}")
            if "script-src 'self'" not in headers.get("content-security-policy", ""):
                found.append("no CSP")
            if headers.get("x-frame-options") != "DENY" or headers.get("x-content-type-options") != "nosniff":
                found.append("no frame/nosniff headers")
            if headers.get("cache-control") != "no-store":
                found.append("cacheable")
            if invoice.number not in body or (path == "/portal/" and name not in body):
                found.append("not this debtor's page")
            if other in body or other_invoice.number in body:
                found.append(f"shows {other}'s data")
            if not re.search(r'name="csrf_token"[^>]*value="[^"]+"', body):
                found.append("no CSRF token in the page's form")
            with lock:
                answered.append(path)
                problems.extend(f"{path}: {p}" for p in found)

    threads = [threading.Thread(target=browse, args=(n,)) for n in range(CONNECTIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert problems == []
    assert len(answered) == CONNECTIONS * REQUESTS_EACH
