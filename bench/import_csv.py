"""Benchmark: bulk CSV import against a plain executemany baseline, in one invocation.

    .venv/bin/python bench/import_csv.py [--invoices 100000] [--profile]

Generates N invoices as a German Excel export (Windows-1252, `;`, decimal commas,
dates as 15.12.2025, umlauts; about N/3 distinct debtors) and then, each in a fresh
process and a fresh SQLite file with the application's schema:

- **import**: the real path, `portal.intake.csv_import.import_csv` (decoding, the shared
  validator, duplicate checks, debtor upsert, invoices with RF references, events), and
  the commit;
- **baseline**: the least work that stores the same rows: `csv.reader`, string surgery
  for amounts and dates, `sqlite3` `executemany` of the debtors and the invoices in one
  transaction (no validation, no events; random RF-shaped references, as the index
  inserts of sequential ones would be cheaper than real ones).

Prints wall time, peak memory (maximum resident set of the process, and its growth
during the phase) and the ratio. Target: the import within 3x of the baseline.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FIRST = ["Jürgen", "Käthe", "Sören", "Anna", "Max", "Zoë", "Björn", "Grete", "Lukas", "Aylin", "Mehmet", "Hannah", "Jörg", "Ines"]
LAST = ["Müller", "Schröder", "Weiß", "Groß", "Köhler", "Bauer", "Özdemir", "Hoffmann", "Krüger", "Fischer", "Schäfer", "Lange"]
CITIES = [("70173", "Stuttgart"), ("80331", "München"), ("50667", "Köln"), ("01067", "Dresden"), ("20095", "Hamburg"),
          ("90402", "Nürnberg"), ("40212", "Düsseldorf"), ("79098", "Freiburg im Breisgau"), ("66113", "Saarbrücken")]
STREETS = ["Hauptstraße", "Königsallee", "Große Bäckergasse", "Am Weißen Stein", "Schloßplatz", "Lindenstraße"]
HEADER = ["number", "issue_date", "due_date", "amount", "currency", "debtor_ref", "kind", "name", "company", "email",
          "phone", "language", "street", "postal_code", "city", "country"]


def german_amount(minor: int) -> str:
    euros, cents = divmod(minor, 100)
    return f"{euros:,}".replace(",", ".") + f",{cents:02d}"


def generate(n: int, seed: int = 2026) -> bytes:
    rng = random.Random(seed)
    debtors = []
    for d in range(max(1, n // 3)):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        business = rng.random() < 0.15
        postal, city = rng.choice(CITIES)
        debtors.append([
            f"K-{100000 + d}", "business" if business else "person", f"{first} {last}",
            f"{last} & Söhne GmbH" if business else "",
            f"{first}.{last}{d}@example.de".lower().replace("ü", "ue").replace("ö", "oe").replace("ä", "ae").replace("ß", "ss").replace("ë", "e")
            if rng.random() < 0.8 else "",
            f"0170 {rng.randint(1000000, 9999999)}" if rng.random() < 0.5 else "",
            "de" if rng.random() < 0.9 else "en", f"{rng.choice(STREETS)} {rng.randint(1, 200)}", postal, city, "DE",
        ])
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(HEADER)
    start = date(2025, 1, 1)
    for i in range(n):
        debtor = debtors[i % len(debtors)] if i < len(debtors) else rng.choice(debtors)
        issued = start + timedelta(days=rng.randint(0, 330))
        due = issued + timedelta(days=rng.choice((14, 14, 30)))
        writer.writerow([f"RE-2025-{i + 1:07d}", issued.strftime("%d.%m.%Y"), due.strftime("%d.%m.%Y"),
                         german_amount(rng.randint(500, 500000)), "EUR", *debtor])
    return out.getvalue().encode("cp1252")


def make_schema(db_path: Path) -> None:
    """The application's schema, built from its models, in a fresh SQLite file."""
    from portal import create_app
    from portal.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_path}", "SECRET_KEY": "bench"})
    with app.app_context():
        db.create_all()
        db.engine.dispose()


