"""gunicorn reads this file from the working directory: it tells Settle how many web workers share
its configuration (portal.deployment warns when they would count rate limits each in memory)."""
import os


def on_starting(server):
    os.environ["SETTLE_WEB_PROCESSES"] = str(server.cfg.workers)
    storage = os.environ.get("SETTLE_RATELIMIT_STORAGE_URI", "memory://")
    if server.cfg.workers > 1 and storage.startswith("memory://"):
        server.log.warning("Settle: %d workers on memory:// count rate limits each on their own; "
                           "set SETTLE_RATELIMIT_STORAGE_URI=redis://host:6379", server.cfg.workers)
