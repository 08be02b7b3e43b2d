"""Bulk intake from CSV: all or nothing, every bad line reported, repeats create nothing.

Columns (header names, any order, extra columns ignored): number, issue_date, due_date,
amount, currency, debtor_ref, kind, name, company, email, phone, language, street,
postal_code, city, country; optional order_ref and date_of_birth. `;` or `,` separated,
UTF-8 (with or without BOM) or Windows-1252, dates as 2025-12-15 or 15.12.2025, amounts
as 119.00, 119,00 or 1.234,56.
"""
from __future__ import annotations

import codecs
import csv
import gc
import io
import os
import pickle
import re
import tempfile
from array import array
from contextlib import contextmanager
from operator import itemgetter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import bindparam, func, select, update

from portal.domain.intake import DebtorData, InvoiceData, validate_debtor, validate_invoice
from portal.domain.spreadsheet import read_cell
from portal.extensions import db
from portal.domain import rf
from portal.intake.bulk import BulkInsert, JSONText
from portal.intake.service import DEBTOR_FIELDS, INVOICE_COLUMNS, debtor_values, jsonable
from portal.models import Debtor, Event, Invoice, Merchant
from portal.models.types import utcnow
from portal.transactions import roomy_sqlite_cache, writing

REQUIRED_COLUMNS = ("number", "issue_date", "due_date", "amount", "debtor_ref", "name")
KNOWN_COLUMNS = REQUIRED_COLUMNS + (
    "currency", "kind", "company", "email", "phone", "language", "street", "postal_code",
    "city", "country", "order_ref", "date_of_birth",
)
BATCH = 5000


@dataclass
class RowError:
    line: int
    messages: list[str]

    def __str__(self) -> str:
        return f"line {self.line}: " + "; ".join(self.messages)


@dataclass
class ImportResult:
    created: int = 0
    unchanged: int = 0
    debtors_created: int = 0
    debtors_updated: int = 0
    rows: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


class ImportRejected(Exception):
    def __init__(self, errors: list[RowError]):
        super().__init__(f"{len(errors)} bad line(s)")
        self.errors = errors


class UndecodableFile(ValueError):
    """Bytes that are neither UTF-8 nor Windows-1252; `line` is where the first bad byte sits."""

    def __init__(self, line: int, byte: int):
        super().__init__(f"byte 0x{byte:02x} is neither UTF-8 nor Windows-1252 text")
        self.line = line


Source = bytes | str | os.PathLike
CHUNK = 1 << 20  # bytes read at a time
_UNASSIGNED_CP1252 = re.compile(rb"[\x81\x8d\x8f\x90\x9d]")


def _opener(source: Source) -> Callable[[], BinaryIO]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return lambda: io.BytesIO(source)  # shares the caller's buffer, no copy
    path = Path(source)
    return lambda: open(path, "rb")


