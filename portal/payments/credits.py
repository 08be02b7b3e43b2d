"""What a bank payment leaves behind: a small remainder, or a credit (overpayment).

Rules (docs/payments.md, "Remainders and credits"), all booked through `portal.ledger.book`:

- **Small remainder.** A bank payment that leaves 0 < open ≤ `merchant.remainder_tolerance_minor`
  (default 100 = 1.00 EUR; typically charges the payer's bank took) is not dunned further:
  `remainder_action = "write_off"` books a `write_off` for it at once (the invoice reads paid);
  `"staff"` pauses the reminders (`escalation.pause(…, "staff")`) and tells staff, who write it
  off or resume dunning in the back office. Either way a `payment.small_remainder` event on the
  timeline records amount, tolerance and action.
- **Credit.** An overpayment leaves a negative open balance on the last invoice it paid
  (`allocation.split`). Staff are told (staff notice), the debtor sees it in the portal as
  "Guthaben" with what happens next (`merchant.credit_handling`: refund or offset), and staff
  either record the refund (`refund` entry: the money went back) or apply it to another open
  invoice of the same debtor (`refund` on the credited invoice, `payment` on the other, one
  transaction, references `credit:<invoice>:<n>:out/in`). Both audited.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlalchemy import select

from portal import ledger
from portal.domain.money import Money
from portal.extensions import db
from portal.models import Debtor, Event, Invoice, InvoiceStatus, LedgerEntry, Merchant


class CreditError(ValueError):
    """The credit cannot be refunded or applied as asked."""


def small_remainders(merchant: Merchant, paid: Iterable[tuple[int, date, str]], *, actor: str) -> dict[int, str]:
    """After bank payments: (invoice id, value date, payment ref) of each invoice that got a share now.
    Returns invoice id → action ("write_off" or "staff") for the remainders dealt with."""
    tolerance = merchant.remainder_tolerance_minor or 0
    done: dict[int, str] = {}
    if tolerance <= 0:
        return done
    for invoice_id, on, ref in paid:
        invoice = db.session.get(Invoice, invoice_id)
        db.session.refresh(invoice)
        if invoice.status != InvoiceStatus.OPEN.value or not 0 < invoice.open_minor <= tolerance:
            continue
        remainder = invoice.open_minor
        if merchant.remainder_action == "staff":
            if invoice.paused_reason is None:
                from portal.dunning import escalation

                escalation.pause(invoice, "staff", None, today=on, actor=actor)
            _notify(merchant, "staff_small_remainder", f"remainder:{invoice.id}:{ref}"[:200], {
                "invoice_number": invoice.number, "amount": str(Money(remainder, invoice.currency)),
                "tolerance": str(Money(tolerance, invoice.currency)), "amount_minor": remainder,
                "tolerance_minor": tolerance, "currency": invoice.currency, "invoice_id": invoice.id})
        else:
            ledger.book(invoice, kind="write_off", amount_minor=remainder, source="bank",
                        external_ref=f"tolerance:{invoice.id}:{ref}"[:140], booked_on=on, actor=actor,
                        memo="Small remainder written off (below the merchant's tolerance: bank charges)",
                        data={"tolerance_minor": tolerance, "payment_ref": ref})
        db.session.add(Event.on_invoice(invoice, "payment.small_remainder", actor, {
            "amount_minor": remainder, "currency": invoice.currency, "tolerance_minor": tolerance,
            "action": merchant.remainder_action, "ref": ref}))
        done[invoice.id] = merchant.remainder_action
    return done


def overpaid(merchant: Merchant, invoice_ids: Iterable[int], *, ref: str) -> None:
    """Tell staff about credits a payment created (one notice per invoice and payment)."""
    for invoice_id in invoice_ids:
        invoice = db.session.get(Invoice, invoice_id)
        if invoice is None or invoice.open_minor >= 0:
            continue
        _notify(merchant, "staff_credit", f"credit:{invoice.id}:{ref}"[:200], {
            "invoice_number": invoice.number, "amount": str(Money(-invoice.open_minor, invoice.currency)),
            "amount_minor": -invoice.open_minor, "currency": invoice.currency,
            "handling": merchant.credit_handling, "invoice_id": invoice.id})


def _notify(merchant: Merchant, template: str, dedupe_key: str, context: dict) -> None:
    from portal.messaging import outbox

    outbox.enqueue_staff_notice(merchant=merchant, template=template, dedupe_key=dedupe_key, context=context)


def credit_of(invoice: Invoice) -> int:
    """The credit on an invoice in minor units (0 when it owes or is even)."""
    return max(0, -invoice.open_minor)


def debtor_credits(debtor: Debtor) -> list[Invoice]:
    """The debtor's invoices that hold a credit, oldest first."""
    return list(db.session.execute(
        select(Invoice).where(Invoice.merchant_id == debtor.merchant_id, Invoice.debtor_id == debtor.id,
                              Invoice.open_minor < 0).order_by(Invoice.due_date, Invoice.id)
    ).scalars())


