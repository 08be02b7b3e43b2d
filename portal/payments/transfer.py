"""Bank transfer details for the portal and letters: account, amount, RF reference, EPC QR code.

One invoice is paid with its own RF reference. Several invoices paid at once get one
reference that covers them all (a `PaymentReference` row); the reconciliation splits a
transfer carrying it across those invoices, oldest due first. That reference is derived
deterministically from the debtor and the set of invoices, so showing the same choice
twice shows the same reference and QR code. The row is added to the caller's session
(flushed, not committed): the view or worker that calls this commits as usual.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select

from portal.domain import rf
from portal.domain.epc import EpcError, epc_payload
from portal.domain.iban import group
from portal.domain.money import Money
from portal.extensions import db
from portal.models import Debtor, Invoice, PaymentReference, PaymentReferenceInvoice
from portal.payments.qr import qr_svg as render_svg

_ALPHABET = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"


class TransferUnavailable(ValueError):
    """The invoices cannot be paid together by one transfer."""


@dataclass(frozen=True)
class TransferDetails:
    account_holder: str
    iban: str  # compact
    iban_grouped: str  # "DE89 3704 0044 0532 0130 00"
    bic: str | None
    amount: Money  # what is open now, fees and interest included
    reference: str  # RF reference, compact ("RF18539007547034")
    payload: str | None  # EPC QR payload; None when no QR code can be offered (not EUR, nothing open)
    qr_svg: str | None  # SVG markup of the QR code

    @property
    def reference_grouped(self) -> str:
        return rf.pretty(self.reference)


def _invoice_key(invoices: Sequence[Invoice]) -> str:
    return hashlib.sha256(",".join(str(i) for i in sorted(inv.id for inv in invoices)).encode()).hexdigest()


def _derived_reference(debtor: Debtor, key: str) -> str:
    # 20 characters of a hash: deterministic for the same debtor and set, ~98 bits against collisions.
    digest = int(hashlib.sha256(f"settle-payment-reference:{debtor.merchant_id}:{debtor.id}:{key}".encode()).hexdigest(), 16)
    body = []
    for _ in range(20):
        digest, index = divmod(digest, len(_ALPHABET))
        body.append(_ALPHABET[index])
    return rf.make("".join(body))


def reference_for(debtor: Debtor, invoices: Sequence[Invoice]) -> str:
    """The RF reference to pay exactly these invoices with (the invoice's own for one)."""
    if len(invoices) == 1:
        return invoices[0].rf_reference
    key = _invoice_key(invoices)
    existing = db.session.execute(
        select(PaymentReference.reference).where(
            PaymentReference.merchant_id == debtor.merchant_id,
            PaymentReference.debtor_id == debtor.id,
            PaymentReference.invoice_key == key,
        )
    ).scalar_one_or_none()
    if existing:
        return existing
    reference = _derived_reference(debtor, key)
    row = PaymentReference(merchant_id=debtor.merchant_id, debtor_id=debtor.id, reference=reference, invoice_key=key)
    db.session.add(row)
    db.session.flush()
    for invoice in invoices:
        db.session.add(PaymentReferenceInvoice(payment_reference_id=row.id, invoice_id=invoice.id))
    db.session.flush()
    return reference


def transfer_for(debtor: Debtor, invoices: Sequence[Invoice]) -> TransferDetails:
    """What the debtor needs to pay `invoices` (open ones of this debtor, one currency) by transfer."""
    invoices = sorted(invoices, key=lambda inv: (inv.due_date, inv.id))
    if not invoices:
        raise TransferUnavailable("no invoices chosen")
    if any(inv.debtor_id != debtor.id or inv.merchant_id != debtor.merchant_id for inv in invoices):
        raise TransferUnavailable("every invoice must belong to this debtor")
    currencies = {inv.currency for inv in invoices}
    if len(currencies) != 1:
        raise TransferUnavailable("invoices in different currencies cannot be paid by one transfer")
    currency = currencies.pop()
    merchant = debtor.merchant
    if not merchant.iban:
        raise TransferUnavailable("the merchant has no bank account on file")
    holder = merchant.account_holder or merchant.legal_name
    amount = Money(sum(max(inv.open_minor, 0) for inv in invoices), currency)
    reference = reference_for(debtor, invoices)
    payload = svg = None
    if amount.minor > 0:
        try:
            payload = epc_payload(
                name=holder, iban=merchant.iban, bic=merchant.bic, amount_minor=amount.minor,
                currency=currency, reference=reference,
            )
        except EpcError:
            payload = None  # e.g. not a euro invoice: the copyable details still apply
        if payload is not None:
            svg = render_svg(payload)
    return TransferDetails(
        account_holder=holder,
        iban=merchant.iban,
        iban_grouped=group(merchant.iban),
        bic=merchant.bic,
        amount=amount,
        reference=reference,
        payload=payload,
        qr_svg=svg,
    )