def decode(raw: bytes) -> str:
    """UTF-8 (BOM allowed) first; German Excel writes Windows-1252."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError as exc:  # 0x81, 0x8d, 0x8f, 0x90, 0x9d are unassigned in cp1252
        raise UndecodableFile(raw.count(b"\n", 0, exc.start) + 1, raw[exc.start]) from None


@dataclass
class _Scan:
    """What reading the text needs to know of the whole file, learnt in one pass over its bytes."""

    encoding: str  # "utf-8-sig" or "cp1252", as `decode` would choose
    newline: str  # "\n", or "\r" for files from old Mac programs
    line_breaks: int
    blank: bool  # nothing but white space (or nothing at all)
    delimiter: str


def _scan(open_binary: Callable[[], BinaryIO]) -> _Scan:
    """The same decisions `decode`, `_dialect` and `_lines` make on the whole text, a chunk at a time.

    Raises UndecodableFile for bytes that are neither UTF-8 nor Windows-1252."""
    utf8 = codecs.getincrementaldecoder("utf-8-sig")()
    utf8_ok, utf8_blank, cp_blank = True, True, True
    bad_cp1252: tuple[int, int] | None = None
    line_breaks, has_cr, header_done, semicolons, commas = 0, False, False, 0, 0
    with open_binary() as stream:
        while chunk := stream.read(CHUNK):
            if utf8_ok:
                try:
                    text = utf8.decode(chunk)
                except UnicodeDecodeError:
                    utf8_ok = False
                else:
                    utf8_blank = utf8_blank and not text.strip()
            if bad_cp1252 is None:
                found = _UNASSIGNED_CP1252.search(chunk)
                if found:
                    bad_cp1252 = (line_breaks + chunk.count(b"\n", 0, found.start()) + 1, chunk[found.start()])
                elif cp_blank:
                    cp_blank = not chunk.decode("cp1252").strip()
            if not header_done:  # the header is the text up to the first LF (the whole file if it has none)
                end = chunk.find(b"\n")
                part = chunk if end < 0 else chunk[:end]
                semicolons, commas, header_done = semicolons + part.count(b";"), commas + part.count(b","), end >= 0
            line_breaks += chunk.count(b"\n")
            has_cr = has_cr or b"\r" in chunk
        if utf8_ok:
            try:
                utf8.decode(b"", final=True)
            except UnicodeDecodeError:
                utf8_ok = False
    if not utf8_ok and bad_cp1252 is not None:
        raise UndecodableFile(*bad_cp1252)
    return _Scan(
        encoding="utf-8-sig" if utf8_ok else "cp1252",
        newline="\n" if line_breaks or not has_cr else "\r",
        line_breaks=line_breaks,
        blank=utf8_blank if utf8_ok else cp_blank,
        delimiter=";" if semicolons >= commas else ",",
    )


def _lines(open_binary: Callable[[], BinaryIO], encoding: str, newline: str) -> Iterator[str]:
    """The physical lines of the file, each with its line break, decoded a chunk at a time."""
    decoder = codecs.getincrementaldecoder(encoding)()
    rest = ""
    with open_binary() as stream:
        while True:
            chunk = stream.read(CHUNK)
            text = rest + decoder.decode(chunk, final=not chunk)
            parts = text.split(newline)
            rest = parts.pop()
            for part in parts:
                yield part + newline
            if not chunk:
                break
    if rest:
        yield rest


DEBTOR_COLUMNS = (
    "debtor_ref", "kind", "name", "company", "email", "phone", "language", "date_of_birth",
    "street", "postal_code", "city", "country",
)
INVOICE_FIELDS = ("number", "issue_date", "due_date", "amount", "currency", "order_ref")


class Layout:
    """Where each known column sits in a row; absent columns point at a trailing empty field."""

    def __init__(self, header: list[str]):
        self.width = len(header)
        index = {name: (header.index(name) if name in header else self.width) for name in KNOWN_COLUMNS}
        self.invoice_fields = itemgetter(*[index[c] for c in INVOICE_FIELDS])
        self.debtor_fields = itemgetter(*[index[c] for c in DEBTOR_COLUMNS])

    def invoice_payload(self, values: list[str]) -> dict:
        """The row in the API's shape (without the debtor), so both entry points share one validator."""
        number, issue_date, due_date, amount, currency, order_ref = self.invoice_fields(values)
        return {
            "number": number or None,
            "issue_date": issue_date or None,
            "due_date": due_date or None,
            "amount": amount or None,
            "currency": currency or None,
            "order_ref": order_ref or None,
        }

    @staticmethod
    def debtor_payload(fields: tuple) -> dict:
        """The debtor columns (as `debtor_fields` returns them) in the API's shape."""
        ref, kind, name, company, email, phone, language, dob, street, postal_code, city, country = fields
        return {
            "external_ref": ref or None,
            "kind": kind or None,
            "name": name or None,
            "company": company or None,
            "email": email or None,
            "phone": phone or None,
            "language": language or None,
            "date_of_birth": dob or None,
            "address": {
                "street": street or None,
                "postal_code": postal_code or None,
                "city": city or None,
                "country": country or None,
            },
        }


