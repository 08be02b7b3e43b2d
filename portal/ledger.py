"""The one place where an invoice's balance and status change.

Every booking (payment, credit, fee, interest, refund …) goes through `book`, which
writes the ledger entry, moves the cached open balance, applies the status transition
and records the event, all in the caller's transaction. A booking that already exists
(same source and external reference) is returned unchanged: repeats are no-ops.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select, update

from portal.extensions import db
from portal.models import Event, Invoice, InvoiceStatus, LedgerEntry
from portal.models.invoice import NEGATIVE_KINDS, POSITIVE_KINDS


class LedgerError(Exception):
    """A booking that must not happen."""


class BookingConflict(LedgerError):
    """The external reference was already booked with other content."""


class InvoiceClosed(LedgerError):
    """The invoice's state does not allow this change."""


@dataclass(frozen=True)
class Booking:
    entry: LedgerEntry
    created: bool


def lock(invoice_id: int) -> Invoice:
    """The invoice, locked for update (PostgreSQL row lock; SQLite serialises writers anyway)."""
    stmt = select(Invoice).where(Invoice.id == invoice_id).with_for_update()
    invoice = db.session.execute(stmt).scalar_one()
    db.session.refresh(invoice)
    return invoice


def book(
    invoice: Invoice,
    *,
    kind: str,
    amount_minor: int,
    source: str,
    external_ref: str,
    booked_on: date,
    actor: str,
    memo: str | None = None,
    data: dict | None = None,
) -> Booking:
    """Book one entry; `amount_minor` is the magnitude, the kind gives the sign."""
    if amount_minor <= 0 and kind != "adjustment":
        raise LedgerError("amount must be positive; the kind decides the sign")
    signed = -amount_minor if kind in NEGATIVE_KINDS else amount_minor
    if kind not in NEGATIVE_KINDS and kind not in POSITIVE_KINDS and kind != "adjustment":
        raise LedgerError(f"unknown ledger kind {kind!r}")

    existing = db.session.execute(
        select(LedgerEntry).where(
            LedgerEntry.merchant_id == invoice.merchant_id,
            LedgerEntry.source == source,
            LedgerEntry.external_ref == external_ref,
        )
    ).scalar_one_or_none()
    if existing is not None:
        if existing.invoice_id == invoice.id and existing.kind == kind and existing.amount_minor == signed:
            return Booking(existing, False)
        raise BookingConflict(f"{source} reference {external_ref!r} is already booked differently")

    invoice = lock(invoice.id)
    entry = LedgerEntry(
        merchant_id=invoice.merchant_id,
        invoice_id=invoice.id,
        kind=kind,
        amount_minor=signed,
        currency=invoice.currency,
        source=source,
        external_ref=external_ref,
        booked_on=booked_on,
        memo=memo,
        data=data,
    )
    db.session.add(entry)
    # Atomic increment: concurrent bookings on PostgreSQL never lose an update.
    # synchronize_session=False: the refresh below reloads the row; the default "evaluate" would scan
    # every Invoice in the session on each booking (quadratic in a 100,000-entry bank import).
    db.session.execute(
        update(Invoice).where(Invoice.id == invoice.id).values(open_minor=Invoice.open_minor + signed),
        execution_options={"synchronize_session": False},
    )
    db.session.flush()
    db.session.refresh(invoice)
    before = invoice.status
    _settle_status(invoice, booked_on)
    db.session.add(
        Event(
            merchant_id=invoice.merchant_id,
            invoice_id=invoice.id,
            debtor_id=invoice.debtor_id,
            kind=f"ledger.{kind}",
            actor=actor,
            data={
                "amount_minor": signed,
                "currency": invoice.currency,
                "source": source,
                "external_ref": external_ref,
                "open_minor": invoice.open_minor,
                "status": invoice.status,
                **({"status_before": before} if before != invoice.status else {}),
            },
        )
    )
    return Booking(entry, True)


