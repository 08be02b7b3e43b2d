"""Debian's Chromium driven by Playwright, shared by every browser test.

`playwright install` cannot download a browser here, so the pip package drives
/usr/bin/chromium (installed by `make system-deps`). The networking flags keep Chromium
from trying to reach outside hosts.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}

# Without Chromium on a developer's machine browser tests are skipped; in CI (CI=true) they must run.
BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"),
                       reason="Debian's chromium is not installed (make system-deps)"),
]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _read_at_once(app):
    """The app's whole response read (and its iterable closed) before werkzeug's development server writes it.

    When a browser drops a connection while a file is sent (Chromium does, e.g. for a favicon it has cached),
    werkzeug's server can skip closing the response: its after-response read of the socket raises first. The
    file is then closed by the garbage collector, and the ResourceWarning fails whichever test is running
    (warnings are errors in this suite). Responses in these tests are small; reading them whole costs nothing."""

    def wsgi(environ, start_response):
        body = app(environ, start_response)
        try:
            return [b"".join(body)]
        finally:
            if hasattr(body, "close"):
                body.close()

    return wsgi


class LiveServer:
    """The real app on a free loopback port over its own SQLite file, served from a thread.

    Subclasses seed data in `seed()` (inside an app context, after the schema is built).
    """

    def __init__(self, tmp: Path, **settings):
        from werkzeug.serving import make_server

        from portal import create_app
        from portal.extensions import db
        from tests.conftest import test_settings

        self.httpd = make_server("127.0.0.1", 0, None, threaded=True)  # bind first, to know the port
        self.base = f"http://127.0.0.1:{self.httpd.server_port}"
        self.app = create_app(test_settings(
            f"sqlite:///{tmp / 'live.sqlite3'}", BASE_URL=self.base, STORAGE_DIR=str(tmp / "storage"),
            PORTAL_LINK_RATE_LIMIT="1000/minute", PORTAL_NEW_LINK_RATE_LIMIT="1000/minute", **settings,
        ))
        self.httpd.app = _read_at_once(self.app)
        with self.app.app_context():
            db.create_all()
            self.seed()
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def seed(self) -> None:
        """Data the tests start from (override)."""

    def stop(self) -> None:
        from portal.extensions import db

        self.httpd.shutdown()
        with self.app.app_context():
            db.engine.dispose()


def sign_in_office(page, base: str, email: str, password: str) -> None:
    """Sign in to the back office through its login form and wait for the dashboard."""
    page.goto(base + "/office/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/office/")


def fits_width(page) -> bool:
    """The page does not scroll sideways (one pixel of rounding allowed)."""
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")
