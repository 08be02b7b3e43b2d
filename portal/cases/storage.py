"""Attachment files: stored outside the web root under random names, read back only through views
that check who is asking."""
from __future__ import annotations

import hashlib
import secrets
from pathlib import Path

from flask import Response, abort, current_app

from portal.models import Attachment



def _dir() -> Path:
    path = Path(current_app.config["STORAGE_DIR"]) / "attachments"
    path.mkdir(parents=True, exist_ok=True)
    return path


def save(data: bytes) -> tuple[str, str]:
    """Write the bytes; returns (storage key, sha256)."""
    key = secrets.token_hex(16)
    target = _dir() / key
    with open(target, "xb") as fh:  # never overwrite
        fh.write(data)
    return key, hashlib.sha256(data).hexdigest()


def load(storage_key: str) -> bytes:
    if not storage_key.isalnum():
        raise FileNotFoundError(storage_key)
    return (_dir() / storage_key).read_bytes()


def remove(storage_key: str) -> None:
    if storage_key.isalnum():
        (_dir() / storage_key).unlink(missing_ok=True)


def attachment_response(item: Attachment) -> Response:
    """Always a download, never rendered by the browser, sandboxed even if it were."""
    try:
        data = load(item.storage_key)
    except FileNotFoundError:
        abort(404)
    from urllib.parse import quote

    response = Response(data, mimetype=item.mime_type)
    ascii_name = item.filename.encode("ascii", "replace").decode().replace("?", "_")
    response.headers["Content-Disposition"] = (
        f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(item.filename)}"
    )
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response
