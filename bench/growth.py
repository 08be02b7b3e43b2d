"""Growth: the CSV import, the dunning run and the camt reconciliation at several sizes, each against its floor.

    .venv/bin/python bench/growth.py [--sizes 100000,300000,1000000] [--only csv,dunning,camt]
                                     [--database-url postgresql+psycopg://…] [--repeat 1]

For every size N (open invoices) it runs, each script in its own process and measuring its
own floor in the same invocation:

- **csv**: `bench/import_csv.py --invoices N` (a file of N invoices; floor: csv.reader and
  sqlite3 executemany of the same rows; SQLite always, the floor is SQLite's own driver);
- **dunning**: `bench/dunning_run.py --invoices N --due N/10` (floor: plain SQL writing the
  same rows);
- **camt**: `bench/reconcile_camt.py --invoices N --entries N/10` (floor: parse-only).

Then it prints per pipeline and size: wall time, floor time, the ratio to the floor, the
peak resident set of the measured process (VmHWM) and what the measured work added to it,
and the time per 1,000 invoices relative to the smallest size (1.00 everywhere = linear).
`--database-url`: dunning and camt on that (throw-away) database instead of SQLite files;
both scripts drop and rebuild its tables.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def command(pipeline: str, size: int, args) -> list[str]:
    tenth = max(1, size // 10)
    if pipeline == "csv":
        return [sys.executable, str(HERE / "import_csv.py"), "--invoices", str(size), "--repeat", str(args.repeat), "--json"]
    db = ["--database-url", args.database_url] if args.database_url else []
    if pipeline == "dunning":
        return [sys.executable, str(HERE / "dunning_run.py"), "--invoices", str(size), "--due", str(tenth), "--json", *db]
    return [sys.executable, str(HERE / "reconcile_camt.py"), "--invoices", str(size), "--entries", str(tenth),
            "--repeat", str(args.repeat), "--json", *db]


def measure(pipeline: str, size: int, args) -> dict:
    started = time.perf_counter()
    out = subprocess.run(command(pipeline, size, args), check=True, stdout=subprocess.PIPE, text=True).stdout
    result = json.loads(next(line for line in reversed(out.splitlines()) if line.startswith("{")))
    result["total_seconds"] = time.perf_counter() - started
    result["load"] = os.getloadavg()[0]
    return result


def table(results: list[dict]) -> str:
    lines = ["| pipeline | open invoices | time | floor | ratio to floor | time per 1,000 vs smallest size "
             "| peak RSS | added by the work | load (1 min) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    first: dict[str, float] = {}
    for r in results:
        per = r["seconds"] / r["size"]
        first.setdefault(r["pipeline"], per)
        peak = f"{r['peak_mb']:.0f} MB" if r.get("peak_mb") is not None else "n/a"
        added = f"{r['peak_mb'] - r['before_mb']:.0f} MB" if r.get("peak_mb") is not None and r.get("before_mb") is not None else "n/a"
        lines.append(f"| {r['pipeline']} | {r['size']:,} | {r['seconds']:.2f} s | {r['floor_seconds']:.2f} s "
                     f"| {r['seconds'] / r['floor_seconds']:.2f}× | {per / first[r['pipeline']]:.2f} | {peak} | {added} "
                     f"| {r['load']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,300000,1000000", help="open invoices per run, comma-separated")
    parser.add_argument("--only", default="csv,dunning,camt", help="pipelines to run, comma-separated")
    parser.add_argument("--database-url", help="dunning and camt on this throw-away database (its tables are rebuilt)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each measured phase (csv, camt); median/fastest as the scripts report")
    parser.add_argument("--out", type=Path, help="also write the results as JSON to this file")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results = []
    for pipeline in [p for p in ("csv", "dunning", "camt") if p in args.only.split(",")]:
        for size in sizes:
            r = measure(pipeline, size, args)
            results.append(r)
            print(f"{pipeline} {size:,}: {r['seconds']:.2f} s (floor {r['floor_seconds']:.2f} s), "
                  f"peak {r.get('peak_mb') or 0:.0f} MB, whole script {r['total_seconds']:.0f} s, load {r['load']:.1f}",
                  flush=True)
            if args.out:
                args.out.write_text(json.dumps(results, indent=1))
    print(f"cores: {os.cpu_count()}, load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}, "
          f"database: {'PostgreSQL' if args.database_url else 'SQLite'} (csv: SQLite)")
    print(table(results))


if __name__ == "__main__":
    main()
