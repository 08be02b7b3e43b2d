"""Reading ISO 20022 bank statements: camt.053 (statement) and camt.054 (notification),
message versions .001.02 to .001.08, streamed so a large file never sits in memory.

`read(source)` yields one `Transaction` per booked-or-not entry part: an entry
(`Ntry`) with several `TxDtls` (a batch) yields one transaction per `TxDtls` when
their amounts add up to the entry; otherwise the entry is one transaction. Element
names are matched by local name under the document's own namespace, so every version
parses with the same code (v02 `Sts` text and v05+ `Sts/Cd`; v02 `Dbtr/Nm` and v08
`Dbtr/Pty/Nm`; `Dt` or `DtTm`).

Safety: expat reads the prolog first and refuses any DTD (so no entity can be declared:
no "billion laughs", no external entities) before lxml parses the document, with entity
resolution, DTD loading and network access off and libxml2's size limits on. lxml hands
over only the finished entries (a tag filter), so the per-element work stays in C.

Anything malformed raises `CamtError` with a message a person can act on; the
importer turns that into "nothing booked".
"""
from __future__ import annotations

import codecs
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import IO

from xml.parsers import expat

from lxml import etree
from lxml.etree import _Element as Element

from portal.domain.money import MoneyError, to_minor

_NAMESPACE = re.compile(r"^urn:iso:std:iso:20022:tech:xsd:(camt\.05[34])\.001\.(0[2-8])$")
_CONTAINERS = {"camt.053": ("BkToCstmrStmt", "Stmt"), "camt.054": ("BkToCstmrDbtCdtNtfctn", "Ntfctn")}


class CamtError(ValueError):
    """A file that is not a readable camt.053/054 message."""


@dataclass(frozen=True)
class Transaction:
    """One payment (or return) as the bank reported it; amounts positive, direction separate."""

    entry_ref: str  # unique per account: AcctSvcrRef (+ part), or a hash of the fields
    account: str  # statement account (IBAN or other id)
    direction: str  # CRDT or DBIT
    reversal: bool
    status: str  # BOOK, PDNG, INFO …
    amount_minor: int
    currency: str
    booking_date: date | None
    value_date: date | None
    debtor_name: str | None
    debtor_iban: str | None
    reference: str | None  # structured creditor reference (CdtrRefInf/Ref)
    remittance: str  # unstructured remittance lines and additional entry info, joined by " / "
    end_to_end_id: str | None
    statement_id: str | None
    # What identifies the same credit in another file (a camt.054 and the day's camt.053), whichever
    # level carries it: "b:" the bank's references (entry and transaction AcctSvcrRef, one namespace),
    # "e:" EndToEndId with direction and amount, "s:" structured reference with amount and value date;
    # "e:"/"s:" keys carry their occurrence in the file (#1, #2 …) so two equal transfers stay two.
    keys: tuple[str, ...] = ()
    entry_bank_ref: str | None = None  # entry-level AcctSvcrRef (with ":<part>" in a split batch)

    @property
    def is_payment(self) -> bool:
        """A booked credit that is not a reversal: money a debtor paid in."""
        return self.status == "BOOK" and self.direction == "CRDT" and not self.reversal

    @property
    def is_returned_credit(self) -> bool:
        """A booked debit reversing an earlier credit (a transfer sent back)."""
        return self.status == "BOOK" and self.direction == "DBIT" and self.reversal


@dataclass
class Header:
    message_type: str = ""  # e.g. camt.053.001.02
    statements: int = 0
    entries: int = 0
    ids: list[str] = field(default_factory=list)


class _Names:
    """Qualified tag names and paths for one namespace, built once per file."""

    def __init__(self, ns: str):
        self.ns = ns
        self._paths: dict[str, str] = {}
        self._names: dict[str, str] = {}

    def q(self, local: str) -> str:
        found = self._names.get(local)
        if found is None:
            found = self._names[local] = f"{{{self.ns}}}{local}"
        return found

    def path(self, dotted: str) -> str:
        found = self._paths.get(dotted)
        if found is None:
            found = self._paths[dotted] = "/".join(self.q(part) for part in dotted.split("/"))
        return found


def _text(elem: Element | None) -> str | None:
    if elem is None or elem.text is None:
        return None
    value = " ".join(elem.text.split())
    return value or None


