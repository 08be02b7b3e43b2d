"""A payment far beyond what is open is not booked on the word of a shop system alone.

`1000000.00` reported for a 119.00 invoice is a typo (cents sent as euros, a field mixed up), not a
credit the debtor will ever ask back. A reported payment may exceed the invoice's open balance by
at most PAYMENT_PLAUSIBLE_EXCESS_PERCENT of the invoice amount (100 %: the whole invoice paid once
more, the double payment that really happens). Beyond that it is refused, and the attempt is
flagged for staff: an event on the invoice's timeline and an email to the shop's support address,
so someone checks the amount with the shop system or the bank.
"""
from __future__ import annotations

from flask import current_app

from portal.domain.money import minor_to_str
from portal.messaging import outbox
from portal.models import Event, Invoice


def excess_limit_minor(invoice: Invoice) -> int:
    percent = int(current_app.config.get("PAYMENT_PLAUSIBLE_EXCESS_PERCENT", 100))
    return invoice.amount_minor * max(percent, 0) // 100


def is_plausible(invoice: Invoice, amount_minor: int) -> bool:
    return amount_minor - max(invoice.open_minor, 0) <= excess_limit_minor(invoice)


def flag(invoice: Invoice, *, amount_minor: int, source: str, ref: str, actor: str) -> None:
    """Record the refused payment on the invoice and tell staff (once per source and reference)."""
    data = {"amount_minor": amount_minor, "currency": invoice.currency, "open_minor": invoice.open_minor,
            "limit_minor": excess_limit_minor(invoice), "source": source, "ref": ref}
    from portal.extensions import db

    db.session.add(Event.on_invoice(invoice, "payment.implausible", actor, data))
    outbox.enqueue_staff_notice(
        merchant=invoice.merchant, template="staff_implausible_payment",
        dedupe_key=f"implausible:{invoice.id}:{source}:{ref}"[:200],
        context={"invoice_number": invoice.number, "amount": minor_to_str(amount_minor, invoice.currency),
                 "open": minor_to_str(max(invoice.open_minor, 0), invoice.currency), "currency": invoice.currency,
                 "amount_minor": amount_minor, "open_minor": max(invoice.open_minor, 0), "source": source, "reference": ref},
    )
