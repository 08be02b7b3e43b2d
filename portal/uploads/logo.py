"""A merchant's logo: checked by its content, re-encoded, stored under STORAGE_DIR, served from our origin.

PNG and JPEG are accepted when Pillow can decode them and they are of a sensible size; the
image is re-encoded (which drops metadata and anything appended to the file) and stored as
STORAGE_DIR/logos/<merchant>/<sha256 prefix>.<png|jpg>, so its URL changes with its content
and can be cached for a year. SVG is refused rather than sanitised: an SVG is a document that
can carry scripts, external references and CSS, and a sanitiser that misses one construct
would put them on the payment page; a PNG export is a click in every drawing program.
"""
from __future__ import annotations

import hashlib
import io
import os
import re
from pathlib import Path

from flask import current_app

MAX_BYTES = 2 * 1024 * 1024
MAX_SIDE = 4000  # pixels; larger images are refused before they are decoded (decompression bombs)
NAME = re.compile(r"[0-9a-f]{20}\.(png|jpg)")
MIMETYPES = {"png": "image/png", "jpg": "image/jpeg"}


class LogoRefused(ValueError):
    def __init__(self, reason: str, **params):
        super().__init__(reason)
        self.reason = reason
        self.params = params


def _kind(data: bytes) -> str:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<?xml", b"<svg", b"<!--", b"<!doctype svg")) and b"<svg" in data[:65536].lower():
        return "svg"
    return "other"


def checked_image(data: bytes) -> tuple[bytes, str]:
    """The re-encoded image and its extension; LogoRefused says why not."""
    if not data:
        raise LogoRefused("empty")
    if len(data) > MAX_BYTES:
        raise LogoRefused("too_large", megabytes=MAX_BYTES // (1024 * 1024))
    kind = _kind(data)
    if kind == "svg":
        raise LogoRefused("svg")
    if kind == "other":
        raise LogoRefused("not_image")
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.format not in ("PNG", "JPEG"):
                raise LogoRefused("not_image")
            width, height = probe.size
            if width > MAX_SIDE or height > MAX_SIDE:
                raise LogoRefused("too_many_pixels", side=MAX_SIDE)
            probe.load()
            image = probe.copy()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        if isinstance(exc, LogoRefused):
            raise
        raise LogoRefused("broken") from None
    out = io.BytesIO()
    if kind == "png":
        if image.mode not in ("RGB", "RGBA", "L", "LA", "P"):
            image = image.convert("RGBA")
        image.save(out, format="PNG", optimize=True)
    else:
        image.convert("RGB").save(out, format="JPEG", quality=90, optimize=True)
    return out.getvalue(), kind


def _folder(merchant_id: int) -> Path:
    return Path(current_app.config["STORAGE_DIR"]) / "logos" / str(merchant_id)


def store(merchant_id: int, data: bytes) -> str:
    """Check and store the logo; returns its file name (served by `debtor.brand_logo`)."""
    image, ext = checked_image(data)
    name = f"{hashlib.sha256(image).hexdigest()[:20]}.{ext}"
    folder = _folder(merchant_id)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / (name + ".part")
    tmp.write_bytes(image)
    os.replace(tmp, folder / name)
    return name


def path_of(merchant_id: int, name: str) -> Path | None:
    if not NAME.fullmatch(name):
        return None
    path = _folder(merchant_id) / name
    return path if path.is_file() else None


def is_external(url: str | None) -> bool:
    """A logo address on another website (the portal loads nothing from third parties)."""
    value = (url or "").strip().lower()
    return value.startswith(("http://", "https://", "//", "ftp://")) or (
        bool(value) and not value.startswith(("/", "data:image/png", "data:image/jpeg")))