def offset_targets(invoice: Invoice) -> list[Invoice]:
    """Open invoices of the same debtor and currency that a credit can pay."""
    return list(db.session.execute(
        select(Invoice).where(Invoice.merchant_id == invoice.merchant_id, Invoice.debtor_id == invoice.debtor_id,
                              Invoice.currency == invoice.currency, Invoice.status == InvoiceStatus.OPEN.value,
                              Invoice.open_minor > 0, Invoice.id != invoice.id).order_by(Invoice.due_date, Invoice.id)
    ).scalars())


def _sequence(invoice: Invoice) -> int:
    return db.session.execute(
        select(db.func.count(LedgerEntry.id)).where(LedgerEntry.invoice_id == invoice.id)).scalar_one()


def refund(invoice: Invoice, *, on: date, actor: str, note: str | None = None) -> int:
    """Record that the credit was paid back to the debtor; returns the amount."""
    invoice = ledger.lock(invoice.id)
    amount = credit_of(invoice)
    if amount <= 0:
        raise CreditError("this invoice holds no credit")
    n = _sequence(invoice)
    ledger.book(invoice, kind="refund", amount_minor=amount, source="staff", external_ref=f"credit:{invoice.id}:{n}:refund",
                booked_on=on, actor=actor, memo="Credit refunded to the debtor", data={"note": note} if note else None)
    db.session.add(Event.on_invoice(invoice, "credit.refunded", actor,
                                    {"amount_minor": amount, "currency": invoice.currency, "note": note}))
    return amount


def apply(invoice: Invoice, target: Invoice, *, on: date, actor: str) -> int:
    """Set the credit against another open invoice of the same debtor (up to what it owes); returns the amount."""
    if (target.merchant_id, target.debtor_id, target.currency) != (invoice.merchant_id, invoice.debtor_id, invoice.currency):
        raise CreditError("a credit can only pay another invoice of the same debtor in the same currency")
    invoice, target = ledger.lock(invoice.id), ledger.lock(target.id)
    if target.status != InvoiceStatus.OPEN.value or target.open_minor <= 0 or target.id == invoice.id:
        raise CreditError("the other invoice has nothing open")
    amount = min(credit_of(invoice), target.open_minor)
    if amount <= 0:
        raise CreditError("this invoice holds no credit")
    n = _sequence(invoice)
    ledger.book(invoice, kind="refund", amount_minor=amount, source="staff", external_ref=f"credit:{invoice.id}:{n}:out",
                booked_on=on, actor=actor, memo=f"Credit applied to invoice {target.number}",
                data={"applied_to": target.id})
    ledger.book(target, kind="payment", amount_minor=amount, source="staff", external_ref=f"credit:{invoice.id}:{n}:in",
                booked_on=on, actor=actor, memo=f"Credit from invoice {invoice.number}", data={"credit_from": invoice.id})
    db.session.add(Event.on_invoice(invoice, "credit.applied", actor, {
        "amount_minor": amount, "currency": invoice.currency, "to_invoice": target.id, "to_number": target.number}))
    return amount
