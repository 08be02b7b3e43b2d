"""Many e-invoices at once (`flask invoices import` with .xml, .pdf or .zip, the back-office upload):
all or nothing, like the CSV import.

Every file is read and checked first; if any is bad, nothing is booked and every bad file is
listed with every problem, keyed by business term. Then invoices are created and credit notes
booked (credit notes last, so a ZIP may carry an invoice and its credit note) in the caller's
transaction; a conflict found while booking also rejects the whole batch. The invoices go in
together (one lookup, multi-row inserts: 10,000 files would otherwise spend most of their time
in per-file ORM flushes, see docs/benchmarks.md); credit notes one by one through `einvoice.book`.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from portal.domain.einvoice import EInvoiceError
from portal.domain.einvoice.archive import ArchiveError, is_zip, members
from portal.extensions import db
from portal.intake import einvoice
from portal.intake.csv_import import cyclic_gc_paused
from portal.models import Event, Merchant
from portal.transactions import writing


@dataclass
class FileError:
    name: str
    messages: list[str]

    def __str__(self) -> str:
        return f"{self.name}: " + "; ".join(self.messages)


class BatchRejected(Exception):
    def __init__(self, errors: list[FileError]):
        super().__init__(f"{len(errors)} bad file(s)")
        self.errors = errors


@dataclass
class BatchResult:
    files: int = 0
    created: int = 0
    unchanged: int = 0
    credited: int = 0
    warnings: list[tuple[str, str, str]] = field(default_factory=list)  # (file name, term, message)
    stored: list[Path] = field(default_factory=list)  # original files this import wrote


def _messages(exc: EInvoiceError) -> list[str]:
    return [f"{term}: {m}" if term else m for term, ms in exc.errors.items() for m in ms]


def expand(files: Iterable[tuple[str, bytes]]) -> tuple[list[tuple[str, bytes]], list[FileError]]:
    """The e-invoices among `files`, ZIPs opened (member names as "archive.zip/member.xml")."""
    out: list[tuple[str, bytes]] = []
    errors: list[FileError] = []
    for name, raw in files:
        if not is_zip(raw):
            out.append((name, raw))
            continue
        try:
            for member, data, problem in members(raw):
                label = f"{name}/{member}"
                if problem is not None:
                    errors.append(FileError(label, [problem]))
                else:
                    out.append((label, data))
        except ArchiveError as exc:
            errors.append(FileError(name, [str(exc)]))
    return out, errors


@writing  # on SQLite the duplicate checks read under the write lock, from the CLI as from an upload job
def import_files(
    files: Iterable[tuple[str, bytes]], merchant: Merchant, *, today: date, actor: str, storage_dir: str,
) -> BatchResult:
    """Check everything, then book everything (caller commits); BatchRejected on any problem.

    On BatchRejected the caller rolls back; files this run stored have been removed again.
    """
    documents, errors = expand(files)
    prepared: list[tuple[str, einvoice.Prepared]] = []
    for name, raw in documents:
        try:
            prepared.append((name, einvoice.prepare(merchant, raw, today=today)))
        except EInvoiceError as exc:
            errors.append(FileError(name, _messages(exc)))
    if not documents and not errors:
        errors.append(FileError("(upload)", ["no e-invoice found"]))
    if errors:
        raise BatchRejected(errors)
    result = BatchResult(files=len(prepared))
    with cyclic_gc_paused():
        # Invoices first (together, see `einvoice.book_invoices`), then credit notes, each in file order.
        invoices = [(name, item) for name, item in prepared if item.credit is None]
        booked = einvoice.book_invoices(merchant, invoices, storage_dir=storage_dir, actor=actor)
        errors.extend(FileError(name, [message]) for name, message in booked.conflicts)
        result.created, result.unchanged, result.stored = booked.created, booked.unchanged, booked.stored
        result.warnings.extend((name, term, message) for name, item in invoices for term, message in item.warnings)
        for name, item in prepared if not errors else ():
            if item.credit is None:
                continue
            try:
                outcome = einvoice.book(merchant, item, storage_dir=storage_dir, actor=actor, today=today)
            except EInvoiceError as exc:
                errors.append(FileError(name, _messages(exc)))
                continue
            except einvoice.EInvoiceConflict as exc:
                errors.append(FileError(name, [str(exc)]))
                continue
            if outcome.stored is not None:
                result.stored.append(outcome.stored)
            result.warnings.extend((name, term, message) for term, message in outcome.warnings)
            result.credited += outcome.created
            result.unchanged += not outcome.created
    if errors:
        db.session.rollback()
        einvoice.discard_files(result.stored)
        raise BatchRejected(errors)
    db.session.add(Event(
        merchant_id=merchant.id, kind="import.completed", actor=actor,
        data={"created": result.created, "unchanged": result.unchanged, "credited": result.credited,
              "rows": result.files},
    ))
    return result
