"""Debtor portal under load: overview page weight, and throughput against a hello-world Flask app.

Starts two gunicorn servers the same way (same worker count, same machine): Settle serving
the overview and the invoice page to a debtor with a valid session cookie, and a one-route
Flask app answering "hello". wrk drives each in turn (hello, overview, invoice, repeated);
the table gives requests/s, latency percentiles, the ratio page/hello and the CPU time the
gunicorn workers spent per request (far less disturbed by other load on a shared machine
than requests/s). Only ratios from one invocation mean anything on shared machines.

    .venv/bin/python bench/portal_load.py --duration 10 --connections 16 --invoices 3
    .venv/bin/python bench/portal_load.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench
    .venv/bin/python bench/portal_load.py --soak 60        # 200 connections for 60 s: errors and worker RSS
    .venv/bin/python bench/portal_load.py --weight-only    # the page weight alone, no load

--database-url must name a throw-away database: its Settle tables are dropped and created.
--soak: after a warm-up at the same concurrency, both pages (alternating requests) at
--soak-connections for the given seconds; prints socket errors, non-2xx responses and the
workers' resident memory after warm-up and at the end.

Page weight: the overview's HTML plus every stylesheet, script and image it loads (CSS
url() references included), each gzip-compressed, and a check that none of them comes
from another host.
"""
from __future__ import annotations

