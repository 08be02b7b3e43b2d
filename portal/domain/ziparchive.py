"""Reading uploaded ZIP files (bank statements, e-invoices) with limits that hold whatever the archive claims.

One reader for every ZIP Settle accepts. Nothing is extracted to a path (member names are
only labels). Each member is decompressed in chunks into a spool (memory up to
`SPOOL_BYTES`, then an anonymous temporary file) while its *real* size is counted, so a
ZIP bomb costs at most the limits and never the memory the archive declares:

- `Limits.members`: files in the archive (directories and macOS/Windows bookkeeping files
  do not count);
- `Limits.member_bytes`: real uncompressed bytes of one member (the declared size is
  checked first, so a member that admits to being too large is not even opened; one that
  lies is stopped at the limit while it is read);
- `Limits.total_bytes`: real uncompressed bytes of all members together.

Members that are encrypted, use a compression method Python cannot read (e.g. Deflate64,
which Windows uses for large archives) or are damaged (bad CRC, truncated data) are
refused with a message a person can act on: `ArchiveError` for the whole archive,
or a `Member` with `problem` set when only that member is affected.
"""
from __future__ import annotations

import hashlib
import io
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

SPOOL_BYTES = 8 * 1024 * 1024  # a member larger than this is spooled to an anonymous temporary file
CHUNK = 1024 * 1024
READABLE_METHODS = {
    zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate", zipfile.ZIP_BZIP2: "bzip2",
    zipfile.ZIP_LZMA: "lzma",
}
_METHOD_NAMES = {9: "Deflate64", 12: "bzip2", 14: "LZMA", 93: "Zstandard", 95: "XZ", 98: "PPMd", 99: "AES encryption"}


class ArchiveError(ValueError):
    """The ZIP as a whole cannot be read, or breaks a limit (the message names the member where it can)."""


@dataclass(frozen=True)
class Limits:
    members: int
    member_bytes: int
    total_bytes: int


@dataclass
class Member:
    """One file of the archive: its content as a spooled file object, or the reason it was refused."""

    name: str
    problem: str | None = None
    file: IO[bytes] | None = None
    size: int = 0  # real uncompressed bytes
    sha256: str = ""

    def read(self) -> bytes:
        assert self.file is not None, self.problem
        self.file.seek(0)
        return self.file.read()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def is_zip(raw: bytes) -> bool:
    return raw[:4] in (b"PK\x03\x04", b"PK\x05\x06")


def skipped(name: str) -> bool:
    """Directories and the bookkeeping files macOS and Windows leave in archives."""
    base = name.rstrip("/").rsplit("/", 1)[-1]
    return name.endswith("/") or name.startswith("__MACOSX/") or base.startswith(".") or base.lower() == "thumbs.db"


def _size(limit: int) -> str:
    if limit >= 1024 ** 3 and limit % 1024 ** 3 == 0:
        return f"{limit // 1024 ** 3} GiB"
    if limit >= 1024 ** 2 and limit % 1024 ** 2 == 0:
        return f"{limit // 1024 ** 2} MiB"
    if limit >= 1_000_000:
        return f"{limit // 1_000_000} MB"
    return f"{limit} bytes"


def _method_problem(info: zipfile.ZipInfo) -> str | None:
    if info.flag_bits & 0x1:
        return "is encrypted (password-protected); upload it without a password"
    if info.compress_type not in READABLE_METHODS:
        name = _METHOD_NAMES.get(info.compress_type, f"method {info.compress_type}")
        return f"is compressed with {name}, which cannot be read; pack it again with ordinary ZIP compression (Deflate)"
    return None


def open_archive(raw: bytes | IO[bytes]) -> zipfile.ZipFile:
    source = io.BytesIO(raw) if isinstance(raw, (bytes, bytearray, memoryview)) else raw
    try:
        return zipfile.ZipFile(source)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        raise ArchiveError(f"not a readable ZIP file ({exc})") from None


def members(raw: bytes | IO[bytes], limits: Limits, *, accept: tuple[str, ...] | None = None,
            not_accepted: str = "is not a supported file") -> Iterator[Member]:
    """Each member in name order, read within the limits.

    A member whose name does not end with one of `accept` (lower case) is yielded with
    `problem=not_accepted` and not read. A member that is too large, encrypted, compressed
    with an unknown method or damaged is yielded with its problem. `ArchiveError` when the
    archive itself is unreadable, empty, holds too many files or unpacks beyond the total.
    The caller closes the members it keeps (`Member.close`); files spooled to disk vanish then.
    """
    archive = open_archive(raw)
    with archive:
        try:
            infos = [info for info in archive.infolist() if not skipped(info.filename)]
        except (zipfile.BadZipFile, ValueError) as exc:
            raise ArchiveError(f"not a readable ZIP file ({exc})") from None
        if len(infos) > limits.members:
            raise ArchiveError(f"the ZIP holds {len(infos)} files; at most {limits.members} are read in one import")
        if not infos:
            raise ArchiveError("the ZIP contains no files")
        considered = [i for i in infos if accept is None or i.filename.lower().endswith(accept)]
        declared = sum(i.file_size for i in considered if i.file_size <= limits.member_bytes)
        if declared > limits.total_bytes:
            raise ArchiveError(f"the ZIP unpacks to more than {_size(limits.total_bytes)} (it declares {_size(declared)})")
        total = 0
        for info in sorted(infos, key=lambda i: i.filename):
            name = info.filename
            if accept is not None and not name.lower().endswith(accept):
                yield Member(name, not_accepted)
                continue
            problem = _method_problem(info)
            if problem is None and info.file_size > limits.member_bytes:
                problem = f"is larger than {_size(limits.member_bytes)} unpacked"
            if problem is not None:
                yield Member(name, problem)
                continue
            member = _read(archive, info, min(limits.member_bytes, limits.total_bytes - total))
            if member.problem == "too large":
                if member.size <= limits.member_bytes:  # the member fits, the archive does not
                    raise ArchiveError(f"the ZIP unpacks to more than {_size(limits.total_bytes)}")
                member.problem = f"is larger than {_size(limits.member_bytes)} unpacked"
            total += member.size if member.problem is None else 0
            yield member


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> Member:
    """Decompress one member chunk by chunk, counting real bytes; stop one chunk past `limit`."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    digest = hashlib.sha256()
    size = 0
    try:
        with archive.open(info) as stream:
            while True:
                chunk = stream.read(CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > limit:
                    spool.close()
                    return Member(info.filename, "too large", size=size)
                digest.update(chunk)
                spool.write(chunk)
    except RuntimeError:  # zipfile's word for an encrypted member without a password
        spool.close()
        return Member(info.filename, "is encrypted (password-protected); upload it without a password")
    except NotImplementedError:
        spool.close()
        return Member(info.filename, "is compressed with a method that cannot be read; pack it again with Deflate")
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        spool.close()
        detail = "its checksum does not match" if "CRC" in str(exc) else str(exc) or exc.__class__.__name__
        return Member(info.filename, f"is damaged and cannot be unpacked ({detail})")
    except Exception as exc:  # zlib.error, lzma.LZMAError, OSError from bz2 …: a damaged stream, never a 500
        spool.close()
        return Member(info.filename, f"is damaged and cannot be unpacked ({exc.__class__.__name__}: {exc})")
    spool.seek(0)
    return Member(info.filename, None, spool, size, digest.hexdigest())
