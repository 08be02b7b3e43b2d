"""How the app sits in production: behind how many reverse proxies, in how many processes.

`TRUSTED_PROXIES = n` wraps the app in Werkzeug's ProxyFix with n hops for `X-Forwarded-For` and
`X-Forwarded-Proto`: `request.remote_addr` is then the client's address as the outermost of the n
proxies saw it (so rate limits count debtors, not the proxy), and `request.is_secure` follows the
TLS the proxy terminated. `X-Forwarded-Host` is not trusted: links use BASE_URL, and a proxy that
does not set that header would let clients pick the host.

Rate-limit counters in `memory://` belong to one process. Several gunicorn workers on `memory://`
each count on their own (four workers: four times the attempts), so the app warns at start;
`gunicorn.conf.py` tells it the worker count (WEB_PROCESSES), and WEB_CONCURRENCY, gunicorn's own
default for it, counts too.
"""
from __future__ import annotations

import os

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

MEMORY_WARNING = (
    "%d web processes share RATELIMIT_STORAGE_URI=memory://: each counts rate limits on its own, so every "
    "limit is %d times as loose. Set SETTLE_RATELIMIT_STORAGE_URI=redis://host:6379 (see README, Production)."
)


def web_processes(app: Flask) -> int:
    configured = int(app.config.get("WEB_PROCESSES") or 1)
    try:
        concurrency = int(os.environ.get("WEB_CONCURRENCY") or 1)
    except ValueError:
        concurrency = 1
    return max(configured, concurrency)


def init_app(app: Flask) -> None:
    hops = int(app.config.get("TRUSTED_PROXIES") or 0)
    if hops < 0:
        raise ValueError("TRUSTED_PROXIES must be 0 or the number of reverse proxies in front of Settle")
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=0, x_port=0, x_prefix=0)
    processes = web_processes(app)
    storage = str(app.config.get("RATELIMIT_STORAGE_URI") or "memory://")
    if processes > 1 and storage.startswith("memory://") and app.config.get("RATELIMIT_ENABLED", True):
        app.logger.warning(MEMORY_WARNING, processes, processes)
