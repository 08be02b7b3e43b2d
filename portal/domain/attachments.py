"""Checking uploaded files by their content: only documents and photos, never what can run.

The browser's content type and the file name are claims; the first bytes are facts.
A file is accepted only when its bytes are a PDF, PNG, JPEG or WebP image, its
extension names the same type, and it is within the size limit.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

MAX_BYTES = 10 * 1024 * 1024
MAX_TOTAL_BYTES = 20 * 1024 * 1024  # all files of one message together
MAX_FILES = 5

# type → (accepted extensions, MIME type)
ALLOWED = {
    "pdf": ((".pdf",), "application/pdf"),
    "png": ((".png",), "image/png"),
    "jpeg": ((".jpg", ".jpeg"), "image/jpeg"),
    "webp": ((".webp",), "image/webp"),
}

_EXECUTABLE_MAGIC = (b"MZ", b"\x7fELF", b"#!", b"\xca\xfe\xba\xbe", b"\xcf\xfa\xed\xfe", b"\xfe\xed\xfa")


class AttachmentRejected(ValueError):
    """`code` says why: too_large, empty, executable, unknown_type, extension_mismatch."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class CheckedFile:
    kind: str
    mime_type: str
    safe_name: str


def sniff(data: bytes) -> str | None:
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def safe_filename(name: str) -> str:
    """A name safe for a Content-Disposition header and a log line (never used as a path)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = re.sub(r"[^\w.\- ]", "_", base, flags=re.UNICODE).strip(" .")
    return (base or "attachment")[:120]


def check(filename: str, data: bytes, max_bytes: int = MAX_BYTES) -> CheckedFile:
    if not data:
        raise AttachmentRejected("empty")
    if len(data) > max_bytes:
        raise AttachmentRejected("too_large")
    if data.startswith(_EXECUTABLE_MAGIC):
        raise AttachmentRejected("executable")
    kind = sniff(data)
    if kind is None:
        raise AttachmentRejected("unknown_type")
    name = safe_filename(filename)
    extensions, mime = ALLOWED[kind]
    if not name.lower().endswith(extensions):
        raise AttachmentRejected("extension_mismatch")
    return CheckedFile(kind, mime, name)


def over_total(sizes: list[tuple[str, int]], limit: int = MAX_TOTAL_BYTES) -> bool:
    """True when the files (name, bytes) are more than `limit` together."""
    return sum(size for _, size in sizes) > limit
