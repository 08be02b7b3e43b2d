"""Cases: what a debtor asks for (installment plan, promise to pay, dispute, a question) and how staff answer.

Every case but a question pauses escalation for its invoices while it stands; the case services in
portal/cases/ call the escalation state machine to pause, resume and stop.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.debtor import Debtor
from portal.models.invoice import Invoice
from portal.models.types import MinorUnits, UTCDateTime, utcnow

CASE_KINDS = ("dispute", "plan", "promise", "question")
HOLDING_KINDS = ("dispute", "plan", "promise")  # kinds that pause escalation while they stand (a question does not)
CASE_STATUSES = ("open", "countered", "active", "resolved", "rejected", "completed", "broken", "withdrawn")
DISPUTE_REASONS = ("not_received", "returned", "already_paid", "wrong_amount", "damaged", "other")
OPEN_STATUSES = ("open", "countered")  # waiting for staff or for the debtor
STANDING_STATUSES = ("open", "countered", "active")  # escalation stays paused


class Case(db.Model):
    __tablename__ = "support_case"
    __table_args__ = (
        CheckConstraint(f"kind IN {CASE_KINDS}", name="kind_known"),
        CheckConstraint(f"status IN {CASE_STATUSES}", name="status_known"),
        Index("ix_support_case_queue", "merchant_id", "status", "sla_due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="Surrogate key")
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id", ondelete="CASCADE"), comment="Tenant")
    debtor_id: Mapped[int] = mapped_column(ForeignKey("debtor.id", ondelete="CASCADE"), index=True, comment="Who asked")
    kind: Mapped[str] = mapped_column(String(10), comment="dispute, plan, promise or question")
    status: Mapped[str] = mapped_column(String(12), default="open", comment="open, countered, active, resolved, rejected, completed, broken, withdrawn")
    reason: Mapped[str | None] = mapped_column(String(20), comment="Dispute reason code")
    body: Mapped[str | None] = mapped_column(Text, comment="What the debtor wrote")
    promised_on: Mapped[date | None] = mapped_column(Date, comment="Promise to pay: the day the debtor will pay by")
    sla_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, comment="When staff should have answered (merchant's SLA)")
    assigned_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"), comment="Staff member handling it")
    resolution: Mapped[str | None] = mapped_column(String(30), comment="How it ended: credited, partly_credited, rejected, cancelled, approved, paid, broken")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, comment="When the debtor asked")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, comment="Last change")
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, comment="When it was closed")

    debtor: Mapped[Debtor] = relationship()
    invoices: Mapped[list[Invoice]] = relationship(secondary="case_invoice", order_by="Invoice.due_date")
    notes: Mapped[list["CaseNote"]] = relationship(back_populates="case", order_by="CaseNote.id")
    attachments: Mapped[list["Attachment"]] = relationship(back_populates="case", order_by="Attachment.id")
    plan: Mapped["InstallmentPlan | None"] = relationship(back_populates="case", uselist=False)

    @property
    def is_waiting_for_staff(self) -> bool:
        return self.status == "open"


class CaseInvoice(db.Model):
    __tablename__ = "case_invoice"

    case_id: Mapped[int] = mapped_column(ForeignKey("support_case.id", ondelete="CASCADE"), primary_key=True, comment="The case")
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id", ondelete="CASCADE"), primary_key=True, index=True, comment="An invoice it concerns")


class CaseNote(db.Model):
    """A message in a case: the debtor's words, a staff reply (sent to the debtor) or an internal note."""

    __tablename__ = "case_note"
    __table_args__ = (CheckConstraint("author IN ('debtor', 'staff', 'system')", name="author_known"),)

    id: Mapped[int] = mapped_column(primary_key=True, comment="Surrogate key")
    case_id: Mapped[int] = mapped_column(ForeignKey("support_case.id", ondelete="CASCADE"), index=True, comment="The case")
    author: Mapped[str] = mapped_column(String(10), comment="debtor, staff or system")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"), comment="Staff author")
    body: Mapped[str] = mapped_column(Text, comment="The text")
    internal: Mapped[bool] = mapped_column(Boolean, default=False, comment="Internal notes are never shown to the debtor")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, comment="When it was written")

    case: Mapped[Case] = relationship(back_populates="notes")


