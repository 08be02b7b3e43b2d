"""The e-invoices inside a ZIP file: the shared ZIP reader (`portal.domain.ziparchive`) with the
e-invoice limits: `MAX_MEMBERS` files, `MAX_BYTES` per file, `MAX_TOTAL_BYTES` altogether,
counted on the real unpacked bytes.
"""
from __future__ import annotations

from collections.abc import Iterator

from portal.domain.einvoice.xml import MAX_BYTES
from portal.domain.ziparchive import ArchiveError, Limits, is_zip
from portal.domain import ziparchive

MAX_MEMBERS = 50_000
MAX_TOTAL_BYTES = 1024 * 1024 * 1024  # 1 GiB of e-invoices in one import
ACCEPTED = (".xml", ".pdf")
LIMITS = Limits(members=MAX_MEMBERS, member_bytes=MAX_BYTES, total_bytes=MAX_TOTAL_BYTES)

__all__ = ["ACCEPTED", "ArchiveError", "LIMITS", "MAX_MEMBERS", "MAX_TOTAL_BYTES", "is_zip", "members"]


def members(raw: bytes) -> Iterator[tuple[str, bytes | None, str | None]]:
    """(name, bytes, None) for each e-invoice in the ZIP, or (name, None, problem) for a member
    that cannot be one; ArchiveError when the archive itself is unreadable or too big."""
    for member in ziparchive.members(raw, LIMITS, accept=ACCEPTED, not_accepted="is not an .xml or .pdf file"):
        if member.problem is not None:
            yield member.name, None, member.problem
            continue
        try:
            yield member.name, member.read(), None
        finally:
            member.close()
