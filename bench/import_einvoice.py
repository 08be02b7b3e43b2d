"""Benchmark: 10,000 XRechnung files in a ZIP through `flask invoices import`, against parsing
the same files only, in one invocation.

    .venv/bin/python bench/import_einvoice.py [--files 10000] [--repeat 3] [--profile]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/settle_bench]

Generates N XRechnung 3.0 files from the public samples in tests/samples/einvoice (UBL 2.1 and
UN/CEFACT CII: 01.21a UBL and CII, 03.06a UBL, 01.14a and 04.05a CII), each with its own
invoice number, one of N/4 buyers (name and buyer identifier BT-46) and its amounts multiplied
by a whole factor (1 … 40, so every sum in the file still adds up), packed into one ZIP.
Then, each in a fresh process:

- **import**: the real command line, `flask invoices import bench.zip --merchant bench`, run
  in-process through Flask's CLI runner against a fresh database with the application's schema
  (SQLite file by default; `--database-url` a throw-away PostgreSQL database whose tables are
  dropped and recreated): ZIP limits, the safe XML parse, the mapping, the shared validator,
  debtor upsert, invoices with RF references and events, the stored originals, the commit;
- **parse**: the floor: the same ZIP opened with the same reader and every member parsed by
  `portal.domain.einvoice.read` (the lxml readers), nothing else.

Prints wall and CPU time per phase (the fastest of --repeat alternating runs, all runs listed)
and the ratio. Target: the import within 3x of parse-only.
"""
from __future__ import annotations

import argparse
import copy
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import zipfile
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SAMPLES = ROOT / "tests" / "samples" / "einvoice"
TEMPLATES = ["01.21a-INVOICE_ubl.xml", "03.06a-INVOICE_ubl.xml", "01.21a-INVOICE_uncefact.xml",
             "01.14a-INVOICE_uncefact.xml", "04.05a-INVOICE_uncefact.xml"]

UBL = {"cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
       "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"}
CII = {"rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
       "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"}
FIRST = ["Jürgen", "Käthe", "Sören", "Anna", "Max", "Zoë", "Björn", "Grete", "Lukas", "Aylin", "Mehmet", "Hannah"]
LAST = ["Müller", "Schröder", "Weiß", "Groß", "Köhler", "Bauer", "Özdemir", "Hoffmann", "Krüger", "Fischer"]
FORMS = ["GmbH", "AG", "KG", "e. K.", "GmbH & Co. KG"]


def _scale(elem, factor: int) -> None:
    """Every amount in the document times `factor` (whole factors keep every sum exact)."""
    for e in elem.iter():
        if not isinstance(e.tag, str) or not e.tag.endswith("Amount") or not (e.text or "").strip():
            continue
        value = Decimal(e.text.strip())
        e.text = str(value * factor)


