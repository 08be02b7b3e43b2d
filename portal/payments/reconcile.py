"""Bank reconciliation: import camt.053/054 files (or a ZIP of them) and book what they pay.

`import_statements` is the one entry point for the CLI and the back-office upload. It
works in the caller's transaction and never commits: the caller commits when it
returns and rolls back when it raises `CamtError`, so a malformed file books nothing.

Idempotency: a file is recognised by its SHA-256 (per merchant) and skipped whole;
every entry by its entry reference (the bank's AcctSvcrRef, else a hash of its fields),
so an overlapping statement or a camt.054 followed by the day's camt.053 books each
transfer once.

What counts: booked credits that are not reversals are payments and are matched
(RF reference → invoice number → amount with payer name or IBAN). A booked debit with
the reversal flag returns an earlier credit: it is booked as a `reversal` on the
invoices that credit paid (found by end-to-end id, else by RF reference and amount),
so the debtor owes again. Everything else (debits, pending or informational entries,
credit reversals of the merchant's own debits) is counted and skipped.
Unmatched payments and returns are stored with state "unmatched" for staff.
"""
from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select

from portal.domain import camt, matching
from portal.domain.allocation import split, take_back
from portal.domain.camt import CamtError, Transaction
from portal.extensions import db
from portal.models import (
    BankEntry,
    BankStatementFile,
    Debtor,
    Event,
    Invoice,
    InvoiceStatus,
    LedgerEntry,
    Merchant,
    CaseInvoice,
    InstallmentPlan,
    PaymentReference,
    PaymentReferenceInvoice,
    PlanRate,
)
from portal.models.types import utcnow
from portal.payments.booking import book_shares

CHUNK = 1000
MAX_MEMBER_BYTES = 512 * 1024 * 1024  # a ZIP member larger than this is refused (zip bombs)

Progress = Callable[[int], None]


@dataclass
class FileResult:
    filename: str
    message_type: str = ""
    already_imported: bool = False
    entries: int = 0
    booked: int = 0
    unmatched: int = 0
    reversed: int = 0
    duplicates: int = 0
    skipped: int = 0


@dataclass
class ImportResult:
    files: list[FileResult] = field(default_factory=list)

    def total(self, name: str) -> int:
        return sum(getattr(f, name) for f in self.files)

    def summary(self) -> str:
        done = [f for f in self.files if not f.already_imported]
        again = len(self.files) - len(done)
        parts = [
            f"{len(done)} file(s) imported" + (f", {again} already imported before" if again else ""),
            f"{self.total('booked')} payment(s) booked",
            f"{self.total('unmatched')} left for manual assignment",
            f"{self.total('reversed')} return(s) booked",
            f"{self.total('duplicates')} seen before",
            f"{self.total('skipped')} not payments (debits, pending)",
        ]
        return "; ".join(parts) + "."


def _documents(data: bytes, filename: str) -> list[tuple[str, bytes]]:
    if data[:4] != b"PK\x03\x04":
        return [(filename, data)]
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise CamtError(f"{filename}: not a readable ZIP file ({exc})") from None
    out = []
    with archive:
        for info in sorted(archive.infolist(), key=lambda i: i.filename):
            name = info.filename
            if info.is_dir() or name.startswith("__MACOSX/") or not name.lower().endswith(".xml"):
                continue
            if info.file_size > MAX_MEMBER_BYTES:
                raise CamtError(f"{filename}/{name}: larger than {MAX_MEMBER_BYTES // 2**20} MB unpacked")
            out.append((f"{filename}/{name}", archive.read(info)))
    if not out:
        raise CamtError(f"{filename}: the ZIP file holds no .xml statement")
    return out


def import_statements(
    merchant: Merchant,
    data: bytes,
    filename: str,
    *,
    actor: str,
    today: date,
    progress: Progress | None = None,
) -> ImportResult:
    """Import one camt file or a ZIP of several; raises CamtError (the caller rolls back)."""
    result = ImportResult()
    for name, content in _documents(data, filename):
        result.files.append(_import_document(merchant, content, name, actor=actor, today=today, progress=progress))
    return result


