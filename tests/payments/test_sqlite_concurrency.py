"""SQLite under concurrency (the file database `make run` uses): transactions that write take the write
lock when they begin (portal.transactions), so concurrent writers wait their turn instead of answering
"database is locked", two overlapping dunning runs end with one doing the work and the other nothing,
and a read left open never keeps another connection from writing."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.dunning.run import run as dunning_run
from portal.extensions import db
from portal.models import Invoice, LedgerEntry, Merchant, Message
from tests.conftest import is_postgres
from tests.dunning.helpers import DUE, make_debtor_invoice
from tests.factories import make_api_key, make_invoice, make_merchant

pytestmark = pytest.mark.skipif(is_postgres(), reason="the SQLite file database's own locking")


def _in_threads(app, n: int, work) -> tuple[list, list]:
    """Run `work(i)` in n threads that start together, each in its own app context; (results, errors)."""
    db.session.commit()  # the test's own session must not sit in a transaction (it would hold the lock)
    start = threading.Barrier(n)
    results: list = [None] * n
    errors: list = []

    def target(i):
        with app.app_context():
            try:
                start.wait()
                results[i] = work(i)
            except Exception as exc:  # noqa: BLE001 — collected and asserted below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results, errors


def test_the_test_database_is_a_file(app):
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    assert url.startswith("sqlite:///") and not url.endswith(":memory:")


def test_twenty_concurrent_payments_on_sqlite_all_succeed(app):
    merchant = make_merchant()
    key = make_api_key(merchant)
    invoice = make_invoice(merchant, "RE-1", amount="500.00",
                           lines=[{"description": "Gartenbank", "quantity": 1, "amount": "500.00"}])

    def pay(i):
        response = app.test_client().post(
            "/api/v1/invoices/RE-1/payments", json={"amount": "10.00", "reference": f"PAY-{i}"},
            headers={"Authorization": f"Bearer {key}"})
        return response.status_code, response.get_data(as_text=True)

    results, errors = _in_threads(app, 20, pay)
    assert errors == []
    assert [status for status, _ in results] == [201] * 20, [body for status, body in results if status != 201]
    db.session.expire_all()
    assert db.session.get(Invoice, invoice.id).open_minor == 50000 - 20 * 1000
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "payment")) == 20


def test_two_overlapping_dunning_runs_on_sqlite_one_does_the_work_the_other_nothing(app):
    merchant = make_merchant()
    for n in range(6):
        make_debtor_invoice(merchant, ("standard", "business", "older")[n % 3], f"RE-{n}")
    today = DUE + timedelta(days=7)
    merchant_id = merchant.id

    def run(i):
        return dunning_run(today=today, merchant=db.session.get(Merchant, merchant_id)).messages

    results, errors = _in_threads(app, 2, run)
    assert errors == []
    assert sorted(results)[0] == 0 and sorted(results)[1] > 0
    sent = db.session.scalar(select(func.count()).select_from(Message).where(Message.debtor_id.is_not(None)))
    assert sent == sorted(results)[1]


def _write_from_another_connection(database_url) -> None:
    """What `flask base-rates set` in another process does: its own connection, its own commit."""
    from sqlalchemy import create_engine, update

    other = create_engine(database_url)
    try:
        with other.begin() as conn:
            conn.execute(update(Merchant.__table__).values(name="Anderer Name"))
    finally:
        other.dispose()


def test_a_read_left_open_keeps_no_other_connection_from_writing(app, database_url):
    make_merchant()
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(Invoice)) == 0  # the session's transaction stays open
    _write_from_another_connection(database_url)  # would wait into "database is locked" if the read held the lock
    db.session.commit()
    assert db.session.scalar(select(Merchant.name)) == "Anderer Name"


def test_a_post_that_wrote_nothing_gives_the_lock_back_when_it_ends(app, database_url):
    merchant = make_merchant()
    key = make_api_key(merchant)
    make_invoice(merchant, "RE-1")
    db.session.commit()
    shop = app.test_client()
    assert shop.get("/api/v1/invoices/RE-1", headers={"Authorization": f"Bearer {key}"}).status_code == 200  # key used
    response = shop.post("/api/v1/invoices/RE-1/payments", json={"amount": "zehn"},
                         headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 422  # read under the write lock, refused, nothing written
    _write_from_another_connection(database_url)
    db.session.commit()
    assert db.session.scalar(select(Merchant.name)) == "Anderer Name"


def test_a_savepoint_before_the_first_write_belongs_to_the_transaction(app):
    """pysqlite began no transaction before a SAVEPOINT: releasing it committed, and the rollback undid nothing."""
    merchant = make_merchant()
    db.session.commit()
    with db.session.begin_nested():
        db.session.get(Merchant, merchant.id).name = "Zwischenstand"
    db.session.rollback()
    assert db.session.scalar(select(Merchant.name)) != "Zwischenstand"


def test_the_same_statement_imported_twice_at_once_is_booked_once_and_reported_as_seen(app):
    """Two operators (CLI and upload) import one file at the same moment: the second reads after the first committed."""
    from datetime import date

    from portal.payments.reconcile import import_statements
    from tests.payments.camt_builder import entry, statement

    merchant = make_merchant()
    invoice = make_invoice(merchant, "RE-1", amount="119.00")
    data = statement(entry("119.00", ref="A1", rf=invoice.rf_reference))
    merchant_id = merchant.id

    def import_once(i):
        result = import_statements(db.session.get(Merchant, merchant_id), data, "stmt.xml", actor=f"import:{i}",
                                   today=date(2026, 1, 20))
        db.session.commit()
        return result.files[0].already_imported

    results, errors = _in_threads(app, 2, import_once)
    assert errors == []
    assert sorted(results) == [False, True]
    db.session.expire_all()
    assert db.session.get(Invoice, invoice.id).open_minor == 0
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "payment")) == 1


def test_two_imports_of_the_same_invoice_file_at_once_book_it_once(app):
    """The CLI's import and an upload job (or two terminals) at the same moment: the second waits for the
    first's write lock, then finds every invoice already there; neither says "database is locked"."""
    from datetime import date

    from portal.intake.csv_import import import_csv
    from tests.intake.csv_files import GERMAN_ROWS, german_excel

    merchant = make_merchant()
    merchant_id = merchant.id
    raw = german_excel(GERMAN_ROWS)

    def load(i):
        shop = db.session.get(Merchant, merchant_id)
        result = import_csv(raw, shop, today=date(2026, 1, 20), actor=f"import:terminal-{i}")
        db.session.commit()
        return result.created, result.unchanged

    results, errors = _in_threads(app, 2, load)
    assert errors == []
    assert sorted(results) == [(0, 4), (4, 0)]
    assert db.session.execute(select(func.count()).select_from(Invoice)).scalar_one() == 4
