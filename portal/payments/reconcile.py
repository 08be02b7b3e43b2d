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

import gc
import hashlib
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import IO

from sqlalchemy import func, select, text, union_all

from portal import ledger
from portal.domain import camt, matching, ziparchive
from portal.domain.allocation import split, take_back
from portal.domain.camt import CamtError, Transaction
from portal.dunning import bulk
from portal.extensions import db
from portal.models import (
    BankEntry,
    BankEntryKey,
    BankStatementFile,
    CaseInvoice,
    Debtor,
    Event,
    InstallmentPlan,
    Invoice,
    InvoiceStatus,
    LedgerEntry,
    Merchant,
    PaymentReference,
    PaymentReferenceInvoice,
    PlanRate,
)
from portal.models.types import utcnow
from portal.payments.booking import book_shares
from portal.transactions import roomy_sqlite_cache, writing

CHUNK = 1000
BULK = True  # book runs of payments set-based (ledger.book_many); False: one by one through ledger.book
# ZIPs of statements (portal.domain.ziparchive): real unpacked bytes per member and in total, members.
ZIP_LIMITS = ziparchive.Limits(members=10_000, member_bytes=512 * 1024 * 1024, total_bytes=2 * 1024 ** 3)

# SQLite page cache while a statement is imported (portal.transactions.roomy_sqlite_cache): every paid
# invoice moves in seven of its indexes; at 1,000,000 invoices a 100,000-entry import rewrote the same
# pages from the file again and again with 64 MiB (13 s of updates), 7 s with 256 MiB. Only memory:
# the cache fills as far as the import touches pages and is given back afterwards.
IMPORT_CACHE_KIB = 256 * 1024

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
    implausible: int = 0  # of the unmatched: matched, but far beyond what was open (held for staff)


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
            f"{self.total('unmatched')} left for manual assignment"
            + (f" ({self.total('implausible')} far beyond what was open, not booked, staff notified)"
               if self.total("implausible") else ""),
            f"{self.total('reversed')} return(s) booked",
            f"{self.total('duplicates')} seen before",
            f"{self.total('skipped')} not payments (debits, pending)",
        ]
        return "; ".join(parts) + "."


def _documents(data: bytes, filename: str) -> Iterator[tuple[str, IO[bytes], str]]:
    """(name, content, SHA-256) of each statement: the file itself, or the .xml members of a ZIP
    (read by the shared ZIP reader within `ZIP_LIMITS`; any refused member rejects the upload)."""
    if not ziparchive.is_zip(data):
        yield filename, io.BytesIO(data), hashlib.sha256(data).hexdigest()
        return
    found = False
    try:
        for member in ziparchive.members(data, ZIP_LIMITS, accept=(".xml",)):
            if member.file is None and member.problem is not None and not member.name.lower().endswith(".xml"):
                continue  # other files (a PDF of the statement, a readme) are left alone
            if member.problem is not None:
                raise CamtError(f"{filename}/{member.name}: {member.problem}")
            found = True
            try:
                yield f"{filename}/{member.name}", member.file, member.sha256
            finally:
                member.close()
    except ziparchive.ArchiveError as exc:
        raise CamtError(f"{filename}: {exc}") from None
    if not found:
        raise CamtError(f"{filename}: the ZIP file holds no .xml statement")


@writing  # on SQLite the duplicate checks read under the write lock (portal.transactions)
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
    if db.engine.dialect.name == "postgresql":
        # The driver prepares a statement it has sent five times, and PostgreSQL then plans it once for
        # any parameters ("generic plan") with the statistics of the moment: for the amount rule that plan
        # read the merchant's whole invoice table per batch (3 s instead of 10 ms at 300,000 invoices).
        # Every statement of the import is planned with its own values; the setting ends with the transaction.
        db.session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    # A large import allocates millions of short-lived objects; every full garbage collection would
    # also walk the whole loaded application (about a tenth of a 100,000-entry import's time).
    # Frozen objects are skipped until unfrozen; cycles among new objects are still collected.
    gc.freeze()
    try:
        with roomy_sqlite_cache(IMPORT_CACHE_KIB):  # each paid invoice changes several of its indexes at random places
            for name, content, digest in _documents(data, filename):
                result.files.append(_import_document(merchant, content, digest, name, actor=actor, today=today,
                                                     progress=progress))
    finally:
        gc.unfreeze()
    return result


