"""Invoices and their ledger: the open balance is the total plus the sum of ledger entries."""
from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    literal,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.domain.money import Money
from portal.extensions import db
from portal.models.debtor import Debtor
from portal.models.merchant import Merchant
from portal.models.types import JSONType, MinorUnits, UTCDateTime, trigram_index, utcnow


class InvoiceStatus(str, enum.Enum):
    OPEN = "open"
    PAID = "paid"
    CANCELLED = "cancelled"
    WRITTEN_OFF = "written_off"
    HANDED_OVER = "handed_over"


OPEN_ONLY = {"postgresql_where": text("status = 'open'"), "sqlite_where": text("status = 'open'")}


class Invoice(db.Model):
    __tablename__ = "invoice"
    __table_args__ = (
        UniqueConstraint("merchant_id", "number"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint(
            "status IN ('open', 'paid', 'cancelled', 'written_off', 'handed_over')", name="status_known"
        ),
        CheckConstraint("due_date >= issue_date", name="due_after_issue"),
        CheckConstraint("dunning_level >= 0", name="level_nonneg"),
        # Open items (portal.office.open_items): keyset pages by due date within a status (every status: the
        # list's default order, also for the rare ones, cancelled or written off) …
        Index("ix_invoice_open_items_due", "merchant_id", "status", "due_date", "id"),
        # … and indexes of open invoices only (partial, `WHERE status = 'open'`, migration recon7_01): a payment
        # that closes an invoice deletes it from each of them, where an index led by the status moved it (a
        # delete and an insert at another place of the B-tree, for every paid invoice of a bank import). Paid
        # invoices by these orders are listed through the indexes of all statuses below.
        # The dunning run's work list: open invoices by next action date.
        Index("ix_invoice_dunning_worklist", "merchant_id", "next_action_on", **OPEN_ONLY),
        # Open invoices by open amount (also the bank reconciliation's amount rule), amount and dunning step.
        Index("ix_invoice_open_items_open", "merchant_id", "open_minor", "id", **OPEN_ONLY),
        Index("ix_invoice_open_items_amount", "merchant_id", "amount_minor", "id", **OPEN_ONLY),
        Index("ix_invoice_open_items_step", "merchant_id", "dunning_step", "id", **OPEN_ONLY),
        # … and across all statuses (by due date: ix_invoice_merchant_due; by number: the unique constraint)
        Index("ix_invoice_merchant_amount", "merchant_id", "amount_minor", "id"),
        Index("ix_invoice_merchant_open", "merchant_id", "open_minor", "id"),
        # … the totals of a status from the index alone (an index-only scan on PostgreSQL, a covering index on SQLite)
        Index("ix_invoice_open_items_totals", "merchant_id", "status", "currency", "amount_minor", "open_minor"),
        # … and the paused ones (few) by reason, without reading the unpaused (a partial index)
        Index("ix_invoice_open_items_paused", "merchant_id", "paused_reason", "status", "due_date", "id",
              postgresql_where=text("paused_reason IS NOT NULL"), sqlite_where=text("paused_reason IS NOT NULL")),
        # The dashboard's per-day figures: invoices by due day (recovery) and by closing day (self-service, open amounts).
        Index("ix_invoice_merchant_due", "merchant_id", "due_date", "id"),  # … and open items of all statuses by due date
        Index("ix_invoice_merchant_closed", "merchant_id", "closed_on"),
        Index("ix_invoice_merchant_issued", "merchant_id", "currency", "issue_date", "amount_minor"),  # DSO: invoiced per month
        # the step filter's choices, and the pages of all statuses by step (the id: a page ends where it ends)
        Index("ix_invoice_merchant_step", "merchant_id", "dunning_step", "id"),
        # open-items search "contains" on PostgreSQL: trigram indexes (pg_trgm); SQLite reads the rows
        trigram_index("ix_invoice_number_trgm", "number"),
        trigram_index("ix_invoice_order_ref_trgm", "order_ref"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="Surrogate key")
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id", ondelete="CASCADE"), comment="Tenant")
    debtor_id: Mapped[int] = mapped_column(ForeignKey("debtor.id"), index=True, comment="Who owes the money")
    number: Mapped[str] = mapped_column(String(64), comment="The shop's invoice number, unique per merchant")
    issue_date: Mapped[date] = mapped_column(Date, comment="Invoice date")
    due_date: Mapped[date] = mapped_column(Date, comment="Payment due date (calendar date in the merchant's time zone)")
    currency: Mapped[str] = mapped_column(String(3), comment="ISO 4217 currency of every amount on this invoice")
    amount_minor: Mapped[int] = mapped_column(MinorUnits, comment="Invoice total in minor units (the principal claim)")
    open_minor: Mapped[int] = mapped_column(MinorUnits, comment="Open balance: total + sum of ledger entries (kept in step by portal.ledger)")
    status: Mapped[str] = mapped_column(String(16), default=InvoiceStatus.OPEN.value, comment="open, paid, cancelled, written_off, handed_over")
    order_ref: Mapped[str | None] = mapped_column(String(64), comment="The shop's order number")
    lines: Mapped[list | None] = mapped_column(JSONType, comment="Line items as sent by the shop: description, quantity, amount_minor")
    pdf_file: Mapped[str | None] = mapped_column(String(255), comment="Stored invoice PDF, path relative to STORAGE_DIR")
    einvoice_file: Mapped[str | None] = mapped_column(String(255), comment="Original e-invoice (XML or PDF) as received, path relative to STORAGE_DIR")
    einvoice_format: Mapped[str | None] = mapped_column(String(60), comment="Format of that e-invoice, e.g. XRechnung (UBL 2.1)")
    rf_reference: Mapped[str] = mapped_column(String(25), unique=True, comment="ISO 11649 creditor reference for bank transfers")
    intake_fingerprint: Mapped[str] = mapped_column(String(64), comment="Hash of the submitted content, to tell a repeat from a conflicting resubmission")
    dunning_level: Mapped[int] = mapped_column(Integer, default=0, comment="How many dunning steps have been taken")
    dunning_step: Mapped[str | None] = mapped_column(String(40), comment="Key of the last dunning step taken")
    next_action_on: Mapped[date | None] = mapped_column(Date, comment="Day the next dunning step is due; NULL when none is")
    paused_reason: Mapped[str | None] = mapped_column(String(20), comment="Why escalation is paused: dispute, plan or promise")
    default_on: Mapped[date | None] = mapped_column(Date, comment="Day the debtor went into default (interest runs from the next day)")
    default_rule: Mapped[str | None] = mapped_column(String(20), comment="Which rule of § 286 BGB gave default_on: notice_deadline, notice_receipt or thirty_days")
    closed_on: Mapped[date | None] = mapped_column(Date, comment="Day the invoice was paid, cancelled, written off or handed over")
    dunning_policy_id: Mapped[int | None] = mapped_column(ForeignKey("dunning_policy.id", ondelete="SET NULL"), comment="Dunning policy (customer group) chosen on the first dunning look")
    dunning_last_on: Mapped[date | None] = mapped_column(Date, comment="Day the last dunning step was taken")
    interest_through: Mapped[date | None] = mapped_column(Date, comment="Last day for which default interest has been booked")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, comment="When the invoice arrived")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, comment="Last change")

    merchant: Mapped[Merchant] = relationship()
    debtor: Mapped[Debtor] = relationship()
    entries: Mapped[list["LedgerEntry"]] = relationship(back_populates="invoice", order_by="LedgerEntry.id")

    @property
    def amount(self) -> Money:
        return Money(self.amount_minor, self.currency)

    @property
    def open_amount(self) -> Money:
        return Money(self.open_minor, self.currency)

    @property
    def is_open(self) -> bool:
        return self.status == InvoiceStatus.OPEN.value

    @classmethod
    def in_status(cls, status: str):
        """`status = '<status>'` with the value written into the SQL: a query of open invoices can then use the
        partial indexes `WHERE status = 'open'` whatever plan PostgreSQL keeps for a prepared statement (a
        generic plan for `status = $1` could not)."""
        return cls.status == literal(status, String, literal_execute=True)