def _import_document(merchant: Merchant, content: bytes, name: str, *, actor: str, today: date,
                     progress: Progress | None) -> FileResult:
    digest = hashlib.sha256(content).hexdigest()
    outcome = FileResult(filename=name)
    seen_before = db.session.execute(
        select(BankStatementFile).where(BankStatementFile.merchant_id == merchant.id, BankStatementFile.sha256 == digest)
    ).scalar_one_or_none()
    if seen_before is not None:
        outcome.already_imported = True
        outcome.message_type = seen_before.message_type
        return outcome
    record = BankStatementFile(merchant_id=merchant.id, filename=name[-255:], sha256=digest, message_type="", actor=actor)
    db.session.add(record)
    db.session.flush()

    header = camt.Header()
    try:
        chunk: list[Transaction] = []
        for tx in camt.read(io.BytesIO(content), header):
            chunk.append(tx)
            if len(chunk) >= CHUNK:
                _process(merchant, record, chunk, outcome, today=today, actor=actor)
                chunk = []
                _release(record)
                if progress:
                    progress(outcome.entries)
        _process(merchant, record, chunk, outcome, today=today, actor=actor)
    except CamtError as exc:
        raise CamtError(f"{name}: {exc}") from None
    if progress:
        progress(outcome.entries)
    outcome.message_type = record.message_type = header.message_type
    record.entries_total = outcome.entries
    record.entries_booked = outcome.booked + outcome.reversed
    record.entries_unmatched = outcome.unmatched
    record.entries_skipped = outcome.skipped + outcome.duplicates
    return outcome


def _process(merchant: Merchant, record: BankStatementFile, chunk: Sequence[Transaction], outcome: FileResult, *,
             today: date, actor: str) -> None:
    if not chunk:
        return
    outcome.entries += len(chunk)
    refs = [tx.entry_ref for tx in chunk]
    known = set()
    for part in _batches(refs):
        known.update(db.session.execute(
            select(BankEntry.entry_ref).where(BankEntry.merchant_id == merchant.id, BankEntry.entry_ref.in_(part))
        ).scalars())
    fresh: list[Transaction] = []
    for tx in chunk:
        if not (tx.is_payment or tx.is_returned_credit):
            outcome.skipped += 1
        elif tx.entry_ref in known:
            outcome.duplicates += 1
        else:
            known.add(tx.entry_ref)  # the same reference twice in one file counts once
            fresh.append(tx)
    if not fresh:
        return
    payments = [tx for tx in fresh if tx.is_payment]
    matches = _match_all(merchant, payments)
    for tx in fresh:
        entry = BankEntry(
            merchant_id=merchant.id, file_id=record.id, entry_ref=tx.entry_ref, direction=tx.direction,
            reversal=tx.reversal, amount_minor=tx.amount_minor, currency=tx.currency, booking_date=tx.booking_date,
            value_date=tx.value_date, debtor_name=(tx.debtor_name or None) and tx.debtor_name[:140],
            debtor_iban=(tx.debtor_iban or None) and tx.debtor_iban[:34],
            reference=(tx.reference or None) and tx.reference[:140], remittance=tx.remittance or None,
            end_to_end_id=(tx.end_to_end_id or None) and tx.end_to_end_id[:140], state="unmatched",
        )
        db.session.add(entry)
        if tx.is_payment:
            found = matches.get(tx.entry_ref)
            if found:
                method, invoices = found
                _book_entry(entry, invoices, method=method, booked_on=tx.booking_date or tx.value_date or today, actor=actor)
                outcome.booked += 1
            else:
                outcome.unmatched += 1
        else:
            if _book_return(merchant, entry, booked_on=tx.booking_date or tx.value_date or today, actor=actor):
                outcome.reversed += 1
            else:
                outcome.unmatched += 1
    db.session.flush()


def _release(record: BankStatementFile) -> None:
    """Large imports: forget the rows already flushed, so memory stays flat over 100,000 entries.

    Only written records are let go (bank entries, ledger entries, events, and invoices with
    no pending change); they stay in the transaction and are reloaded if anyone asks.
    """
    db.session.flush()
    for obj in list(db.session.identity_map.values()):
        if obj is record:
            continue
        if isinstance(obj, (BankEntry, LedgerEntry, Event)) or (isinstance(obj, Invoice) and obj not in db.session.dirty):
            db.session.expunge(obj)


def _batches(values: Sequence, size: int = 500) -> Iterable[Sequence]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _ledger_ref(entry: BankEntry) -> str:
    ref = entry.entry_ref
    return ref if len(ref) <= 120 else "h:" + hashlib.sha256(ref.encode()).hexdigest()[:60]