def _import_document(merchant: Merchant, content: IO[bytes], digest: str, name: str, *, actor: str, today: date,
                     progress: Progress | None) -> FileResult:
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
        for tx in camt.read(content, header):
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


def _on(tx, today: date) -> date:
    """The day a bank credit counts from: its value date (ValDt), for interest and allocation alike;
    the booking date only when the bank gives none."""
    return tx.value_date or tx.booking_date or today


def _process(merchant: Merchant, record: BankStatementFile, chunk: Sequence[Transaction], outcome: FileResult, *,
             today: date, actor: str) -> None:
    if not chunk:
        return
    outcome.entries += len(chunk)
    seen = _seen_before(merchant, chunk)
    fresh: list[Transaction] = []
    new_keys: dict[str, str] = {}  # key → entry_ref, for this chunk's keys not stored yet
    for tx in chunk:
        if not (tx.is_payment or tx.is_returned_credit):
            outcome.skipped += 1
            continue
        original = seen[tx.entry_ref].entry_ref if tx.entry_ref in seen else _same_credit(tx, seen)
        for key in tx.keys:
            if key not in seen:
                new_keys[key] = original or tx.entry_ref
                seen[key] = _Seen(original or tx.entry_ref, tx.end_to_end_id, tx.entry_bank_ref)
        if original:
            outcome.duplicates += 1  # reported before (a camt.054, an overlapping statement): booked once
            continue
        seen[tx.entry_ref] = _Seen(tx.entry_ref, tx.end_to_end_id, tx.entry_bank_ref)  # twice in one file counts once
        fresh.append(tx)
    if new_keys:
        ledger.insert_records(BankEntryKey.__table__, [
            {"merchant_id": merchant.id, "key": key, "entry_ref": ref} for key, ref in new_keys.items()])
    if not fresh:
        return
    payments = [tx for tx in fresh if tx.is_payment]
    matches = _match_ids(merchant, payments)
    book = _book_payments if BULK else _book_payments_one_by_one
    run: list[Transaction] = []  # payments up to the next return, booked together
    for tx in fresh:
        if tx.is_payment:
            run.append(tx)
            continue
        book(merchant, record, _by_value_date(run), matches, outcome, today=today, actor=actor)  # a return may undo one
        run = []
        entry = BankEntry(**_entry_row(merchant, record, tx))
        db.session.add(entry)
        if _book_return(merchant, entry, booked_on=_on(tx, today), actor=actor):
            outcome.reversed += 1
        else:
            outcome.unmatched += 1
    book(merchant, record, _by_value_date(run), matches, outcome, today=today, actor=actor)
    db.session.flush()


def _by_value_date(run: list[Transaction]) -> list[Transaction]:
    """Payments in the order their money arrived (value date; file order within a day), so each split
    sees the balances the earlier ones left."""
    return sorted(run, key=lambda tx: tx.value_date or tx.booking_date or date.max)


@dataclass(frozen=True)
class _Seen:
    entry_ref: str  # the stored entry
    end_to_end_id: str | None
    entry_bank_ref: str | None  # its entry-level AcctSvcrRef, where known


def _same_credit(tx: Transaction, seen: dict[str, _Seen]) -> str | None:
    """The stored entry this transaction repeats, by its keys: the bank's reference (either level) or the
    EndToEndId (with amount and direction) decide; the structured reference with amount and value date
    only when nothing contradicts it (a different EndToEndId or entry-level reference is another credit)."""
    for key in tx.keys:
        found = seen.get(key)
        if found is None:
            continue
        if key.startswith(("b:", "e:")):
            return found.entry_ref
        differs = [(a, b) for a, b in ((tx.end_to_end_id, found.end_to_end_id), (tx.entry_bank_ref, found.entry_bank_ref))
                   if a and b and a != b]
        if not differs:
            return found.entry_ref
    return None