@dataclass
class CsvFile:
    """An opened CSV file: its column layout, a reader positioned after the header, a size estimate."""

    layout: Layout
    reader: Iterator[list[str]]
    line_count: int  # physical lines after the header: the length of the progress bar

    def rows(self, errors: list[RowError]) -> Iterator[tuple[int, list[str]]]:
        """(line number, stripped fields) per data row, read as they are needed; bad lines go to `errors`."""
        reader, width = self.reader, self.layout.width
        try:
            line = reader.line_num
            for values in reader:
                start, line = line + 1, reader.line_num
                if not "".join(values).strip():
                    continue  # empty lines (also ";;;;" lines Excel leaves behind)
                if len(values) > width:
                    if "".join(values[width:]).strip():
                        errors.append(RowError(start, [f"{len(values)} fields but the header has {width}"]))
                        continue
                    del values[width:]
                fields = [read_cell(v).strip() for v in values]
                fields.extend([""] * (width + 1 - len(fields)))  # short rows, and the slot of absent columns
                yield start, fields
        except csv.Error as exc:
            errors.append(RowError(reader.line_num, [f"unreadable CSV: {exc}"]))


def open_csv(source: Source) -> tuple[CsvFile | None, list[RowError]]:
    """The file ready to be read row by row, or the errors that stop it at its header."""
    open_binary = _opener(source)
    try:
        scan = _scan(open_binary)
    except UndecodableFile as exc:
        return None, [RowError(exc.line, [str(exc)])]
    if scan.blank:
        return None, [RowError(1, ["the file is empty"])]
    reader = csv.reader(_lines(open_binary, scan.encoding, scan.newline), delimiter=scan.delimiter)
    try:
        header = [h.strip().lower().replace(" ", "_") for h in next(reader)]
    except csv.Error as exc:
        return None, [RowError(1, [f"unreadable header: {exc}"])]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        return None, [RowError(1, [f"missing column(s): {', '.join(missing)}"])]
    return CsvFile(Layout(header), reader, max(scan.line_breaks - 1, 0)), []


_COLUMN_OF = {"debtor.external_ref": "debtor_ref"}


def _column(path: str) -> str:
    if path in _COLUMN_OF:
        return _COLUMN_OF[path]
    return path.rsplit(".", 1)[-1]


# progress(items, length, label) wraps an iterable, e.g. in a progress bar; length may be an estimate.
Progress = Callable[[Iterable, int, str], Iterable]


def _plain(items: Iterable, length: int, label: str) -> Iterable:
    return items


@writing  # on SQLite the duplicate checks read under the write lock, from the CLI as from an upload job
def import_csv(
    source: Source,
    merchant: Merchant,
    *,
    today: date,
    actor: str,
    progress: Progress = _plain,
) -> ImportResult:
    """Check the whole file, then book it in one transaction; raises ImportRejected on any bad line.

    `source` is the file's bytes or its path. The file is read as a stream (a megabyte at a time),
    checked line by line, and the checked rows go to an anonymous temporary file, from which the
    booking reads them back in batches: memory does not follow the file's size. What the checks
    across lines need stays in memory between the passes, compactly: per invoice number its
    first line and fingerprint, per customer number its last line.

    The caller commits on success (and rolls back on ImportRejected, though nothing was written).
    """
    with cyclic_gc_paused(), tempfile.TemporaryFile(prefix="settle-import-") as spool:
        return _import(source, merchant, today=today, actor=actor, progress=progress, spool=spool)


