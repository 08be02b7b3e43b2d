"""Creating invoices and their debtors from validated intake data (one submission at a time)."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.domain import rf
from portal.domain.intake import DebtorData, InvoiceData
from portal.extensions import db
from portal.models import Debtor, Event, Invoice, Merchant

DEBTOR_FIELDS = (
    "kind", "name", "company", "email", "phone", "language",
    "date_of_birth", "street", "postal_code", "city", "country",
)


class IntakeConflict(Exception):
    """The invoice number exists with different content."""

    def __init__(self, invoice: Invoice):
        super().__init__(f"invoice {invoice.number} already exists with different content")
        self.invoice = invoice


@dataclass
class IntakeResult:
    invoice: Invoice
    created: bool


def debtor_values(data: DebtorData) -> dict:
    return {f: getattr(data, f) for f in DEBTOR_FIELDS}


def upsert_debtor(merchant: Merchant, data: DebtorData, actor: str) -> Debtor:
    """Create the debtor, or update the fields the shop sent (blank fields never erase what we know)."""
    lookup = select(Debtor).where(Debtor.merchant_id == merchant.id, Debtor.external_ref == data.external_ref)
    debtor = db.session.execute(lookup).scalar_one_or_none()
    values = debtor_values(data)
    if debtor is None:
        debtor = Debtor(merchant_id=merchant.id, external_ref=data.external_ref, **values)
        try:
            with db.session.begin_nested():
                db.session.add(debtor)
                db.session.flush()
        except IntegrityError:
            # A concurrent submission (another invoice of the same new customer) created it
            # first: update that one like any known debtor.
            debtor = db.session.execute(lookup).scalar_one()
        else:
            db.session.add(Event(merchant_id=merchant.id, debtor_id=debtor.id, kind="debtor.created", actor=actor))
            return debtor
    changed = {}
    for name, value in values.items():
        if value is not None and getattr(debtor, name) != value:
            changed[name] = [jsonable(getattr(debtor, name)), jsonable(value)]
            setattr(debtor, name, value)
    if changed:
        db.session.add(
            Event(merchant_id=merchant.id, debtor_id=debtor.id, kind="debtor.updated", actor=actor, data={"changed": changed})
        )
    return debtor


def jsonable(value):
    return value.isoformat() if hasattr(value, "isoformat") else value


# Columns of a new invoice, in the order `invoice_row` and the bulk import fill them.
INVOICE_COLUMNS = (
    "merchant_id", "debtor_id", "number", "issue_date", "due_date", "currency", "amount_minor", "open_minor",
    "status", "order_ref", "lines", "rf_reference", "intake_fingerprint", "dunning_level", "next_action_on",
)


def invoice_row(merchant_id: int, debtor_id: int, data: InvoiceData) -> dict:
    """Column values of a new invoice (the bulk import writes the same values, in INVOICE_COLUMNS order)."""
    return {
        "merchant_id": merchant_id,
        "debtor_id": debtor_id,
        "number": data.number,
        "issue_date": data.issue_date,
        "due_date": data.due_date,
        "currency": data.currency,
        "amount_minor": data.amount_minor,
        "open_minor": data.amount_minor,
        "status": "open",
        "order_ref": data.order_ref,
        "lines": data.lines_json(),
        "rf_reference": rf.new(),
        "intake_fingerprint": data.fingerprint(),
        "dunning_level": 0,
        # The dunning run looks at the invoice from its issue date on: that first look chooses the customer
        # group's policy and plans the real first step (a pre-due reminder comes before the due date).
        "next_action_on": data.issue_date,
    }


def submit_invoice(merchant: Merchant, data: InvoiceData, actor: str) -> IntakeResult:
    """Create the invoice, or return the existing one if this is a repeat (caller commits)."""
    existing = db.session.execute(
        select(Invoice).where(Invoice.merchant_id == merchant.id, Invoice.number == data.number)
    ).scalar_one_or_none()
    if existing is not None:
        if existing.intake_fingerprint != data.fingerprint():
            raise IntakeConflict(existing)
        upsert_debtor(merchant, data.debtor, actor)
        return IntakeResult(existing, False)
    debtor = upsert_debtor(merchant, data.debtor, actor)
    invoice = Invoice(**invoice_row(merchant.id, debtor.id, data))
    try:
        with db.session.begin_nested():
            db.session.add(invoice)
            db.session.flush()
    except IntegrityError:
        # A concurrent submission of the same number won the race: answer as for a repeat.
        existing = db.session.execute(
            select(Invoice).where(Invoice.merchant_id == merchant.id, Invoice.number == data.number)
        ).scalar_one()
        if existing.intake_fingerprint != data.fingerprint():
            raise IntakeConflict(existing) from None
        return IntakeResult(existing, False)
    db.session.add(Event.on_invoice(invoice, "invoice.created", actor, {
        "amount_minor": invoice.amount_minor, "currency": invoice.currency, "due_date": invoice.due_date.isoformat(),
    }))
    return IntakeResult(invoice, True)