class Attachment(db.Model):
    """A file the debtor attached to a case; stored outside the web root under a random name."""

    __tablename__ = "attachment"

    id: Mapped[int] = mapped_column(primary_key=True, comment="Surrogate key")
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id", ondelete="CASCADE"), index=True, comment="Tenant")
    case_id: Mapped[int] = mapped_column(ForeignKey("support_case.id", ondelete="CASCADE"), index=True, comment="The case")
    debtor_id: Mapped[int] = mapped_column(ForeignKey("debtor.id", ondelete="CASCADE"), comment="Who uploaded it")
    filename: Mapped[str] = mapped_column(String(120), comment="Sanitised original name, for the download")
    mime_type: Mapped[str] = mapped_column(String(40), comment="Type established from the content")
    size: Mapped[int] = mapped_column(Integer, comment="Bytes")
    sha256: Mapped[str] = mapped_column(String(64), comment="Content hash")
    storage_key: Mapped[str] = mapped_column(String(64), unique=True, comment="Random file name under STORAGE_DIR/attachments")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, comment="When it was uploaded")

    case: Mapped[Case] = relationship(back_populates="attachments")


class InstallmentPlan(db.Model):
    __tablename__ = "installment_plan"
    __table_args__ = (
        CheckConstraint("status IN ('proposed', 'countered', 'active', 'completed', 'broken', 'rejected')", name="status_known"),
        CheckConstraint("total_minor > 0", name="total_positive"),
        CheckConstraint("rates_count >= 2", name="two_rates_or_more"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="Surrogate key")
    case_id: Mapped[int] = mapped_column(ForeignKey("support_case.id", ondelete="CASCADE"), unique=True, comment="The plan request")
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id", ondelete="CASCADE"), index=True, comment="Tenant")
    debtor_id: Mapped[int] = mapped_column(ForeignKey("debtor.id", ondelete="CASCADE"), comment="Who pays")
    currency: Mapped[str] = mapped_column(String(3), comment="ISO 4217 currency of every rate")
    total_minor: Mapped[int] = mapped_column(MinorUnits, comment="Amount spread over the rates")
    rates_count: Mapped[int] = mapped_column(Integer, comment="Number of monthly rates")
    first_due: Mapped[date] = mapped_column(Date, comment="Due date of the first rate")
    include_charges: Mapped[bool] = mapped_column(Boolean, default=True, comment="Fees and interest are part of the plan (else waived on activation)")
    status: Mapped[str] = mapped_column(String(10), default="proposed", comment="proposed (waits for staff), countered (waits for debtor), active, completed, broken, rejected")
    open_at_start_minor: Mapped[int | None] = mapped_column(MinorUnits, comment="Open total of the plan's invoices at activation; paid = this − open now")
    activated_on: Mapped[date | None] = mapped_column(Date, comment="Day the plan became active")
    ended_on: Mapped[date | None] = mapped_column(Date, comment="Day it was completed or broken")
    approved_by: Mapped[str | None] = mapped_column(String(40), comment="auto (inside the rules) or user:<id>")

    case: Mapped[Case] = relationship(back_populates="plan")
    rates: Mapped[list["PlanRate"]] = relationship(back_populates="plan", order_by="PlanRate.number", cascade="all, delete-orphan")


class PlanRate(db.Model):
    __tablename__ = "plan_rate"
    __table_args__ = (UniqueConstraint("plan_id", "number"), CheckConstraint("amount_minor > 0", name="amount_positive"))

    id: Mapped[int] = mapped_column(primary_key=True, comment="Surrogate key")
    plan_id: Mapped[int] = mapped_column(ForeignKey("installment_plan.id", ondelete="CASCADE"), comment="The plan")
    number: Mapped[int] = mapped_column(Integer, comment="1-based position")
    due_on: Mapped[date] = mapped_column(Date, comment="Due date")
    amount_minor: Mapped[int] = mapped_column(MinorUnits, comment="Rate amount, minor units")
    rf_reference: Mapped[str] = mapped_column(String(25), unique=True, comment="RF reference for paying this rate by transfer")

    plan: Mapped[InstallmentPlan] = relationship(back_populates="rates")