def _amount(elem: Element | None, where: str) -> tuple[int, str]:
    if elem is None or not (elem.text or "").strip():
        raise CamtError(f"{where}: the amount (Amt) is missing")
    currency = (elem.get("Ccy") or "").strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise CamtError(f"{where}: the amount has no currency (Ccy)")
    try:
        value = Decimal(elem.text.strip())
    except InvalidOperation:
        raise CamtError(f"{where}: {elem.text.strip()!r} is not an amount") from None
    if value < 0:
        raise CamtError(f"{where}: amounts are never negative in camt (the direction is CdtDbtInd)")
    try:
        return to_minor(value, currency), currency
    except MoneyError as exc:
        raise CamtError(f"{where}: {exc}") from None


def _date(elem: Element | None, n: _Names, where: str) -> date | None:
    if elem is None:
        return None
    raw = _text(elem.find(n.q("Dt"))) or _text(elem.find(n.q("DtTm")))
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        raise CamtError(f"{where}: {raw!r} is not a date") from None


def _status(entry: Element, n: _Names) -> str | None:
    sts = entry.find(n.q("Sts"))
    if sts is None:
        return None
    return _text(sts.find(n.q("Cd"))) or _text(sts.find(n.q("Prtry"))) or _text(sts)


def _debtor(tx: Element, n: _Names) -> tuple[str | None, str | None]:
    parties = tx.find(n.q("RltdPties"))
    if parties is None:
        return None, None
    name = None
    for path in ("Dbtr/Pty/Nm", "Dbtr/Nm", "UltmtDbtr/Pty/Nm", "UltmtDbtr/Nm"):
        name = _text(parties.find(n.path(path)))
        if name:
            break
    iban = _text(parties.find(n.path("DbtrAcct/Id/IBAN")))
    return name, iban.replace(" ", "").upper() if iban else None


def _remittance(tx: Element, n: _Names) -> tuple[str | None, list[str]]:
    reference = None
    lines: list[str] = []
    for rmt in tx.findall(n.q("RmtInf")):
        lines += [t for t in (_text(u) for u in rmt.findall(n.q("Ustrd"))) if t]
        for strd in rmt.findall(n.q("Strd")):
            ref = _text(strd.find(n.path("CdtrRefInf/Ref")))
            if ref and reference is None:
                reference = ref
            lines += [t for t in (_text(a) for a in strd.findall(n.q("AddtlRmtInf"))) if t]
    return reference, lines


def _tx_amount(tx: Element, n: _Names, where: str) -> tuple[int, str] | None:
    for path in ("Amt", "AmtDtls/TxAmt/Amt"):
        elem = tx.find(n.path(path))
        if elem is not None:
            return _amount(elem, where)
    return None


def _fingerprint(*parts: object) -> str:
    return "h:" + hashlib.sha256("\x1f".join("" if p is None else str(p) for p in parts).encode()).hexdigest()[:40]


def _identity(account: str, direction: str, reversal: bool, amount: int, currency: str, value_date: date | None,
              entry_bank_ref: str | None, tx_ref: str | None, e2e: str | None, reference: str | None,
              seen: dict[str, int]) -> tuple[str, ...]:
    """The keys that recognise this transaction in another file (see `Transaction.keys`)."""
    keys: list[str] = []
    for bank_ref in (entry_bank_ref, tx_ref):
        if bank_ref and _key(f"b:{account}:{bank_ref}") not in keys:
            keys.append(_key(f"b:{account}:{bank_ref}"))
    money = f"{direction}{'-R' if reversal else ''}:{currency}{amount}"
    for prefix, value in (("e", e2e), ("s", reference and f"{value_date}:{reference}")):
        if value:
            base = _key(f"{prefix}:{account}:{money}:{value}")
            seen[base] = seen.get(base, 0) + 1
            keys.append(f"{base}#{seen[base]}")
    return tuple(keys)


def _key(raw: str) -> str:
    return raw if len(raw) <= 240 else raw[:2] + hashlib.sha256(raw.encode()).hexdigest()


def _kids(elem: Element) -> dict:
    """The first child of each tag, as `find` would return it: one pass instead of a search per name."""
    out: dict = {}
    for child in elem:
        out.setdefault(child.tag, child)
    return out


