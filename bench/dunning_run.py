"""Benchmark: one dunning run over N open invoices of which M are due for a step.

    .venv/bin/python bench/dunning_run.py --invoices 1000000 --due 100000 [--database-url postgresql+psycopg://…]

Builds the data with plain SQL: N open invoices, one to three per debtor (a tenth of the
debtors are 70 or older and get letters), of which M are due today: half for the friendly
reminder (first look: the policy is chosen), a quarter for the first notice (puts the
debtor in default), a quarter for the second notice (in default: default interest and a
dunning fee, both ledger entries). Then it times, in the same invocation:

(a) the real run, `portal.dunning.run.run` (what `flask dunning run` does);
(b) a baseline of plain SQL writing exactly the same rows: the rows the run wrote are read
    back, the run is undone (its rows deleted, the invoices restored), and the baseline
    writes them again on the driver's cursor, per batch of the same size with one commit
    per batch: the work-list query, the batch's reads (invoices, locked on PostgreSQL;
    debtors; ledger), the invoice updates, ledger entries, balance updates, messages
    (RETURNING their ids), message-invoice links and events, JSON serialised in the loop.
    SQLite: executemany; PostgreSQL: one set-based statement per table and batch. It has
    no rules, no message content to compute and no ORM: the floor for these writes.

Peak memory: the process's peak resident set size during the run (VmHWM, reset just before
the run through /proc/self/clear_refs), next to the resident size before it. tracemalloc is
not used: it slows allocation-heavy code several times and would distort the ratio.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select, text  # noqa: E402

TODAY = date(2025, 6, 29)


def _kib(field: str) -> int:
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # resets VmHWM to the current RSS (Linux ≥ 4.0)
        return True
    except OSError:
        return False


def build(n_invoices: int, n_due: int) -> tuple[int, dict]:
    from portal.extensions import db
    from portal.models import Merchant, Policy

    merchant = Merchant(slug="bench", name="Bench", legal_name="Bench GmbH", iban="DE89370400440532013000",
                        support_email="s@bench.example")
    db.session.add(merchant)
    db.session.commit()
    standard = db.session.execute(select(Policy.id).where(Policy.merchant_id == merchant.id, Policy.name == "Standard")).scalar_one()
    conn = db.session.connection()
    n_debtors = max(n_invoices // 2, 1)
    rows = []
    for i in range(n_debtors):
        older = i % 10 == 9
        rows.append({"m": merchant.id, "r": f"D{i}", "e": f"d{i}@example.de", "dob": date(1940, 3, 3) if older else date(1985, 5, 5),
                     "s": f"Musterweg {i}", "p": "10115", "c": "Berlin"})
        if len(rows) == 50000 or i == n_debtors - 1:
            conn.execute(text(
                "INSERT INTO debtor (merchant_id, external_ref, kind, name, email, street, postal_code, city, date_of_birth, consent_email,"
                " consent_sms, link_version, created_at, updated_at)"
                " VALUES (:m, :r, 'person', 'Bench Debtor', :e, :s, :p, :c, :dob, true, false, 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"), rows)
            rows = []
    first = conn.execute(text("SELECT min(id) FROM debtor WHERE merchant_id = :m"), {"m": merchant.id}).scalar()
    kinds = {"reminder": 0, "notice_1": 0, "notice_2": 0}
    batch = []
    for i in range(n_invoices):
        # Debtor i % n_debtors: every debtor has two invoices; among the due ones, every tenth debtor has two due.
        debtor = first + (i % n_debtors if i % 10 else (i // 10) % n_debtors)
        row = {"m": merchant.id, "d": debtor, "n": f"B{i}", "rf": f"RF{i:020d}"[:25], "open": 11900, "level": 0, "step": None,
               "policy": None, "last": None, "default": None}
        if i < n_due:
            kind = ("reminder", "reminder", "notice_1", "notice_2")[i % 4]
            kinds[kind] += 1
            if kind == "reminder":  # never looked at: the run chooses the policy; the pre-due reminder is skipped
                row.update(due=TODAY - timedelta(days=7), next=TODAY)
            elif kind == "notice_1":  # reminder sent 14 days ago
                row.update(due=TODAY - timedelta(days=21), next=TODAY, level=2, step="reminder", policy=standard,
                           last=TODAY - timedelta(days=14))
            else:  # first notice sent 14 days ago, in default since its receipt
                row.update(due=TODAY - timedelta(days=35), next=TODAY, level=3, step="notice_1", policy=standard,
                           last=TODAY - timedelta(days=14), default=TODAY - timedelta(days=11))
        else:
            row.update(due=TODAY + timedelta(days=30), next=TODAY + timedelta(days=27))
        row["issue"] = row["due"] - timedelta(days=14)
        batch.append(row)
        if len(batch) == 50000 or i == n_invoices - 1:
            conn.execute(text(
                "INSERT INTO invoice (merchant_id, debtor_id, number, issue_date, due_date, currency, amount_minor, open_minor, status,"
                " rf_reference, intake_fingerprint, dunning_level, dunning_step, dunning_policy_id, dunning_last_on, default_on,"
                " next_action_on, created_at, updated_at)"
                " VALUES (:m, :d, :n, :issue, :due, 'EUR', 11900, :open, 'open', :rf, 'x', :level, :step, :policy, :last, :default,"
                " :next, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"), batch)
            batch = []
    db.session.commit()
    return merchant.id, kinds


INVOICE_STATE = ("id", "open_minor", "status", "closed_on", "dunning_level", "dunning_step", "dunning_policy_id",
                 "dunning_last_on", "default_on", "interest_through", "next_action_on", "paused_reason")


def snapshot(merchant_id: int, marks: dict) -> dict:
    """What the run wrote: every row it inserted (ids above the marks) and the new state of the invoices it changed."""
    from portal.extensions import db
    from portal.models import Event, Invoice, LedgerEntry, Message, MessageInvoice

    def rows(model, *where):
        t = model.__table__
        return [dict(r._mapping) for r in db.session.execute(select(t).where(t.c.id > marks[t.name], *where).order_by(t.c.id))]

    inv = Invoice.__table__
    return {
        "ledger_entry": rows(LedgerEntry), "message": rows(Message), "message_invoice": rows(MessageInvoice),
        "event": rows(Event),
        "invoice": [dict(r._mapping) for r in db.session.execute(
            select(*(inv.c[c] for c in INVOICE_STATE)).where(inv.c.merchant_id == merchant_id, inv.c.dunning_last_on == TODAY))],
    }


def undo(before: list[dict], marks: dict) -> None:
    """Take the run back: delete its rows, restore the invoices it changed."""
    from portal.extensions import db

    conn = db.session.connection()
    for table in ("message_invoice", "message", "ledger_entry", "event"):
        conn.execute(text(f"DELETE FROM {table} WHERE id > :mark"), {"mark": marks[table]})
    sets = ", ".join(f"{c} = :{c}" for c in INVOICE_STATE if c != "id")
    conn.execute(text(f"UPDATE invoice SET {sets} WHERE id = :id"), before)
    db.session.commit()


def baseline(engine, merchant_id: int, wrote: dict, batch_debtors: int) -> None:
    """Plain SQL on the driver's own cursor writing the run's rows again, batch by batch (same batch size,
    one commit per batch). SQLite: executemany, and one multi-row INSERT … RETURNING for the messages.
    PostgreSQL: one set-based statement per table and batch (rows as one JSON document through
    json_to_recordset), the fastest plain SQL for this there."""
    sqlite = engine.dialect.name == "sqlite"
    ph = "?" if sqlite else "%s"
    dumps = json.dumps

    def day(value):  # what SQLAlchemy stores for a date on SQLite; psycopg adapts dates itself
        return value.isoformat() if sqlite and value is not None else value

    def iso(value):
        return value.isoformat()

    def write(cur, table: str, columns: dict[str, str], rows: list[tuple], *, returning: str = "", update_key: str = "",
              add: tuple = ()) -> list:
        """INSERT (or UPDATE … by `update_key`) of rows given as tuples in the order of `columns` (name → PostgreSQL type)."""
        if not rows:
            return []
        names = list(columns)
        if sqlite:
            json_cols = [i for i, n in enumerate(names) if columns[n] == "jsonb"]
            if json_cols:
                rows = [tuple(dumps(v) if i in json_cols else v for i, v in enumerate(r)) for r in rows]
            if update_key:
                sets = ", ".join(f"{n} = {n} + ?" if n in add else f"{n} = ?" for n in names if n != update_key)
                cur.executemany(f"UPDATE {table} SET {sets} WHERE {update_key} = ?",
                                [tuple(v for n, v in zip(names, r) if n != update_key) + (r[names.index(update_key)],) for r in rows])
                return []
            if returning:
                row_sql = "(" + ", ".join("?" * len(names)) + ")"
                cur.execute(f"INSERT INTO {table} ({', '.join(names)}) VALUES {', '.join([row_sql] * len(rows))} RETURNING {returning}",
                            [v for r in rows for v in r])
                return cur.fetchall()
            cur.executemany(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})", rows)
            return []
        source = f"json_to_recordset(%s::json) AS u({', '.join(f'{n} {t}' for n, t in columns.items())})"
        payload = dumps([dict(zip(names, r)) for r in rows], default=iso, separators=(",", ":"))
        if update_key:
            sets = ", ".join(f"{n} = {table}.{n} + u.{n}" if n in add else f"{n} = u.{n}" for n in names if n != update_key)
            cur.execute(f"UPDATE {table} SET {sets} FROM {source} WHERE {table}.{update_key} = u.{update_key}", (payload,))
            return []
        cur.execute(f"INSERT INTO {table} ({', '.join(names)}) SELECT {', '.join('u.' + n for n in names)} FROM {source}"
                    + (f" RETURNING {returning}" if returning else ""), (payload,))
        return cur.fetchall() if returning else []

    by_invoice: dict[int, dict] = {r["id"]: r for r in wrote["invoice"]}
    entries, events, links = {}, {}, {}
    for r in wrote["ledger_entry"]:
        entries.setdefault(r["invoice_id"], []).append(r)
    for r in wrote["event"]:
        events.setdefault(r["invoice_id"], []).append(r)
    message_of_invoice = {}
    for r in wrote["message_invoice"]:
        links.setdefault(r["message_id"], []).append(r)
        message_of_invoice[r["invoice_id"]] = r["message_id"]
    messages = {r["id"]: r for r in wrote["message"]}
    message_cols = {"merchant_id": "integer", "debtor_id": "integer", "purpose": "varchar", "template": "varchar", "channel": "varchar",
                    "fallbacks": "jsonb", "language": "varchar", "recipient": "varchar", "context": "jsonb", "dedupe_key": "varchar",
                    "status": "varchar", "attempts": "integer", "not_before": "timestamptz", "created_at": "timestamptz"}
    invoice_cols = {"id": "integer", "dunning_level": "integer", "dunning_step": "varchar", "dunning_policy_id": "integer",
                    "dunning_last_on": "date", "default_on": "date", "interest_through": "date", "next_action_on": "date",
                    "updated_at": "timestamptz"}
    ledger_cols = {"merchant_id": "integer", "invoice_id": "integer", "kind": "varchar", "amount_minor": "integer", "currency": "varchar",
                   "source": "varchar", "external_ref": "varchar", "booked_on": "date", "memo": "text", "data": "jsonb",
                   "created_at": "timestamptz"}
    event_cols = {"merchant_id": "integer", "invoice_id": "integer", "debtor_id": "integer", "kind": "varchar", "actor": "varchar",
                  "occurred_at": "timestamptz", "data": "jsonb"}
    with engine.connect() as sa_conn:
        raw = sa_conn.connection.driver_connection
        cur = raw.cursor()
        cur.execute(f"SELECT debtor_id, id FROM invoice WHERE status = 'open' AND next_action_on <= {ph} AND merchant_id = {ph}"
                    " ORDER BY debtor_id, id", (day(TODAY), merchant_id))
        work = cur.fetchall()
        raw.commit()
        start = 0
        while start < len(work):
            end, debtors = start, 0
            while end < len(work) and debtors < batch_debtors:
                d = work[end][0]
                while end < len(work) and work[end][0] == d:
                    end += 1
                debtors += 1
            ids = [i for _, i in work[start:end]]
            start = end
            now = datetime.now(timezone.utc)
            stamp = now.isoformat(sep=" ") if sqlite else now
            # Read what the rows are made of, as the run does: the invoices (locked on PostgreSQL, as the run
            # locks them), their debtors' contact data, their ledger.
            id_list = ",".join(map(str, ids))
            cur.execute("SELECT id, debtor_id, number, issue_date, due_date, currency, amount_minor, open_minor, order_ref, dunning_level,"
                        " dunning_step, paused_reason, default_on, dunning_policy_id, dunning_last_on, interest_through, next_action_on"
                        f" FROM invoice WHERE id IN ({id_list}) ORDER BY debtor_id, id" + ("" if sqlite else " FOR UPDATE"))
            debtor_list = ",".join(str(d) for d in sorted({row[1] for row in cur.fetchall()}))
            cur.execute("SELECT id, merchant_id, kind, date_of_birth, language, preferred_channel, email, consent_email, phone,"
                        f" consent_sms, street, postal_code, city FROM debtor WHERE id IN ({debtor_list})")
            cur.fetchall()
            cur.execute("SELECT invoice_id, kind, amount_minor, booked_on, external_ref, data FROM ledger_entry"
                        f" WHERE invoice_id IN ({id_list}) ORDER BY id")
            cur.fetchall()
            write(cur, "invoice", invoice_cols, [
                (r["id"], r["dunning_level"], r["dunning_step"], r["dunning_policy_id"], day(r["dunning_last_on"]), day(r["default_on"]),
                 day(r["interest_through"]), day(r["next_action_on"]), stamp)
                for r in (by_invoice[i] for i in ids if i in by_invoice)], update_key="id")
            batch_entries = [e for i in ids for e in entries.get(i, ())]
            write(cur, "ledger_entry", ledger_cols, [
                (e["merchant_id"], e["invoice_id"], e["kind"], e["amount_minor"], e["currency"], e["source"], e["external_ref"],
                 day(e["booked_on"]), e["memo"], e["data"], stamp) for e in batch_entries])
            totals: dict[int, int] = {}
            for e in batch_entries:
                totals[e["invoice_id"]] = totals.get(e["invoice_id"], 0) + e["amount_minor"]
            write(cur, "invoice", {"id": "integer", "open_minor": "integer", "updated_at": "timestamptz"},
                  [(i, d, stamp) for i, d in totals.items()], update_key="id", add=("open_minor",))
            batch_messages = list({message_of_invoice[i]: messages[message_of_invoice[i]] for i in ids if i in message_of_invoice}.values())
            new_ids = {key: mid for mid, key in write(cur, "message", message_cols, [
                tuple(stamp if c in ("not_before", "created_at") else m[c] for c in message_cols) for m in batch_messages],
                returning="id, dedupe_key")}
            write(cur, "message_invoice", {"message_id": "integer", "invoice_id": "integer", "step": "varchar"},
                  [(new_ids[m["dedupe_key"]], link["invoice_id"], link["step"]) for m in batch_messages for link in links[m["id"]]])
            write(cur, "event", event_cols, [
                (e["merchant_id"], e["invoice_id"], e["debtor_id"], e["kind"], e["actor"], stamp, e["data"])
                for i in ids for e in events.get(i, ())])
            raw.commit()
        cur.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--invoices", type=int, default=20000)
    parser.add_argument("--due", type=int, default=2000)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file under /tmp")
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line (bench/growth.py)")
    args = parser.parse_args()
    url = args.database_url or f"sqlite:////tmp/settle-bench-dunning-{os.getpid()}.sqlite3"
    from portal import create_app
    from portal.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    with app.app_context():
        db.drop_all()
        db.create_all()
        t0 = time.perf_counter()
        merchant_id, kinds = build(args.invoices, args.due)
        print(f"built {args.invoices} invoices ({args.due} due: {kinds}) in {time.perf_counter() - t0:.1f}s", flush=True)
        from portal.dunning.run import run
        from portal.models import Merchant

        conn = db.session.connection()
        marks = {t: conn.execute(text(f"SELECT coalesce(max(id), 0) FROM {t}")).scalar()
                 for t in ("ledger_entry", "message", "message_invoice", "event")}
        before = [dict(r._mapping) for r in conn.execute(text(
            f"SELECT {', '.join(INVOICE_STATE)} FROM invoice WHERE status = 'open' AND next_action_on <= :t"), {"t": TODAY})]
        merchant = db.session.get(Merchant, merchant_id)
        db.session.commit()
        rss_before = _kib("VmRSS")
        peak_ok = reset_peak()
        t0, c0 = time.perf_counter(), time.process_time()
        result = run(today=TODAY, merchant=merchant)
        run_s, run_cpu = time.perf_counter() - t0, time.process_time() - c0
        peak = _kib("VmHWM") if peak_ok else None
        memory = f"peak RSS during the run {peak / 1024:.0f} MiB" if peak else "peak RSS not measurable here"
        print(f"run: {run_s:.2f}s wall ({run_cpu:.2f}s CPU in this process); RSS before {rss_before / 1024:.0f} MiB, {memory}",
              flush=True)
        print(f"     {result.summary()}", flush=True)
        wrote = snapshot(merchant_id, marks)
        counts = {k: len(v) for k, v in wrote.items()}
        again = run(today=TODAY, merchant=db.session.get(Merchant, merchant_id))
        assert again.steps_taken == 0, "a rerun of the same day must do nothing"
        undo(before, marks)
        t0, c0 = time.perf_counter(), time.process_time()
        from portal.dunning.run import BATCH_DEBTORS

        baseline(db.engine, merchant_id, wrote, BATCH_DEBTORS)  # batches of the same size as the run's
        base_s, base_cpu = time.perf_counter() - t0, time.process_time() - c0
        check = {t: db.session.execute(text(f"SELECT count(*) FROM {t} WHERE id > :m"), {"m": marks[t]}).scalar() for t in marks}
        assert check == {t: counts[t] for t in marks}, (check, counts)
        print(f"baseline (plain SQL, same rows {counts}): {base_s:.2f}s wall ({base_cpu:.2f}s CPU)", flush=True)
        print(f"ratio run/baseline: {run_s / base_s:.2f}x", flush=True)
        if args.json:
            print(json.dumps({"pipeline": "dunning", "size": args.invoices, "due": args.due, "seconds": run_s,
                              "peak_mb": peak / 1024 if peak else None, "before_mb": rss_before / 1024,
                              "floor_seconds": base_s, "runs": [run_s], "floor_runs": [base_s]}), flush=True)
    if url.startswith("sqlite:////tmp/settle-bench"):
        os.unlink(url.removeprefix("sqlite:///"))


if __name__ == "__main__":
    main()
