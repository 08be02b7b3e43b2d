"""Uploads in Debian's Chromium: a 20,000-line invoice CSV goes in through the browser and is imported
completely by `flask worker` while the page stays usable and updates itself (htmx); without JavaScript
the reload link shows the outcome, every bad line listed. Phone (390 px) and desktop (1280 px)."""
from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Invoice, UploadJob
from tests.chromium import BROWSER_MARKS, DESKTOP, PHONE, LiveServer, fits_width, sign_in_office
from tests.factories import make_merchant, make_user

pytestmark = BROWSER_MARKS
pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "uploads"
PASSWORD = "correct horse battery"
HEADER = "number;issue_date;due_date;amount;currency;debtor_ref;kind;name;company;email;phone;language;street;postal_code;city;country\n"


class Site(LiveServer):
    def __init__(self, tmp: Path):
        self.tmp = tmp
        super().__init__(tmp, RATELIMIT_ENABLED=False)

    def seed(self):
        shop = make_merchant("garden", name="Gartenhaus Sonnenberg")
        self.shop_id = shop.id
        make_user(shop, "admin@garden.example", role="admin", password=PASSWORD)
        db.session.commit()

    def count(self, model=Invoice) -> int:
        with self.app.app_context():
            return db.session.scalar(select(func.count()).select_from(model).where(model.merchant_id == self.shop_id))

    @contextmanager
    def worker(self):
        """The real `flask worker` as its own process on the same database and storage, as in production."""
        env = {**os.environ, "SETTLE_SQLALCHEMY_DATABASE_URI": self.app.config["SQLALCHEMY_DATABASE_URI"],
               "SETTLE_STORAGE_DIR": self.app.config["STORAGE_DIR"], "SETTLE_SECRET_KEY": "e2e-worker"}
        with open(self.tmp / "worker.log", "ab") as log:
            process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--poll", "0.5"], cwd=ROOT,
                                       env=env, stdout=log, stderr=log)
            try:
                yield process
            finally:
                process.terminate()
                process.wait(timeout=60)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    s = Site(tmp_path_factory.mktemp("uploads-e2e"))
    yield s
    s.stop()


def big_csv(n: int) -> bytes:
    rows = [f"RE-U-{i:06d};01.12.2026;31.12.2026;{i % 900 + 10},{i % 100:02d};EUR;K-{i % 4000};person;Kundin {i % 4000};;"
            f"kundin{i % 4000}@example.de;;de;Hauptstraße {i % 200 + 1};70173;Stuttgart;DE\n" for i in range(1, n + 1)]
    return (HEADER + "".join(rows)).encode()


def _sign_in(page, site):
    sign_in_office(page, site.base, "admin@garden.example", PASSWORD)


_fits = fits_width


def test_a_20000_line_csv_uploaded_in_the_browser_imports_completely_while_the_page_stays_usable(browser, site):
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport=DESKTOP, locale="de-DE")
    page = context.new_page()
    _sign_in(page, site)
    page.goto(site.base + "/office/uploads")
    page.screenshot(path=str(SHOTS / "uploads-desktop.png"), full_page=True)
    page.set_input_files("#invoice_file", files=[{"name": "dezember.csv", "mimeType": "text/csv", "buffer": big_csv(20_000)}])
    page.click("form:has(#invoice_file) button[type=submit]")
    page.wait_for_url("**/office/uploads/*")
    # The request stored the file and queued it; nothing is imported until the worker takes it.
    assert page.get_by_text("Der Import beginnt gleich").is_visible()
    assert site.count() == 0
    page.evaluate("() => { window.__stillTheSamePage = true; }")

    with site.worker():
        # Meanwhile the rest of the back office answers (another tab of the same staff member).
        other = context.new_page()
        for path in ("/office/invoices", "/office/uploads", "/office/"):
            assert other.goto(site.base + path).status == 200
            assert other.locator("h1").first.is_visible()
        other.close()
        # htmx polls the status and swaps it in place: the outcome appears without a reload.
        page.get_by_text("Importiert: 20.000 neue Rechnung(en)").wait_for(timeout=180_000)
    assert page.evaluate("() => window.__stillTheSamePage === true")
    assert site.count() == 20_000
    with site.app.app_context():
        assert db.session.execute(select(UploadJob.status)).scalar_one() == "done"
    page.screenshot(path=str(SHOTS / "upload-done-desktop.png"), full_page=True)
    assert _fits(page)
    context.close()


def test_without_javascript_on_a_phone_the_reload_link_shows_every_bad_line(browser, site):
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport=PHONE, locale="de-DE", java_script_enabled=False)
    page = context.new_page()
    _sign_in(page, site)
    page.goto(site.base + "/office/uploads")
    assert _fits(page)
    page.screenshot(path=str(SHOTS / "uploads-phone.png"), full_page=True)
    bad = (HEADER + "RE-X-1;01.12.2026;31.12.2026;19,90;EUR;K-1;person;Erika Muster;;erika@example.de;;de;;;;DE\n"
           + "RE-X-2;01.12.2026;31.02.2026;1,234;EUR;K-2;person;Hans Berg;;keine-mail;;de;;;;DE\n"
           + "RE-X-3;01.12.2026;31.12.2026;;EUR;;person;;;;;;;;;DE\n").encode()
    page.set_input_files("#invoice_file", files=[{"name": "fehlerhaft.csv", "mimeType": "text/csv", "buffer": bad}])
    page.click("form:has(#invoice_file) button[type=submit]")
    page.wait_for_url("**/office/uploads/*")
    before = site.count()
    with site.worker():
        for _ in range(600):  # reload as a person would, until the outcome is there
            page.click("text=Neu laden, um den Fortschritt zu sehen")
            if page.get_by_text("Es wurde nichts importiert.").count():
                break
            page.wait_for_timeout(200)
    assert page.get_by_text("Es wurde nichts importiert.").is_visible()
    problems = page.locator("table.problems tbody tr")
    assert problems.count() == 2
    text = page.locator("table.problems").inner_text()
    assert "Spalte amount (Betrag): ist nicht eindeutig lesbar" in text
    assert "Spalte debtor_ref (Kundennummer): fehlt" in text and "Spalte amount (Betrag): fehlt" in text
    assert site.count() == before
    assert _fits(page)
    page.screenshot(path=str(SHOTS / "upload-rejected-phone.png"), full_page=True)
    context.close()