def _transactions(entry: Element, n: _Names, account: str, statement_id: str | None, index: int,
                  seen: dict[str, int]) -> list[Transaction]:
    where = f"statement {statement_id or '?'}, entry {index}"
    kids = _kids(entry)
    amount, currency = _amount(kids.get(n.q("Amt")), where)
    direction = _text(kids.get(n.q("CdtDbtInd")))
    if direction not in ("CRDT", "DBIT"):
        raise CamtError(f"{where}: CdtDbtInd must be CRDT or DBIT, not {direction!r}")
    status = _status(entry, n)
    if not status:
        raise CamtError(f"{where}: the status (Sts) is missing")
    reversal = (_text(kids.get(n.q("RvslInd"))) or "false").lower() == "true"
    booked = _date(kids.get(n.q("BookgDt")), n, where)
    valued = _date(kids.get(n.q("ValDt")), n, where)
    entry_ref = _text(kids.get(n.q("AcctSvcrRef")))
    extra = _text(kids.get(n.q("AddtlNtryInf")))
    details = entry.findall(n.q("NtryDtls"))
    txs = details[0].findall(n.q("TxDtls")) if len(details) == 1 else entry.findall(n.path("NtryDtls/TxDtls"))

    parts: list[tuple[int, Element | None]] = []
    if len(txs) > 1:
        amounts = [_tx_amount(tx, n, f"{where}, transaction {k + 1}") for k, tx in enumerate(txs)]
        if all(a is not None and a[1] == currency for a in amounts) and sum(a[0] for a in amounts) == amount:
            parts = [(a[0], tx) for a, tx in zip(amounts, txs)]
    if not parts:
        parts = [(amount, txs[0] if len(txs) == 1 else None)]
        if len(txs) > 1:  # amounts missing or not adding up: one payment carrying every part's text
            parts = [(amount, None)]

    out = []
    for k, (part_amount, tx) in enumerate(parts):
        if tx is not None:
            name, iban = _debtor(tx, n)
            reference, lines = _remittance(tx, n)
            refs = tx.find(n.q("Refs"))
            refs = refs if refs is not None and len(tx.findall(n.q("Refs"))) == 1 else tx  # the rare case: full paths
            prefix = "" if refs is not tx else "Refs/"
            e2e = _text(refs.find(n.path(prefix + "EndToEndId")))
            if e2e == "NOTPROVIDED":
                e2e = None
            tx_ref = _text(refs.find(n.path(prefix + "AcctSvcrRef")))
        else:
            name = iban = reference = e2e = tx_ref = None
            lines = []
            for t in txs:
                t_name, t_iban = _debtor(t, n)
                name, iban = name or t_name, iban or t_iban
                t_ref, t_lines = _remittance(t, n)
                reference = reference or t_ref
                lines += t_lines
        if extra and extra not in lines:
            lines.append(extra)
        entry_bank_ref = (entry_ref + (f":{k + 1}" if len(parts) > 1 else "")) if entry_ref else None
        keys = _identity(account, direction, reversal, part_amount, currency, valued or booked, entry_bank_ref, tx_ref,
                         e2e, reference, seen)
        if entry_ref:
            ref = f"{account}:{entry_ref}" + (f":{k + 1}" if len(parts) > 1 else "")
        elif tx_ref:
            ref = f"{account}:tx:{tx_ref}"
        else:
            # No bank reference: a hash of what identifies the booking; identical twins get #2, #3 …
            base = _fingerprint(account, direction, reversal, part_amount, currency, booked, valued,
                                _text(entry.find(n.q("NtryRef"))), e2e, reference, name, iban, " / ".join(lines))
            seen[base] = seen.get(base, 0) + 1
            ref = base if seen[base] == 1 else f"{base}#{seen[base]}"
        out.append(
            Transaction(
                entry_ref=ref[:140], account=account, direction=direction, reversal=reversal, status=status,
                amount_minor=part_amount, currency=currency, booking_date=booked, value_date=valued,
                debtor_name=name, debtor_iban=iban, reference=reference, remittance=" / ".join(lines),
                end_to_end_id=e2e, statement_id=statement_id, keys=keys, entry_bank_ref=entry_bank_ref,
            )
        )
    return out


# --- character encodings --------------------------------------------------------------------------

_DECLARATION = re.compile(rb"""^\s*<\?xml\b[^>]*?\bencoding\s*=\s*["']([^"']{0,60})["']""")
_DECLARATION_TEXT = re.compile(r"""^(\s*<\?xml\b[^>]*?\bencoding\s*=\s*["'])([^"']{0,60})(["'])""")
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_NO_BOM = ((b"<\0?\0", "utf-16-le"), (b"\0<\0?", "utf-16-be"))


