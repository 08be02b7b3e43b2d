"""Debtor portal under load: overview page weight, and throughput against a hello-world Flask app.

Starts two gunicorn servers the same way (same worker count, same machine): Settle serving
the overview to a debtor with a valid session cookie, and a one-route Flask app answering
"hello". wrk drives each in turn; the table gives requests/s, latency percentiles and the
ratio overview/hello. Only ratios from one invocation mean anything on shared machines.

    .venv/bin/python bench/portal_load.py --duration 10 --connections 16 --invoices 3
    .venv/bin/python bench/portal_load.py --weight-only      # the page weight alone, no load

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


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def session_cookie(base: str, token: str) -> str:
    """Open the link like a browser, view the overview once (so the page view is recorded), keep the cookie."""
    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(f"{base}/p/{token}")
        raise RuntimeError("the link did not redirect")
    except urllib.error.HTTPError as exc:
        assert exc.code == 303, exc.code
        cookie = exc.headers["Set-Cookie"].split(";", 1)[0]
    request = urllib.request.Request(f"{base}/portal/", headers={"Cookie": cookie})
    with urllib.request.urlopen(request) as response:
        assert response.status == 200
        fresh = response.headers.get("Set-Cookie")
    return fresh.split(";", 1)[0] if fresh else cookie


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


def wrk(url: str, *, duration: int, connections: int, threads: int, cookie: str | None, server: subprocess.Popen) -> dict:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", url]
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
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": ms("50"), "p99": ms("99"),
        "non2xx": int(errors.group(1)) if errors else 0,
        # CPU the server's workers spent per request: unlike requests/s, barely moved by other load.
        "cpu_ms": cpu * 1000 / requests if requests else float("nan"),
        "socket_errors": re.search(r"Socket errors:.*", out).group(0) if "Socket errors" in out else "",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers for both servers")
    parser.add_argument("--invoices", type=int, default=3, help="open invoices on the overview (the size argument)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating hello/overview rounds; the best of each is kept")
    parser.add_argument("--weight-only", action="store_true", help="measure the page weight only (no wrk runs)")
    args = parser.parse_args()
    if args.weight_only:
        args.rounds = 0
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install -y wrk)")

    tmp = Path(tempfile.mkdtemp(prefix="settle-bench-"))
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    portal_port, hello_port = free_port(), free_port()
    base = f"http://127.0.0.1:{portal_port}"
    db_url = f"sqlite:///{tmp / 'bench.sqlite3'}"
    token = seed(db_url, base, args.invoices)
    (tmp / "hello.py").write_text(HELLO)
    env = {**os.environ, "SETTLE_SQLALCHEMY_DATABASE_URI": db_url, "SETTLE_SECRET_KEY": "dev-only-secret-change-me",
           "SETTLE_SESSION_COOKIE_SECURE": "false", "SETTLE_BASE_URL": base, "PYTHONPATH": str(ROOT)}
    common = ["-w", str(args.workers), "--worker-class", "sync", "--log-level", "warning"]
    portal = start([gunicorn, *common, "-b", f"127.0.0.1:{portal_port}", "wsgi:app"], env, portal_port)
    hello = start([gunicorn, *common, "-b", f"127.0.0.1:{hello_port}", "hello:app"], {**env, "BENCH_CWD": str(tmp)}, hello_port)
    try:
        cookie = session_cookie(base, token)
        weights, foreign = page_weight(base, cookie)
        results = {"hello": [], "overview": []}
        for _ in range(args.rounds):
            results["hello"].append(wrk(f"http://127.0.0.1:{hello_port}/", duration=args.duration,
                                        connections=args.connections, threads=args.threads, cookie=None, server=hello))
            results["overview"].append(wrk(f"{base}/portal/", duration=args.duration, connections=args.connections,
                                           threads=args.threads, cookie=cookie, server=portal))
    finally:
        stop(portal)
        stop(hello)
        shutil.rmtree(tmp, ignore_errors=True)

    print("\nPage weight of the overview (gzip level 6)\n")
    print("| resource | bytes | gzip bytes |\n|---|---:|---:|")
    for name, raw, packed in weights:
        print(f"| `{name}` | {raw:,} | {packed:,} |")
    print(f"| **total** | {sum(w[1] for w in weights):,} | **{sum(w[2] for w in weights):,}** |")
    print(f"\nThird-party requests: {len(foreign)} {foreign if foreign else ''}")
    if args.weight_only:
        return
    best = {k: max(v, key=lambda r: r["rps"]) for k, v in results.items()}
    print(f"\nThroughput: gunicorn {args.workers} sync workers, wrk -t{args.threads} -c{args.connections} "
          f"-d{args.duration}s, best of {args.rounds} alternating rounds, overview with {args.invoices} invoices\n")
    print("| server | requests/s | p50 ms | p99 ms | non-2xx |\n|---|---:|---:|---:|---:|")
    for name in ("hello", "overview"):
        r = best[name]
        print(f"| {name} | {r['rps']:,.0f} | {r['p50']:.2f} | {r['p99']:.2f} | {r['non2xx']} |")
    print(f"\nRatio overview/hello: {best['overview']['rps'] / best['hello']['rps']:.0%}")
    print("All rounds:", {k: [round(r["rps"]) for r in v] for k, v in results.items()})
    # Rounds alternate hello/overview, so round i's ratio compares two runs a few seconds apart.
    ratios = sorted(o["rps"] / h["rps"] for h, o in zip(results["hello"], results["overview"]))
    p99 = sorted(r["p99"] for r in results["overview"])
    print(f"Per-round ratio: median {statistics.median(ratios):.0%}, best {ratios[-1]:.0%}; "
          f"overview p99 median {statistics.median(p99):.2f} ms, best {p99[0]:.2f} ms")
    cpu = {k: statistics.median(r["cpu_ms"] for r in v) for k, v in results.items()}
    print(f"Worker CPU per request (median of rounds): hello {cpu['hello']:.3f} ms, overview {cpu['overview']:.3f} ms "
          f"(ratio {cpu['hello'] / cpu['overview']:.0%})")


if __name__ == "__main__":
    main()
