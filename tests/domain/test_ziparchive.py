"""The one ZIP reader for statements and e-invoices: real sizes counted, bombs refused in flat memory,
encrypted / unknown-method / damaged members refused with a message, never an exception a user sees."""
from __future__ import annotations

import io
import struct
import zipfile
import zlib
from datetime import date
from pathlib import Path

import pytest

from portal.domain import ziparchive
from portal.domain.ziparchive import ArchiveError, Limits

SMALL = Limits(members=3, member_bytes=1000, total_bytes=1500)


def zipped(files: dict[str, bytes], method=zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


def patch_headers(raw: bytes, *, flag: int | None = None, method: int | None = None, size: int | None = None) -> bytes:
    """Rewrite the first member's local header and central directory entry (flags, method, declared size)."""
    data = bytearray(raw)
    local, central = data.find(b"PK\x03\x04"), data.find(b"PK\x01\x02")
    for offset, flag_at, method_at, size_at in ((local, 6, 8, 22), (central, 8, 10, 24)):
        if flag is not None:
            data[offset + flag_at : offset + flag_at + 2] = struct.pack("<H", flag)
        if method is not None:
            data[offset + method_at : offset + method_at + 2] = struct.pack("<H", method)
        if size is not None:
            data[offset + size_at : offset + size_at + 4] = struct.pack("<I", size)
    return bytes(data)


def problems(raw: bytes, limits: Limits = SMALL) -> list[tuple[str, str | None]]:
    out = []
    for member in ziparchive.members(raw, limits):
        out.append((member.name, member.problem))
        member.close()
    return out


def test_members_are_read_in_name_order_with_their_real_size_and_hash():
    import hashlib

    raw = zipped({"b.xml": b"<b/>", "a.xml": b"<a/>", "__MACOSX/._a.xml": b"junk", "dir/": b""})
    members = list(ziparchive.members(raw, SMALL))
    assert [(m.name, m.size, m.read()) for m in members] == [("a.xml", 4, b"<a/>"), ("b.xml", 4, b"<b/>")]
    assert members[0].sha256 == hashlib.sha256(b"<a/>").hexdigest()
    for member in members:
        member.close()


def test_a_member_larger_than_the_limit_is_refused_by_its_declared_size_without_unpacking():
    assert problems(zipped({"big.xml": b"0" * 1001, "ok.xml": b"1"})) == [
        ("big.xml", "is larger than 1000 bytes unpacked"), ("ok.xml", None)]


def test_a_member_that_declares_less_than_it_holds_is_stopped_as_damaged():
    raw = patch_headers(zipped({"liar.xml": b"0" * 900_000}), size=500)
    assert problems(raw) == [("liar.xml", "is damaged and cannot be unpacked (its checksum does not match)")]


def test_the_real_total_is_limited_and_the_declared_total_is_checked_first():
    with pytest.raises(ArchiveError, match="unpacks to more than 1500 bytes"):
        problems(zipped({"a.xml": b"0" * 900, "b.xml": b"0" * 900}))


def test_too_many_members_are_refused():
    with pytest.raises(ArchiveError, match="holds 4 files; at most 3"):
        problems(zipped({f"{n}.xml": b"x" for n in range(4)}))


def test_encrypted_unknown_method_and_corrupt_members_are_refused_with_a_message():
    assert problems(patch_headers(zipped({"secret.xml": b"<a/>"}), flag=0x1)) == [
        ("secret.xml", "is encrypted (password-protected); upload it without a password")]
    assert problems(patch_headers(zipped({"win.xml": b"<a/>"}), method=9)) == [
        ("win.xml", "is compressed with Deflate64, which cannot be read; pack it again with ordinary ZIP compression (Deflate)")]
    raw = bytearray(zipped({"broken.xml": b"<statement>" + b"abc" * 200 + b"</statement>"}))
    start = raw.find(b"PK\x03\x04") + 30 + len("broken.xml")
    raw[start : start + 8] = b"\xff" * 8
    [(name, problem)] = problems(bytes(raw))
    assert name == "broken.xml" and problem.startswith("is damaged and cannot be unpacked")


def test_not_a_zip_and_an_empty_zip_are_refused():
    with pytest.raises(ArchiveError, match="not a readable ZIP file"):
        problems(b"PK\x03\x04 not really")
    with pytest.raises(ArchiveError, match="contains no files"):
        problems(zipped({}))


# --- the bomb: 2 MB on disk, 2 GB declared and real --------------------------------------------------


_MEASURE = """
import sys
from pathlib import Path
from portal.domain.camt import CamtError
from portal.payments.reconcile import _documents

data = Path(sys.argv[1]).read_bytes()
try:
    for name, content, digest in _documents(data, "statements.zip"):
        content.read()
    print("ACCEPTED")
except CamtError as exc:
    print("REFUSED", exc)
for line in Path("/proc/self/status").read_text().splitlines():
    if line.startswith("VmHWM:"):
        print("PEAK_KB", line.split()[1])
"""


def _refused_in_a_fresh_process(path: Path) -> tuple[str, float]:
    """Run the statement ZIP reader on `path` in a new interpreter: its answer and its peak RSS (VmHWM) in MB."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _MEASURE, str(path)], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2]).stdout.splitlines()
    return out[0], int(out[1].split()[1]) / 1024


def deflated_zeros_zip(name: str, megabytes: int) -> bytes:
    """A ZIP of one member of `megabytes` × 1,000,000 zero bytes, honestly declared, built without
    compressing gigabytes: after a full flush deflate's state is reset, so each further megabyte of
    zeros compresses to the same bytes and the stream is that block repeated."""
    chunk = b"\0" * 1_000_000
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = packer.compress(chunk) + packer.flush(zlib.Z_FULL_FLUSH)
    again = packer.compress(chunk) + packer.flush(zlib.Z_FULL_FLUSH)
    assert again == block
    stream = block * megabytes + packer.flush()
    crc = 0
    for _ in range(megabytes):
        crc = zlib.crc32(chunk, crc)
    size, encoded = megabytes * 1_000_000, name.encode()
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(stream), size, len(encoded), 0)
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x21, crc, len(stream), size,
                          len(encoded), 0, 0, 0, 0, 0, 0)
    directory_at = len(local) + len(encoded) + len(stream)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central) + len(encoded), directory_at, 0)
    return local + encoded + stream + central + encoded + end


@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> Path:
    """2 GB of zeros in a ZIP of about 2 MB."""
    path = tmp_path_factory.mktemp("bomb") / "statements.zip"
    path.write_bytes(deflated_zeros_zip("statement.xml", 2000))
    return path


def test_a_2_mb_zip_that_declares_2_gb_is_refused_with_peak_memory_below_300_mb(bomb, app, tmp_path):
    from portal.domain.camt import CamtError
    from portal.payments.reconcile import import_statements
    from tests.factories import make_merchant

    raw = bomb.read_bytes()
    assert len(raw) < 3 * 1024 * 1024
    assert zipfile.ZipFile(io.BytesIO(raw)).infolist()[0].file_size == 2_000_000_000
    merchant = make_merchant("bomb")
    with pytest.raises(CamtError) as exc:
        import_statements(merchant, raw, "statements.zip", actor="test", today=date(2026, 1, 1))
    assert str(exc.value) == "statements.zip/statement.xml: is larger than 512 MiB unpacked"
    answer, peak = _refused_in_a_fresh_process(bomb)
    assert answer == "REFUSED statements.zip/statement.xml: is larger than 512 MiB unpacked"
    assert peak < 300

    # The same bomb with its headers saying 1 MB: decompressed for real, stopped at the declared size, refused.
    liar = tmp_path / "liar.zip"
    liar.write_bytes(patch_headers(raw, size=1_000_000))
    answer, peak = _refused_in_a_fresh_process(liar)
    assert answer == "REFUSED statements.zip/statement.xml: is damaged and cannot be unpacked (its checksum does not match)"
    assert peak < 300


def test_the_e_invoice_reader_uses_the_same_limits_on_real_bytes():
    from portal.domain.einvoice import archive

    raw = zipped({"a.xml": b"<a/>", "notes.txt": b"hi"})
    assert list(archive.members(raw)) == [("a.xml", b"<a/>", None), ("notes.txt", None, "is not an .xml or .pdf file")]
    assert archive.LIMITS.member_bytes == 20 * 1024 * 1024
    assert zlib  # the corrupt-member test above flips deflate bytes
