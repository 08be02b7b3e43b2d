"""EPC QR codes ("GiroCode"): the payload rules, and what a real decoder reads from the SVG we render."""
from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib

import pytest
import segno.helpers
from stdnum import iso11649

from portal.domain import rf
from portal.domain.epc import EpcError, epc_payload
from portal.payments.qr import QUIET_ZONE, qr_code, qr_svg

IBAN = "DE89370400440532013000"

needs_zbar = pytest.mark.skipif(shutil.which("zbarimg") is None, reason="zbarimg (zbar-tools) is not installed")


def svg_modules(svg: str) -> list[list[bool]]:
    """The dark modules the SVG draws, read back from its path (segno draws rows of horizontal strokes)."""
    size = int(re.search(r'viewBox="0 0 (\d+) (\d+)"', svg).group(1))
    grid = [[False] * size for _ in range(size)]
    path = re.search(r'<path stroke="#000" d="([^"]+)"', svg).group(1)
    x = y = 0.0
    for op, args in re.findall(r"([MmHhVv])([-\d. ]+)", path):
        nums = [float(v) for v in args.split()]
        if op == "M":
            x, y = nums
        elif op == "m":
            x, y = x + nums[0], y + nums[1]
        elif op in "hH":
            length = nums[0] if op == "h" else nums[0] - x
            for col in range(int(round(x)), int(round(x + length))):
                grid[int(y)][col] = True
            x += length
        else:
            raise AssertionError(f"unexpected path command {op}")
    return grid


def png_from_modules(grid: list[list[bool]], scale: int = 4) -> bytes:
    """A plain greyscale PNG of the module grid (written by hand: no imaging library involved)."""
    rows = []
    for row in grid:
        line = bytes(0 if dark else 255 for dark in row for _ in range(scale))
        rows.extend([b"\x00" + line] * scale)
    width = height = len(grid) * scale

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"".join(rows)))
        + chunk(b"IEND", b"")
    )


def decode_svg(svg: str, tmp_path) -> bytes:
    png = tmp_path / "qr.png"
    png.write_bytes(png_from_modules(svg_modules(svg)))
    out = subprocess.run(["zbarimg", "-q", "--raw", "-Sbinary", str(png)], capture_output=True, check=True)
    return out.stdout


def test_payload_has_the_epc_layout_with_a_structured_reference():
    ref = rf.make("INV2025001")
    payload = epc_payload(name="Sonnenberg GmbH", iban="de89 3704 0044 0532 0130 00", bic="COBADEFFXXX",
                          amount_minor=11900, currency="EUR", reference=ref)
    assert payload.split("\n") == ["BCD", "002", "1", "SCT", "COBADEFFXXX", "Sonnenberg GmbH", IBAN, "EUR119.00", "", ref]
    assert iso11649.is_valid(ref)


def test_text_goes_to_the_last_line_and_the_reference_line_stays_empty():
    payload = epc_payload(name="Shop", iban=IBAN, bic=None, amount_minor=5, currency="EUR", text="Rechnung RE-1")
    assert payload.split("\n") == ["BCD", "002", "1", "SCT", "", "Shop", IBAN, "EUR0.05", "", "", "Rechnung RE-1"]


def test_reference_and_text_together_are_refused():
    with pytest.raises(EpcError):
        epc_payload(name="Shop", iban=IBAN, bic=None, amount_minor=100, currency="EUR",
                    reference=rf.make("A1"), text="also text")


@pytest.mark.parametrize("bad", [dict(currency="CHF"), dict(amount_minor=0), dict(reference="RF00WRONG")])
def test_what_a_banking_app_could_not_read_is_refused(bad):
    args = dict(name="Shop", iban=IBAN, bic=None, amount_minor=100, currency="EUR") | bad
    with pytest.raises(EpcError):
        epc_payload(**args)


