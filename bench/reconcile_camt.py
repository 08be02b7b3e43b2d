"""Benchmark: camt.053 reconciliation against open invoices, with a parse-only baseline in the same run.

    .venv/bin/python bench/reconcile_camt.py [--entries 100000] [--invoices 1000000] [--keep DIR]

Builds a SQLite database with the application's schema holding `--invoices` open
invoices (bulk inserted, not timed) and a camt.053.001.08 statement with `--entries`
booked credits: 70 % carry the invoice's RF reference in the structured field, 15 %
write it into the free text with spaces and in lower case, 10 % name the invoice
number in the text, 5 % match nothing. Then, each in a fresh process:

- **parse**: `portal.domain.camt.read` over the file (streamed: lxml with a tag filter,
  DTDs refused by an expat check first) — the least work any import must do;
- **reconcile**: `portal.payments.reconcile.import_statements` — parse, dedupe by
  entry reference, match, book the payments 1,000 at a time through `portal.ledger.book_many`
  (ledger entries, balances, statuses, events, cancelled reminders), store every bank
  entry — and the commit.

Prints wall time and peak memory (maximum resident set of the process) of each and the
ratio. Target: reconcile ≤ 15 s at full size and within 3x of parse-only.
"""
from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def peak_mb() -> float:
    """Peak resident set of this process (VmHWM; ru_maxrss would carry the parent's peak across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_app(db_path: Path | str):
    from portal import create_app

    url = db_path if isinstance(db_path, str) and "://" in db_path else f"sqlite:///{db_path}"
    return create_app({
        "SQLALCHEMY_DATABASE_URI": url, "TESTING": True, "SECRET_KEY": "bench",
        "SQLALCHEMY_ENGINE_OPTIONS": {},
    })


def seed(db_path: Path, invoices: int) -> None:
    """Schema, one merchant, invoices/10 debtors and the open invoices (RF reference of invoice i is derived from i)."""
    from sqlalchemy import insert

    from portal.domain import rf
    from portal.extensions import db
    from portal.models import Debtor, Invoice, Merchant

    app = make_app(db_path)
    with app.app_context():
        if db.engine.dialect.name == "postgresql":  # a fresh schema each time: the tables start empty, unanalysed
            db.session.execute(__import__("sqlalchemy").text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            db.session.commit()
        db.create_all()
        merchant = Merchant(slug="bench", name="Bench", legal_name="Bench GmbH", iban="DE89370400440532013000")
        db.session.add(merchant)
        db.session.flush()
        debtors = max(1, invoices // 10)
        db.session.execute(insert(Debtor), [
            {"merchant_id": merchant.id, "external_ref": f"K{d}", "name": f"Debtor {d}", "kind": "person"}
            for d in range(debtors)
        ])
        issue = date(2025, 12, 1)
        rows = ({
            "merchant_id": merchant.id, "debtor_id": 1 + i % debtors, "number": f"RE-{i:07d}",
            "issue_date": issue, "due_date": issue + timedelta(days=14 + i % 30), "currency": "EUR",
            "amount_minor": 1000 + (i * 7919) % 90000, "open_minor": 1000 + (i * 7919) % 90000, "status": "open",
            "rf_reference": rf.make(f"B{i:010d}"), "intake_fingerprint": "bench", "dunning_level": 0,
        } for i in range(invoices))
        if db.engine.dialect.name == "postgresql":
            _copy(Invoice.__table__, rows)  # COPY: the seeding is not timed, and INSERTs took minutes at 300,000
        else:
            batch = []
            for row in rows:
                batch.append(row)
                if len(batch) == 50_000:
                    db.session.execute(insert(Invoice), batch)
                    batch = []
            if batch:
                db.session.execute(insert(Invoice), batch)
        db.session.commit()


def _copy(table, rows) -> None:
    """PostgreSQL COPY of dict rows into `table`, the columns' Python defaults filled in as an INSERT would."""
    from portal.extensions import db

    first = next(rows)
    defaults = {c.name: c.default.arg for c in table.c
                if c.name not in first and c.default is not None and not c.primary_key}
    values = {name: (arg(None) if callable(arg) else arg) for name, arg in defaults.items()}
    columns = list(first) + list(values)
    cursor = db.session.connection().connection.driver_connection.cursor()
    with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
        copy.write_row([first[c] for c in first] + list(values.values()))
        for row in rows:
            copy.write_row([row[c] for c in first] + list(values.values()))


