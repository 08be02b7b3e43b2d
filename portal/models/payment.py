"""Payments from outside: Stripe events and checkouts, bank statements and their entries,
and the payment references that let one transfer pay several invoices.

The balances themselves live in the ledger (`portal.ledger`); these rows are the
records that explain each booking and make every outside input idempotent:
a Stripe event by its id, a Stripe payment by its PaymentIntent, a bank statement
by its file hash and a bank entry by its entry reference.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.invoice import Invoice
from portal.models.types import JSONType, MinorUnits, UTCDateTime, utcnow


class PaymentReference(db.Model):
    """One RF creditor reference that covers several invoices of one debtor (a combined transfer)."""

    __tablename__ = "payment_reference"

    id: Mapped[int] = mapped_column(primary_key=True, comment="Surrogate key")
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id", ondelete="CASCADE"), index=True, comment="Tenant")
    debtor_id: Mapped[int] = mapped_column(ForeignKey("debtor.id", ondelete="CASCADE"), index=True, comment="Debtor the combined transfer is for")
    reference: Mapped[str] = mapped_column(String(25), unique=True, comment="ISO 11649 RF reference printed on the QR code")
    invoice_key: Mapped[str] = mapped_column(String(64), comment="SHA-256 of the sorted invoice ids, to reuse the reference for the same set")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, comment="When the reference was issued")

    invoices: Mapped[list[Invoice]] = relationship(secondary="payment_reference_invoice", order_by="Invoice.due_date")

    __table_args__ = (UniqueConstraint("merchant_id", "debtor_id", "invoice_key"),)


class PaymentReferenceInvoice(db.Model):
    __tablename__ = "payment_reference_invoice"

    payment_reference_id: Mapped[int] = mapped_column(
        ForeignKey("payment_reference.id", ondelete="CASCADE"), primary_key=True, comment="The combined reference"
    )
    invoice_id: Mapped[int] = mapped_column(
        ForeignKey("invoice.id", ondelete="CASCADE"), primary_key=True, index=True, comment="An invoice it covers"
    )


class CheckoutSession(db.Model):
    """A Stripe Checkout Session Settle opened for a debtor, with what it pays (the split is fixed here)."""

    __tablename__ = "checkout_session"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint("status IN ('open', 'processing', 'paid', 'failed', 'expired')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="Surrogate key")
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id", ondelete="CASCADE"), index=True, comment="Tenant")
    debtor_id: Mapped[int] = mapped_column(ForeignKey("debtor.id", ondelete="CASCADE"), index=True, comment="Who pays")
    public_id: Mapped[str] = mapped_column(String(40), unique=True, comment="Settle checkout id, sent to Stripe as metadata and idempotency key")
    stripe_session_id: Mapped[str | None] = mapped_column(String(255), unique=True, comment="Stripe's cs_… id")
    payment_intent_id: Mapped[str | None] = mapped_column(String(255), index=True, comment="Stripe's pi_… id once known")
    url: Mapped[str | None] = mapped_column(Text, comment="Hosted Checkout page URL")
    amount_minor: Mapped[int] = mapped_column(MinorUnits, comment="Total asked for, minor units")
    currency: Mapped[str] = mapped_column(String(3), comment="ISO 4217 currency")
    status: Mapped[str] = mapped_column(String(12), default="open", comment="open, processing (async method pending), paid, failed, expired")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, comment="When the session was created")
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, comment="When the payment was confirmed by a webhook")

    items: Mapped[list["CheckoutItem"]] = relationship(back_populates="checkout", order_by="CheckoutItem.position", cascade="all, delete-orphan")


class CheckoutItem(db.Model):
    """One invoice a checkout pays and how much of the payment goes to it."""

    __tablename__ = "checkout_item"
    __table_args__ = (CheckConstraint("amount_minor > 0", name="amount_positive"),)

    checkout_id: Mapped[int] = mapped_column(ForeignKey("checkout_session.id", ondelete="CASCADE"), primary_key=True, comment="The checkout")
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id", ondelete="CASCADE"), primary_key=True, index=True, comment="Invoice paid")
    position: Mapped[int] = mapped_column(Integer, comment="Order of allocation (oldest due first)")
    amount_minor: Mapped[int] = mapped_column(MinorUnits, comment="Open amount of the invoice when the checkout was created")

    checkout: Mapped[CheckoutSession] = relationship(back_populates="items")
    invoice: Mapped[Invoice] = relationship()


class StripePayment(db.Model):
    """A succeeded Stripe PaymentIntent, booked once: the anchor that makes
    checkout.session.completed and payment_intent.succeeded for the same money book once."""

    __tablename__ = "stripe_payment"
    __table_args__ = (
        UniqueConstraint("merchant_id", "payment_intent_id"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="Surrogate key")
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id", ondelete="CASCADE"), comment="Tenant")
    payment_intent_id: Mapped[str] = mapped_column(String(255), comment="Stripe's pi_… id (or the session id when Stripe sends none)")
    checkout_id: Mapped[int | None] = mapped_column(ForeignKey("checkout_session.id", ondelete="SET NULL"), index=True, comment="The checkout it paid, if Settle opened one")
    amount_minor: Mapped[int] = mapped_column(MinorUnits, comment="Amount received, minor units")
    currency: Mapped[str] = mapped_column(String(3), comment="ISO 4217 currency")
    allocation: Mapped[list] = mapped_column(JSONType, comment="[[invoice_id, amount_minor], …] as booked, in allocation order")
    refunded_minor: Mapped[int] = mapped_column(MinorUnits, default=0, comment="Highest cumulative refund booked so far")
    event_id: Mapped[str] = mapped_column(String(255), comment="Stripe event that booked it")
    booked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, comment="When it was booked")


class StripeEvent(db.Model):
    """A Stripe webhook event as received (signature already verified), processed once."""

    __tablename__ = "stripe_event"
    __table_args__ = (
        UniqueConstraint("merchant_id", "event_id"),
        CheckConstraint("status IN ('processed', 'ignored', 'deferred', 'failed')", name="status_known"),
        Index("ix_stripe_event_deferred", "merchant_id", "status", "payment_intent_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="Surrogate key")
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id", ondelete="CASCADE"), comment="Tenant whose endpoint received it")
    event_id: Mapped[str] = mapped_column(String(255), comment="Stripe's evt_… id")
    type: Mapped[str] = mapped_column(String(80), comment="Event type, e.g. checkout.session.completed")
    created: Mapped[int | None] = mapped_column(Integer, comment="Stripe's creation time (Unix seconds)")
    payment_intent_id: Mapped[str | None] = mapped_column(String(255), comment="PaymentIntent concerned, for deferred events")
    payload: Mapped[dict] = mapped_column(JSONType, comment="The event as received")
    status: Mapped[str] = mapped_column(String(10), comment="processed, ignored (unknown type), deferred (waits for its payment), failed (answered 5xx)")
    attempts: Mapped[int] = mapped_column(Integer, default=1, comment="Deliveries processed or tried")
    error: Mapped[str | None] = mapped_column(Text, comment="Last processing error")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, comment="First delivery")
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, comment="When it was processed")


class BankStatementFile(db.Model):
    """An imported camt.053/054 message (one file; a ZIP holds several)."""

    __tablename__ = "bank_statement_file"
    __table_args__ = (UniqueConstraint("merchant_id", "sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True, comment="Surrogate key")
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id", ondelete="CASCADE"), comment="Tenant")
    filename: Mapped[str] = mapped_column(String(255), comment="Name the file was uploaded or imported as")
    sha256: Mapped[str] = mapped_column(String(64), comment="Hash of the file's bytes: the same file is never imported twice")
    message_type: Mapped[str] = mapped_column(String(20), comment="camt.053.001.02 … camt.054.001.08")
    entries_total: Mapped[int] = mapped_column(Integer, default=0, comment="Entries in the file")
    entries_booked: Mapped[int] = mapped_column(Integer, default=0, comment="Credit entries matched and booked")
    entries_unmatched: Mapped[int] = mapped_column(Integer, default=0, comment="Credit entries left for manual assignment")
    entries_skipped: Mapped[int] = mapped_column(Integer, default=0, comment="Debits, pending entries and entries seen before")
    actor: Mapped[str] = mapped_column(String(80), comment="Who imported it")
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, comment="When it was imported")


class BankEntry(db.Model):
    """One booked bank transaction (a camt entry, or one TxDtls of a batch entry)."""

    __tablename__ = "bank_entry"
    __table_args__ = (
        UniqueConstraint("merchant_id", "entry_ref"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint("direction IN ('CRDT', 'DBIT')", name="direction_known"),
        CheckConstraint("state IN ('booked', 'unmatched', 'reversed', 'ignored')", name="state_known"),
        Index("ix_bank_entry_state", "merchant_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="Surrogate key")
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id", ondelete="CASCADE"), comment="Tenant")
    file_id: Mapped[int] = mapped_column(ForeignKey("bank_statement_file.id", ondelete="CASCADE"), index=True, comment="Statement it came from first")
    entry_ref: Mapped[str] = mapped_column(String(140), comment="AcctSvcrRef (+ transaction index), or a hash of the entry's fields: unique per merchant")
    direction: Mapped[str] = mapped_column(String(4), comment="CRDT (money in) or DBIT (money out)")
    reversal: Mapped[bool] = mapped_column(Boolean, default=False, comment="RvslInd: the entry reverses an earlier one")
    amount_minor: Mapped[int] = mapped_column(MinorUnits, comment="Amount, minor units, always positive")
    currency: Mapped[str] = mapped_column(String(3), comment="ISO 4217 currency")
    booking_date: Mapped[date | None] = mapped_column(Date, comment="BookgDt")
    value_date: Mapped[date | None] = mapped_column(Date, comment="ValDt")
    debtor_name: Mapped[str | None] = mapped_column(String(140), comment="Payer's name (RltdPties/Dbtr)")
    debtor_iban: Mapped[str | None] = mapped_column(String(34), comment="Payer's IBAN (RltdPties/DbtrAcct)")
    reference: Mapped[str | None] = mapped_column(String(140), comment="Structured creditor reference (CdtrRefInf/Ref)")
    remittance: Mapped[str | None] = mapped_column(Text, comment="Unstructured remittance text (Ustrd), joined")
    end_to_end_id: Mapped[str | None] = mapped_column(String(140), comment="EndToEndId")
    state: Mapped[str] = mapped_column(String(10), comment="booked (matched), unmatched (waits for staff), reversed, ignored")
    match_method: Mapped[str | None] = mapped_column(String(12), comment="rf, number, amount, manual")
    allocation: Mapped[list | None] = mapped_column(JSONType, comment="[[invoice_id, amount_minor], …] as booked")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, comment="When it was imported")
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, comment="When staff assigned it by hand")
    assigned_by: Mapped[str | None] = mapped_column(String(80), comment="Who assigned it by hand")

    file: Mapped[BankStatementFile] = relationship()


class BankEntryKey(db.Model):
    """One way of recognising a bank entry in another file (`portal.domain.camt.Transaction.keys`):
    the bank's references at either level, EndToEndId, structured reference. A camt.054 entry and the
    camt.053 entry that repeats it share at least one key, so the credit is booked once."""

    __tablename__ = "bank_entry_key"
    __table_args__ = (UniqueConstraint("merchant_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True, comment="Surrogate key")
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id", ondelete="CASCADE"), comment="Tenant")
    key: Mapped[str] = mapped_column(String(250), comment="b:<account>:<AcctSvcrRef>, e:<account>:<direction/amount>:<EndToEndId>#n or s:<account>:<direction/amount>:<value date>:<reference>#n")
    entry_ref: Mapped[str] = mapped_column(String(140), comment="bank_entry.entry_ref of the entry it identifies")


# Matching a transfer by amount looks up open invoices of exactly that amount through
# ix_invoice_open_items_open (merchant_id, open_minor, id) WHERE status = 'open', see portal.payments.reconcile.
# "Has this IBAN paid before, and for whom?" for the amount-and-payer rule.
Index("ix_bank_entry_debtor_iban", BankEntry.merchant_id, BankEntry.debtor_iban)