class LedgerKind(str, enum.Enum):
    """What a ledger entry is; the sign of its amount follows from the kind."""

    PAYMENT = "payment"  # money received (negative)
    CREDIT = "credit"  # credit note, goodwill, dispute resolution (negative)
    WRITE_OFF = "write_off"  # claim given up (negative)
    FEE = "fee"  # dunning fee or flat fee (positive)
    INTEREST = "interest"  # default interest (positive)
    REFUND = "refund"  # money paid back to the debtor (positive: reopens)
    CHARGEBACK = "chargeback"  # card payment disputed by the debtor's bank (positive)
    REVERSAL = "reversal"  # bank return of an earlier credit (positive)
    ADJUSTMENT = "adjustment"  # corrected invoice amount (either sign)


NEGATIVE_KINDS = ("payment", "credit", "write_off")
POSITIVE_KINDS = ("fee", "interest", "refund", "chargeback", "reversal")
CHARGE_KINDS = ("fee", "interest")


class LedgerEntry(db.Model):
    __tablename__ = "ledger_entry"
    __table_args__ = (
        # One booking per outside reference and source: the same payment can never land twice.
        UniqueConstraint("merchant_id", "source", "external_ref"),
        CheckConstraint(
            "(kind IN ('payment', 'credit', 'write_off') AND amount_minor < 0)"
            " OR (kind IN ('fee', 'interest', 'refund', 'chargeback', 'reversal') AND amount_minor > 0)"
            " OR (kind = 'adjustment' AND amount_minor <> 0)",
            name="sign_matches_kind",
        ),
        CheckConstraint(
            "source IN ('api', 'stripe', 'bank', 'staff', 'dunning', 'import', 'plan')", name="source_known"
        ),
        # The dashboard's fees and interest by booking day.
        Index("ix_ledger_entry_merchant_booked", "merchant_id", "booked_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="Surrogate key")
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id", ondelete="CASCADE"), comment="Tenant")
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id", ondelete="CASCADE"), index=True, comment="Invoice whose balance this changes")
    kind: Mapped[str] = mapped_column(String(16), comment="payment, credit, write_off, fee, interest, refund, chargeback, reversal, adjustment")
    amount_minor: Mapped[int] = mapped_column(MinorUnits, comment="Signed change of the open balance in minor units")
    currency: Mapped[str] = mapped_column(String(3), comment="Must equal the invoice currency")
    source: Mapped[str] = mapped_column(String(16), comment="Where it came from: api, stripe, bank, staff, dunning, import, plan")
    external_ref: Mapped[str] = mapped_column(String(140), comment="Reference at the source (payment id, bank entry, step key), unique per source")
    booked_on: Mapped[date] = mapped_column(Date, comment="Value date of the booking")
    memo: Mapped[str | None] = mapped_column(Text, comment="Explanation shown on the timeline")
    data: Mapped[dict | None] = mapped_column(JSONType, comment="Details, e.g. interest rate and period, payer name")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, comment="When it was booked")

    invoice: Mapped[Invoice] = relationship(back_populates="entries")

    @property
    def amount(self) -> Money:
        return Money(self.amount_minor, self.currency)