def vacuum_analyze(url: str) -> None:
    """VACUUM ANALYZE of the seeded tables (outside a transaction, as autovacuum runs)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def generate(path: Path, entries: int, invoices: int, seed_: int = 2026) -> None:
    from portal.domain import rf

    rng = random.Random(seed_)
    with path.open("w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n'
                  '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>'
                  "<GrpHdr><MsgId>BENCH</MsgId><CreDtTm>2026-01-15T20:00:00</CreDtTm></GrpHdr>"
                  "<Stmt><Id>BENCH-1</Id><CreDtTm>2026-01-15T20:00:00</CreDtTm>"
                  "<Acct><Id><IBAN>DE89370400440532013000</IBAN></Id><Ccy>EUR</Ccy></Acct>\n")
        chosen = rng.sample(range(invoices), min(entries, invoices))
        for k in range(entries):
            i = chosen[k % len(chosen)]
            amount = 1000 + (i * 7919) % 90000
            kind = rng.random()
            ref = rf.make(f"B{i:010d}")
            strd = ustrd = ""
            if kind < 0.70:
                strd = (f"<Strd><CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry></Tp>"
                        f"<Ref>{ref}</Ref></CdtrRefInf></Strd>")
            elif kind < 0.85:
                spaced = " ".join(ref[j:j + 4] for j in range(0, len(ref), 4)).lower()
                ustrd = f"<Ustrd>Zahlung {spaced} vielen Dank</Ustrd>"
            elif kind < 0.95:
                ustrd = f"<Ustrd>Rechnung RE-{i:07d} Kundennr K{i % 1000}</Ustrd>"
            else:
                ustrd = "<Ustrd>Spende ohne Bezug</Ustrd>"
                amount = 4242
            out.write(
                f'<Ntry><Amt Ccy="EUR">{amount // 100}.{amount % 100:02d}</Amt><CdtDbtInd>CRDT</CdtDbtInd>'
                "<Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>2026-01-15</Dt></BookgDt><ValDt><Dt>2026-01-15</Dt></ValDt>"
                f"<AcctSvcrRef>BNK{k:09d}</AcctSvcrRef><BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd>"
                "<SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd><NtryDtls><TxDtls>"
                f"<Refs><EndToEndId>E2E{k:09d}</EndToEndId></Refs><Amt Ccy=\"EUR\">{amount // 100}.{amount % 100:02d}</Amt>"
                f"<RltdPties><Dbtr><Pty><Nm>Payer {i}</Nm></Pty></Dbtr><DbtrAcct><Id><IBAN>{iban_for(i)}</IBAN>"
                f"</Id></DbtrAcct></RltdPties><RmtInf>{ustrd}{strd}</RmtInf></TxDtls></NtryDtls></Ntry>\n"
            )
        out.write("</Stmt></BkToCstmrStmt></Document>\n")


def iban_for(payer: int) -> str:
    """A valid German IBAN per payer (bank code 12030000), so "paid from this IBAN before" is realistic."""
    bban = f"12030000{payer:010d}"
    check = 98 - int(bban + "131400") % 97
    return f"DE{check:02d}{bban}"


def cpu_seconds() -> float:
    """CPU time of this process (user + system): on a machine shared with other work it moves less than the wall time
    (a SQLite import runs in the process; PostgreSQL's share is the server's, counted in the wall time only)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def phase_parse(camt: Path) -> dict:
    from portal.domain import camt as camt_module

    start, cpu = time.perf_counter(), cpu_seconds()
    count = 0
    with camt.open("rb") as f:
        for _ in camt_module.read(f):
            count += 1
    return {"seconds": time.perf_counter() - start, "cpu": cpu_seconds() - cpu, "transactions": count, "peak_mb": peak_mb()}


def phase_reconcile(db_path: Path | str, camt: Path) -> dict:
    from sqlalchemy import select

    from portal.extensions import db
    from portal.models import Merchant
    from portal.payments.reconcile import import_statements

    from portal.dunning import escalation  # noqa: F401  modules the import loads on first use: a running
    from portal.payments import credits, receipts  # noqa: F401  server has them loaded, so they are not timed

    app = make_app(db_path)
    with app.app_context():
        merchant = db.session.execute(select(Merchant)).scalar_one()
        before = peak_mb()
        start, cpu = time.perf_counter(), cpu_seconds()
        result = import_statements(merchant, camt.read_bytes(), camt.name, actor="bench", today=date(2026, 1, 20))
        db.session.commit()
        seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    return {"seconds": seconds, "cpu": cpu, "booked": result.total("booked"), "unmatched": result.total("unmatched"),
            "peak_mb": peak_mb(), "peak_before_mb": before}


