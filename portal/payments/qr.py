"""QR codes as SVG markup for pages and letters.

segno draws the code as a single <path> with presentation attributes (stroke=…),
without scripts or style attributes, so it can be inlined under the portal's strict
Content-Security-Policy. Error correction is fixed at M, as the EPC guideline asks
(segno would otherwise "boost" it when there is room), and text is encoded as UTF-8
bytes without an ECI header, which is what banking apps read for character set "1".
"""
from __future__ import annotations

import io

import segno

QUIET_ZONE = 4  # modules of white border the QR standard requires


def qr_code(payload: str) -> segno.QRCode:
    """The QR symbol for `payload` (byte mode, UTF-8, error correction M)."""
    return segno.make(payload, error="m", boost_error=False, micro=False, encoding="utf-8", mode="byte")


def qr_svg(payload: str, *, css_class: str = "qr-code") -> str:
    """SVG markup (no XML declaration) that scales with its container via its viewBox."""
    out = io.BytesIO()
    qr_code(payload).save(
        out,
        kind="svg",
        xmldecl=False,
        svgns=True,
        nl=False,
        omitsize=True,
        border=QUIET_ZONE,
        svgclass=css_class,
        lineclass=None,
        dark="#000",
        light="#fff",
    )
    return out.getvalue().decode("ascii")


def qr_png(payload: str, *, scale: int = 4) -> bytes:
    """The same symbol as PNG (for letters rendered by tools that do not take SVG)."""
    out = io.BytesIO()
    qr_code(payload).save(out, kind="png", scale=scale, border=QUIET_ZONE)
    return out.getvalue()