def peak_rss_mb() -> float:
    """Peak resident set of this process (VmHWM; ru_maxrss would carry the parent's peak across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def phase_import(csv_path: Path, db_path: Path, profile: bool) -> dict:
    from portal import create_app
    from portal.extensions import db
    from portal.intake.csv_import import import_csv
    from portal.models import Merchant

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_path}", "SECRET_KEY": "bench"})
    with app.app_context():
        db.create_all()
        merchant = Merchant(slug="bench", name="Bench", legal_name="Bench GmbH", iban="DE89370400440532013000")
        db.session.add(merchant)
        db.session.commit()
        rss_before = peak_rss_mb()
        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        marks: dict[str, float] = {}

        def progress(items, length, label):
            """Records when the check ("Checking": reading, validating, spooling) and the invoice writes start and end."""
            marks[f"{label}_start"] = time.perf_counter()
            yield from items
            marks[f"{label}_end"] = time.perf_counter()

        t0, c0 = time.perf_counter(), time.process_time()
        result = import_csv(csv_path, merchant, today=date(2026, 1, 20), actor="import:bench", progress=progress)
        before_commit = time.perf_counter()
        db.session.commit()
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        phases = {
            # the encoding scan, then reading and checking every line (Python), spooling the checked rows
            "check": marks["Checking_end"] - t0,
            # repeats against the database, debtors created/updated
            "probe_and_debtors": marks.get("Writing_start", before_commit) - marks["Checking_end"],
            # invoices and their events, batch by batch (SQLite index inserts)
            "invoices": marks.get("Writing_end", before_commit) - marks.get("Writing_start", before_commit),
            "commit": time.perf_counter() - before_commit,
        }
        if profiler:
            import pstats

            profiler.disable()
            for order in ("cumulative", "tottime"):
                pstats.Stats(profiler, stream=sys.stderr).sort_stats(order).print_stats(25)
        from sqlalchemy import func, select

        from portal.models import Debtor, Invoice

        counts = (db.session.scalar(select(func.count(Invoice.id))), db.session.scalar(select(func.count(Debtor.id))))
    assert result.created == counts[0], (result, counts)
    return {"seconds": elapsed, "cpu": cpu, "peak_mb": peak_rss_mb(), "growth_mb": peak_rss_mb() - rss_before,
            "invoices": counts[0], "debtors": counts[1], "phases": phases}


def phase_baseline(csv_path: Path, db_path: Path) -> dict:
    make_schema(db_path)
    rss_before = peak_rss_mb()
    t0, c0 = time.perf_counter(), time.process_time()
    text = csv_path.read_bytes().decode("cp1252")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=";")
    header = next(reader)
    col = {name: i for i, name in enumerate(header)}
    debtors: dict[str, tuple] = {}
    rows = []
    for r in reader:
        ref = r[col["debtor_ref"]]
        if ref not in debtors:
            debtors[ref] = (1, ref, r[col["kind"]], r[col["name"]], r[col["company"]] or None, r[col["email"]] or None,
                            r[col["phone"]] or None, r[col["language"]], r[col["street"]], r[col["postal_code"]],
                            r[col["city"]], r[col["country"]])
        rows.append(r)
    con = sqlite3.connect(db_path)
    now = "2026-01-20 12:00:00.000000+00:00"
    con.executemany(
        "INSERT INTO debtor (merchant_id, external_ref, kind, name, company, email, phone, language, street, postal_code,"
        " city, country, consent_email, consent_sms, link_version, created_at, updated_at)"
        f" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 0, 1, '{now}', '{now}')",
        debtors.values(),
    )
    ids = dict(con.execute("SELECT external_ref, id FROM debtor"))

    # Random references like the import's: sequential ones would flatter the unique index inserts.
    getrandbits = random.Random(1).getrandbits

    def iso(d: str) -> str:
        return f"{d[6:10]}-{d[3:5]}-{d[0:2]}"

    def invoice_rows():
        for i, r in enumerate(rows):
            minor = int(r[col["amount"]].replace(".", "").replace(",", ""))
            yield (1, ids[r[col["debtor_ref"]]], r[col["number"]], iso(r[col["issue_date"]]), iso(r[col["due_date"]]),
                   r[col["currency"]], minor, minor, "open", f"RF00{getrandbits(64):016X}",
                   hashlib.sha256(r[col["number"]].encode()).hexdigest(), 0, iso(r[col["due_date"]]), now, now)

    con.executemany(
        "INSERT INTO invoice (merchant_id, debtor_id, number, issue_date, due_date, currency, amount_minor, open_minor,"
        " status, rf_reference, intake_fingerprint, dunning_level, next_action_on, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        invoice_rows(),
    )
    con.commit()
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    counts = (con.execute("SELECT count(*) FROM invoice").fetchone()[0], con.execute("SELECT count(*) FROM debtor").fetchone()[0])
    con.close()
    return {"seconds": elapsed, "cpu": cpu, "peak_mb": peak_rss_mb(), "growth_mb": peak_rss_mb() - rss_before,
            "invoices": counts[0], "debtors": counts[1]}


def run_phase(name: str, csv_path: Path, workdir: Path, profile: bool) -> dict:
    db_path = workdir / f"{name}.sqlite3"
    db_path.unlink(missing_ok=True)
    cmd = [sys.executable, __file__, "--phase", name, "--csv", str(csv_path), "--db", str(db_path)]
    if profile:
        cmd.append("--profile")
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True, cwd=ROOT).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invoices", type=int, default=100_000, help="number of invoices (default 100000)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each phase, alternating; the fastest counts (the 2 cores are shared)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the import to stderr")
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line (bench/growth.py)")
    parser.add_argument("--phase", choices=["import", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase == "import":
        print(json.dumps(phase_import(args.csv, args.db, args.profile)))
        return
    if args.phase == "baseline":
        print(json.dumps(phase_baseline(args.csv, args.db)))
        return

    runs: dict[str, list[dict]] = {"baseline": [], "import": []}
    with tempfile.TemporaryDirectory(prefix="settle-bench-") as tmp:
        workdir = Path(tmp)
        csv_path = workdir / "rechnungen.csv"
        t0 = time.perf_counter()
        csv_path.write_bytes(generate(args.invoices))
        print(f"generated {args.invoices} invoices, {csv_path.stat().st_size / 1e6:.1f} MB CSV in {time.perf_counter() - t0:.1f} s")
        for _ in range(max(1, args.repeat)):
            for name in ("baseline", "import"):
                runs[name].append(run_phase(name, csv_path, workdir, args.profile and name == "import"))
    for name, results in runs.items():
        assert all(r["invoices"] == args.invoices for r in results), results
    assert runs["import"][0]["debtors"] == runs["baseline"][0]["debtors"]
    best = {name: min(results, key=lambda r: r["seconds"]) for name, results in runs.items()}
    cpu = {name: min(r["cpu"] for r in results) for name, results in runs.items()}
    ratio = best["import"]["seconds"] / best["baseline"]["seconds"]
    print(f"cores: {os.cpu_count()}  python: {sys.version.split()[0]}  sqlite: {sqlite3.sqlite_version}  "
          f"runs per phase: {len(runs['import'])} (fastest shown; all: "
          + ", ".join(f"{n} " + "/".join(f"{r['seconds']:.2f}" for r in rs) for n, rs in runs.items()) + ")")
    print(f"{'':10} {'wall s':>8} {'cpu s':>7} {'peak RSS MB':>12} {'growth MB':>10} {'invoices':>9} {'debtors':>8}")
    for name, r in best.items():
        print(f"{name:10} {r['seconds']:8.2f} {cpu[name]:7.2f} {r['peak_mb']:12.0f} {r['growth_mb']:10.0f} {r['invoices']:9} {r['debtors']:8}")
    print(f"ratio import/baseline: {ratio:.2f}x wall, {cpu['import'] / cpu['baseline']:.2f}x cpu "
          f"(target <= 3x): {'OK' if ratio <= 3 else 'TOO SLOW'}")
    if args.json:
        print(json.dumps({"pipeline": "csv", "size": args.invoices, "seconds": best["import"]["seconds"],
                          "peak_mb": best["import"]["peak_mb"], "before_mb": best["import"]["peak_mb"] - best["import"]["growth_mb"],
                          "floor_seconds": best["baseline"]["seconds"], "floor_peak_mb": best["baseline"]["peak_mb"],
                          "runs": [r["seconds"] for r in runs["import"]], "floor_runs": [r["seconds"] for r in runs["baseline"]],
                          "phases": best["import"].get("phases")}))


if __name__ == "__main__":
    main()