import argparse
import gzip
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HELLO = '''from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello():
    return "hello"
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed(db_url: str, base: str, invoices: int) -> str:
    """A shop and a debtor with `invoices` open invoices (fees on some); returns a portal token."""
    os.environ["SETTLE_SQLALCHEMY_DATABASE_URI"] = db_url
    from datetime import date, timedelta

    from portal import create_app, ledger
    from portal.domain.intake import validate_invoice
    from portal.extensions import db
    from portal.intake.service import submit_invoice
    from portal.links import token_for
    from portal.models import Merchant

    app = create_app({"SQLALCHEMY_DATABASE_URI": db_url, "BASE_URL": base})
    with app.app_context():
        db.drop_all()
        db.create_all()
        shop = Merchant(slug="bench", name="Gartenhaus Sonnenberg", legal_name="Gartenhaus Sonnenberg GmbH",
                        iban="DE89370400440532013000", bic="COBADEFFXXX", account_holder="Gartenhaus Sonnenberg GmbH",
                        support_email="hilfe@sonnenberg.example", logo_url="/static/img/demo-logo.svg",
                        primary_color="#2e6b30", imprint_url="https://sonnenberg.example/impressum",
                        privacy_url="https://sonnenberg.example/datenschutz", stripe_secret_key="sk_bench")
        db.session.add(shop)
        db.session.flush()
        today = date.today()
        debtor = None
        for n in range(invoices):
            data, errors = validate_invoice({
                "number": f"RE-{n + 1:05d}", "issue_date": (today - timedelta(days=40 + n)).isoformat(),
                "due_date": (today - timedelta(days=26 + n)).isoformat(), "amount": f"{49 + 10 * n}.90", "currency": "EUR",
                "lines": [{"description": "Hochbeet Lärche", "quantity": 1, "amount": f"{49 + 10 * n}.90"}],
                "debtor": {"external_ref": "K-1", "kind": "person", "name": "Max Mustermann", "email": "max@example.de",
                           "language": "de", "address": {"street": "Hauptstraße 5", "postal_code": "70173",
                                                         "city": "Stuttgart", "country": "DE"}}}, today=today)
            assert not errors, errors
            invoice = submit_invoice(shop, data, actor="bench").invoice
            if n % 2 == 0:
                ledger.book(invoice, kind="fee", amount_minor=250, source="dunning", external_ref=f"fee-{n}",
                            booked_on=today, actor="bench")
            debtor = invoice.debtor
        db.session.commit()
        token = token_for(debtor)
        db.engine.dispose()
    return token


def start(cmd: list[str], env: dict, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, env=env, cwd=env.get("BENCH_CWD", str(ROOT)), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"{cmd[0]} exited: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    proc.stderr.close()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def session_cookie(base: str, token: str, invoice_path: str | None = None) -> str:
    """Open the link like a browser, view the overview (and the invoice page) once so that the page views
    are recorded, keep the cookie."""
    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(f"{base}/p/{token}")
        raise RuntimeError("the link did not redirect")
    except urllib.error.HTTPError as exc:
        assert exc.code == 303, exc.code
        cookie = exc.headers["Set-Cookie"].split(";", 1)[0]
    for path in ("/portal/", invoice_path) if invoice_path else ("/portal/",):
        request = urllib.request.Request(f"{base}{path}", headers={"Cookie": cookie})
        with urllib.request.urlopen(request) as response:
            assert response.status == 200
            fresh = response.headers.get("Set-Cookie")
        cookie = fresh.split(";", 1)[0] if fresh else cookie
    return cookie


def first_invoice_path(base: str, cookie: str) -> str:
    html = get(f"{base}/portal/", cookie).decode()
    return re.search(r'href="(/portal/invoices/\d+)"', html).group(1)


def get(url: str, cookie: str | None = None) -> bytes:
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    with urllib.request.urlopen(request) as response:
        return response.read()


def page_weight(base: str, cookie: str) -> tuple[list[tuple[str, int, int]], list[str]]:
    html = get(f"{base}/portal/", cookie).decode()
    assert "Jetzt bezahlen" in html
    resources = [("/portal/ (HTML)", html.encode())]
    refs = re.findall(r'<link[^>]+rel="stylesheet"[^>]+href="([^"]+)"', html)
    refs += re.findall(r'<script[^>]+src="([^"]+)"', html)
    refs += re.findall(r'<img[^>]+src="([^"]+)"', html)
    foreign = [r for r in refs if re.match(r"^(https?:)?//", r) and not r.startswith(base)]
    seen = set()
    queue = list(refs)
    while queue:
        ref = queue.pop(0)
        if ref in seen or ref.startswith("data:") or ref in foreign:
            continue
        seen.add(ref)
        body = get(base + ref.replace("&amp;", "&"))
        resources.append((ref, body))
        if ref.split("?")[0].endswith(".css"):
            for inner in re.findall(r"url\(['\"]?([^'\")]+)", body.decode()):
                if re.match(r"^(https?:)?//", inner):
                    foreign.append(inner)
                elif not inner.startswith("data:"):
                    queue.append(inner)
    return [(name, len(body), len(gzip.compress(body, 6))) for name, body in resources], foreign


def worker_cpu_seconds(master: subprocess.Popen) -> float:
    """User + system CPU time of a gunicorn master's worker processes so far (Linux /proc)."""
    children = subprocess.run(["pgrep", "-P", str(master.pid)], capture_output=True, text=True).stdout.split()
    total = 0
    for pid in children:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def worker_rss_mb(master: subprocess.Popen) -> float:
    """Resident memory of a gunicorn master's workers, summed (MB)."""
    children = subprocess.run(["pgrep", "-P", str(master.pid)], capture_output=True, text=True).stdout.split()
    total = 0
    for pid in children:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except FileNotFoundError:
            continue
        total += int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1))
    return total / 1024


def worker_pids(master: subprocess.Popen) -> list[str]:
    return sorted(subprocess.run(["pgrep", "-P", str(master.pid)], capture_output=True, text=True).stdout.split())


ALTERNATE = """
local paths = {%s}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i %% #paths) + 1])
end
"""


def wrk(url: str, *, duration: int, connections: int, threads: int, cookie: str | None, server: subprocess.Popen,
        script: str | None = None, timeout: int = 2) -> dict:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", f"--timeout={timeout}s", "--latency", url]
    if script:
        cmd[1:1] = ["-s", script]
    if cookie:
        cmd[1:1] = ["-H", f"Cookie: {cookie}"]
    cpu_before = worker_cpu_seconds(server)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    cpu = worker_cpu_seconds(server) - cpu_before
    requests = int(re.search(r"(\d+) requests in", out).group(1))

    def ms(label: str) -> float:
        m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "requests": requests,
        "socket_error_count": sum(int(n) for n in sockets.groups()) if sockets else 0,
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": ms("50"), "p99": ms("99"),
        "non2xx": int(errors.group(1)) if errors else 0,
        # CPU the server's workers spent per request: unlike requests/s, barely moved by other load.
        "cpu_ms": cpu * 1000 / requests if requests else float("nan"),
        "socket_errors": re.search(r"Socket errors:.*", out).group(0) if "Socket errors" in out else "",
    }


def run_rounds(args, targets: dict, servers: dict, cookie: str) -> dict:
    results = {name: [] for name in targets}
    for _ in range(args.rounds):
        for name, url in targets.items():
            results[name].append(wrk(url, duration=args.duration, connections=args.connections, threads=args.threads,
                                     cookie=None if name == "hello" else cookie, server=servers[name]))
    return results


def report(args, results: dict, db_label: str) -> None:
    best = {k: max(v, key=lambda r: r["rps"]) for k, v in results.items()}
    print(f"\nThroughput on {db_label}: gunicorn {args.workers} {args.worker_class} workers, wrk -t{args.threads} "
          f"-c{args.connections} -d{args.duration}s, {args.rounds} rounds (hello, overview, invoice), "
          f"{args.invoices} open invoices\n")
    print("| server | requests/s best | p50 ms best | p99 ms median | p99 ms best | worker CPU ms/request median | "
          "ratio per round median / best | CPU ratio hello/page | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    cpu_hello = statistics.median(r["cpu_ms"] for r in results["hello"])
    for name, rounds in results.items():
        r = best[name]
        ratios = sorted(o["rps"] / h["rps"] for h, o in zip(results["hello"], rounds))
        p99 = sorted(x["p99"] for x in rounds)
        cpu = statistics.median(x["cpu_ms"] for x in rounds)
        errors = sum(x["non2xx"] + x["socket_error_count"] for x in rounds)
        ratio = "" if name == "hello" else f"{statistics.median(ratios):.0%} / {ratios[-1]:.0%}"
        cpu_ratio = "" if name == "hello" else f"{cpu_hello / cpu:.0%}"
        print(f"| {name} | {r['rps']:,.0f} | {r['p50']:.2f} | {statistics.median(p99):.2f} | {p99[0]:.2f} | {cpu:.3f} | "
              f"{ratio} | {cpu_ratio} | {errors} |")
    print("All rounds req/s:", {k: [round(r["rps"]) for r in v] for k, v in results.items()})
    print("All rounds worker CPU ms/request:", {k: [round(r["cpu_ms"], 3) for r in v] for k, v in results.items()})


def soak(args, base: str, paths: list[str], cookie: str, portal: subprocess.Popen, tmp: Path) -> bool:
    script = tmp / "alternate.lua"
    script.write_text(ALTERNATE % ", ".join(f'"{p}"' for p in paths))
    pids = worker_pids(portal)
    kw = dict(connections=args.soak_connections, threads=args.threads, cookie=cookie, server=portal, script=str(script),
              timeout=10)
    warm = wrk(base + paths[0], duration=args.soak_warmup, **kw)
    rss_warm = worker_rss_mb(portal)
    run = wrk(base + paths[0], duration=args.soak, **kw)
    rss_end = worker_rss_mb(portal)
    same = worker_pids(portal) == pids
    growth = rss_end / rss_warm - 1
    print(f"\nSoak: {args.soak_connections} connections, {' and '.join(paths)} alternating, {args.soak_warmup} s warm-up "
          f"then {args.soak} s; gunicorn {args.workers} {args.worker_class} workers\n")
    print("| phase | requests | requests/s | p50 ms | p99 ms | non-2xx | socket errors | workers' RSS MB after |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, r, rss in (("warm-up", warm, rss_warm), ("run", run, rss_end)):
        print(f"| {name} | {r['requests']:,} | {r['rps']:,.0f} | {r['p50']:.1f} | {r['p99']:.1f} | {r['non2xx']} | "
              f"{r['socket_error_count']} {r['socket_errors']} | {rss:.1f} |")
    errors = run["non2xx"] + run["socket_error_count"]
    print(f"\nErrors during the run: {errors}; RSS end vs after warm-up: {growth:+.1%}; "
          f"workers replaced during the run: {'no' if same else 'YES'}")
    ok = errors == 0 and abs(growth) <= 0.10 and same
    print("0 errors and RSS within 10 %:", "met" if ok else "missed")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers for both servers")
    parser.add_argument("--worker-class", default="sync", help="gunicorn worker class for both servers")
    parser.add_argument("--invoices", type=int, default=3, help="open invoices on the overview (the size argument)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of hello, overview, invoice page")
    parser.add_argument("--database-url", help="a throw-away database (default: a new SQLite file)")
    parser.add_argument("--soak", type=int, default=0, metavar="SECONDS", help="soak test instead of the rounds")
    parser.add_argument("--soak-connections", type=int, default=200)
    parser.add_argument("--soak-warmup", type=int, default=10, metavar="SECONDS")
    parser.add_argument("--weight-only", action="store_true", help="measure the page weight only (no wrk runs)")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install -y wrk)")

    tmp = Path(tempfile.mkdtemp(prefix="settle-bench-"))
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    portal_port, hello_port = free_port(), free_port()
    base = f"http://127.0.0.1:{portal_port}"
    db_url = args.database_url or f"sqlite:///{tmp / 'bench.sqlite3'}"
    db_label = "PostgreSQL" if db_url.startswith("postgresql") else "SQLite"
    token = seed(db_url, base, args.invoices)
    (tmp / "hello.py").write_text(HELLO)
    env = {**os.environ, "SETTLE_SQLALCHEMY_DATABASE_URI": db_url, "SETTLE_SECRET_KEY": "dev-only-secret-change-me",
           "SETTLE_SESSION_COOKIE_SECURE": "false", "SETTLE_BASE_URL": base, "PYTHONPATH": str(ROOT)}
    # Limits are counted in memory per worker here (the warning about it is expected); the pages measured have none.
    workers = 1 if args.weight_only else args.workers  # the page weight needs one worker: start it fast
    common = ["-w", str(workers), "--worker-class", args.worker_class, "--log-level", "error"]
    portal = start([gunicorn, *common, "-b", f"127.0.0.1:{portal_port}", "wsgi:app"], env, portal_port)
    hello = None
    ok = True
    try:
        if not args.weight_only and not args.soak:
            hello = start([gunicorn, *common, "-b", f"127.0.0.1:{hello_port}", "hello:app"], {**env, "BENCH_CWD": str(tmp)},
                          hello_port)
        cookie = session_cookie(base, token)
        weights, foreign = page_weight(base, cookie)
        if not args.weight_only:
            invoice_path = first_invoice_path(base, cookie)
            cookie = session_cookie(base, token, invoice_path)
        if args.soak:
            ok = soak(args, base, ["/portal/", invoice_path], cookie, portal, tmp)
        elif not args.weight_only:
            results = run_rounds(args, {"hello": f"http://127.0.0.1:{hello_port}/", "overview": f"{base}/portal/",
                                        "invoice": base + invoice_path},
                                 {"hello": hello, "overview": portal, "invoice": portal}, cookie)
    finally:
        stop(portal)
        if hello is not None:
            stop(hello)
        shutil.rmtree(tmp, ignore_errors=True)

    print("\nPage weight of the overview (gzip level 6)\n")
    print("| resource | bytes | gzip bytes |\n|---|---:|---:|")
    for name, raw, packed in weights:
        print(f"| `{name}` | {raw:,} | {packed:,} |")
    print(f"| **total** | {sum(w[1] for w in weights):,} | **{sum(w[2] for w in weights):,}** |")
    print(f"\nThird-party requests: {len(foreign)} {foreign if foreign else ''}")
    if not args.weight_only and not args.soak:
        report(args, results, db_label)
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
