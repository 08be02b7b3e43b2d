"""Benchmark: the back office of one merchant with 1,000,000 invoices and 5,000,000 events.

    .venv/bin/python bench/back_office.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/settle_bench_dashboard

PostgreSQL (the production database). The data set is the dashboard benchmark's
(`bench/dashboard.py`, built here unless `--keep` reuses it), with names, companies and
phone numbers spread over the debtors so that a search finds a few, not all, with
a few hundred open cases in the queue, and one customer with a long history (20,000
events, 200 of them on the open invoice whose page is measured); then VACUUM ANALYZE, as
autovacuum would after such updates. Timed in the same invocation, each the median of
five signed-in requests through the Flask test client after one warm-up:

(a) floors: the plainest indexed query a list page needs (50 invoice ids of the
    merchant in due-date order) and a signed-in back-office request that reads nothing
    (the team page), the fixed cost of any page;
(b) the open-items list (`/office/invoices`) with each filter and search and sort order,
    its second page through the keyset cursor, the CSV export's first 50 rows excluded
    (the export streams); the totals of a selection of more than one page, which the list
    loads in their own request (`/office/invoices/totals`); the invoice page (the newest 50
    timeline events) and its earlier entries; the debtor page; the case queue.

Targets (issue #16): the list with any filter and search ≤ 200 ms, the invoice page and the
case queue ≤ 100 ms.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sqlalchemy import select, text  # noqa: E402

from dashboard import N_INVOICES, ensure_user, prepare, timed  # noqa: E402

SPREAD = [
    # names, companies, emails and phone numbers that differ from debtor to debtor
    """UPDATE debtor SET
         name = (ARRAY['Anna', 'Jonas', 'Leonie', 'Mehmet', 'Sophie', 'Lukas', 'Emma', 'Paul', 'Mia', 'Felix'])[1 + id % 10]
                || ' ' || (ARRAY['Müller', 'Schmidt', 'Schneider', 'Fischer', 'Weber', 'Meyer', 'Wagner', 'Becker',
                                 'Hoffmann', 'Schulz', 'Koch', 'Richter', 'Klein', 'Wolf', 'Neumann'])[1 + (id / 10) % 15]
                || '-' || id,
         company = CASE WHEN id % 8 = 0 THEN 'Firma ' || id || ' GmbH' END,
         kind = CASE WHEN id % 8 = 0 THEN 'business' ELSE 'person' END,
         phone = '+49151' || lpad(id::text, 8, '0'),
         email = 'kunde' || id || '@example.de'
       WHERE merchant_id = :m""",
    # some reminders paused, as staff and debtors do
    """UPDATE invoice SET paused_reason = (ARRAY['dispute', 'plan', 'promise', 'staff'])[1 + id % 4]
       WHERE merchant_id = :m AND status = 'open' AND id % 50 = 0""",
    # a queue: 300 open requests
    """UPDATE support_case SET status = 'open', sla_due_at = now() + (id % 72) * interval '1 hour'
       WHERE merchant_id = :m AND id % 66 = 0""",
]
# a customer with a long history: the debtor of the open invoice the invoice page shows gets 20,000 events
# (portal links opened over two years), 200 of them on that invoice (the only link.opened rows with an invoice)
HEAVY = """INSERT INTO event (merchant_id, invoice_id, debtor_id, kind, actor, occurred_at, data)
       SELECT i.merchant_id, CASE WHEN g <= 200 THEN i.id END, i.debtor_id, 'link.opened', 'debtor',
              now() - g * interval '52 minutes', NULL
       FROM (SELECT * FROM invoice WHERE merchant_id = :m AND status = 'open' ORDER BY id DESC LIMIT 1) i
       CROSS JOIN generate_series(1, 20000) g"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True, help="a PostgreSQL database that may be emptied")
    parser.add_argument("--keep", action="store_true", help="reuse the data set already in the database")
    parser.add_argument("--invoices", type=int, default=N_INVOICES, help="smaller for a quick check (debtors scale along)")
    args = parser.parse_args()
    from portal.extensions import db
    from portal.models import Case, Debtor, Invoice, Merchant

    app = prepare(args)
    with app.app_context():
        merchant = db.session.execute(select(Merchant).where(Merchant.slug == "bench")).scalar_one()
        m = merchant.id
        spread = db.session.execute(select(Debtor.name).where(Debtor.merchant_id == m).limit(1)).scalar() == "Bench Debtor"
        t0 = time.perf_counter()
        if spread:
            for sql in SPREAD:
                db.session.execute(text(sql), {"m": m})
            db.session.commit()
        if db.session.execute(text("SELECT 1 FROM event WHERE merchant_id = :m AND kind = 'link.opened' "
                                   "AND invoice_id IS NOT NULL LIMIT 1"), {"m": m}).scalar() is None:
            db.session.execute(text(HEAVY), {"m": m})
            db.session.commit()
            spread = True
        if spread:
            # VACUUM as autovacuum would after these updates: the visibility map lets index-only scans skip the heap
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
            print(f"names, pauses, the case queue and the long history spread in {time.perf_counter() - t0:.0f}s", flush=True)
        ensure_user(db, m)
        counts = {t: db.session.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in ("invoice", "event", "debtor")}
        print(f"data: {counts}; load average {os.getloadavg()[0]:.1f} (nproc {os.cpu_count()})", flush=True)
        # pick what the requests look for: an open invoice with its debtor, someone's email, an RF reference
        inv = db.session.execute(select(Invoice).where(Invoice.merchant_id == m, Invoice.status == "open")
                                 .order_by(Invoice.id.desc()).limit(1)).scalar_one()
        debtor = db.session.get(Debtor, inv.debtor_id)
        case_id = db.session.execute(select(Case.id).where(Case.merchant_id == m, Case.status == "open").limit(1)).scalar()
        db.session.rollback()

        client = app.test_client()
        signed = client.post("/office/login", data={"email": "bench@bench.example", "password": "bench-password-1"})
        assert signed.status_code == 303, signed.status_code

        def plain():
            db.session.execute(text("SELECT id FROM invoice WHERE merchant_id = :m AND status = 'open' "
                                    "ORDER BY due_date, id LIMIT 51"), {"m": m}).all()
            db.session.rollback()

        def get(url):
            headers = {"HX-Request": "true"} if "/totals" in url or "/timeline" in url else {}  # fragments htmx loads

            def go():
                response = client.get(url, headers=headers)
                assert response.status_code == 200, (url, response.status_code)
                return response
            return go

        results = []

        def measure(label, fn, target=None):
            first, median = timed(fn)
            results.append((label, first, median, target))
            print(f"{label}: median {median * 1000:.0f} ms (first {first * 1000:.0f} ms)", flush=True)

        measure("floor: 50 open invoice ids by due date, plain SQL", plain)
        measure("floor: a signed-in page that reads nothing (team)", get("/office/users"))
        floor = results[0][2]
        def second(url):
            found = re.search(r'rel="next" href="([^"]*after=[^"]+)"', client.get(url).get_data(as_text=True))
            return found.group(1).replace("&amp;", "&") if found else None

        cases = [
            ("open items, default (open, by due date)", "/office/invoices"),
            ("open items, all statuses", "/office/invoices?status=all"),
            ("open items, 2nd page (keyset cursor)", second("/office/invoices")),
            ("open items, step + customer group + channel", "/office/invoices?step=notice_1&group=1&channel=email"),
            ("open items, paused by dispute", "/office/invoices?paused=dispute"),
            ("open items, 31–60 days past due", "/office/invoices?age=31-60"),
            ("open items, sorted by customer name", "/office/invoices?sort=debtor"),
            ("open items, sorted by customer name, 2nd page", second("/office/invoices?sort=debtor")),
            ("open items, sorted by number", "/office/invoices?sort=number"),
            ("open items, sorted by amount", "/office/invoices?sort=amount"),
            ("open items, sorted by open amount, descending", "/office/invoices?sort=open&dir=desc"),
            ("open items, search a surname (all statuses)", "/office/invoices?status=all&q=Hoffmann"),
            ("open items, search a first name (all statuses)", "/office/invoices?status=all&q=Anna"),
            ("open items, search two letters (all statuses)", "/office/invoices?status=all&q=an"),
            ("open items, search a surname, sorted by customer name", "/office/invoices?status=all&q=Hoffmann&sort=debtor"),
            ("open items, search a surname, 2nd page", second("/office/invoices?status=all&q=Hoffmann")),
            ("open items, all statuses, sorted by amount", "/office/invoices?status=all&sort=amount"),
            ("open items, sorted by dunning step", "/office/invoices?sort=step"),
            ("open items, all statuses, sorted by dunning step, descending", "/office/invoices?status=all&sort=step&dir=desc"),
            ("open items, search an email", f"/office/invoices?status=all&q={debtor.email}"),
            ("open items, search a phone number", "/office/invoices?status=all&q=0151" + debtor.phone[6:]),
            ("open items, search an RF reference", f"/office/invoices?status=all&q={inv.rf_reference}"),
            ("open items, search an invoice number", f"/office/invoices?status=all&q={inv.number}"),
            # a selection of more than one page is added up in its own request, which the list loads (htmx) at once
            ("totals of the selection (loaded after the list): open", "/office/invoices/totals"),
            ("totals of the selection: all statuses", "/office/invoices/totals?status=all"),
            ("totals of the selection: a surname (all statuses)", "/office/invoices/totals?status=all&q=Hoffmann"),
            ("totals of the selection: two letters (all statuses)", "/office/invoices/totals?status=all&q=an"),
            ("totals of the selection: step + customer group + channel", "/office/invoices/totals?step=notice_1&group=1&channel=email"),
        ]
        for label, url in cases:
            if url:
                measure(label, get(url), 0.200)
        events = db.session.execute(text("SELECT count(*) FILTER (WHERE invoice_id = :i), count(*) FROM event "
                                         "WHERE debtor_id = :d"), {"i": inv.id, "d": debtor.id}).one()
        db.session.rollback()
        measure(f"invoice page ({events[0]} events, the newest 50 shown; its customer has {events[1]})",
                get(f"/office/invoices/{inv.id}"), 0.100)
        earlier = re.search(r'hx-get="(/office/invoices/\d+/timeline\?before=[^"]+)"', client.get(f"/office/invoices/{inv.id}").get_data(as_text=True))
        if earlier:
            measure("invoice page, earlier timeline entries (htmx)", get(earlier.group(1).replace("&amp;", "&")), 0.100)
        measure("debtor page (timeline: the newest 500 events)", get(f"/office/debtors/{debtor.id}"), 0.100)
        measure("case queue (waiting for us)", get("/office/cases"), 0.100)
        if second("/office/cases"):
            measure("case queue, 2nd page", get(second("/office/cases")), 0.100)
        measure("case queue, closed (newest first)", get("/office/cases?queue=closed"), 0.100)
        if case_id:
            measure("one case", get(f"/office/cases/{case_id}"), 0.100)
        print()
        print("| request | median of 5 | target | × plain-SQL floor |")
        print("|---|---:|---:|---:|")
        for label, _first, median, target in results:
            verdict = "" if target is None else (f"≤ {target * 1000:.0f} ms " + ("met" if median <= target else "**missed**"))
            print(f"| {label} | {median * 1000:.0f} ms | {verdict} | {median / floor:.0f} |")


if __name__ == "__main__":
    main()
