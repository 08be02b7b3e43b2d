"""Bulk intake from CSV: all or nothing, every bad line reported, repeats create nothing.

Columns (header names, any order, extra columns ignored): number, issue_date, due_date,
amount, currency, debtor_ref, kind, name, company, email, phone, language, street,
postal_code, city, country; optional order_ref and date_of_birth. `;` or `,` separated,
UTF-8 (with or without BOM) or Windows-1252, dates as 2025-12-15 or 15.12.2025, amounts
as 119.00, 119,00 or 1.234,56.
"""
from __future__ import annotations

import csv
import gc
from contextlib import contextmanager
from operator import itemgetter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date

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


def _dialect(text: str) -> str:
    end = text.find("\n")
    header = text[: end if end >= 0 else len(text)]
    return ";" if header.count(";") >= header.count(",") else ","


def _lines(text: str) -> Iterator[str]:
    """The physical lines of `text`, each with its line break, one at a time.

    (io.StringIO would hold a second, four-bytes-per-character copy of a big file.)
    Files from old Mac programs end lines with a bare CR; everything else has LF or CRLF.
    """
    newline = "\n" if "\n" in text or "\r" not in text else "\r"
    start, size = 0, len(text)
    while start < size:
        end = text.find(newline, start)
        if end < 0:
            yield text[start:]
            return
        yield text[start : end + 1]
        start = end + 1


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


def open_csv(raw: bytes) -> tuple[CsvFile | None, list[RowError]]:
    """The file ready to be read row by row, or the errors that stop it at its header."""
    try:
        text = decode(raw)
    except UndecodableFile as exc:
        return None, [RowError(exc.line, [str(exc)])]
    if not text.strip():
        return None, [RowError(1, ["the file is empty"])]
    reader = csv.reader(_lines(text), delimiter=_dialect(text))
    try:
        header = [h.strip().lower().replace(" ", "_") for h in next(reader)]
    except csv.Error as exc:
        return None, [RowError(1, [f"unreadable header: {exc}"])]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        return None, [RowError(1, [f"missing column(s): {', '.join(missing)}"])]
    return CsvFile(Layout(header), reader, max(text.count("\n") - 1, 0)), []


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
    raw: bytes,
    merchant: Merchant,
    *,
    today: date,
    actor: str,
    progress: Progress = _plain,
) -> ImportResult:
    """Validate the whole file, then book it in one transaction; raises ImportRejected on any bad line.

    The caller commits on success (and rolls back on ImportRejected, though nothing was written).
    """
    with cyclic_gc_paused():
        return _import(raw, merchant, today=today, actor=actor, progress=progress)