def test_line_breaks_in_any_field_become_spaces():
    payload = epc_payload(name="Müller &\r\nSöhne\nKG", iban=IBAN, bic="COBADEFF\n", amount_minor=100,
                          currency="EUR", text="Rechnung\nRE-7\u2028Danke")
    lines = payload.split("\n")
    assert len(lines) == 11
    assert lines[4] == "COBADEFF"
    assert lines[5] == "Müller & Söhne KG"
    assert lines[10] == "Rechnung RE-7 Danke"


def test_longest_fields_stay_within_331_bytes():
    payload = epc_payload(name="Ä" * 80, iban="LC55HEMM000100010012001200023015", bic="COBADEFFXXX",
                          amount_minor=99_999_999_999, currency="EUR", text="€" * 140)
    lines = payload.split("\n")
    assert lines[5] == "Ä" * 70
    assert lines[7] == "EUR999999999.99"
    assert len(payload.encode("utf-8")) <= 331
    assert set(lines[10]) == {"€"}


def test_svg_has_no_scripts_or_style_attributes_and_uses_error_correction_m():
    svg = qr_svg("BCD\n002\n1\nSCT\n\nShop\n" + IBAN + "\nEUR1.00")
    assert "<script" not in svg and "style=" not in svg
    assert svg.startswith("<svg") and 'viewBox="0 0 ' in svg
    assert qr_code("x").error == "M"


@needs_zbar
@pytest.mark.parametrize(
    "fields",
    [
        dict(name="Sonnenberg Gartenmöbel GmbH", bic="COBADEFFXXX", amount_minor=11900, reference=rf.make("RE20250001")),
        dict(name="Jörg Müller-Lüdenscheidt ß", bic=None, amount_minor=1, text="Rechnung RE-2025-0002 für Gartenstühle"),
        dict(name="Line\nbreak & Co.", bic="GENODEF1PFK", amount_minor=4990, text="first\nsecond"),
        dict(name="Ä" * 70, bic="COBADEFFXXX", amount_minor=99_999_999_999, text="€ü" * 70),
        dict(name="X" * 70, bic="COBADEFFXXX", amount_minor=123456, reference="RF18 5390 0754 7034"),
    ],
    ids=["umlauts+rf", "no-bic+text", "line-breaks", "maximal-multibyte", "maximal-ascii+rf"],
)
def test_zbar_reads_exactly_the_payload_from_the_rendered_svg(fields, tmp_path):
    payload = epc_payload(iban=IBAN, currency="EUR", **fields)
    assert len(payload.encode("utf-8")) <= 331
    svg = qr_svg(payload)
    grid = svg_modules(svg)
    # The SVG shows the symbol we built (quiet zone included), module for module.
    matrix = [[bool(v) for v in row] for row in qr_code(payload).matrix_iter(border=QUIET_ZONE)]
    assert grid == matrix
    assert decode_svg(svg, tmp_path) == payload.encode("utf-8")


@needs_zbar
def test_segno_epc_helper_agrees_on_the_fields(tmp_path):
    ref = rf.make("ABC123")
    ours = epc_payload(name="Gärtnerei Weiß", iban=IBAN, bic="COBADEFFXXX", amount_minor=2050, currency="EUR", reference=ref)
    theirs = segno.helpers.make_epc_qr(name="Gärtnerei Weiß", iban=IBAN, bic="COBADEFFXXX", amount=20.50, reference=ref,
                                       encoding="utf-8")
    png = tmp_path / "segno.png"
    theirs.save(str(png), scale=4)
    decoded = subprocess.run(["zbarimg", "-q", "--raw", "-Sbinary", str(png)], capture_output=True, check=True).stdout
    # segno trims the amount's trailing zero ("EUR20.5"); every other field is identical.
    normalise = lambda text: text.replace("EUR20.50", "EUR20.5").rstrip("\n")  # noqa: E731
    assert normalise(decoded.decode("utf-8")) == normalise(ours)