def _settle_status(invoice: Invoice, on: date) -> None:
    """Paid when nothing is open any more; reopened when a refund or chargeback makes it owe again."""
    if invoice.status == InvoiceStatus.OPEN.value and invoice.open_minor <= 0:
        invoice.status = InvoiceStatus.PAID.value
        invoice.closed_on = on
        invoice.next_action_on = None
        from portal.dunning import escalation  # escalation reacts to the balance; imported late (it imports models)

        escalation.stopped(invoice, on)
    elif invoice.status == InvoiceStatus.PAID.value and invoice.open_minor > 0:
        invoice.status = InvoiceStatus.OPEN.value
        invoice.closed_on = None
        from portal.dunning import escalation

        escalation.reopened(invoice, on)


def cancel(invoice: Invoice, *, on: date, actor: str, reason: str | None = None) -> bool:
    """Cancel an invoice: the open principal is credited, escalation stops for good.

    Returns False when it was already cancelled (a repeat is a no-op).
    """
    if invoice.status == InvoiceStatus.CANCELLED.value:
        return False
    if invoice.status != InvoiceStatus.OPEN.value:
        raise InvoiceClosed(f"a {invoice.status.replace('_', ' ')} invoice cannot be cancelled")
    invoice = lock(invoice.id)
    if invoice.open_minor > 0:
        book(
            invoice,
            kind="credit",
            amount_minor=invoice.open_minor,
            source="staff" if actor.startswith("user:") else "api",
            external_ref=f"cancel:{invoice.id}",
            booked_on=on,
            actor=actor,
            memo=reason or "Invoice cancelled",
        )
    # The credit may just have marked it paid; cancellation is the truer state.
    invoice.status = InvoiceStatus.CANCELLED.value
    invoice.closed_on = on
    invoice.next_action_on = None
    from portal.dunning import escalation

    escalation.stopped(invoice, on)
    db.session.add(
        Event(
            merchant_id=invoice.merchant_id,
            invoice_id=invoice.id,
            debtor_id=invoice.debtor_id,
            kind="invoice.cancelled",
            actor=actor,
            data={"reason": reason} if reason else None,
        )
    )
    return True


def charges(invoice: Invoice) -> dict[str, int]:
    """Sum of entries per kind (minor units, signed), for itemised display."""
    totals: dict[str, int] = {}
    for entry in invoice.entries:
        totals[entry.kind] = totals.get(entry.kind, 0) + entry.amount_minor
    return totals


def book_charges(rows: list[dict], *, actor: str) -> None:
    """Book many dunning charges (fees, interest) at once: the dunning run's bulk path.

    Each row: merchant_id, invoice_id, debtor_id, kind ("fee" or "interest"), amount_minor
    (positive), currency, external_ref, booked_on, memo, data. Charges only ever raise an
    open balance, so no status changes here; the caller holds the invoices (row locks on
    PostgreSQL) and commits. A reference booked before violates the unique constraint and
    fails the whole batch: a charge is never booked twice.
    """
    if not rows:
        return
    for row in rows:
        if row["kind"] not in ("fee", "interest") or row["amount_minor"] <= 0:
            raise LedgerError("book_charges takes positive fees and interest only")
    from portal.dunning import bulk  # bulk writes, no ORM unit of work (imported late: it imports models)

    bulk.insert_rows(
        LedgerEntry.__table__,
        [
            {
                "merchant_id": r["merchant_id"], "invoice_id": r["invoice_id"], "kind": r["kind"],
                "amount_minor": r["amount_minor"], "currency": r["currency"], "source": "dunning",
                "external_ref": r["external_ref"], "booked_on": r["booked_on"], "memo": r.get("memo"),
                "data": r.get("data"),
            }
            for r in rows
        ],
    )
    totals: dict[int, int] = {}
    for r in rows:
        totals[r["invoice_id"]] = totals.get(r["invoice_id"], 0) + r["amount_minor"]
    bulk.update_rows(Invoice.__table__, [{"id": i, "open_minor": delta} for i, delta in totals.items()], add=("open_minor",))
    bulk.insert_rows(
        Event.__table__,
        [
            {
                "merchant_id": r["merchant_id"], "invoice_id": r["invoice_id"], "debtor_id": r["debtor_id"],
                "kind": f"ledger.{r['kind']}", "actor": actor,
                "data": {"amount_minor": r["amount_minor"], "currency": r["currency"], "source": "dunning",
                         "external_ref": r["external_ref"]},
            }
            for r in rows
        ],
    )