def _seen_before(merchant: Merchant, chunk: Sequence[Transaction]) -> dict[str, _Seen]:
    """The chunk's entry references and keys already stored, each with the entry it names.

    Set-based: the chunk's keys, then the entries they name together with the chunk's own
    references, each joined as one batch against its unique index (`bulk.probe`: one index probe
    per value, on PostgreSQL whatever the statistics of tables this import is filling say)."""
    out: dict[str, _Seen] = {}
    refs = sorted({tx.entry_ref for tx in chunk})
    keys = sorted({key for tx in chunk for key in tx.keys})
    stored: dict[str, str] = dict(
        (key, ref) for key, ref in bulk.probe(BankEntryKey.key, keys, [BankEntryKey.entry_ref],
                                              BankEntryKey.merchant_id == merchant.id))
    wanted = sorted(set(refs) | set(stored.values()))
    entries: dict[str, _Seen] = {
        ref: _Seen(ref, e2e, _entry_level_ref(ref))
        for ref, e2e in bulk.probe(BankEntry.entry_ref, wanted, [BankEntry.end_to_end_id],
                                   BankEntry.merchant_id == merchant.id)
    }
    for ref in refs:
        if ref in entries:
            out[ref] = entries[ref]
    for key, ref in stored.items():
        out[key] = entries.get(ref) or _Seen(ref, None, _entry_level_ref(ref))
    return out


def _entry_level_ref(entry_ref: str) -> str | None:
    """The entry-level AcctSvcrRef inside a stored entry reference (`<account>:<ref>`), if it is one."""
    if entry_ref.startswith("h:"):
        return None
    account, _, rest = entry_ref.partition(":")
    return None if rest.startswith("tx:") or not rest else rest


def _entry_row(merchant: Merchant, record: BankStatementFile, tx: Transaction) -> dict:
    return {
        "merchant_id": merchant.id, "file_id": record.id, "entry_ref": tx.entry_ref, "direction": tx.direction,
        "reversal": tx.reversal, "amount_minor": tx.amount_minor, "currency": tx.currency, "booking_date": tx.booking_date,
        "value_date": tx.value_date, "debtor_name": (tx.debtor_name or None) and tx.debtor_name[:140],
        "debtor_iban": (tx.debtor_iban or None) and tx.debtor_iban[:34],
        "reference": (tx.reference or None) and tx.reference[:140], "remittance": tx.remittance or None,
        "end_to_end_id": (tx.end_to_end_id or None) and tx.end_to_end_id[:140], "state": "unmatched",
    }


def _book_payments(merchant: Merchant, record: BankStatementFile, txs: Sequence[Transaction],
                   matches: dict[str, tuple[str, list[int]]], outcome: FileResult, *, today: date, actor: str) -> None:
    """Book a run of payments set-based: the invoices locked once, the splits computed here, the rows
    written with a few multi-row statements (`ledger.book_many`); same outcome as `_book_entry` per entry."""
    if not txs:
        return
    db.session.flush()
    held = ledger.lock_many(i for tx in txs if tx.entry_ref in matches for i in matches[tx.entry_ref][1])
    balance = {i: inv.open_minor for i, inv in held.items()}  # as the bookings before each split leave it
    booked_rows, unmatched_rows, shares = [], [], []
    paid = []  # (transaction, ref, invoices, its rows in `shares`, balances after it): for the receipts
    for tx in txs:
        row = _entry_row(merchant, record, tx)
        method, ids = matches.get(tx.entry_ref, ("", []))
        invoices = [held[i] for i in ids if i in held]
        if not ids or len(invoices) != len(ids) or any(inv.currency != tx.currency for inv in invoices):
            unmatched_rows.append(row)  # a CHF transfer never pays a EUR invoice
            outcome.unmatched += 1
            continue
        ordered = sorted(invoices, key=lambda inv: (inv.due_date, inv.id))
        ref = _short_ref(tx.entry_ref)
        if _held_as_implausible(ordered, tx.amount_minor, [balance[inv.id] for inv in ordered], ref=ref, actor=actor):
            unmatched_rows.append(row)
            outcome.unmatched += 1
            outcome.implausible += 1
            continue
        pairs = [(inv.id, share) for inv, share in zip(ordered, split(tx.amount_minor, [balance[inv.id] for inv in ordered]))
                 if share > 0]
        data = {"payer": row["debtor_name"], "method": method}
        first_share = len(shares)
        for invoice_id, share in pairs:
            balance[invoice_id] -= share
            shares.append({"invoice_id": invoice_id, "amount_minor": share, "external_ref": f"{ref}:{invoice_id}"[:140],
                           "booked_on": _on(tx, today), "memo": "Bank transfer", "data": data,
                           "ref": ref})
        paid.append((tx, ref, ordered, range(first_share, len(shares)), {i: balance[i] for i in ids}))
        booked_rows.append({**row, "state": "booked", "match_method": method, "allocation": [list(p) for p in pairs]})
        outcome.booked += 1
    ledger.insert_records(BankEntry.__table__, booked_rows)
    ledger.insert_records(BankEntry.__table__, unmatched_rows)  # apart: their allocation stays SQL NULL

    def overpaid(share: dict, booking: ledger.BulkBooking) -> list[dict]:
        if not booking.created or booking.open_minor >= 0:
            return []
        invoice = held[share["invoice_id"]]
        return [{"merchant_id": invoice.merchant_id, "invoice_id": invoice.id, "debtor_id": invoice.debtor_id,
                 "kind": "payment.overpaid", "actor": actor,
                 "data": {"credit_minor": -booking.open_minor, "currency": invoice.currency, "source": "bank",
                          "ref": share["ref"]}}]

    results = ledger.book_many(shares, kind="payment", source="bank", actor=actor, held=held, then=overpaid)
    _after_payments(merchant, [(shares[k], results[k]) for k in range(len(shares))], actor=actor, balances=paid)
    _receipts(paid, results, today=today)