def _book_entry(entry: BankEntry, invoices: Sequence[Invoice], *, method: str, booked_on: date, actor: str) -> None:
    """Split the entry over `invoices` (oldest due first, up to each open amount, the rest as credit on the last)."""
    ordered = sorted(invoices, key=lambda inv: (inv.due_date, inv.id))
    if len(ordered) > 1:  # the split depends on every current balance (a single invoice takes it all anyway)
        for invoice in ordered:
            db.session.refresh(invoice, attribute_names=["open_minor"])
    shares = split(entry.amount_minor, [inv.open_minor for inv in ordered])
    pairs = [(inv, share) for inv, share in zip(ordered, shares) if share > 0]
    book_shares(
        pairs, kind="payment", source="bank", ref=_ledger_ref(entry), booked_on=booked_on, actor=actor,
        memo="Bank transfer", data={"payer": entry.debtor_name, "method": method},
    )
    entry.state = "booked"
    entry.match_method = method
    entry.allocation = [[inv.id, share] for inv, share in pairs]


def _book_return(merchant: Merchant, entry: BankEntry, *, booked_on: date, actor: str) -> bool:
    """Book a returned credit against the entry it returns; False when that entry is not known."""
    original = None
    candidates = select(BankEntry).where(
        BankEntry.merchant_id == merchant.id, BankEntry.direction == "CRDT", BankEntry.state == "booked",
        BankEntry.amount_minor == entry.amount_minor, BankEntry.currency == entry.currency,
    )
    if entry.end_to_end_id:
        original = db.session.execute(candidates.where(BankEntry.end_to_end_id == entry.end_to_end_id)).scalars().first()
    if original is None:
        for ref in matching.references(entry.reference, entry.remittance):
            original = db.session.execute(candidates.where(BankEntry.reference == ref)).scalars().first()
            if original is not None:
                break
    if original is None or not original.allocation:
        return False
    pairs = [(db.session.get(Invoice, invoice_id), amount) for invoice_id, amount in original.allocation]
    shares = take_back(entry.amount_minor, [amount for _, amount in pairs])
    book_shares(
        [(inv, share) for (inv, _), share in zip(pairs, shares)], kind="reversal", source="bank",
        ref=_ledger_ref(entry), booked_on=booked_on, actor=actor, memo="Bank transfer returned",
        data={"returns": original.entry_ref},
    )
    original.state = "reversed"
    entry.state = "booked"
    entry.match_method = "reversal"
    entry.allocation = [[inv.id, share] for (inv, _), share in zip(pairs, shares) if share > 0]
    return True


# --- matching -----------------------------------------------------------------------------------


def _match_all(merchant: Merchant, payments: Sequence[Transaction]) -> dict[str, tuple[str, list[Invoice]]]:
    """entry_ref → (method, invoices) for every payment that can be matched."""
    out: dict[str, tuple[str, list[Invoice]]] = {}
    if not payments:
        return out
    wanted = {tx.entry_ref: matching.references(tx.reference, tx.remittance) for tx in payments}
    all_refs = sorted({ref for refs in wanted.values() for ref in refs})
    by_ref: dict[str, list[int]] = {}
    for part in _batches(all_refs):
        for inv_id, ref in db.session.execute(
            select(Invoice.id, Invoice.rf_reference).where(Invoice.merchant_id == merchant.id, Invoice.rf_reference.in_(part))
        ):
            by_ref[ref] = [inv_id]
        for ref, inv_id in db.session.execute(
            select(PaymentReference.reference, PaymentReferenceInvoice.invoice_id)
            .join(PaymentReferenceInvoice, PaymentReferenceInvoice.payment_reference_id == PaymentReference.id)
            .where(PaymentReference.merchant_id == merchant.id, PaymentReference.reference.in_(part))
        ):
            by_ref.setdefault(ref, []).append(inv_id)
        # An installment rate's own reference pays the plan's invoices (oldest due first).
        for ref, inv_id in db.session.execute(
            select(PlanRate.rf_reference, CaseInvoice.invoice_id)
            .join(InstallmentPlan, InstallmentPlan.id == PlanRate.plan_id)
            .join(CaseInvoice, CaseInvoice.case_id == InstallmentPlan.case_id)
            .where(InstallmentPlan.merchant_id == merchant.id, PlanRate.rf_reference.in_(part))
        ):
            by_ref.setdefault(ref, []).append(inv_id)

    rest = []
    for tx in payments:
        ids = next((by_ref[ref] for ref in wanted[tx.entry_ref] if ref in by_ref), None)
        if ids:
            out[tx.entry_ref] = ("rf", ids)
        else:
            rest.append(tx)

    if rest:
        tokens = {tx.entry_ref: matching.number_candidates(tx.remittance) for tx in rest}
        all_tokens = sorted({t for ts in tokens.values() for t in ts})
        by_number: dict[str, int] = {}
        for part in _batches(all_tokens):
            for inv_id, number in db.session.execute(
                select(Invoice.id, Invoice.number).where(Invoice.merchant_id == merchant.id, Invoice.number.in_(part))
            ):
                by_number[number] = inv_id
        for tx in rest:
            ids = []
            for token in tokens[tx.entry_ref]:
                inv_id = by_number.get(token)
                if inv_id is not None and inv_id not in ids:
                    ids.append(inv_id)
            if ids:
                out[tx.entry_ref] = ("number", ids)
            else:
                inv_ids = _match_amount(merchant, tx)
                if inv_ids:
                    out[tx.entry_ref] = ("amount", inv_ids)

    currency = {tx.entry_ref: tx.currency for tx in payments}
    resolved: dict[str, tuple[str, list[Invoice]]] = {}
    for key, (method, ids) in out.items():
        invoices = [db.session.get(Invoice, inv_id) for inv_id in ids]
        if all(inv.currency == currency[key] for inv in invoices):  # a CHF transfer never pays a EUR invoice
            resolved[key] = (method, invoices)
    return resolved


