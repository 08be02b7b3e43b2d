"""Booking one incoming payment (or its return) on the invoices it pays, through the ledger.

Every share goes through `portal.ledger.book` with its own external reference
(`<payment ref>:<invoice id>`), so a repeat of the same payment is a no-op per invoice
and the ledger's escalation hook sees every change. An overpayment stays on the last
invoice as a negative open balance (credit), is recorded as a `payment.overpaid` event and staff are told
(`portal.payments.credits.overpaid`).
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from portal import ledger
from portal.extensions import db
from portal.models import Event, Invoice


def book_shares(
    shares: Sequence[tuple[Invoice, int]],
    *,
    kind: str,
    source: str,
    ref: str,
    booked_on: date,
    actor: str,
    memo: str,
    data: dict | None = None,
) -> list[tuple[Invoice, int]]:
    """Book each non-zero share; returns [(invoice, amount)] of what was booked now or before."""
    booked = []
    for invoice, amount in shares:
        if amount <= 0:
            continue
        booking = ledger.book(
            invoice,
            kind=kind,
            amount_minor=amount,
            source=source,
            external_ref=f"{ref}:{invoice.id}"[:140],
            booked_on=booked_on,
            actor=actor,
            memo=memo,
            data=data,
        )
        booked.append((invoice, amount))
        if kind == "payment" and booking.created:
            # ledger.book has just refreshed the invoice under its row lock: open_minor is current.
            if invoice.open_minor < 0:
                db.session.add(Event.on_invoice(invoice, "payment.overpaid", actor, {
                    "credit_minor": -invoice.open_minor, "currency": invoice.currency, "source": source, "ref": ref,
                }))
                from portal.payments import credits  # staff are told, whichever way the money came

                credits.overpaid(invoice.merchant, [invoice.id], ref=ref)
    return booked
