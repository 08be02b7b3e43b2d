"""Card and wallet payments through a Stripe Checkout Session, with the merchant's own key.

`start_checkout` fixes what the payment pays (one line per invoice, oldest due first,
each at its open amount now) in a `CheckoutSession` row with its items, then asks
Stripe for a hosted Checkout page. The split recorded here is what the webhook books
later, whatever order the events arrive in. Payment methods are left to the
merchant's dashboard settings (Stripe's automatic payment methods), so SEPA Direct
Debit, Klarna or PayPal appear when the merchant enables them.

The row is added to the caller's session and flushed; the caller commits.
"""
from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import timedelta

import stripe
from flask import current_app
from sqlalchemy import select

from portal.extensions import db
from portal.models import CheckoutItem, CheckoutSession, Debtor, Invoice
from portal.models.types import utcnow

METADATA_CHECKOUT = "settle_checkout"
METADATA_INVOICES = "settle_invoices"
REUSE_OPEN_FOR = timedelta(hours=12)  # a Checkout page stays valid for 24 h; reuse it for repeated clicks


class CheckoutUnavailable(Exception):
    """Card payment cannot be offered (no Stripe key, nothing open, Stripe unreachable)."""


def stripe_client(secret_key: str) -> stripe.StripeClient:
    """A client for one merchant's account; STRIPE_API_BASE points it at a local stand-in."""
    config = current_app.config
    base = config.get("STRIPE_API_BASE")
    return stripe.StripeClient(
        secret_key,
        base_addresses={"api": base} if base else None,
        max_network_retries=config.get("STRIPE_MAX_NETWORK_RETRIES", 2),
    )


def allocate(invoices: Sequence[Invoice], amount_minor: int | None = None) -> list[tuple[Invoice, int]]:
    """Oldest due first, each invoice up to its open amount; `amount_minor` caps the total (an installment)."""
    ordered = sorted(invoices, key=lambda inv: (inv.due_date, inv.id))
    left = amount_minor
    out = []
    for inv in ordered:
        share = max(inv.open_minor, 0) if left is None else min(max(inv.open_minor, 0), left)
        if share > 0:
            out.append((inv, share))
            if left is not None:
                left -= share
    return out


def invoice_numbers_metadata(numbers: Sequence[str]) -> str:
    """Invoice numbers for the Stripe dashboard, within Stripe's 500-character metadata limit."""
    text = ", ".join(numbers)
    if len(text) <= 500:
        return text
    return text[:480].rsplit(", ", 1)[0] + f", … ({len(numbers)} in all)"


def _reusable(debtor: Debtor, items: list[tuple[Invoice, int]]) -> CheckoutSession | None:
    wanted = [(inv.id, amount) for inv, amount in items]
    candidates = db.session.execute(
        select(CheckoutSession).where(
            CheckoutSession.merchant_id == debtor.merchant_id,
            CheckoutSession.debtor_id == debtor.id,
            CheckoutSession.status == "open",
            CheckoutSession.url.is_not(None),
            CheckoutSession.created_at >= utcnow() - REUSE_OPEN_FOR,
        ).order_by(CheckoutSession.id.desc())
    ).scalars()
    for checkout in candidates:
        if [(item.invoice_id, item.amount_minor) for item in checkout.items] == wanted:
            return checkout
    return None


def start_checkout(
    debtor: Debtor,
    invoices: Sequence[Invoice],
    *,
    success_url: str,
    cancel_url: str,
    amount_minor: int | None = None,
    description: str | None = None,
) -> str:
    """The URL of a Stripe Checkout page paying the open amounts of `invoices` (or `amount_minor` of them)."""
    merchant = debtor.merchant
    if not merchant.stripe_secret_key:
        raise CheckoutUnavailable("the merchant has not set up card payments")
    if any(inv.debtor_id != debtor.id or inv.merchant_id != debtor.merchant_id for inv in invoices):
        raise CheckoutUnavailable("every invoice must belong to this debtor")
    from portal.dunning.handover import payable_after_handover

    items = allocate([inv for inv in invoices if inv.is_open or payable_after_handover(inv)], amount_minor)
    if not items:
        raise CheckoutUnavailable("nothing is open")
    currencies = {inv.currency for inv, _ in items}
    if len(currencies) != 1:
        raise CheckoutUnavailable("invoices in different currencies cannot be paid together")
    currency = currencies.pop()

    existing = _reusable(debtor, items)
    if existing is not None:
        return existing.url

    public_id = "chk_" + secrets.token_urlsafe(18)
    numbers = invoice_numbers_metadata([inv.number for inv, _ in items])
    metadata = {METADATA_CHECKOUT: public_id, METADATA_INVOICES: numbers, "debtor": debtor.external_ref}
    language = debtor.language or merchant.default_language
    params = {
        "mode": "payment",
        "client_reference_id": public_id,
        "success_url": success_url,
        "cancel_url": cancel_url,
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": currency.lower(),
                    "unit_amount": amount,
                    "product_data": {"name": description or f"{inv.number}"},
                },
            }
            for inv, amount in items
        ],
        "metadata": metadata,
        # Copied onto the PaymentIntent and its charge, so refunds and disputes name the checkout too.
        "payment_intent_data": {"metadata": metadata, "description": f"{merchant.name}: {numbers}"[:1000]},
        "locale": language if language in ("de", "en") else "auto",
    }
    if debtor.email:
        params["customer_email"] = debtor.email
    try:
        session = stripe_client(merchant.stripe_secret_key).v1.checkout.sessions.create(
            params, {"idempotency_key": f"settle-{public_id}"}
        )
    except stripe.StripeError as exc:
        current_app.logger.warning("Stripe Checkout for merchant %s failed: %s", merchant.slug, exc)
        raise CheckoutUnavailable("card payment is not available right now") from exc

    checkout = CheckoutSession(
        merchant_id=merchant.id,
        debtor_id=debtor.id,
        public_id=public_id,
        stripe_session_id=session.id,
        payment_intent_id=session.to_dict().get("payment_intent"),
        url=session.url,
        amount_minor=sum(amount for _, amount in items),
        currency=currency,
        status="open",
    )
    checkout.items = [
        CheckoutItem(invoice_id=inv.id, position=n, amount_minor=amount) for n, (inv, amount) in enumerate(items)
    ]
    db.session.add(checkout)
    db.session.flush()
    return session.url


def checkout_status(debtor: Debtor, session_id: str) -> str | None:
    """State of the debtor's checkout for the return page to show and poll: open, processing, paid, failed.

    `session_id` is Stripe's id as Stripe puts it into the success URL
    (`success_url=…?session_id={CHECKOUT_SESSION_ID}`) or Settle's checkout id. None when the
    debtor has no such checkout (another debtor's id is treated the same).
    """
    checkout = db.session.execute(
        select(CheckoutSession).where(
            CheckoutSession.merchant_id == debtor.merchant_id,
            CheckoutSession.debtor_id == debtor.id,
            (CheckoutSession.stripe_session_id == session_id) | (CheckoutSession.public_id == session_id),
        )
    ).scalar_one_or_none()
    return checkout.status if checkout is not None else None
