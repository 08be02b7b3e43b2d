"""A real HTTP receiver on loopback for the webhook tests, and the verification snippet from docs/webhooks.md."""
from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def documented_verify():
    """The `verify` function exactly as docs/webhooks.md shows it to shop developers."""
    block = re.search(r"```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S).group(1)
    namespace: dict = {}
    exec(compile(block, str(DOCS), "exec"), namespace)  # noqa: S102 — our own documentation
    return namespace["verify"]


class Receiver:
    """Records every POST (raw body and headers); `answers` are popped for the first requests (then 200).

    `hold` = n: the n-th request (1-based) blocks until `release` is set, so a test can kill the
    sender while that request is in flight.
    """

    def __init__(self, answers=(), hold: int | None = None):
        self.requests: list[tuple[dict, bytes, int]] = []
        self.answers = list(answers)
        self.hold = hold
        self.holding = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    code = receiver.answers.pop(0) if receiver.answers else 200
                    receiver.requests.append((dict(self.headers), body, code))
                    number = len(receiver.requests)
                if number == receiver.hold:
                    receiver.holding.set()
                    receiver.release.wait(30)
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                try:
                    self.wfile.write(b"ok")
                except OSError:  # the sender is gone
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/settle"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def bodies(self, code: int | None = 200) -> list[dict]:
        with self.lock:
            return [json.loads(body) for _, body, c in self.requests if code is None or c == code]