@contextmanager
def cyclic_gc_paused():
    """A big file makes many long-lived objects, none of them in reference cycles; the
    cyclic collector would walk them again and again (half the time of a 100,000-line import).
    Reference counting still frees everything at once; the collector resumes afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _Numbers:
    """The file's invoice numbers, each with the line and fingerprint of its first checked row.

    About 150 bytes a number (the dict entry and its key; line and fingerprint in flat arrays),
    instead of the parsed row (about 2 KB) that the check of repeats would otherwise hold."""

    def __init__(self):
        self.index: dict[str, int] = {}
        self.lines = array("q")
        self.fingerprints = bytearray()  # 32 bytes (the SHA-256) per number
        self.known = bytearray()  # 1: already booked with the same content (counted as unchanged)

    def first(self, number: str, line: int, fp: str) -> int | None:
        """None for the number's first row (now recorded); otherwise the first row's line, or
        -line if that row had other content."""
        i = self.index.get(number)
        digest = bytes.fromhex(fp)
        if i is None:
            self.index[number] = len(self.lines)
            self.lines.append(line)
            self.fingerprints += digest
            self.known.append(0)
            return None
        first_line = self.lines[i]
        return first_line if self.fingerprints[32 * i : 32 * i + 32] == digest else -first_line

    def same_content(self, number: str, fp: str | None) -> bool:
        i = self.index[number]
        try:
            return fp is not None and self.fingerprints[32 * i : 32 * i + 32] == bytes.fromhex(fp)
        except ValueError:
            return False

    def to_book(self, number: str, line: int) -> bool:
        """The row is its number's first and the number is not booked yet."""
        i = self.index[number]
        return self.lines[i] == line and not self.known[i]


def _spool_write(spool, batch: list) -> None:
    pickle.dump(batch, spool, protocol=pickle.HIGHEST_PROTOCOL)


def _spool_batches(spool) -> Iterator[list]:
    spool.seek(0)
    while True:
        try:
            yield pickle.load(spool)
        except EOFError:
            return


DEBTOR_CACHE = 4096  # distinct debtors whose check is remembered (about 1 KB each; a file often lists a customer's invoices together)


def _import(source: Source, merchant: Merchant, *, today: date, actor: str, progress: Progress, spool) -> ImportResult:
    csv_file, errors = open_csv(source)
    result = ImportResult()
    numbers = _Numbers()
    last_line: dict[str, int] = {}  # customer number → its last checked row (whose details win)
    if csv_file is not None:
        layout = csv_file.layout
        # Each distinct debtor (same values in every debtor column) is checked once, not once per invoice;
        # the memo is bounded (cleared when full), it only saves time.
        debtors: dict[tuple, tuple] = {}
        batch: list[tuple] = []
        for line, fields in progress(csv_file.rows(errors), csv_file.line_count, "Checking"):
            result.rows += 1
            debtor_fields = layout.debtor_fields(fields)
            debtor = debtors.get(debtor_fields)
            if debtor is None:
                if len(debtors) >= DEBTOR_CACHE:
                    debtors.clear()
                checked, debtor_errors = validate_debtor(layout.debtor_payload(debtor_fields), today=today)
                values = None if checked is None else tuple(debtor_values(checked).values())
                debtor = debtors[debtor_fields] = (checked, debtor_errors, values)
            data, field_errors = validate_invoice(layout.invoice_payload(fields), today=today, lenient=True,
                                                  debtor=debtor[:2])
            if field_errors:
                errors.append(RowError(line, [f"{_column(p)}: {m}" for p, ms in field_errors.items() for m in ms]))
                continue
            fp = data.fingerprint()
            first = numbers.first(data.number, line, fp)
            if first is not None and first < 0:
                errors.append(RowError(line, [f"number: {data.number} appears on line {-first} with different content"]))
                continue
            ref = data.debtor.external_ref
            last_line[ref] = line
            if errors:
                continue  # the file is rejected anyway: only its remaining bad lines matter now
            batch.append((line, data.number, data.issue_date, data.due_date, data.amount_minor, data.currency,
                          data.order_ref, ref, debtor[2], fp))
            if len(batch) >= BATCH:
                _spool_write(spool, batch)
                batch = []
        if batch:
            _spool_write(spool, batch)
        del debtors, batch

    # Repeats against what is already booked: only the file's numbers are looked up (joined against
    # the unique (merchant, number) index), a slice at a time.
    from portal.dunning import bulk  # imported late: it imports models

    ordered = sorted(numbers.index)
    for start in range(0, len(ordered), 10 * BATCH):
        for number, fp in bulk.probe(Invoice.number, ordered[start : start + 10 * BATCH],
                                     [Invoice.intake_fingerprint], Invoice.merchant_id == merchant.id):
            if numbers.same_content(number, fp):
                numbers.known[numbers.index[number]] = 1
                result.unchanged += 1
            else:
                errors.append(RowError(numbers.lines[numbers.index[number]],
                                       [f"number: invoice {number} already exists with different content"]))
    del ordered
    if errors:
        errors.sort(key=lambda e: e.line)
        raise ImportRejected(errors)

    with roomy_sqlite_cache():
        result.debtors_created, result.debtors_updated = _upsert_spooled_debtors(merchant, spool, last_line, actor)
        del last_line
        result.created = _insert_spooled_invoices(merchant, spool, numbers, len(numbers.lines) - result.unchanged,
                                                  actor, progress)
    db.session.add(
        Event(
            merchant_id=merchant.id,
            kind="import.completed",
            actor=actor,
            data={"created": result.created, "unchanged": result.unchanged, "rows": result.rows},
        )
    )
    return result


