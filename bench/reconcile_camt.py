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
        "SQLALCHEMY_ENGINE_OPTIONS": {}, "RATELIMIT_ENABLED": False,
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
        batch = []
        for i in range(invoices):
            amount = 1000 + (i * 7919) % 90000
            batch.append({
                "merchant_id": merchant.id, "debtor_id": 1 + i % debtors, "number": f"RE-{i:07d}",
                "issue_date": issue, "due_date": issue + timedelta(days=14 + i % 30), "currency": "EUR",
                "amount_minor": amount, "open_minor": amount, "status": "open", "rf_reference": rf.make(f"B{i:010d}"),
                "intake_fingerprint": "bench", "dunning_level": 0,
            })
            if len(batch) == 50_000:
                db.session.execute(insert(Invoice), batch)
                batch = []
        if batch:
            db.session.execute(insert(Invoice), batch)
        db.session.commit()


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


def phase_parse(camt: Path) -> dict:
    from portal.domain import camt as camt_module

    start = time.perf_counter()
    count = 0
    with camt.open("rb") as f:
        for _ in camt_module.read(f):
            count += 1
    return {"seconds": time.perf_counter() - start, "transactions": count, "peak_mb": peak_mb()}


def phase_reconcile(db_path: Path | str, camt: Path, analyze: bool = True) -> dict:
    from sqlalchemy import select

    from portal.extensions import db
    from portal.models import Merchant
    from portal.payments import reconcile
    from portal.payments.reconcile import import_statements

    reconcile.ANALYZE = analyze

    app = make_app(db_path)
    with app.app_context():
        merchant = db.session.execute(select(Merchant)).scalar_one()
        before = peak_mb()
        start = time.perf_counter()
        result = import_statements(merchant, camt.read_bytes(), camt.name, actor="bench", today=date(2026, 1, 20))
        db.session.commit()
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "booked": result.total("booked"), "unmatched": result.total("unmatched"),
            "peak_mb": peak_mb(), "peak_before_mb": before}


def child(phase: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--phase", phase, *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--invoices", type=int, default=1_000_000)
    parser.add_argument("--keep", help="work in this directory and keep the files")
    parser.add_argument("--database-url", help="run against this database (e.g. a throw-away PostgreSQL database; "
                        "its public schema is dropped) instead of a SQLite file; then the reconcile phase runs twice "
                        "on a freshly seeded schema, without and with ANALYZE as the import grows")
    parser.add_argument("--phase", choices=["parse", "reconcile", "reconcile-no-analyze"], help=argparse.SUPPRESS)
    parser.add_argument("paths", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase == "parse":
        print(json.dumps(phase_parse(Path(args.paths[0]))))
        return
    if args.phase in ("reconcile", "reconcile-no-analyze"):
        target = args.paths[0] if "://" in args.paths[0] else Path(args.paths[0])
        print(json.dumps(phase_reconcile(target, Path(args.paths[1]), analyze=args.phase == "reconcile")))
        return

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="settle-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    db_path, camt = work / "bench.sqlite3", work / "statement.xml"
    target = args.database_url or str(db_path)
    try:
        db_path.unlink(missing_ok=True)
        t = time.perf_counter()
        seed(target, args.invoices)
        generate(camt, args.entries, args.invoices)
        print(f"setup: {args.invoices} invoices, {args.entries} entries ({camt.stat().st_size / 2**20:.1f} MB) "
              f"in {time.perf_counter() - t:.1f} s (not timed)")
        parse = child("parse", str(camt))
        if args.database_url:
            plain = child("reconcile-no-analyze", target, str(camt))
            print(f"reconcile without ANALYZE: {plain['seconds']:.2f} s, {plain['booked']} booked")
            seed(target, args.invoices)
        reconcile = child("reconcile", target, str(camt))
        print(f"parse-only: {parse['seconds']:.2f} s, {parse['transactions']} transactions, peak RSS {parse['peak_mb']:.0f} MB")
        print(f"reconcile:  {reconcile['seconds']:.2f} s, {reconcile['booked']} booked, {reconcile['unmatched']} unmatched, "
              f"peak RSS {reconcile['peak_mb']:.0f} MB (process before import: {reconcile['peak_before_mb']:.0f} MB)")
        print(f"ratio reconcile / parse-only: {reconcile['seconds'] / parse['seconds']:.2f}x")
        if args.database_url:
            print(f"ratio without ANALYZE / with: {plain['seconds'] / reconcile['seconds']:.2f}x")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
