"""Many e-invoices at once (`flask invoices import` with .xml, .pdf or .zip, the back-office upload):
all or nothing, like the CSV import.

Every file is read and checked first; if any is bad, nothing is booked and every bad file is
listed with every problem, keyed by business term. Then invoices are created and credit notes
booked (credit notes last, so a ZIP may carry an invoice and its credit note) in the caller's
transaction; a conflict found while booking also rejects the whole batch.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from portal.domain.einvoice import EInvoiceError
from portal.domain.einvoice.archive import ArchiveError, is_zip, members
from portal.extensions import db
from portal.intake import einvoice
from portal.models import Event, Merchant


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
    outcomes: list[einvoice.Outcome] = field(default_factory=list)
    names: list[str] = field(default_factory=list)  # the file each outcome came from

    @property
    def warnings(self) -> list[tuple[str, str, str]]:
        """(file name, term, message) of every warning."""
        return [(name, term, message) for name, o in zip(self.names, self.outcomes) for term, message in o.warnings]


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
    # Invoices first, then credit notes, each group in file order.
    ordered = sorted(prepared, key=lambda item: item[1].credit is not None)
    for name, item in ordered:
        try:
            outcome = einvoice.book(merchant, item, storage_dir=storage_dir, actor=actor, today=today)
        except EInvoiceError as exc:
            errors.append(FileError(name, _messages(exc)))
            continue
        except einvoice.EInvoiceConflict as exc:
            errors.append(FileError(name, [str(exc)]))
            continue
        result.outcomes.append(outcome)
        result.names.append(name)
        if item.credit is not None:
            result.credited += outcome.created
            result.unchanged += not outcome.created
        else:
            result.created += outcome.created
            result.unchanged += not outcome.created
    if errors:
        db.session.rollback()
        einvoice.discard(result.outcomes)
        raise BatchRejected(errors)
    db.session.add(Event(
        merchant_id=merchant.id, kind="import.completed", actor=actor,
        data={"created": result.created, "unchanged": result.unchanged, "credited": result.credited,
              "rows": result.files},
    ))
    return result