def _encoding_of(head: bytes) -> tuple[str, str]:
    """(codec name, how we know) from the byte order mark, the first bytes, or the XML declaration."""
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name, "its byte order mark"
    for start, name in _NO_BOM:
        if head.startswith(start):
            return name, "its first bytes"
    found = _DECLARATION.match(head)
    if not found:
        return "utf-8", "default"  # XML without a declaration is UTF-8
    declared = found.group(1).decode("ascii", "replace").strip()
    try:
        info = codecs.lookup(declared)
    except LookupError:
        raise CamtError(
            f"the file declares the character encoding {declared!r}, which is unknown; "
            "export the statement again as UTF-8"
        ) from None
    try:
        readable = getattr(info, "_is_text_encoding", True) and info.decode(b"<?xml")[0] == "<?xml"
    except (UnicodeError, ValueError, TypeError):
        readable = False
    if not readable:
        raise CamtError(f"the file declares the character encoding {declared!r}, but it is not written in it; "
                        "export the statement again as UTF-8")
    return info.name, f"its declaration ({declared})"


class _Checked:
    """A UTF-8 source passed through unchanged (the common case: no copy), refusing NUL bytes."""

    def __init__(self, source: IO[bytes], head: bytes):
        self.source, self.head, self.offset = source, head, 0

    def read(self, size: int = -1) -> bytes:
        if self.head:
            out, self.head = self.head, b""
        else:
            out = self.source.read(size)
        at = out.find(b"\0")
        if at >= 0:
            raise CamtError(f"the file contains a NUL byte (at byte {self.offset + at}): it is not a text "
                            "file or it is damaged")
        self.offset += len(out)
        return out


class _Transcoded:
    """Another encoding (UTF-16, Latin-1, Windows-1252 …) decoded strictly and handed on as UTF-8,
    the declaration rewritten to say so; streamed, never the whole file in memory."""

    def __init__(self, source: IO[bytes], head: bytes, codec: str, label: str):
        self.source, self.pending, self.label = source, head, label
        self.decoder = codecs.getincrementaldecoder(codec)("strict")
        self.first, self.done, self.offset = True, False, 0

    def read(self, size: int = -1) -> bytes:
        while not self.done:
            raw = self.pending or self.source.read(1 << 16)
            self.pending = b""
            try:
                text = self.decoder.decode(raw, final=not raw)
            except UnicodeDecodeError as exc:
                raise CamtError(f"the file is not valid {self.label} (byte {self.offset + exc.start}); "
                                "export the statement again as UTF-8") from None
            self.offset += len(raw)
            self.done = not raw
            if self.first and text:
                text = _DECLARATION_TEXT.sub(lambda m: m.group(1) + "UTF-8" + m.group(3), text.lstrip("\ufeff"), 1)
                self.first = False
            if "\0" in text:
                raise CamtError("the file contains a NUL character: it is not a text file or it is damaged")
            if text:
                try:
                    return text.encode("utf-8")
                except UnicodeEncodeError:
                    raise CamtError("the file contains a lone surrogate (half of a UTF-16 character pair): "
                                    "it is damaged; export the statement again") from None
        return b""


def _utf8(source: IO[bytes]) -> IO[bytes]:
    """The document as UTF-8 bytes, whatever encoding it declares, or CamtError naming the problem."""
    head = source.read(4096)
    codec, how = _encoding_of(head)
    if codec == "utf-8":
        if head.startswith(codecs.BOM_UTF8):
            head = head[3:]
        return _Checked(source, head)
    label = {"utf-16": "UTF-16", "utf-16-le": "UTF-16", "utf-16-be": "UTF-16", "utf-32": "UTF-32",
             "iso8859-1": "ISO-8859-1 (Latin-1)", "cp1252": "Windows-1252", "ascii": "US-ASCII"}.get(codec, codec)
    return _Transcoded(source, head, codec, f"{label} as {how} says")


_UNREADABLE = (
    ("invalid xmlChar value", "the file contains a character reference to a character XML does not allow "
                              "(a NUL or a lone surrogate): it is damaged"),
    ("Invalid bytes in character encoding", "the file is not valid UTF-8 (it may be another encoding without a "
                                            "declaration, or contain a lone surrogate); export the statement again as UTF-8"),
    ("Input is not proper UTF-8", "the file is not valid UTF-8 (it may be another encoding without a "
                                  "declaration, or contain a lone surrogate); export the statement again as UTF-8"),
    ("Char 0x0 out of allowed range", "the file contains a NUL character: it is not a text file or it is damaged"),
    ("Char 0xD", "the file contains a lone surrogate (half of a UTF-16 character pair): it is damaged"),
)