@contextmanager
def cyclic_gc_paused():
    """A big file makes millions of long-lived objects, none of them in reference cycles; the
    cyclic collector would walk them again and again (half the time of a 100,000-line import).
    Reference counting still frees everything at once; the collector resumes afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _import(raw: bytes, merchant: Merchant, *, today: date, actor: str, progress: Progress) -> ImportResult:
    csv_file, errors = open_csv(raw)
    result = ImportResult()
    valid: list[tuple[int, InvoiceData, str]] = []
    if csv_file is not None:
        layout = csv_file.layout
        # Each distinct debtor (same values in every debtor column) is checked once, not once per invoice.
        debtors: dict[tuple, tuple] = {}
        for line, fields in progress(csv_file.rows(errors), csv_file.line_count, "Checking"):
            result.rows += 1
            debtor_fields = layout.debtor_fields(fields)
            debtor = debtors.get(debtor_fields)
            if debtor is None:
                debtor = debtors[debtor_fields] = validate_debtor(layout.debtor_payload(debtor_fields), today=today)
            data, field_errors = validate_invoice(layout.invoice_payload(fields), today=today, lenient=True, debtor=debtor)
            if field_errors:
                errors.append(RowError(line, [f"{_column(p)}: {m}" for p, ms in field_errors.items() for m in ms]))
            else:
                valid.append((line, data, data.fingerprint()))
        del debtors

    # Repeats within the file and against what is already booked: only the file's numbers are looked
    # up (joined against the unique (merchant, number) index), so memory follows the file, not the
    # merchant's whole invoice table.
    from portal.dunning import bulk  # imported late: it imports models

    existing = dict(bulk.probe(Invoice.number, sorted({data.number for _, data, _ in valid}),
                               [Invoice.intake_fingerprint], Invoice.merchant_id == merchant.id))
    seen: dict[str, tuple[int, str]] = {}
    new: list[tuple[InvoiceData, str]] = []
    for line, data, fp in valid:
        if data.number in seen:
            first_line, first_fp = seen[data.number]
            if first_fp != fp:
                errors.append(RowError(line, [f"number: {data.number} appears on line {first_line} with different content"]))
            continue
        seen[data.number] = (line, fp)
        if data.number in existing:
            if existing[data.number] != fp:
                errors.append(RowError(line, [f"number: invoice {data.number} already exists with different content"]))
            else:
                result.unchanged += 1
            continue
        new.append((data, fp))
    if errors:
        errors.sort(key=lambda e: e.line)
        raise ImportRejected(errors)

    with roomy_sqlite_cache():
        debtor_ids, result.debtors_created, result.debtors_updated = upsert_debtors(merchant, [d for _, d, _ in valid], actor)
        _insert_invoices(merchant, new, debtor_ids, actor, progress)
    result.created = len(new)
    db.session.add(
        Event(
            merchant_id=merchant.id,
            kind="import.completed",
            actor=actor,
            data={"created": result.created, "unchanged": result.unchanged, "rows": result.rows},
        )
    )
    return result


def upsert_debtors(merchant: Merchant, items: list[InvoiceData], actor: str) -> tuple[dict[str, int], int, int]:
    """Create new debtors and update changed ones (blank fields never erase), with their events like the API.

    Returns (id by customer number of every debtor of the merchant, created, updated). Also used by
    the e-invoice batch import (`portal.intake.einvoice_batch`).
    """
    last: dict[str, DebtorData] = {}
    for data in items:  # a later row's details win within one file
        last[data.debtor.external_ref] = data.debtor
    latest = {ref: debtor_values(debtor) for ref, debtor in last.items()}
    cols = [getattr(Debtor, f) for f in DEBTOR_FIELDS]
    known = {
        row[1]: row
        for row in db.session.execute(
            select(Debtor.id, Debtor.external_ref, *cols).where(Debtor.merchant_id == merchant.id)
        ).all()
    }
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
            to_update.append({"debtor_id": row[0], "updated_at": now, **{f: changed.get(f, current[f]) for f in DEBTOR_FIELDS}})
            update_events.append(
                {"merchant_id": merchant.id, "debtor_id": row[0], "kind": "debtor.updated", "actor": actor, "occurred_at": now,
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
    ids = dict(db.session.execute(select(Debtor.external_ref, Debtor.id).where(Debtor.merchant_id == merchant.id)).all())
    events = [
        (merchant.id, None, ids[row["external_ref"]], "debtor.created", actor, now, None) for row in to_insert
    ] + [(e["merchant_id"], None, e["debtor_id"], e["kind"], e["actor"], e["occurred_at"], e["data"]) for e in update_events]
    BulkInsert(Event.__table__, EVENT_COLUMNS).run(events)
    return ids, len(to_insert), len(to_update)


EVENT_COLUMNS = ("merchant_id", "invoice_id", "debtor_id", "kind", "actor", "occurred_at", "data")


def _insert_invoices(
    merchant: Merchant, new: list[tuple[InvoiceData, str]], debtor_ids: dict[str, int], actor: str, progress: Progress
) -> None:
    """Invoices in batches of plain inserts, then their invoice.created events.

    No RETURNING: fetching ids row by row costs more than the rest of the import, so the
    new ids are read back afterwards in one query.
    """
    if not new:
        return
    table = Invoice.__table__
    # Every id allocated in this transaction is above the largest one it can see now (also on PostgreSQL).
    max_before = db.session.scalar(select(func.coalesce(func.max(table.c.id), 0)))
    now = utcnow()
    columns = (*INVOICE_COLUMNS, "created_at", "updated_at")
    writer = BulkInsert(table, columns)
    references = rf.new_many(len(new))
    merchant_id = merchant.id
    batches = range(0, len(new), BATCH)
    for start in progress(batches, len(batches), "Writing"):
        writer.run(
            (
                merchant_id, debtor_ids[data.debtor.external_ref], data.number, data.issue_date, data.due_date,
                data.currency, data.amount_minor, data.amount_minor, "open", data.order_ref, data.lines_json(),
                references[start + i], fp, 0, data.due_date, now, now,
            )
            for i, (data, fp) in enumerate(new[start : start + BATCH])
        )
    numbers = {data.number: data for data, _ in new}
    created = db.session.execute(
        select(table.c.number, table.c.id, table.c.debtor_id).where(table.c.merchant_id == merchant_id, table.c.id > max_before)
    ).all()
    events = []
    for number, invoice_id, debtor_id in created:
        data = numbers.get(number)
        if data is None:  # a concurrent writer's invoice (PostgreSQL), not ours
            continue
        # The same data the API's invoice.created event carries (currency and date need no escaping).
        events.append(
            (merchant_id, invoice_id, debtor_id, "invoice.created", actor, now,
             JSONText(f'{{"amount_minor": {data.amount_minor:d}, "currency": "{data.currency}", '
                      f'"due_date": "{data.due_date.isoformat()}"}}'))
        )
    if len(events) != len(new):
        raise RuntimeError(f"inserted {len(new)} invoices but found {len(events)}")
    writer = BulkInsert(Event.__table__, EVENT_COLUMNS)
    for start in range(0, len(events), BATCH):
        writer.run(events[start : start + BATCH])