def _match_amount(merchant: Merchant, tx: Transaction) -> list[int]:
    """Open invoices of exactly this amount whose debtor is the payer (by name, or by an IBAN seen before)."""
    debtor_ids: set[int] = set()
    if tx.debtor_iban:
        for allocation in db.session.execute(
            select(BankEntry.allocation).where(
                BankEntry.merchant_id == merchant.id, BankEntry.debtor_iban == tx.debtor_iban,
                BankEntry.state == "booked", BankEntry.direction == "CRDT",
            ).limit(20)
        ).scalars():
            for invoice_id, _ in allocation or []:
                debtor_ids.add(db.session.execute(select(Invoice.debtor_id).where(Invoice.id == invoice_id)).scalar_one())
    open_same_amount = db.session.execute(
        select(Invoice, Debtor).join(Debtor, Debtor.id == Invoice.debtor_id).where(
            Invoice.merchant_id == merchant.id, Invoice.status == InvoiceStatus.OPEN.value,
            Invoice.open_minor == tx.amount_minor, Invoice.currency == tx.currency,
        ).limit(200)
    ).all()
    hits = [
        inv.id for inv, debtor in open_same_amount
        if debtor.id in debtor_ids or matching.same_name(tx.debtor_name, debtor.name, debtor.company)
    ]
    if len(hits) == 1:
        return hits
    if hits or not tx.debtor_name and not debtor_ids:
        return []  # ambiguous, or nothing to tell debtors apart: leave it to staff
    # The payer may have paid everything they owe at once.
    for debtor_id in debtor_ids:
        totals = db.session.execute(
            select(func.sum(Invoice.open_minor)).where(
                Invoice.debtor_id == debtor_id, Invoice.status == InvoiceStatus.OPEN.value, Invoice.currency == tx.currency,
            )
        ).scalar()
        if totals == tx.amount_minor:
            return list(db.session.execute(
                select(Invoice.id).where(Invoice.debtor_id == debtor_id, Invoice.status == InvoiceStatus.OPEN.value,
                                         Invoice.currency == tx.currency)
            ).scalars())
    return []


# --- manual assignment (back office) ------------------------------------------------------------


class AssignmentError(ValueError):
    """The entry cannot be assigned as asked."""


def unmatched_entries(merchant: Merchant) -> list[BankEntry]:
    return list(db.session.execute(
        select(BankEntry).where(BankEntry.merchant_id == merchant.id, BankEntry.state == "unmatched")
        .order_by(BankEntry.booking_date.desc(), BankEntry.id.desc())
    ).scalars())


def assign(merchant: Merchant, entry: BankEntry, invoices: Sequence[Invoice], *, actor: str, today: date) -> None:
    """Staff assign an unmatched credit to invoices of this merchant; booked like a matched transfer."""
    if entry.merchant_id != merchant.id:
        raise AssignmentError("no such bank entry")
    if entry.state != "unmatched" or entry.direction != "CRDT":
        raise AssignmentError("only unmatched incoming payments can be assigned")
    if not invoices:
        raise AssignmentError("choose at least one invoice")
    if any(inv.merchant_id != merchant.id for inv in invoices):
        raise AssignmentError("no such invoice")
    if any(inv.currency != entry.currency for inv in invoices):
        raise AssignmentError("the invoice currency differs from the payment's")
    _book_entry(entry, invoices, method="manual", booked_on=entry.booking_date or entry.value_date or today, actor=actor)
    entry.assigned_at = utcnow()
    entry.assigned_by = actor
    for invoice in invoices:
        db.session.add(Event(merchant_id=merchant.id, invoice_id=invoice.id, debtor_id=invoice.debtor_id,
                             kind="payment.assigned", actor=actor, data={"bank_entry": entry.id}))
