"""The invoice XML embedded in a ZUGFeRD / Factur-X PDF (PDF/A-3 with an associated file).

pypdf (already used for letter batches) lists the embedded files. The `factur-x`
package would do the same through pypdf, but it parses each candidate with lxml's
default parser before we could refuse a DTD, and takes the first match silently; here
several candidates are an error, because Settle must not guess which one is the invoice.
"""
from __future__ import annotations

import io
import logging

from pypdf import PdfReader

from portal.domain.einvoice.errors import EInvoiceError
from portal.domain.einvoice.xml import MAX_BYTES

# The names the standards give the embedded XML (ZUGFeRD 1.0, ZUGFeRD 2.0, 2.1+/Factur-X, XRechnung in ZUGFeRD).
KNOWN_NAMES = ("zugferd-invoice.xml", "factur-x.xml", "xrechnung.xml")


def embedded_xml(raw: bytes) -> tuple[str, bytes]:
    """(attachment name, XML bytes) of the one embedded e-invoice; EInvoiceError otherwise."""
    if len(raw) > MAX_BYTES:
        raise EInvoiceError.document(
            f"the PDF is {len(raw) / 1_000_000:.1f} MB; e-invoices are accepted up to {MAX_BYTES // 1_000_000} MB"
        )
    # pypdf reports repairable damage through logging; a damaged PDF still fails below if unreadable.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(raw))
        attachments = [(a.name or "", a) for a in reader.attachment_list]
    except Exception as exc:  # pypdf raises many kinds on damaged files; all mean the same to the sender
        raise EInvoiceError.document(f"not a readable PDF ({type(exc).__name__})") from None
    known = [(name, a) for name, a in attachments if name.lower() in KNOWN_NAMES]
    candidates = known or [(name, a) for name, a in attachments if name.lower().endswith(".xml")]
    if not candidates:
        listed = f" (it has: {', '.join(n for n, _ in attachments)})" if attachments else ""
        raise EInvoiceError.document(
            "the PDF contains no embedded e-invoice: a ZUGFeRD / Factur-X PDF carries factur-x.xml "
            f"or ZUGFeRD-invoice.xml as an attachment{listed}"
        )
    if len(candidates) > 1:
        raise EInvoiceError.document(
            "the PDF has several candidate invoice attachments "
            f"({', '.join(n for n, _ in candidates)}); Settle will not guess which one is the invoice"
        )
    name, attachment = candidates[0]
    try:
        content = attachment.content
    except Exception as exc:
        raise EInvoiceError.document(f"the attachment {name} cannot be read ({type(exc).__name__})") from None
    if len(content) > MAX_BYTES:
        raise EInvoiceError.document(f"the attachment {name} is larger than {MAX_BYTES // 1_000_000} MB")
    return name, content
