"""The e-invoices inside a ZIP file, read with limits that hold whatever the archive claims.

Nothing is extracted to disk (member names are only labels). Each member is read through
the decompressor up to its limit and no further, so a ZIP bomb costs at most the limits:
`MAX_MEMBERS` files, `MAX_BYTES` per file, `MAX_TOTAL_BYTES` altogether.
"""
from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator

from portal.domain.einvoice.xml import MAX_BYTES

MAX_MEMBERS = 50_000
MAX_TOTAL_BYTES = 1024 * 1024 * 1024  # 1 GiB of e-invoices in one import
ACCEPTED = (".xml", ".pdf")


class ArchiveError(ValueError):
    """The ZIP as a whole cannot be read (the message names the member where it can)."""


def is_zip(raw: bytes) -> bool:
    return raw[:4] in (b"PK\x03\x04", b"PK\x05\x06")


def _skipped(name: str) -> bool:
    """Directories and the bookkeeping files macOS and Windows leave in archives."""
    base = name.rstrip("/").rsplit("/", 1)[-1]
    return name.endswith("/") or name.startswith("__MACOSX/") or base.startswith(".") or base.lower() == "thumbs.db"


def members(raw: bytes) -> Iterator[tuple[str, bytes | None, str | None]]:
    """(name, bytes, None) for each e-invoice in the ZIP, or (name, None, problem) for a member
    that cannot be one; ArchiveError when the archive itself is unreadable or too big."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise ArchiveError(f"not a readable ZIP file ({exc})") from None
    with archive:
        infos = [info for info in archive.infolist() if not _skipped(info.filename)]
        if len(infos) > MAX_MEMBERS:
            raise ArchiveError(f"the ZIP holds {len(infos)} files; at most {MAX_MEMBERS} are read in one import")
        if not infos:
            raise ArchiveError("the ZIP contains no files")
        total = 0
        for info in infos:
            name = info.filename
            if not name.lower().endswith(ACCEPTED):
                yield name, None, "is not an .xml or .pdf file"
                continue
            if info.flag_bits & 0x1:
                yield name, None, "is encrypted"
                continue
            if info.file_size > MAX_BYTES:
                yield name, None, f"is larger than {MAX_BYTES // 1_000_000} MB"
                continue
            try:
                with archive.open(info) as member:
                    data = member.read(MAX_BYTES + 1)
            except (zipfile.BadZipFile, NotImplementedError, OSError, EOFError) as exc:
                yield name, None, f"cannot be read from the ZIP ({exc})"
                continue
            except RuntimeError as exc:  # zipfile's word for an encrypted member without a password
                yield name, None, f"cannot be read from the ZIP ({exc})"
                continue
            if len(data) > MAX_BYTES:
                yield name, None, f"is larger than {MAX_BYTES // 1_000_000} MB"
                continue
            total += len(data)
            if total > MAX_TOTAL_BYTES:
                raise ArchiveError(f"the ZIP unpacks to more than {MAX_TOTAL_BYTES // 1024 ** 3} GiB")
            yield name, data, None