def _syntax_error(exc: Exception) -> CamtError:
    message = str(exc)
    for marker, clear in _UNREADABLE:
        if marker in message:
            return CamtError(f"{clear} ({message})")
    return CamtError(f"not well-formed XML: {message}")


class _Stop(Exception):
    """The prolog check has seen enough."""


class _Rest:
    """The bytes the prolog check read, then the rest of the source: what lxml parses."""

    def __init__(self, head: bytes, source: IO[bytes]):
        self.head, self.source = head, source

    def read(self, size: int = -1) -> bytes:
        if self.head:
            out, self.head = self.head, b""
            return out
        return self.source.read(size)


def _prolog(source: IO[bytes]) -> tuple[list[str], bytes]:
    """The first two element names ("namespace}local") and the bytes read to find them.

    Any DOCTYPE is refused here, before anything is expanded: a DTD can only stand before
    the document element, so past this point no entity can have been declared.
    """
    parser = expat.ParserCreate(namespace_separator="}")
    names: list[str] = []

    def doctype(*_):
        raise CamtError("refused: the file declares a DTD or entities (DTDForbidden)")

    def start(name, _attrs):
        names.append(name)
        if len(names) == 2:
            raise _Stop

    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = doctype
    parser.StartElementHandler = start
    head: list[bytes] = []
    try:
        while True:
            chunk = source.read(1 << 16)
            head.append(chunk)
            parser.Parse(chunk, not chunk)
            if not chunk:
                break
    except _Stop:
        pass
    except expat.ExpatError as exc:
        raise _syntax_error(exc) from None
    return names, b"".join(head)


def read(source: IO[bytes], header: Header | None = None) -> Iterator[Transaction]:
    """Stream the transactions of one camt.053/054 document; `header` is filled in as it goes."""
    header = header if header is not None else Header()
    source = _utf8(source)
    names, head = _prolog(source)
    if not names:
        raise CamtError("the file is empty")
    ns, _, local = names[0].rpartition("}")
    match = _NAMESPACE.match(ns)
    if local != "Document" or not match:
        raise CamtError(
            "not a camt.053 or camt.054 message (versions 001.02 to 001.08): "
            f"root element {local!r} in namespace {ns or 'none'!r}"
        )
    header.message_type = f"{match.group(1)}.001.{match.group(2)}"
    n = _Names(ns)
    container, statement_tag = (n.q(t) for t in _CONTAINERS[match.group(1)])
    if len(names) > 1 and "{" + names[1] != container:
        raise CamtError(f"{header.message_type}: expected {container.split('}')[1]} under Document")
    entry_tag = n.q("Ntry")
    statement: Element | None = None
    statement_id = account = None
    seen: dict[str, int] = {}
    try:
        events = etree.iterparse(
            _Rest(head, source), events=("start", "end"), tag=(statement_tag, entry_tag),
            resolve_entities=False, load_dtd=False, no_network=True, huge_tree=False,
        )
        for event, elem in events:
            parent = elem.getparent()
            if elem.tag == statement_tag:
                if parent is None or parent.tag != container:
                    continue
                if event == "start":
                    header.statements += 1
                    statement, statement_id, account = elem, None, None
                else:
                    elem.clear()
                continue
            if event == "start" or parent is None or parent is not statement:
                continue
            if statement_id is None:  # Id and Acct come before the first entry
                statement_id = _text(statement.find(n.q("Id")))
                acct = statement.find(n.q("Acct"))
                account = ((_text(acct.find(n.path("Id/IBAN"))) or _text(acct.find(n.path("Id/Othr/Id"))) or "")
                           .replace(" ", "") if acct is not None else "")
            header.entries += 1
            if statement_id and statement_id not in header.ids:
                header.ids.append(statement_id)
            yield from _transactions(elem, n, account or "", statement_id, header.entries, seen)
            elem.clear()  # memory stays flat however many entries follow
            while elem.getprevious() is not None:
                del parent[0]
    except etree.XMLSyntaxError as exc:
        raise _syntax_error(exc) from None
    if header.statements == 0:
        kind = "statement (Stmt)" if header.message_type.startswith("camt.053") else "notification (Ntfctn)"
        raise CamtError(f"{header.message_type}: the file contains no {kind}")
