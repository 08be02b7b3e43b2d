"""What every request through Settle costs before its view runs, one part at a time.

In one process: a one-route Flask app (the floor), and Settle's app with an extra route that
returns "ok" and touches nothing. The extra route is called with a debtor's session cookie,
first with every app-wide hook in place, then with one part removed at a time (its
before/after/teardown hook taken out of the app, or the session interface replaced), then
with all of them removed. Each figure is the CPU time per request (time.process_time over a
batch of plain WSGI calls), median of --repeat batches, so other load on a shared machine
moves it little; the configurations are measured in interleaved rounds. Also timed: a static file, /healthz and the portal's two pages, so the
fixed part can be compared with the whole.

    .venv/bin/python bench/portal_fixed_costs.py                 # SQLite file
    .venv/bin/python bench/portal_fixed_costs.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench
    .venv/bin/python bench/portal_fixed_costs.py --profile /portal/   # cProfile top entries of one URL

--database-url must name a throw-away database: its Settle tables are dropped and created.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def caller(app, path: str, cookie: str | None):
    from werkzeug.test import EnvironBuilder

    environ = EnvironBuilder(path=path, base_url="http://127.0.0.1:5000",
                             headers={"Cookie": cookie} if cookie else {}).get_environ()
    status = []

    def start_response(s, headers, exc_info=None):
        status.append(s)

    def call(n: int) -> str:
        for _ in range(n):
            body = app(dict(environ), start_response)
            for _chunk in body:
                pass
            if hasattr(body, "close"):
                body.close()
        return status[-1]

    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="a throw-away database (default: a new SQLite file)")
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=9, help="interleaved rounds")
    parser.add_argument("--profile", metavar="PATH", help="print cProfile's top entries for this URL instead")
    args = parser.parse_args()

    import portal_load

    tmp = Path(tempfile.mkdtemp(prefix="settle-bench-"))
    db_url = args.database_url or f"sqlite:///{tmp / 'bench.sqlite3'}"
    base = "http://127.0.0.1:5000"
    token = portal_load.seed(db_url, base, 3)
    os.environ.update({"SETTLE_SQLALCHEMY_DATABASE_URI": db_url, "SETTLE_SESSION_COOKIE_SECURE": "false",
                       "SETTLE_BASE_URL": base})

    from flask import Flask
    from flask.sessions import SecureCookieSessionInterface

    from portal import create_app

    app = create_app()
    app.add_url_rule("/_bench/plain", "bench_plain", lambda: "ok")
    client = app.test_client()
    cookie = client.get(f"/p/{token}").headers["Set-Cookie"].split(";", 1)[0]
    for path in ("/portal/", None):
        if path is None:
            html = client.get("/portal/", headers={"Cookie": cookie}).get_data(as_text=True)
            path = re.search(r'href="(/portal/invoices/\d+)"', html).group(1)
            invoice_path = path
        response = client.get(path, headers={"Cookie": cookie})
        assert response.status_code == 200, (path, response.status_code)
        if "Set-Cookie" in response.headers:  # the page view recorded: later requests write nothing
            cookie = response.headers["Set-Cookie"].split(";", 1)[0]

    if args.profile:
        call = caller(app.wsgi_app, args.profile.replace("INVOICE", invoice_path), cookie)
        call(50)
        profile = cProfile.Profile()
        profile.enable()
        call(2000)
        profile.disable()
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(45)
        print(out.getvalue())
        return

    hello = Flask("hello")
    hello.add_url_rule("/", "hello", lambda: "hello")

    # Every app-wide hook, by what it is.
    hooks = {}
    for func in app.before_request_funcs[None]:
        hooks[getattr(func, "__qualname__", repr(func))] = ("before", func)
    for func in app.after_request_funcs[None]:
        hooks[getattr(getattr(func, "func", func), "__qualname__", repr(func))] = ("after", func)
    for func in app.teardown_request_funcs[None]:
        hooks[getattr(func, "__qualname__", repr(func))] = ("teardown_request", func)
    for func in app.teardown_appcontext_funcs:
        hooks[getattr(func, "__qualname__", repr(func))] = ("teardown_appcontext", func)

    def remove(kind: str, func):
        target = {"before": app.before_request_funcs[None], "after": app.after_request_funcs[None],
                  "teardown_request": app.teardown_request_funcs[None], "teardown_appcontext": app.teardown_appcontext_funcs}[kind]
        index = target.index(func)
        target.pop(index)
        return lambda: target.insert(index, func)

    plain = caller(app.wsgi_app, "/_bench/plain", cookie)
    no_cookie = caller(app.wsgi_app, "/_bench/plain", None)
    nothing = lambda: (lambda: None)  # noqa: E731

    def without(kind, func):
        return lambda: remove(kind, func)

    def flask_sessions():
        interface = app.session_interface
        app.session_interface = SecureCookieSessionInterface()
        return lambda: setattr(app, "session_interface", interface)

    def without_all():
        restores = [remove(kind, func) for kind, func in hooks.values()]
        return lambda: [restore() for restore in reversed(restores)]

    # (label, set-up returning its undo, the call, compared with "everything on")
    configs = [("hello world (one-route Flask app, the floor)", nothing, caller(hello.wsgi_app, "/", None), False),
               ("Settle, a route returning \"ok\", everything on (debtor's session cookie sent)", nothing, plain, False)]
    configs += [(f"… without `{name}` ({kind})", without(kind, func), plain, True) for name, (kind, func) in hooks.items()]
    configs += [("… with Flask's own session interface (re-signs the cookie on every response)", flask_sessions, plain, True),
                ("… without the session cookie (none sent)", nothing, no_cookie, True),
                ("… without any of the hooks above (cookie sent)", without_all, plain, True)]
    for label, path in (("static file /static/css/settle.css", "/static/css/settle.css"), ("/healthz (SELECT 1)", "/healthz"),
                        ("overview /portal/", "/portal/"), (f"invoice page {invoice_path}", invoice_path)):
        configs.append((label, nothing, caller(app.wsgi_app, path, cookie), False))
    # Interleaved rounds: every configuration once per round, so a burst of other load hits all alike.
    samples: list[list[float]] = [[] for _ in configs]
    for i, (_, setup, call, _) in enumerate(configs):
        undo = setup()
        call(20)  # warm
        undo()
    for _ in range(args.repeat):
        for i, (_, setup, call, _) in enumerate(configs):
            undo = setup()
            try:
                start = time.process_time()
                call(args.batch)
                samples[i].append((time.process_time() - start) * 1000 / args.batch)
            finally:
                undo()
    medians = [statistics.median(x) for x in samples]
    floor, full = medians[0], medians[1]
    rows = [(label, medians[i], min(samples[i]), full if compare else None) for i, (label, _, _, compare) in enumerate(configs)]

    label = "PostgreSQL" if db_url.startswith("postgresql") else "SQLite"
    print(f"\nCPU per request in-process ({label}; median of {args.repeat} batches of {args.batch}; "
          f"load average {os.getloadavg()[0]:.1f})\n")
    print("| request | CPU ms/request median | min | difference to everything on (medians) | × hello world |")
    print("|---|---:|---:|---:|---:|")
    for name, value, low, against in rows:
        diff = f"{value - against:+.3f}" if against is not None else ""
        print(f"| {name} | {value:.3f} | {low:.3f} | {diff} | {value / floor:.1f} |")


if __name__ == "__main__":
    main()