def _upsert_spooled_debtors(merchant: Merchant, spool, last_line: dict[str, int], actor: str) -> tuple[int, int]:
    """Each customer number's last row's details, upserted a batch at a time (as `upsert_debtors`)."""
    created = updated = 0
    latest: dict[str, dict] = {}
    for rows in _spool_batches(spool):
        for row in rows:
            ref = row[7]
            if last_line[ref] == row[0]:
                latest[ref] = dict(zip(DEBTOR_FIELDS, row[8]))
        if len(latest) >= BATCH:
            c, u = _upsert_debtor_batch(merchant, latest, actor)
            created, updated, latest = created + c, updated + u, {}
    if latest:
        c, u = _upsert_debtor_batch(merchant, latest, actor)
        created, updated = created + c, updated + u
    return created, updated


def _insert_spooled_invoices(merchant: Merchant, spool, numbers: _Numbers, expected: int, actor: str,
                             progress: Progress) -> int:
    """The rows to book, BATCH at a time, with their debtors' ids and invoice.created events."""
    if expected <= 0:
        return 0
    from portal.dunning import bulk

    def batches() -> Iterator[list[tuple]]:
        pending: list[tuple] = []
        for rows in _spool_batches(spool):
            for row in rows:
                if numbers.to_book(row[1], row[0]):
                    pending.append(row)
                    if len(pending) == BATCH:
                        yield pending
                        pending = []
        if pending:
            yield pending

    table = Invoice.__table__
    merchant_id = merchant.id
    now = utcnow()
    writer = BulkInsert(table, (*INVOICE_COLUMNS, "created_at", "updated_at"))
    events = BulkInsert(Event.__table__, EVENT_COLUMNS)
    created = 0
    for pending in progress(batches(), -(-expected // BATCH), "Writing"):
        debtor_ids = dict(bulk.probe(Debtor.external_ref, sorted({row[7] for row in pending}), [Debtor.id],
                                     Debtor.merchant_id == merchant_id))
        references = rf.new_many(len(pending))
        # Every id allocated in this transaction is above the largest one it can see now (also on PostgreSQL).
        max_before = db.session.scalar(select(func.coalesce(func.max(table.c.id), 0)))
        # No RETURNING: fetching ids row by row costs more than the insert; they are read back in one query.
        writer.run(
            (merchant_id, debtor_ids[ref], number, issue_date, due_date, currency, amount, amount, "open", order_ref,
             None, reference, fp, 0, due_date, now, now)
            for (_, number, issue_date, due_date, amount, currency, order_ref, ref, _, fp), reference
            in zip(pending, references)
        )
        mine = {row[1]: row for row in pending}
        booked = []
        # Only the id range: with `merchant_id = …` as well SQLite may walk the merchant's index instead.
        for merchant_of, number, invoice_id, debtor_id in db.session.execute(
            select(table.c.merchant_id, table.c.number, table.c.id, table.c.debtor_id).where(table.c.id > max_before)
        ):
            row = mine.get(number)
            if row is None or merchant_of != merchant_id:  # a concurrent writer's invoice (PostgreSQL), not ours
                continue
            # The same data the API's invoice.created event carries (currency and date need no escaping).
            booked.append(
                (merchant_id, invoice_id, debtor_id, "invoice.created", actor, now,
                 JSONText(f'{{"amount_minor": {row[4]:d}, "currency": "{row[5]}", '
                          f'"due_date": "{row[3].isoformat()}"}}'))
            )
        if len(booked) != len(pending):
            raise RuntimeError(f"inserted {len(pending)} invoices but found {len(booked)}")
        events.run(booked)
        created += len(booked)
    if created != expected:
        raise RuntimeError(f"expected to book {expected} invoices but booked {created}")
    return created


def upsert_debtors(merchant: Merchant, items: list[InvoiceData], actor: str) -> tuple[dict[str, int], int, int]:
    """Create new debtors and update changed ones (blank fields never erase), with their events like the API.

    Returns (id by customer number of every debtor of the merchant, created, updated). Used by
    the e-invoice batch import (`portal.intake.einvoice_batch`).
    """
    last: dict[str, DebtorData] = {}
    for data in items:  # a later row's details win within one file
        last[data.debtor.external_ref] = data.debtor
    created, updated = _upsert_debtor_batch(merchant, {ref: debtor_values(d) for ref, d in last.items()}, actor)
    ids = dict(db.session.execute(select(Debtor.external_ref, Debtor.id).where(Debtor.merchant_id == merchant.id)).all())
    return ids, created, updated


def _upsert_debtor_batch(merchant: Merchant, latest: dict[str, dict], actor: str) -> tuple[int, int]:
    """Create or update the debtors of `latest` (customer number → field values); (created, updated)."""
    from portal.dunning import bulk

    cols = [getattr(Debtor, f) for f in DEBTOR_FIELDS]
    known = {row[0]: row for row in bulk.probe(Debtor.external_ref, sorted(latest), [Debtor.id, *cols],
                                               Debtor.merchant_id == merchant.id)}
    now = utcnow()
    to_insert, to_update, update_events = [], [], []
    for ref, values in latest.items():
        row = known.get(ref)
        if row is None:
            to_insert.append(
                {"merchant_id": merchant.id, "external_ref": ref, "link_version": 1, "consent_email": True,
                 "consent_sms": False, "created_at": now, "updated_at": now, **values}
            )
            continue
        current = dict(zip(DEBTOR_FIELDS, row[2:]))
        changed = {f: v for f, v in values.items() if v is not None and current[f] != v}
        if changed:
            to_update.append({"debtor_id": row[1], "updated_at": now, **{f: changed.get(f, current[f]) for f in DEBTOR_FIELDS}})
            update_events.append(
                {"merchant_id": merchant.id, "debtor_id": row[1], "kind": "debtor.updated", "actor": actor, "occurred_at": now,
                 "data": {"changed": {f: [jsonable(current[f]), jsonable(v)] for f, v in changed.items()}}}
            )
    table = Debtor.__table__
    if to_insert:
        columns = list(to_insert[0])
        BulkInsert(table, columns).run(map(itemgetter(*columns), to_insert))
    if to_update:
        db.session.execute(
            update(table)
            .where(table.c.id == bindparam("debtor_id"))
            .values({f: bindparam(f) for f in (*DEBTOR_FIELDS, "updated_at")}),
            to_update,
        )
    ids = dict(bulk.probe(Debtor.external_ref, sorted(row["external_ref"] for row in to_insert), [Debtor.id],
                          Debtor.merchant_id == merchant.id))
    events = [
        (merchant.id, None, ids[row["external_ref"]], "debtor.created", actor, now, None) for row in to_insert
    ] + [(e["merchant_id"], None, e["debtor_id"], e["kind"], e["actor"], e["occurred_at"], e["data"]) for e in update_events]
    BulkInsert(Event.__table__, EVENT_COLUMNS).run(events)
    return len(to_insert), len(to_update)


EVENT_COLUMNS = ("merchant_id", "invoice_id", "debtor_id", "kind", "actor", "occurred_at", "data")
