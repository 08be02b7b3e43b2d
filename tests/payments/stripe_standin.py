"""A local stand-in for the Stripe API (http.server in a thread) that records every request."""
from __future__ import annotations

import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl


class StripeStandIn:
    def __init__(self):
        self.requests: list[dict] = []
        self.fail_with: int | None = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                form = dict(parse_qsl(body, keep_blank_values=True))
                outer.requests.append({"path": self.path, "headers": dict(self.headers), "form": form})
                if outer.fail_with:
                    self._answer(outer.fail_with, {"error": {"type": "api_error", "message": "stand-in failure"}})
                    return
                if self.path == "/v1/checkout/sessions":
                    session_id = "cs_test_" + secrets.token_hex(12)
                    self._answer(200, {
                        "id": session_id, "object": "checkout.session", "mode": form.get("mode"),
                        "url": f"https://checkout.stripe.com/c/pay/{session_id}", "payment_intent": None,
                        "payment_status": "unpaid", "status": "open", "metadata": {
                            k[len("metadata["):-1]: v for k, v in form.items() if k.startswith("metadata[")
                        },
                        "success_url": form.get("success_url"), "cancel_url": form.get("cancel_url"),
                        "currency": form.get("line_items[0][price_data][currency]"),
                    })
                else:
                    self._answer(404, {"error": {"type": "invalid_request_error", "message": "unknown path"}})

            def _answer(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", "req_standin")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