def _after_payments(merchant: Merchant, booked, *, actor: str, balances=()) -> None:
    """Small remainders and credits the payments just left (`portal.payments.credits`): written off or handed
    to staff; staff told about credits. `booked`: (share row, booking) pairs; `balances`: the receipts'
    balances after each payment, corrected for what was written off."""
    from portal.payments import credits

    fresh = [(share, result) for share, result in booked if result is not None and result.created]
    if not fresh:
        return
    handled = credits.small_remainders(
        merchant, [(share["invoice_id"], share["booked_on"], share["ref"]) for share, result in fresh
                   if 0 < result.open_minor <= (merchant.remainder_tolerance_minor or 0)], actor=actor)
    for _, _, _, _, after in balances:
        for invoice_id, action in handled.items():
            if action == "write_off" and invoice_id in after:
                after[invoice_id] = 0
    for share, result in fresh:
        if result.open_minor < 0:
            credits.overpaid(merchant, [share["invoice_id"]], ref=share["ref"])


def _receipts(paid, results, *, today: date) -> None:
    """A receipt for every transfer that booked something now (one query for the debtors of the run)."""
    from portal.payments import receipts

    fresh = [p for p in paid if any(results[k] is not None and results[k].created for k in p[3])]
    debtor_ids = sorted({inv.debtor_id for _, _, invoices, _, _ in fresh for inv in invoices})
    debtors = {d.id: d for d in db.session.execute(select(Debtor).where(bulk.among(Debtor.id, debtor_ids))).scalars()} if fresh else {}
    numbers = dict(db.session.execute(select(Invoice.id, Invoice.number).where(
        bulk.among(Invoice.id, sorted({inv.id for _, _, invoices, _, _ in fresh for inv in invoices})))).all()) if fresh else {}
    receipts.queue_many(
        receipts.item(debtors[invoices[0].debtor_id], ref=ref, method="bank", paid_on=_on(tx, today),
                      currency=tx.currency, amount_minor=tx.amount_minor,
                      balances=[(numbers[inv.id], after[inv.id]) for inv in invoices])
        for tx, ref, invoices, _, after in fresh
    )