def child(phase: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--phase", phase, *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--invoices", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each phase, alternating, on freshly seeded data; "
                        "the median counts")
    parser.add_argument("--keep", help="work in this directory and keep the files")
    parser.add_argument("--database-url", help="run against this database (e.g. a throw-away PostgreSQL database; "
                        "its public schema is dropped and seeded afresh for every reconcile run) instead of a SQLite file")
    parser.add_argument("--analyze", action="store_true", help="PostgreSQL: VACUUM ANALYZE the seeded tables before the "
                        "import, as autovacuum would have done to invoices that arrived before the statement (without "
                        "it the tables are as a bulk load leaves them: no statistics, no hint bits, no visibility map)")
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line (bench/growth.py)")
    parser.add_argument("--phase", choices=["parse", "reconcile"], help=argparse.SUPPRESS)
    parser.add_argument("paths", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase == "parse":
        print(json.dumps(phase_parse(Path(args.paths[0]))))
        return
    if args.phase == "reconcile":
        target = args.paths[0] if "://" in args.paths[0] else Path(args.paths[0])
        print(json.dumps(phase_reconcile(target, Path(args.paths[1]))))
        return

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="settle-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    db_path, camt = work / "bench.sqlite3", work / "statement.xml"
    target = args.database_url or str(db_path)
    parses, reconciles, setup = [], [], 0.0
    try:
        generate(camt, args.entries, args.invoices)
        for _ in range(max(1, args.repeat)):
            db_path.unlink(missing_ok=True)
            t = time.perf_counter()
            seed(target, args.invoices)
            if args.analyze and args.database_url:
                vacuum_analyze(args.database_url)
            setup += time.perf_counter() - t
            parses.append(child("parse", str(camt)))
            reconciles.append(child("reconcile", target, str(camt)))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    parse, reconcile = median(parses), median(reconciles)
    print(f"setup: {args.invoices} invoices, {args.entries} entries, seeded {len(reconciles)}x in {setup:.1f} s (not timed)")
    print(f"parse-only: {parse['seconds']:.2f} s, {parse['transactions']} transactions, peak RSS {parse['peak_mb']:.0f} MB"
          f"  (all runs: {runs(parses)})")
    print(f"reconcile:  {reconcile['seconds']:.2f} s, {reconcile['booked']} booked, {reconcile['unmatched']} unmatched, "
          f"peak RSS {reconcile['peak_mb']:.0f} MB (process before import: {reconcile['peak_before_mb']:.0f} MB)"
          f"  (all runs: {runs(reconciles)})")
    ratio = reconcile["seconds"] / parse["seconds"]
    print(f"ratio reconcile / parse-only: {ratio:.2f}x (target <= 3x): {'met' if ratio <= 3 else 'MISSED'}")
    print(f"CPU of the process: parse-only {parse['cpu']:.2f} s, reconcile {reconcile['cpu']:.2f} s, "
          f"{reconcile['cpu'] / parse['cpu']:.2f}x (the database server's CPU is not in it)")
    if args.json:
        print(json.dumps({"pipeline": "camt", "size": args.invoices, "entries": args.entries,
                          "seconds": reconcile["seconds"], "peak_mb": reconcile["peak_mb"],
                          "before_mb": reconcile["peak_before_mb"], "floor_seconds": parse["seconds"],
                          "floor_peak_mb": parse["peak_mb"], "runs": [r["seconds"] for r in reconciles],
                          "floor_runs": [r["seconds"] for r in parses]}))


def runs(results: list[dict]) -> str:
    return " / ".join(f"{r['seconds']:.2f}" for r in results)


def median(results: list[dict]) -> dict:
    """The run with the median time (the lower middle one of an even count)."""
    ordered = sorted(results, key=lambda r: r["seconds"])
    return ordered[(len(ordered) - 1) // 2]


if __name__ == "__main__":
    main()
