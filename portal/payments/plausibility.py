"""A payment far beyond what is open is not booked on one word alone, whichever way it arrives.

`1000000.00` reported for a 119.00 invoice is a typo (cents sent as euros, a field mixed up, a
transfer matched to the wrong invoice), not a credit the debtor will ever ask back. A payment may
exceed the open balance of the invoices it pays by at most PAYMENT_PLAUSIBLE_EXCESS_PERCENT of the
amount of the invoice the excess would land on (100 %: the whole invoice paid once more, the double
payment that really happens). Up to that it is booked as usual (the excess is the debtor's credit);
beyond it, per source (docs/payments.md, "Plausibility limit"):

- the shop API: refused (422), nothing booked;
- a bank statement entry: not booked; it waits with its full amount among the unassigned bank
  payments, where staff assign it (booked in full, the excess as credit) or send it back;
- staff recording a payment in the back office: refused until they confirm the amount on the form;
  a confirmed one is booked in full;
- Stripe: booked in full (the card was charged for Settle's own checkout; the money is in the
  merchant's Stripe balance and can only be refunded there).

Each one beyond the limit is flagged for staff: a `payment.implausible` event on the invoice's
timeline (saying whether it was booked) and an email to the shop's support address, once per
source and reference.
"""
from __future__ import annotations

from collections.abc import Iterable

from flask import current_app

from portal.domain.money import minor_to_str
from portal.messaging import outbox
from portal.models import Event, Invoice


def excess_limit_minor(invoice: Invoice) -> int:
    percent = int(current_app.config.get("PAYMENT_PLAUSIBLE_EXCESS_PERCENT", 100))
    return invoice.amount_minor * max(percent, 0) // 100


def open_total(balances: Iterable[int]) -> int:
    """What a payment can pay without leaving a credit: the positive open balances."""
    return sum(max(b, 0) for b in balances)


def is_plausible(invoice: Invoice, amount_minor: int, *, open_minor: int | None = None) -> bool:
    """`invoice`: the one the excess lands on (the last paid); `open_minor`: what the payment's invoices have
    open together (default: this invoice's own balance)."""
    open_minor = max(invoice.open_minor, 0) if open_minor is None else open_minor
    return amount_minor - open_minor <= excess_limit_minor(invoice)


def most_accepted_minor(invoice: Invoice, *, open_minor: int | None = None) -> int:
    open_minor = max(invoice.open_minor, 0) if open_minor is None else open_minor
    return open_minor + excess_limit_minor(invoice)


def flag(invoice: Invoice, *, amount_minor: int, source: str, ref: str, actor: str, booked: bool = False,
         open_minor: int | None = None) -> None:
    """Record the payment beyond the limit on the invoice and tell staff (once per source and reference)."""
    open_minor = max(invoice.open_minor, 0) if open_minor is None else open_minor
    data = {"amount_minor": amount_minor, "currency": invoice.currency, "open_minor": open_minor,
            "limit_minor": excess_limit_minor(invoice), "source": source, "ref": ref, "booked": booked}
    from portal.extensions import db

    db.session.add(Event.on_invoice(invoice, "payment.implausible", actor, data))
    outbox.enqueue_staff_notice(
        merchant=invoice.merchant, template="staff_implausible_payment",
        dedupe_key=f"implausible:{invoice.id}:{source}:{ref}"[:200],
        context={"invoice_number": invoice.number, "amount": minor_to_str(amount_minor, invoice.currency),
                 "open": minor_to_str(open_minor, invoice.currency), "currency": invoice.currency,
                 "amount_minor": amount_minor, "open_minor": open_minor, "source": source, "reference": ref,
                 "booked": booked},
    )
