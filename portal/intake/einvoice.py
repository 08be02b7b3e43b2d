"""E-invoices in: from the bytes a shop sends (XML or ZUGFeRD PDF) to an invoice or a credit.

Every way in (the API, `flask invoices import`, the back-office upload) calls `prepare`
and `book` here, and an invoice is created by the same `submit_invoice` as the JSON API
and checked by the same `validate_invoice`, so the rules, the repeat/conflict semantics
and the `invoice.created` event are those of every other invoice. A credit note is not a
debt: it credits the invoice it names (BG-3) through `ledger.book`.

The original file is kept under STORAGE_DIR/einvoices/<merchant>/ by its SHA-256, so a
repeat writes nothing new and a half-finished import leaves nothing another run trips over.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy import select

from portal import ledger
from portal.domain import einvoice
from portal.domain.einvoice import Document, EInvoiceError
from portal.domain.einvoice.mapping import term_errors, to_payload
from portal.domain.intake import InvoiceData, validate_invoice
from portal.domain.money import minor_to_str
from portal.extensions import db
from portal.intake.service import IntakeConflict, submit_invoice
from portal.models import Event, Invoice, LedgerEntry, Merchant

CREDIT_SOURCE = "import"  # one source for credit notes from every way in, so a repeat is booked once


class EInvoiceConflict(Exception):
    """The document contradicts what Settle has (same number, other content; a closed invoice)."""

    def __init__(self, message: str, invoice: Invoice | None = None):
        super().__init__(message)
        self.invoice = invoice


@dataclass(frozen=True)
class CreditData:
    number: str  # BT-1 of the credit note
    invoice_number: str  # BT-25: the invoice it credits
    amount_minor: int  # BT-115
    currency: str
    issue_date: date


@dataclass
class Prepared:
    """A document that passed every check that needs no database writes."""

    document: Document
    raw: bytes
    invoice: InvoiceData | None = None
    credit: CreditData | None = None
    due_source: str | None = None
    warnings: list[tuple[str, str]] = field(default_factory=list)

    @property
    def number(self) -> str:
        return self.document.invoice.number


@dataclass
class Outcome:
    prepared: Prepared
    invoice: Invoice  # the invoice created (or found again), or the one a credit note credited
    created: bool
    credit: LedgerEntry | None = None
    stored: Path | None = None  # a file this booking wrote (removed again if the caller rolls back)

    @property
    def warnings(self) -> list[tuple[str, str]]:
        return self.prepared.warnings


def _compact_iban(value: str) -> str:
    return "".join(value.split()).upper()


def prepare(merchant: Merchant, raw: bytes, *, today: date) -> Prepared:
    """Read and check one e-invoice; EInvoiceError (keyed by business term) when it cannot be taken."""
    document = einvoice.read(raw)
    inv = document.invoice
    warnings: list[tuple[str, str]] = []
    if inv.seller_ibans and merchant.iban:
        own = _compact_iban(merchant.iban)
        if all(_compact_iban(iban) != own for iban in inv.seller_ibans):
            warnings.append((
                "BT-84",
                f"the invoice asks for payment to {', '.join(inv.seller_ibans)}, not to the merchant's account "
                f"{merchant.iban}; Settle's reminders name the merchant's account",
            ))
    if inv.payable_minor <= 0:
        what = "credit note" if inv.is_credit_note else "invoice"
        raise EInvoiceError({"BT-115": [
            f"is {minor_to_str(inv.payable_minor, inv.currency)} {inv.currency}: the {what} leaves nothing due for payment"
            + ("" if inv.is_credit_note else ", so there is nothing to remind")
        ]})
    if inv.is_credit_note:
        refs = inv.preceding
        if not refs:
            raise EInvoiceError({"BG-3": [
                "is missing: a credit note must name the invoice it credits (preceding invoice reference, BT-25)"
            ]})
        if len({number for number, _ in refs}) > 1:
            raise EInvoiceError({"BG-3": [
                f"names several invoices ({', '.join(n for n, _ in refs)}); Settle credits one invoice per credit note"
            ]})
        if len(inv.number) > 100:
            raise EInvoiceError({"BT-1": ["must be at most 100 characters"]})
        credit = CreditData(inv.number, refs[0][0], inv.payable_minor, inv.currency, inv.issue_date)
        return Prepared(document, raw, credit=credit, warnings=warnings)
    mapped = to_payload(inv, customer_ref_term=merchant.einvoice_customer_ref or "BT-46",
                        default_term_days=merchant.payment_term_days or 14)
    data, errors = validate_invoice(mapped.payload, today=today, signed_lines=True)
    if errors:
        raise EInvoiceError(term_errors(errors, mapped.terms))
    return Prepared(document, raw, invoice=data, due_source=mapped.due_source, warnings=warnings + mapped.warnings)


def storage_path(storage_dir: str, merchant: Merchant, prepared: Prepared) -> tuple[str, Path]:
    digest = hashlib.sha256(prepared.raw).hexdigest()[:40]
    relative = f"einvoices/{merchant.id}/{digest}.{prepared.document.container}"
    return relative, Path(storage_dir) / relative


def _store(path: Path, raw: bytes) -> bool:
    """Write the file once (atomically); False when it was there already."""
    if path.is_file():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + f".{os.getpid()}.tmp")
    tmp.write_bytes(raw)
    os.replace(tmp, path)
    return True


def book(merchant: Merchant, prepared: Prepared, *, storage_dir: str, actor: str, today: date) -> Outcome:
    """Create the invoice or book the credit (caller commits). EInvoiceConflict / EInvoiceError otherwise."""
    relative, path = storage_path(storage_dir, merchant, prepared)
    if prepared.credit is not None:
        return _book_credit(merchant, prepared, relative, path, actor=actor, today=today)
    try:
        result = submit_invoice(merchant, prepared.invoice, actor)
    except IntakeConflict as exc:
        raise EInvoiceConflict(str(exc), exc.invoice) from None
    invoice, stored = result.invoice, None
    if result.created:
        stored = path if _store(path, prepared.raw) else None
        invoice.einvoice_file = relative
        invoice.einvoice_format = prepared.document.format
        if prepared.document.container == "pdf":
            invoice.pdf_file = relative  # offered to the debtor as "Rechnung (PDF)"
        for term, message in prepared.warnings:
            db.session.add(Event.on_invoice(invoice, "einvoice.warning", actor, {"term": term, "message": message}))
    return Outcome(prepared, invoice, result.created, stored=stored)


def _book_credit(merchant: Merchant, prepared: Prepared, relative: str, path: Path, *, actor: str, today: date) -> Outcome:
    credit = prepared.credit
    invoice = db.session.execute(
        select(Invoice).where(Invoice.merchant_id == merchant.id, Invoice.number == credit.invoice_number)
    ).scalar_one_or_none()
    if invoice is None:
        raise EInvoiceError({"BG-3": [f"the credited invoice {credit.invoice_number} is not in Settle"]})
    if invoice.currency != credit.currency:
        raise EInvoiceError({"BT-5": [
            f"the credit note is in {credit.currency}, the invoice {invoice.number} in {invoice.currency}"
        ]})
    if invoice.status not in ("open", "paid"):
        raise EInvoiceConflict(
            f"invoice {invoice.number} is {invoice.status.replace('_', ' ')}: credit note {credit.number} cannot be applied",
            invoice,
        )
    try:
        booking = ledger.book(
            invoice,
            kind="credit",
            amount_minor=credit.amount_minor,
            source=CREDIT_SOURCE,
            external_ref=f"credit-note:{credit.number}",
            booked_on=min(credit.issue_date, today),
            actor=actor,
            memo=f"Credit note {credit.number}",
            data={"credit_note": credit.number, "file": relative, "format": prepared.document.format},
        )
    except ledger.BookingConflict:
        raise EInvoiceConflict(
            f"credit note {credit.number} was already booked with another amount or on another invoice", invoice
        ) from None
    stored = path if booking.created and _store(path, prepared.raw) else None
    return Outcome(prepared, invoice, booking.created, credit=booking.entry, stored=stored)


@dataclass
class Booked:
    """What `book_invoices` did with a batch of invoices."""

    created: int = 0
    unchanged: int = 0
    stored: list[Path] = field(default_factory=list)  # files this booking wrote
    conflicts: list[tuple[str, str]] = field(default_factory=list)  # (file name, message)


def book_invoices(merchant: Merchant, items: list[tuple[str, Prepared]], *, storage_dir: str, actor: str) -> Booked:
    """Many invoices at once (the batch import), with the same outcome as `book` for each in turn.

    One query finds the numbers already booked, the debtors are upserted together, and the
    invoices and their events go in as multi-row inserts (`portal.intake.bulk`), where `book`
    spends a lookup, a savepoint and a flush per file. Repeats (the same number with the same
    content, in Settle or earlier in the batch) count as unchanged and still update the debtor,
    as the API does; the same number with other content is a conflict and nothing is written
    (`conflicts` is then non-empty and the caller rolls back).
    """
    from sqlalchemy import func

    from portal.intake.bulk import BulkInsert
    from portal.intake.csv_import import BATCH, EVENT_COLUMNS, upsert_debtors
    from portal.transactions import roomy_sqlite_cache
    from portal.intake.service import invoice_row
    from portal.models.types import utcnow

    booked = Booked()
    fingerprints = [item.invoice.fingerprint() for _, item in items]
    numbers = list({item.number for _, item in items})
    existing: dict[str, str] = {}
    for start in range(0, len(numbers), 500):
        existing.update(db.session.execute(
            select(Invoice.number, Invoice.intake_fingerprint)
            .where(Invoice.merchant_id == merchant.id, Invoice.number.in_(numbers[start:start + 500]))
        ).all())
    new: list[tuple[Prepared, str]] = []
    for (name, item), fp in zip(items, fingerprints):
        known = existing.get(item.number)
        if known is None:
            existing[item.number] = fp
            new.append((item, fp))
        elif known != fp:
            booked.conflicts.append((name, f"invoice {item.number} already exists with different content"))
        else:
            booked.unchanged += 1
    if booked.conflicts:
        return booked
    with roomy_sqlite_cache():
        debtor_ids, _, _ = upsert_debtors(merchant, [item.invoice for _, item in items], actor)
        if not new:
            return booked
        table = Invoice.__table__
        # Every id allocated in this transaction is above the largest one it can see now (also on PostgreSQL).
        max_before = db.session.scalar(select(func.coalesce(func.max(table.c.id), 0)))
        now = utcnow()
        rows, files = [], {}
        for item, fp in new:
            row = invoice_row(merchant.id, debtor_ids[item.invoice.debtor.external_ref], item.invoice)
            relative, path = storage_path(storage_dir, merchant, item)
            row.update(intake_fingerprint=fp, einvoice_file=relative, einvoice_format=item.document.format,
                       pdf_file=relative if item.document.container == "pdf" else None, created_at=now, updated_at=now)
            rows.append(row)
            files[item.number] = (item, path)
        columns = list(rows[0])
        writer = BulkInsert(table, columns)
        for start in range(0, len(rows), BATCH):
            writer.run(tuple(row[c] for c in columns) for row in rows[start:start + BATCH])
        created = db.session.execute(
            select(table.c.number, table.c.id, table.c.debtor_id)
            .where(table.c.merchant_id == merchant.id, table.c.id > max_before)
        ).all()
        events = []
        for number, invoice_id, debtor_id in created:
            if number not in files:  # a concurrent writer's invoice (PostgreSQL), not ours
                continue
            item, _ = files[number]
            data = item.invoice
            events.append((merchant.id, invoice_id, debtor_id, "invoice.created", actor, now, {
                "amount_minor": data.amount_minor, "currency": data.currency, "due_date": data.due_date.isoformat()}))
            events.extend((merchant.id, invoice_id, debtor_id, "einvoice.warning", actor, now, {"term": term, "message": message})
                          for term, message in item.warnings)
        if sum(1 for e in events if e[3] == "invoice.created") != len(new):
            raise RuntimeError(f"inserted {len(new)} invoices but found fewer")
        writer = BulkInsert(Event.__table__, EVENT_COLUMNS)
        for start in range(0, len(events), BATCH):
            writer.run(events[start:start + BATCH])
    booked.created = len(new)
    try:
        for item, path in files.values():
            if _store(path, item.raw):
                booked.stored.append(path)
    except OSError:
        discard_files(booked.stored)
        raise
    return booked


def discard_files(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def discard(outcomes: list[Outcome]) -> None:
    """Remove the files these bookings wrote, after the caller rolled their transaction back."""
    for outcome in outcomes:
        if outcome.stored is not None:
            outcome.stored.unlink(missing_ok=True)