def _book_payments_one_by_one(merchant: Merchant, record: BankStatementFile, txs: Sequence[Transaction],
                              matches: dict[str, tuple[str, list[int]]], outcome: FileResult, *, today: date,
                              actor: str) -> None:
    """The same bookings entry by entry through `ledger.book` (BULK = False): the reference the bulk path is tested against."""
    for tx in txs:
        entry = BankEntry(**_entry_row(merchant, record, tx))
        db.session.add(entry)
        method, ids = matches.get(tx.entry_ref, ("", []))
        invoices = [db.session.get(Invoice, i) for i in ids]
        if invoices and all(inv.currency == tx.currency for inv in invoices):
            ordered = sorted(invoices, key=lambda inv: (inv.due_date, inv.id))
            for invoice in ordered:
                db.session.refresh(invoice, attribute_names=["open_minor"])
            if _held_as_implausible(ordered, tx.amount_minor, [inv.open_minor for inv in ordered],
                                    ref=_ledger_ref(entry), actor=actor):
                outcome.unmatched += 1
                outcome.implausible += 1
                continue
            _book_entry(entry, invoices, method=method, booked_on=_on(tx, today), actor=actor)
            outcome.booked += 1
        else:
            outcome.unmatched += 1


def _held_as_implausible(ordered, amount_minor: int, balances: Sequence[int], *, ref: str, actor: str) -> bool:
    """A transfer far beyond what its invoices have open is not booked: it stays unassigned with its whole amount
    (staff assign it or send it back) and staff are told (`portal.payments.plausibility`). `ordered`: the
    invoices (or `ledger.Held` rows), oldest due first; the excess would land on the last one."""
    from portal.payments import plausibility

    last, open_minor = ordered[-1], plausibility.open_total(balances)
    if plausibility.is_plausible(last, amount_minor, open_minor=open_minor):
        return False
    invoice = last if isinstance(last, Invoice) else db.session.get(Invoice, last.id)
    plausibility.flag(invoice, amount_minor=amount_minor, source="bank", ref=ref, actor=actor, open_minor=open_minor)
    return True


def _release(record: BankStatementFile) -> None:
    """Large imports: forget the rows already flushed, so memory stays flat over 100,000 entries.

    Only written records are let go (bank entries, ledger entries, events); they stay in the
    transaction and are reloaded if anyone asks. Invoices stay: the caller may hold them, and
    the bulk path never loads them as objects (the ledger expires the copies it made stale).
    """
    db.session.flush()
    for obj in list(db.session.identity_map.values()):
        if obj is not record and isinstance(obj, (BankEntry, LedgerEntry, Event)):
            db.session.expunge(obj)


def _batches(values: Sequence, size: int = 1000) -> Iterable[Sequence]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _ledger_ref(entry: BankEntry) -> str:
    return _short_ref(entry.entry_ref)


def _short_ref(ref: str) -> str:
    return ref if len(ref) <= 120 else "h:" + hashlib.sha256(ref.encode()).hexdigest()[:60]


def _book_entry(entry: BankEntry, invoices: Sequence[Invoice], *, method: str, booked_on: date, actor: str) -> None:
    """Split the entry over `invoices` (oldest due first, up to each open amount, the rest as credit on the last)."""
    ordered = sorted(invoices, key=lambda inv: (inv.due_date, inv.id))
    if len(ordered) > 1:  # the split depends on every current balance (a single invoice takes it all anyway)
        for invoice in ordered:
            db.session.refresh(invoice, attribute_names=["open_minor"])
    shares = split(entry.amount_minor, [inv.open_minor for inv in ordered])
    pairs = [(inv, share) for inv, share in zip(ordered, shares) if share > 0]
    booked = book_shares(
        pairs, kind="payment", source="bank", ref=_ledger_ref(entry), booked_on=booked_on, actor=actor,
        memo="Bank transfer", data={"payer": entry.debtor_name, "method": method},
    )
    merchant = db.session.get(Merchant, entry.merchant_id)
    _after_payments(merchant, [({"invoice_id": inv.id, "booked_on": booked_on, "ref": _ledger_ref(entry)},
                                ledger.BulkBooking(inv.id, True, inv.open_minor, inv.status)) for inv, _ in booked],
                   actor=actor)
    from portal.payments import receipts

    if pairs:
        receipts.queue(db.session.get(Debtor, ordered[0].debtor_id), [inv for inv, _ in pairs], ref=_ledger_ref(entry),
                       method="bank", paid_on=booked_on, amount_minor=entry.amount_minor)
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