def generate(n: int, seed: int = 2026) -> tuple[bytes, int]:
    """(ZIP bytes, number of distinct buyers) with `n` XRechnung files."""
    from lxml import etree

    rng = random.Random(seed)
    templates = [(name, etree.fromstring((SAMPLES / name).read_bytes())) for name in TEMPLATES]
    buyers = [(f"{rng.choice(LAST)} {rng.choice(FORMS)}" if rng.random() < 0.7 else f"{rng.choice(FIRST)} {rng.choice(LAST)}",
               f"K-{100000 + b}") for b in range(max(1, n // 4))]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for i in range(n):
            name, template = templates[i % len(templates)]
            root = copy.deepcopy(template)
            number = f"XR-2026-{i + 1:06d}"
            buyer_name, buyer_id = buyers[i] if i < len(buyers) else rng.choice(buyers)
            if name.endswith("_ubl.xml"):
                root.find("cbc:ID", UBL).text = number
                party = root.find("cac:AccountingCustomerParty/cac:Party", UBL)
                party.find("cac:PartyLegalEntity/cbc:RegistrationName", UBL).text = buyer_name
                ident = party.find("cac:PartyIdentification/cbc:ID", UBL)
                if ident is None:
                    pid = etree.Element(f"{{{UBL['cac']}}}PartyIdentification")
                    ident = etree.SubElement(pid, f"{{{UBL['cbc']}}}ID")
                    party.insert(1 if party.find("cbc:EndpointID", UBL) is not None else 0, pid)
                ident.text = buyer_id
            else:
                root.find("rsm:ExchangedDocument/ram:ID", CII).text = number
                party = root.find("rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement/ram:BuyerTradeParty", CII)
                party.find("ram:Name", CII).text = buyer_name
                ident = party.find("ram:ID", CII)
                if ident is None:
                    ident = etree.Element(f"{{{CII['ram']}}}ID")
                    party.insert(0, ident)
                ident.text = buyer_id
            _scale(root, rng.randint(1, 40))
            archive.writestr(f"{number}.xml", etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    return out.getvalue(), len(buyers)


def _app(database_url: str, storage: Path):
    from portal import create_app
    from portal.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "bench", "STORAGE_DIR": str(storage)})
    with app.app_context():
        db.drop_all()
        db.create_all()
    return app


def phase_import(zip_path: Path, database_url: str, storage: Path, profile: bool) -> dict:
    from sqlalchemy import func, select

    from portal.extensions import db
    from portal.models import Debtor, Invoice, Merchant

    app = _app(database_url, storage)
    with app.app_context():
        db.session.add(Merchant(slug="bench", name="Bench", legal_name="Bench GmbH", iban="DE79000000001234567890"))
        db.session.commit()
    runner = app.test_cli_runner()
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    t0, c0 = time.perf_counter(), time.process_time()
    result = runner.invoke(args=["invoices", "import", str(zip_path), "--merchant", "bench"])
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    if profiler:
        import pstats

        profiler.disable()
        for order in ("cumulative", "tottime"):
            pstats.Stats(profiler, stream=sys.stderr).sort_stats(order).print_stats(25)
    if result.exit_code != 0:
        raise SystemExit(f"import failed ({result.exit_code}):\n{result.output}\n{result.exception!r}")
    with app.app_context():
        counts = (db.session.scalar(select(func.count(Invoice.id))), db.session.scalar(select(func.count(Debtor.id))))
        db.engine.dispose()
    return {"seconds": elapsed, "cpu": cpu, "invoices": counts[0], "debtors": counts[1],
            "output": result.output.strip().splitlines()[-1]}


def phase_parse(zip_path: Path) -> dict:
    from portal.domain import einvoice
    from portal.domain.einvoice.archive import members

    t0, c0 = time.perf_counter(), time.process_time()
    raw = zip_path.read_bytes()
    numbers, buyers = set(), set()
    for _name, data, problem in members(raw):
        assert problem is None, problem
        inv = einvoice.read(data).invoice
        numbers.add(inv.number)
        buyers.add(inv.buyer.identifier)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"seconds": elapsed, "cpu": cpu, "invoices": len(numbers), "debtors": len(buyers)}


def run_phase(name: str, zip_path: Path, workdir: Path, database_url: str | None, profile: bool) -> dict:
    db_path = workdir / "import.sqlite3"
    db_path.unlink(missing_ok=True)
    cmd = [sys.executable, __file__, "--phase", name, "--zip", str(zip_path),
           "--database-url", database_url or f"sqlite:///{db_path}", "--storage", str(workdir / f"storage-{time.time_ns()}")]
    if profile:
        cmd.append("--profile")
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True, cwd=ROOT).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=10_000, help="number of XRechnung files (default 10000)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each phase, alternating; the fastest counts (the 2 cores are shared)")
    parser.add_argument("--database-url", help="a throw-away PostgreSQL database (its tables are dropped and recreated); "
                                                "default: a fresh SQLite file")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the import to stderr")
    parser.add_argument("--phase", choices=["import", "parse"], help=argparse.SUPPRESS)
    parser.add_argument("--zip", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--storage", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase == "import":
        print(json.dumps(phase_import(args.zip, args.database_url, args.storage, args.profile)))
        return
    if args.phase == "parse":
        print(json.dumps(phase_parse(args.zip)))
        return

    runs: dict[str, list[dict]] = {"parse": [], "import": []}
    with tempfile.TemporaryDirectory(prefix="settle-bench-") as tmp:
        workdir = Path(tmp)
        zip_path = workdir / "xrechnungen.zip"
        t0 = time.perf_counter()
        data, buyers = generate(args.files)
        zip_path.write_bytes(data)
        print(f"generated {args.files} XRechnung files ({buyers} buyers), {len(data) / 1e6:.1f} MB ZIP "
              f"in {time.perf_counter() - t0:.1f} s")
        for _ in range(max(1, args.repeat)):
            for name in ("parse", "import"):
                runs[name].append(run_phase(name, zip_path, workdir, args.database_url, args.profile and name == "import"))
    for name, results in runs.items():
        assert all(r["invoices"] == args.files for r in results), results
        assert all(r["debtors"] == buyers for r in results), results
    best = {name: min(results, key=lambda r: r["seconds"]) for name, results in runs.items()}
    cpu = {name: min(r["cpu"] for r in results) for name, results in runs.items()}
    ratio = best["import"]["seconds"] / best["parse"]["seconds"]
    database = "PostgreSQL" if args.database_url else "SQLite"
    print(f"cores: {os.cpu_count()}  python: {sys.version.split()[0]}  database: {database}  load: "
          + " ".join(f"{x:.2f}" for x in os.getloadavg())
          + f"  runs per phase: {len(runs['import'])} (fastest shown; all: "
          + ", ".join(f"{n} " + "/".join(f"{r['seconds']:.2f}" for r in rs) for n, rs in runs.items()) + ")")
    print(f"the command said: {best['import']['output']}")
    print(f"{'':8} {'wall s':>8} {'cpu s':>7} {'files/s':>8} {'invoices':>9} {'debtors':>8}")
    for name, r in best.items():
        print(f"{name:8} {r['seconds']:8.2f} {cpu[name]:7.2f} {args.files / r['seconds']:8.0f} {r['invoices']:9} {r['debtors']:8}")
    print(f"ratio import/parse: {ratio:.2f}x wall, {cpu['import'] / cpu['parse']:.2f}x cpu "
          f"(target <= 3x): {'OK' if ratio <= 3 else 'MISSED'}")


if __name__ == "__main__":
    main()
