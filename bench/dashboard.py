"""Benchmark: the back-office dashboard of one merchant with 1,000,000 invoices and 5,000,000 events.

    .venv/bin/python bench/dashboard.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/settle_bench_dashboard

PostgreSQL only (the production database). Builds the data set with set-based SQL
(`generate_series`, INSERT … SELECT), two years of history up to TODAY: 250,000 debtors,
1,000,000 invoices (80 % paid, 15 % open, 3 % handed over, 2 % cancelled), their payments,
credits and fees in the ledger, 1,200,000 dunning messages, and 5,000,000 events (invoice
created, payments, dunning steps, messages sent, portal links opened, payments started),
plus 20,000 cases. ANALYZE, then it times, in the same invocation:

(a) baseline: one plain aggregate over the merchant's invoices (count and sum of the open
    balance by status), the cheapest question anyone asks of this table: a yardstick for
    the machine, not a target;
(b) the dashboard request, signed in, through the Flask test client (every figure, charts,
    tables) for the default period (the last three months) — first with an empty
    pre-aggregate (it computes and stores the past month ends), then again (cached), then
    for a filtered view (customer group + channel), then for a whole year.

Each timing is the median of five requests after one warm-up (the warm-up is reported too).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select, text  # noqa: E402

TODAY = date(2026, 12, 1)
START = date(2024, 12, 1)  # two years of history
N_INVOICES = 1_000_000

BUILD = [
    # debtors
    """INSERT INTO debtor (merchant_id, external_ref, kind, name, email, street, postal_code, city, country, language,
                           consent_email, consent_sms, link_version, created_at, updated_at)
       SELECT :m, 'D' || g, 'person', 'Bench Debtor', 'd' || g || '@example.de', 'Musterweg 1', '10115', 'Berlin', 'DE', 'de',
              true, false, 1, now(), now()
       FROM generate_series(1, :debtors) g""",
    # invoices: issue dates spread over two years, due 14 days later; the state follows from g
    """INSERT INTO invoice (merchant_id, debtor_id, number, issue_date, due_date, currency, amount_minor, open_minor, status,
                            rf_reference, intake_fingerprint, dunning_level, dunning_step, dunning_policy_id, closed_on,
                            created_at, updated_at)
       SELECT :m, :d0 + (g % :debtors), 'B' || g, issue, issue + 14, 'EUR', amount,
              CASE WHEN state = 'open' THEN amount WHEN state = 'handed_over' THEN amount ELSE 0 END,
              state, 'RF' || g, 'x', level, CASE level WHEN 0 THEN NULL WHEN 1 THEN 'reminder' WHEN 2 THEN 'notice_1'
                                               ELSE 'notice_2' END,
              (ARRAY[:p1, :p2, :p3])[1 + g % 3],
              CASE state WHEN 'paid' THEN paid_on WHEN 'handed_over' THEN issue + 77 WHEN 'cancelled' THEN issue + 20 END,
              now(), now()
       FROM (SELECT g, issue, amount, level, paid_on,
                    CASE WHEN r < 80 AND paid_on <= :today THEN 'paid'
                         WHEN r >= 95 AND r < 98 AND issue + 77 <= :today THEN 'handed_over'
                         WHEN r >= 98 AND issue + 20 <= :today THEN 'cancelled'
                         ELSE 'open' END AS state
             FROM (SELECT g, CAST(:start AS date) + (g % 730) AS issue, CAST(2000 + (g::bigint * 7919) % 48000 AS int) AS amount, g % 100 AS r,
                          g % 4 AS level, CAST(:start AS date) + (g % 730) + 4 + CAST((g::bigint * 13) % 50 AS int) AS paid_on
                   FROM generate_series(1, :invoices) g) s) t""",
    # ledger: the payment of every paid invoice, the credit of every cancelled one, a fee on every third reminded one
    """INSERT INTO ledger_entry (merchant_id, invoice_id, kind, amount_minor, currency, source, external_ref, booked_on, created_at)
       SELECT merchant_id, id, 'payment', -amount_minor, 'EUR', CASE WHEN id % 3 = 0 THEN 'stripe' ELSE 'bank' END,
              'p' || id, closed_on, now() FROM invoice WHERE merchant_id = :m AND status = 'paid'""",
    """INSERT INTO ledger_entry (merchant_id, invoice_id, kind, amount_minor, currency, source, external_ref, booked_on, created_at)
       SELECT merchant_id, id, 'credit', -amount_minor, 'EUR', 'api', 'c' || id, closed_on, now()
       FROM invoice WHERE merchant_id = :m AND status = 'cancelled'""",
    """INSERT INTO ledger_entry (merchant_id, invoice_id, kind, amount_minor, currency, source, external_ref, booked_on, created_at)
       SELECT merchant_id, id, 'fee', 250, 'EUR', 'dunning', 'f' || id, due_date + 35, now()
       FROM invoice WHERE merchant_id = :m AND dunning_level >= 3 AND id % 3 = 0 AND due_date + 35 <= :today""",
    # dunning messages: one per step taken (levels 1–3), 1.2 million with their invoice links
    """INSERT INTO message (merchant_id, debtor_id, purpose, template, channel, fallbacks, language, recipient, context,
                            dedupe_key, status, attempts, not_before, created_at, sent_at)
       SELECT i.merchant_id, i.debtor_id, 'dunning', (ARRAY['payment_reminder', 'first_notice', 'second_notice'])[s],
              (ARRAY['email', 'letter', 'sms'])[1 + (i.id + s) % 3], '[]', 'de', 'x', '{}', 'b:' || i.id || ':' || s,
              CASE WHEN (i.id + s) % 20 = 0 THEN 'dead' ELSE 'sent' END, 1,
              (i.due_date + 7 * s)::timestamp AT TIME ZONE 'UTC', (i.due_date + 7 * s)::timestamp AT TIME ZONE 'UTC',
              CASE WHEN (i.id + s) % 20 = 0 THEN NULL ELSE ((i.due_date + 7 * s)::timestamp + interval '8 hours') AT TIME ZONE 'UTC' END
       FROM invoice i CROSS JOIN generate_series(1, 3) s
       WHERE i.merchant_id = :m AND s <= i.dunning_level AND i.due_date + 7 * s <= :today""",
    """INSERT INTO message_invoice (message_id, invoice_id, step)
       SELECT m.id, substring(m.dedupe_key from 3 for position(':' in substring(m.dedupe_key from 3)) - 1)::int,
              (ARRAY['reminder', 'notice_1', 'notice_2'])[right(m.dedupe_key, 1)::int]
       FROM message m WHERE m.merchant_id = :m""",
    # events: 5 million in all
    """INSERT INTO event (merchant_id, invoice_id, debtor_id, kind, actor, occurred_at, data)
       SELECT merchant_id, id, debtor_id, 'invoice.created', 'api', issue_date::timestamp AT TIME ZONE 'UTC', NULL
       FROM invoice WHERE merchant_id = :m""",
    """INSERT INTO event (merchant_id, invoice_id, debtor_id, kind, actor, occurred_at, data)
       SELECT l.merchant_id, l.invoice_id, i.debtor_id, 'ledger.' || l.kind, 'bank', l.booked_on::timestamp AT TIME ZONE 'UTC', NULL
       FROM ledger_entry l JOIN invoice i ON i.id = l.invoice_id WHERE l.merchant_id = :m""",
    """INSERT INTO event (merchant_id, invoice_id, debtor_id, kind, actor, occurred_at, data)
       SELECT m.merchant_id, mi.invoice_id, m.debtor_id, k.kind, 'system', m.created_at, NULL
       FROM message m JOIN message_invoice mi ON mi.message_id = m.id
       CROSS JOIN (VALUES ('dunning.step'), ('message.sent')) k(kind) WHERE m.merchant_id = :m""",
    """INSERT INTO event (merchant_id, invoice_id, debtor_id, kind, actor, occurred_at, data)
       SELECT m.merchant_id, NULL, m.debtor_id, 'link.opened', 'debtor', m.sent_at + interval '5 hours', NULL
       FROM message m WHERE m.merchant_id = :m AND m.sent_at IS NOT NULL AND m.id % 2 = 0""",
    """INSERT INTO event (merchant_id, invoice_id, debtor_id, kind, actor, occurred_at, data)
       SELECT e.merchant_id, e.invoice_id, e.debtor_id, 'payment.started', 'debtor', e.occurred_at + interval '1 hour', NULL
       FROM event e WHERE e.merchant_id = :m AND e.kind = 'ledger.payment' AND e.invoice_id % 3 = 0""",
    """INSERT INTO support_case (merchant_id, debtor_id, kind, status, created_at, updated_at, sla_due_at)
       SELECT :m, :d0 + g % :debtors, (ARRAY['dispute', 'plan', 'promise'])[1 + g % 3], 'completed',
              (CAST(:start AS date) + g % 730)::timestamp AT TIME ZONE 'UTC', now(),
              (CAST(:start AS date) + g % 730 + 2)::timestamp AT TIME ZONE 'UTC'
       FROM generate_series(1, 20000) g""",
    """INSERT INTO case_invoice (case_id, invoice_id)
       SELECT c.id, (SELECT min(i.id) FROM invoice i WHERE i.debtor_id = c.debtor_id) FROM support_case c WHERE c.merchant_id = :m""",
]


def build(db, n_invoices: int) -> int:
    from portal.models import Merchant, Policy

    merchant = Merchant(slug="bench", name="Bench", legal_name="Bench GmbH", iban="DE89370400440532013000",
                        support_email="s@bench.example")
    db.session.add(merchant)
    db.session.commit()
    policies = db.session.execute(select(Policy.id).where(Policy.merchant_id == merchant.id).order_by(Policy.id)).scalars().all()
    conn = db.session.connection()
    params = {"m": merchant.id, "debtors": max(n_invoices // 4, 1), "invoices": n_invoices, "start": START, "today": TODAY,
              "p1": policies[0], "p2": policies[1], "p3": policies[2]}
    for n, sql in enumerate(BUILD):
        if n == 1:
            params["d0"] = conn.execute(text("SELECT min(id) FROM debtor WHERE merchant_id = :m"), params).scalar()
        t0 = time.perf_counter()
        rows = conn.execute(text(sql), params).rowcount
        print(f"  step {n + 1}/{len(BUILD)}: {rows} rows in {time.perf_counter() - t0:.1f}s", flush=True)
    db.session.commit()
    counts = {t: db.session.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in ("invoice", "event", "ledger_entry", "message")}
    print(f"  {counts}", flush=True)
    return merchant.id


def prepare(args):
    """The app on the benchmark database, with the data set built anew unless `--keep` reuses it."""
    from portal import create_app
    from portal.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": args.database_url, "TESTING": True, "WTF_CSRF_ENABLED": False,
                      "SESSION_COOKIE_SECURE": False, "RATELIMIT_ENABLED": False})
    with app.app_context():
        if not args.keep:
            db.drop_all()
            db.create_all()
            t0 = time.perf_counter()
            build(db, args.invoices)
            db.session.execute(text("ANALYZE"))
            db.session.commit()
            print(f"built in {time.perf_counter() - t0:.0f}s", flush=True)
    return app


def ensure_user(db, merchant_id: int) -> None:
    """The admin the benchmarks sign in as (bench@bench.example / bench-password-1)."""
    from portal.models import User

    if db.session.execute(select(User).where(User.email == "bench@bench.example")).scalar_one_or_none() is None:
        user = User(merchant_id=merchant_id, email="bench@bench.example", role="admin", name="Bench")
        user.set_password("bench-password-1")
        db.session.add(user)
        db.session.commit()


def timed(fn, n: int = 5) -> tuple[float, float]:
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    runs = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return first, statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True, help="a PostgreSQL database that may be emptied")
    parser.add_argument("--keep", action="store_true", help="reuse the data set already in the database")
    parser.add_argument("--invoices", type=int, default=N_INVOICES, help="smaller for a quick check (debtors scale along)")
    args = parser.parse_args()
    if not args.database_url.startswith("postgresql"):
        sys.exit("PostgreSQL only: the dashboard's target is for the production database")
    from portal.extensions import db
    from portal.models import Merchant, OpenDay, Policy

    app = prepare(args)
    with app.app_context():
        merchant = db.session.execute(select(Merchant).where(Merchant.slug == "bench")).scalar_one()
        ensure_user(db, merchant.id)
        group = db.session.execute(select(Policy.id).where(Policy.merchant_id == merchant.id, Policy.name == "Standard")).scalar_one()
        m = merchant.id

        def baseline():
            db.session.execute(text("SELECT status, count(*), sum(open_minor) FROM invoice WHERE merchant_id = :m GROUP BY status"),
                               {"m": m}).all()
            db.session.rollback()

        b_first, b_median = timed(baseline)
        print(f"baseline (count and open sum by status over all invoices): {b_median * 1000:.0f} ms (first {b_first * 1000:.0f} ms)")

        import portal.office.dashboard as view

        view.today_for = lambda tz: TODAY  # the data set's "today"
        client = app.test_client()
        signed = client.post("/office/login", data={"email": "bench@bench.example", "password": "bench-password-1"})
        assert signed.status_code == 303, signed.status_code

        def page(query):
            def go():
                response = client.get("/office/" + query)
                assert response.status_code == 200, response.status_code
            return go

        db.session.query(OpenDay).delete()
        db.session.commit()
        t0 = time.perf_counter()
        page("")()
        cold = time.perf_counter() - t0
        print(f"dashboard, default period (3 months), empty pre-aggregate: {cold * 1000:.0f} ms")
        for label, query in [
            ("default period (3 months), pre-aggregated", ""),
            ("3 months, customer group + channel", f"?group={group}&channel=email"),
            ("12 months", "?start=2025-12-01&end=2026-11-30"),
        ]:
            first, median = timed(page(query))
            print(f"dashboard, {label}: median {median * 1000:.0f} ms (first {first * 1000:.0f} ms); "
                  f"{median / b_median:.1f}x the baseline")


if __name__ == "__main__":
    main()
