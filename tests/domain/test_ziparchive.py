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


def _rss_peak_reset() -> bool:
    """Reset the process's peak RSS (VmHWM) so the test measures only itself (Linux >= 4.0)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _rss_peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> bytes:
    """A ZIP of one member of 2 GB of zeros, honestly declared: deflate packs it into about 2 MB."""
    path = tmp_path_factory.mktemp("bomb") / "statements.zip"
    chunk = b"\0" * 1_000_000
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open("statement.xml", "w", force_zip64=False) as member:
            for _ in range(2000):
                member.write(chunk)
    return path.read_bytes()


def test_a_2_mb_zip_that_declares_2_gb_is_refused_in_flat_memory(bomb, app):
    from portal.domain.camt import CamtError
    from portal.payments.reconcile import import_statements
    from tests.factories import make_merchant

    assert len(bomb) < 3 * 1024 * 1024
    assert zipfile.ZipFile(io.BytesIO(bomb)).infolist()[0].file_size == 2_000_000_000
    merchant = make_merchant("bomb")
    measured = _rss_peak_reset()
    with pytest.raises(CamtError) as exc:
        import_statements(merchant, bomb, "statements.zip", actor="test", today=date(2026, 1, 1))
    assert str(exc.value) == "statements.zip/statement.xml: is larger than 512 MiB unpacked"
    # The same bomb with the header saying 1 KB: the reader stops at the declared size and refuses it.
    liar = patch_headers(bomb, size=1024)
    with pytest.raises(CamtError, match="statement.xml: is damaged and cannot be unpacked"):
        import_statements(merchant, liar, "liar.zip", actor="test", today=date(2026, 1, 1))
    if measured:
        assert _rss_peak_mb() < 300


def test_the_e_invoice_reader_uses_the_same_limits_on_real_bytes():
    from portal.domain.einvoice import archive

    raw = zipped({"a.xml": b"<a/>", "notes.txt": b"hi"})
    assert list(archive.members(raw)) == [("a.xml", b"<a/>", None), ("notes.txt", None, "is not an .xml or .pdf file")]
    assert archive.LIMITS.member_bytes == 20 * 1024 * 1024
    assert zlib  # the corrupt-member test above flips deflate bytes
