"""Bulk intake from CSV: all or nothing, every bad line reported, repeats create nothing.

Columns (header names, any order, extra columns ignored): number, issue_date, due_date,
amount, currency, debtor_ref, kind, name, company, email, phone, language, street,
postal_code, city, country; optional order_ref and date_of_birth. `;` or `,` separated,
UTF-8 (with or without BOM) or Windows-1252, dates as 2025-12-15 or 15.12.2025, amounts
as 119.00, 119,00 or 1.234,56.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import insert, select, update

from portal.domain.intake import InvoiceData, validate_invoice
from portal.extensions import db
from portal.intake.service import DEBTOR_FIELDS, debtor_values, invoice_row
from portal.models import Debtor, Event, Invoice, Merchant

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


def decode(raw: bytes) -> str:
    """UTF-8 (BOM allowed) first; German Excel writes Windows-1252."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252")


def _dialect(text: str) -> str:
    header = text.split("\n", 1)[0]
    return ";" if header.count(";") >= header.count(",") else ","


def read_rows(raw: bytes) -> tuple[list[tuple[int, dict]], list[RowError]]:
    """(line number, row) pairs with normalised header names, or header errors."""
    text = decode(raw)
    if not text.strip():
        return [], [RowError(1, ["the file is empty"])]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_dialect(text))
    try:
        header = [h.strip().lower().replace(" ", "_") for h in next(reader)]
    except csv.Error as exc:
        return [], [RowError(1, [f"unreadable header: {exc}"])]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        return [], [RowError(1, [f"missing column(s): {', '.join(missing)}"])]
    index = {name: header.index(name) for name in KNOWN_COLUMNS if name in header}
    rows: list[tuple[int, dict]] = []
    errors: list[RowError] = []
    try:
        line = reader.line_num
        for values in reader:
            start, line = line + 1, reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(values) > len(header) and any(v.strip() for v in values[len(header):]):
                errors.append(RowError(start, [f"{len(values)} fields but the header has {len(header)}"]))
                continue
            rows.append((start, {name: (values[i].strip() if i < len(values) else "") for name, i in index.items()}))
    except csv.Error as exc:
        errors.append(RowError(reader.line_num, [f"unreadable CSV: {exc}"]))
    return rows, errors


def row_payload(row: dict) -> dict:
    """A CSV row in the API's shape, so both entry points share one validator."""
    get = lambda k: row.get(k) or None  # noqa: E731
    return {
        "number": get("number"),
        "issue_date": get("issue_date"),
        "due_date": get("due_date"),
        "amount": get("amount"),
        "currency": get("currency"),
        "order_ref": get("order_ref"),
        "debtor": {
            "external_ref": get("debtor_ref"),
            "kind": get("kind"),
            "name": get("name"),
            "company": get("company"),
            "email": get("email"),
            "phone": get("phone"),
            "language": get("language"),
            "date_of_birth": get("date_of_birth"),
            "address": {
                "street": get("street"),
                "postal_code": get("postal_code"),
                "city": get("city"),
                "country": get("country"),
            },
        },
    }


_COLUMN_OF = {"debtor.external_ref": "debtor_ref"}


def _column(path: str) -> str:
    if path in _COLUMN_OF:
        return _COLUMN_OF[path]
    return path.rsplit(".", 1)[-1]


Progress = Callable[[Iterable], Iterable]


def _plain(items: Iterable) -> Iterable:
    return items


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
    rows, errors = read_rows(raw)
    result = ImportResult(rows=len(rows))
    valid: list[tuple[int, InvoiceData]] = []
    for line, row in progress(rows):
        data, field_errors = validate_invoice(row_payload(row), today=today, lenient=True)
        if field_errors:
            errors.append(RowError(line, [f"{_column(p)}: {m}" for p, ms in field_errors.items() for m in ms]))
        else:
            valid.append((line, data))

    # Repeats within the file and against what is already booked.
    existing = dict(
        db.session.execute(
            select(Invoice.number, Invoice.intake_fingerprint).where(Invoice.merchant_id == merchant.id)
        ).all()
    )
    seen: dict[str, tuple[int, str]] = {}
    new: list[InvoiceData] = []
    for line, data in valid:
        fp = data.fingerprint()
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
        new.append(data)
    if errors:
        errors.sort(key=lambda e: e.line)
        raise ImportRejected(errors)

    debtor_ids = _upsert_debtors(merchant, [d for _, d in valid], actor, result)
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


def _upsert_debtors(merchant: Merchant, items: list[InvoiceData], actor: str, result: ImportResult) -> dict[str, int]:
    latest: dict[str, dict] = {}
    for data in items:  # a later row's details win within one file
        latest[data.debtor.external_ref] = {"external_ref": data.debtor.external_ref, **debtor_values(data.debtor)}
    cols = [getattr(Debtor, f) for f in DEBTOR_FIELDS]
    known = {
        row[1]: row
        for row in db.session.execute(
            select(Debtor.id, Debtor.external_ref, *cols).where(Debtor.merchant_id == merchant.id)
        ).all()
    }
    to_insert, to_update = [], []
    for ref, values in latest.items():
        row = known.get(ref)
        if row is None:
            to_insert.append({"merchant_id": merchant.id, "link_version": 1, "consent_email": True, "consent_sms": False, **values})
            continue
        current = dict(zip(DEBTOR_FIELDS, row[2:]))
        changed = {f: v for f, v in values.items() if f in current and v is not None and current[f] != v}
        if changed:
            to_update.append({"debtor_id": row[0], **{f: values[f] if f in changed else current[f] for f in DEBTOR_FIELDS}})
    if to_insert:
        db.session.execute(insert(Debtor), to_insert)
    if to_update:
        from sqlalchemy import bindparam

        table = Debtor.__table__
        db.session.execute(
            update(table).where(table.c.id == bindparam("debtor_id")).values({f: bindparam(f) for f in DEBTOR_FIELDS}),
            to_update,
        )
    result.debtors_created, result.debtors_updated = len(to_insert), len(to_update)
    return dict(
        db.session.execute(select(Debtor.external_ref, Debtor.id).where(Debtor.merchant_id == merchant.id)).all()
    )


def _insert_invoices(merchant: Merchant, new: list[InvoiceData], debtor_ids: dict[str, int], actor: str, progress: Progress) -> None:
    table = Invoice.__table__
    events = Event.__table__
    batches = [new[i : i + BATCH] for i in range(0, len(new), BATCH)]
    for batch in progress(batches):
        rows = [invoice_row(merchant.id, debtor_ids[d.debtor.external_ref], d) for d in batch]
        ids = db.session.execute(
            insert(table).returning(table.c.id, table.c.debtor_id, sort_by_parameter_order=True), rows
        ).all()
        db.session.execute(
            insert(events),
            [
                {
                    "merchant_id": merchant.id,
                    "invoice_id": invoice_id,
                    "debtor_id": debtor_id,
                    "kind": "invoice.created",
                    "actor": actor,
                    "data": {"amount_minor": row["amount_minor"], "currency": row["currency"], "due_date": row["due_date"].isoformat()},
                }
                for (invoice_id, debtor_id), row in zip(ids, rows)
            ],
        )
