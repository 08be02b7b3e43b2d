"""Benchmark: one dunning run over N open invoices of which M are due for a step.

    .venv/bin/python bench/dunning_run.py --invoices 1000000 --due 100000 [--database-url postgresql+psycopg://…]

Builds the data with plain SQL, then times (a) the real run (`portal.dunning.run.run`) and
(b) a baseline of plain SQL doing the same writes (one message, message_invoice and event
per due invoice, the invoice update) on a copy of the same state. Prints wall time, peak
memory (tracemalloc, Python allocations) and the ratio.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text  # noqa: E402

TODAY = date(2025, 6, 29)


def build(db, n_invoices: int, n_due: int) -> int:
    from portal.models import Merchant
    from portal.extensions import db as _db

    merchant = Merchant(slug="bench", name="Bench", legal_name="Bench GmbH", iban="DE89370400440532013000",
                        support_email="s@bench.example")
    _db.session.add(merchant)
    _db.session.commit()
    conn = _db.session.connection()
    debtors = max(n_invoices // 2, 1)
    rows = [{"m": merchant.id, "r": f"D{i}", "e": f"d{i}@example.de"} for i in range(debtors)]
    conn.execute(text("INSERT INTO debtor (merchant_id, external_ref, kind, name, email, consent_email, consent_sms, link_version, created_at, updated_at)"
                      " VALUES (:m, :r, 'person', 'Bench Debtor', :e, true, false, 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"), rows)
    first = conn.execute(text("SELECT min(id) FROM debtor")).scalar()
    due = TODAY - timedelta(days=7)
    batch = []
    for i in range(n_invoices):
        is_due = i < n_due
        batch.append({"m": merchant.id, "d": first + (i % debtors), "n": f"B{i}", "due": due if is_due else TODAY + timedelta(days=30),
                      "issue": due - timedelta(days=14), "rf": f"RF{i:020d}"[:25], "next": TODAY if is_due else TODAY + timedelta(days=27)})
        if len(batch) == 50000 or i == n_invoices - 1:
            conn.execute(text(
                "INSERT INTO invoice (merchant_id, debtor_id, number, issue_date, due_date, currency, amount_minor, open_minor, status,"
                " rf_reference, intake_fingerprint, dunning_level, next_action_on, created_at, updated_at)"
                " VALUES (:m, :d, :n, :issue, :due, 'EUR', 11900, 11900, 'open', :rf, 'x', 0, :next, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"), batch)
            batch = []
    _db.session.commit()
    return merchant.id


def baseline(conn, merchant_id: int) -> None:
    """Plain SQL: the same rows the run writes, without rules, rendering context or ORM."""
    ids = conn.execute(text("SELECT id, debtor_id FROM invoice WHERE merchant_id=:m AND status='open' AND next_action_on <= :t ORDER BY debtor_id"),
                       {"m": merchant_id, "t": TODAY}).all()
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        conn.execute(text("UPDATE invoice SET dunning_level=2, dunning_step='reminder', dunning_last_on=:t, next_action_on=:n WHERE id=:i"),
                     [{"t": TODAY, "n": TODAY + timedelta(days=14), "i": i} for i, _ in chunk])
        for i, d in chunk:
            mid = conn.execute(text("INSERT INTO message (merchant_id, debtor_id, purpose, template, channel, fallbacks, language, recipient, context,"
                                    " dedupe_key, status, attempts, not_before, created_at) VALUES (:m, :d, 'dunning', 'payment_reminder', 'email',"
                                    " '[]', 'de', 'x@example.de', '{}', :k, 'pending', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP) RETURNING id"),
                               {"m": merchant_id, "d": d, "k": f"base:{i}"}).scalar()
            conn.execute(text("INSERT INTO message_invoice (message_id, invoice_id, step) VALUES (:m, :i, 'base')"), {"m": mid, "i": i})
        conn.execute(text("INSERT INTO event (merchant_id, invoice_id, debtor_id, kind, actor, occurred_at) VALUES (:m, :i, :d, 'dunning.step', 'bench', CURRENT_TIMESTAMP)"),
                     [{"m": merchant_id, "i": i, "d": d} for i, d in chunk])
        conn.commit()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--invoices", type=int, default=20000)
    parser.add_argument("--due", type=int, default=2000)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file under /tmp")
    args = parser.parse_args()
    url = args.database_url or f"sqlite:////tmp/settle-bench-dunning-{os.getpid()}.sqlite3"
    from portal import create_app
    from portal.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    with app.app_context():
        db.drop_all()
        db.create_all()
        t0 = time.perf_counter()
        merchant_id = build(db, args.invoices, args.due)
        print(f"built {args.invoices} invoices ({args.due} due) in {time.perf_counter() - t0:.1f}s", flush=True)
        from portal.dunning.run import run
        from portal.models import Merchant

        tracemalloc.start()
        t0 = time.perf_counter()
        result = run(today=TODAY, merchant=db.session.get(Merchant, merchant_id))
        run_s = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        print(f"run: {run_s:.2f}s, peak {peak:.0f} MiB: {result.summary()}", flush=True)
        # Baseline on the same state: reset the due invoices and write the same rows with plain SQL.
        conn = db.session.connection()
        conn.execute(text("UPDATE invoice SET dunning_level=0, next_action_on=:t WHERE dunning_last_on=:t"), {"t": TODAY})
        db.session.commit()
        t0 = time.perf_counter()
        with db.engine.connect() as raw:
            baseline(raw, merchant_id)
        base_s = time.perf_counter() - t0
        print(f"baseline (plain SQL): {base_s:.2f}s; ratio run/baseline {run_s / base_s:.2f}x", flush=True)
    if url.startswith("sqlite:////tmp/settle-bench"):
        os.unlink(url.removeprefix("sqlite:///"))


if __name__ == "__main__":
    main()
