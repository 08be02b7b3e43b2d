"""Parsing untrusted e-invoice XML: no DTD, no entities, no network, bounded size.

The prolog is read by expat first and any DOCTYPE (the only place an entity can be
declared) is refused before a single entity could be expanded: no "billion laughs",
no external entities (the same guard as `portal.domain.camt`). Only then does lxml
build the tree, with entity resolution, DTD loading and network access off and
libxml2's size limits on.
"""
from __future__ import annotations

from xml.parsers import expat

from lxml import etree

from portal.domain.einvoice.errors import EInvoiceError

# An XRechnung may carry attachments (BG-24) as base64 inside the XML; 20 MB covers real ones.
MAX_BYTES = 20 * 1024 * 1024

_PARSER = etree.XMLParser(
    resolve_entities=False, load_dtd=False, no_network=True, huge_tree=False, remove_blank_text=False,
    dtd_validation=False,
)


class _Seen(Exception):
    """The root element was reached: everything a DTD could declare lies behind us."""


def _refuse_dtd(*_):
    raise EInvoiceError.document("refused: the XML declares a DTD or entities (DOCTYPE is not allowed in an e-invoice)")


def root_name(raw: bytes) -> str:
    """"namespace}local" of the root element, after checking that no DTD comes before it."""
    parser = expat.ParserCreate(namespace_separator="}")
    found: list[str] = []

    def start(name, _attrs):
        found.append(name)
        raise _Seen

    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_dtd
    parser.StartElementHandler = start
    try:
        parser.Parse(raw, True)
    except _Seen:
        pass
    except expat.ExpatError as exc:
        raise EInvoiceError.document(f"not well-formed XML: {exc}") from None
    if not found:
        raise EInvoiceError.document("the file contains no XML element")
    return found[0]


def parse(raw: bytes) -> etree._Element:
    """The document's root element; EInvoiceError for anything unsafe or unreadable."""
    if len(raw) > MAX_BYTES:
        raise EInvoiceError.document(
            f"the XML is {len(raw) / 1_000_000:.1f} MB; e-invoices are accepted up to {MAX_BYTES // 1_000_000} MB"
        )
    root_name(raw)
    try:
        root = etree.fromstring(raw, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise EInvoiceError.document(f"not well-formed XML: {exc}") from None
    if root is None:
        raise EInvoiceError.document("the file contains no XML element")
    return root