def _match_ids(merchant: Merchant, payments: Sequence[Transaction]) -> dict[str, tuple[str, list[int]]]:
    """entry_ref → (method, invoice ids) for every payment that can be matched (the caller checks the currency).

    One batch of lookups per chunk: only the references, numbers and amounts the chunk
    names are looked up (a few indexed `IN (…)` queries), never the merchant's whole table.
    """
    out: dict[str, tuple[str, list[int]]] = {}
    if not payments:
        return out
    wanted = {tx.entry_ref: matching.references(tx.reference, tx.remittance) for tx in payments}
    all_refs = sorted({ref for refs in wanted.values() for ref in refs})
    by_ref: dict[str, list[int]] = {}
    for part in _batches(all_refs):
        # References are unique across merchants: looked up by their own index, the tenant checked on
        # the rows found (with `merchant_id = ?` in SQL, SQLite scans the merchant's invoices instead).
        for inv_id, ref, owner in db.session.execute(
            select(Invoice.id, Invoice.rf_reference, Invoice.merchant_id).where(bulk.among(Invoice.rf_reference, part))
        ):
            if owner == merchant.id:
                by_ref[ref] = [inv_id]
        for ref, inv_id, owner in db.session.execute(
            select(PaymentReference.reference, PaymentReferenceInvoice.invoice_id, PaymentReference.merchant_id)
            .join(PaymentReferenceInvoice, PaymentReferenceInvoice.payment_reference_id == PaymentReference.id)
            .where(bulk.among(PaymentReference.reference, part))
        ):
            if owner == merchant.id:
                by_ref.setdefault(ref, []).append(inv_id)
        # An installment rate's own reference pays the plan's invoices (oldest due first).
        for ref, inv_id in db.session.execute(
            select(PlanRate.rf_reference, CaseInvoice.invoice_id)
            .join(InstallmentPlan, InstallmentPlan.id == PlanRate.plan_id)
            .join(CaseInvoice, CaseInvoice.case_id == InstallmentPlan.case_id)
            .where(InstallmentPlan.merchant_id == merchant.id, bulk.among(PlanRate.rf_reference, part))
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
            for number, inv_id in bulk.probe(Invoice.number, part, [Invoice.id], Invoice.merchant_id == merchant.id):
                by_number[number] = inv_id
        by_amount = []
        for tx in rest:
            ids = []
            for token in tokens[tx.entry_ref]:
                inv_id = by_number.get(token)
                if inv_id is not None and inv_id not in ids:
                    ids.append(inv_id)
            if ids:
                out[tx.entry_ref] = ("number", ids)
            else:
                by_amount.append(tx)
        for key, inv_ids in _match_amounts(merchant, by_amount).items():
            out[key] = ("amount", inv_ids)
    return out


AMOUNT_PROBES = 100  # (amount, currency) pairs per statement: SQLite allows 500 terms in a compound SELECT
AMOUNT_CANDIDATES = 200  # open invoices of one amount looked at, lowest id first


def _open_of_amounts(merchant: Merchant, pairs: Sequence[tuple[int, str]]):
    """The first `AMOUNT_CANDIDATES` open invoices (by id) of each (amount, currency), with their debtor.

    One index probe per pair, each bounded by its LIMIT (`UNION ALL` of the pairs' queries): a common
    amount costs its 200 rows, not all the invoices of that amount. A window over `open_minor IN (…)`
    did the same in one pass but left the index to SQLite's planner, which for a single amount took the
    one that serves the window's order and read every open invoice of the merchant (0.2 s a batch at
    1,000,000 invoices)."""
    columns = (Invoice.id, Invoice.open_minor, Invoice.currency, Debtor.id.label("debtor_id"), Debtor.name,
               Debtor.company)
    parts = [
        select(*columns).join(Debtor, Debtor.id == Invoice.debtor_id).where(
            Invoice.merchant_id == merchant.id, Invoice.in_status(InvoiceStatus.OPEN.value),
            Invoice.open_minor == amount, Invoice.currency == currency,
        ).order_by(Invoice.id).limit(AMOUNT_CANDIDATES).subquery()
        for amount, currency in pairs
    ]
    return union_all(*(select(part) for part in parts))


def _match_amounts(merchant: Merchant, txs: Sequence[Transaction]) -> dict[str, list[int]]:
    """entry_ref → open invoices of exactly the transfer's amount whose debtor is the payer (by name, or
    by an IBAN that paid this debtor before); else the payer's whole open amount when it is exactly that.

    The rule per transfer, with the lookups of a whole chunk batched: up to 20 earlier credits per
    IBAN and up to 200 open invoices per amount, as the one-transfer-at-a-time queries took.
    """
    out: dict[str, list[int]] = {}
    if not txs:
        return out
    history: dict[str, list[list]] = {}
    ibans = sorted({tx.debtor_iban for tx in txs if tx.debtor_iban})
    for part in _batches(ibans):
        earlier = select(
            BankEntry.debtor_iban, BankEntry.allocation,
            func.row_number().over(partition_by=BankEntry.debtor_iban, order_by=BankEntry.id).label("n"),
        ).where(BankEntry.merchant_id == merchant.id, BankEntry.debtor_iban.in_(part), BankEntry.state == "booked",
                BankEntry.direction == "CRDT").subquery()
        for iban, allocation in db.session.execute(select(earlier.c.debtor_iban, earlier.c.allocation).where(earlier.c.n <= 20)):
            history.setdefault(iban, []).append(allocation or [])
    debtor_of: dict[int, int] = {}
    paid_before = sorted({invoice_id for allocations in history.values() for a in allocations for invoice_id, _ in a})
    for part in _batches(paid_before):
        debtor_of.update(db.session.execute(select(Invoice.id, Invoice.debtor_id).where(bulk.among(Invoice.id, part))).all())

    same_amount: dict[tuple[int, str], list] = {}
    for part in _batches(sorted({(tx.amount_minor, tx.currency) for tx in txs}), size=AMOUNT_PROBES):
        for row in db.session.execute(_open_of_amounts(merchant, part)):
            same_amount.setdefault((row.open_minor, row.currency), []).append(row)

    whole: list[tuple[Transaction, set[int]]] = []  # transfers that may pay everything their payer owes
    for tx in txs:
        debtor_ids: set[int] = set()
        for allocation in history.get(tx.debtor_iban, []) if tx.debtor_iban else []:
            for invoice_id, _ in allocation:
                debtor_ids.add(debtor_of[invoice_id])
        hits = [
            row.id for row in same_amount.get((tx.amount_minor, tx.currency), [])
            if row.debtor_id in debtor_ids or matching.same_name(tx.debtor_name, row.name, row.company)
        ]
        if len(hits) == 1:
            out[tx.entry_ref] = hits
        elif not hits and debtor_ids:  # ambiguous, or nothing to tell debtors apart: left to staff
            whole.append((tx, debtor_ids))
    if whole:
        owed: dict[tuple[int, str], list[tuple[int, int]]] = {}
        for part in _batches(sorted({d for _, ids in whole for d in ids})):
            for invoice_id, debtor_id, currency, open_minor in db.session.execute(
                select(Invoice.id, Invoice.debtor_id, Invoice.currency, Invoice.open_minor)
                .where(bulk.among(Invoice.debtor_id, part), Invoice.status == InvoiceStatus.OPEN.value)
            ):
                owed.setdefault((debtor_id, currency), []).append((invoice_id, open_minor))
        for tx, debtor_ids in whole:
            for debtor_id in debtor_ids:
                invoices = owed.get((debtor_id, tx.currency), [])
                if invoices and sum(amount for _, amount in invoices) == tx.amount_minor:
                    out[tx.entry_ref] = [invoice_id for invoice_id, _ in invoices]
                    break
    return out


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
    _book_entry(entry, invoices, method="manual", booked_on=_on(entry, today), actor=actor)
    entry.assigned_at = utcnow()
    entry.assigned_by = actor
    for invoice in invoices:
        db.session.add(Event(merchant_id=merchant.id, invoice_id=invoice.id, debtor_id=invoice.debtor_id,
                             kind="payment.assigned", actor=actor, data={"bank_entry": entry.id}))
