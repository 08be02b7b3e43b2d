"""`make run`: the web server for local use (with the outbox worker as a child process), demo links first.

Production runs gunicorn instead (see README).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from portal import create_app


def main() -> None:
    parser = argparse.ArgumentParser(description="Run Settle locally.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args()
    app = create_app()
    sink = None
    if (app.config["MAIL_SERVER"], app.config["MAIL_PORT"]) == ("127.0.0.1", 1025):
        from portal.devsink import start_mail_sink

        sink = start_mail_sink(Path(app.instance_path) / "mail")
    with app.app_context():
        from portal.demo import demo_links

        print(f"\nSettle is running on http://{args.host}:{args.port}  (health: /healthz)")
        for label, url in demo_links():
            print(f"  portal for {label}: {url}")
        print(f"  back office: http://{args.host}:{args.port}/office/  (demo users in the README)")
        if sink is not None:
            print(f"  mail is caught in {Path(app.instance_path) / 'mail'} (nothing leaves this machine)")
        if app.config.get("SMS_PROVIDER") == "file":
            print(f"  SMS are written to {Path(app.instance_path) / 'sms'}")
        print()
    # The outbox worker (and daily dunning run) as a child process, stopped when the server stops.
    worker = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "worker"])
    try:
        app.run(host=args.host, port=args.port, debug=False, use_reloader=False)
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        if sink is not None:
            sink.stop()


if __name__ == "__main__":
    main()
