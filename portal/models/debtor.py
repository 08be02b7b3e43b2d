"""A debtor: a shop's customer who owes money, known by the shop's customer reference."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.merchant import Merchant
from portal.models.types import UTCDateTime, trigram_index, utcnow


class Debtor(db.Model):
    __tablename__ = "debtor"
    __table_args__ = (
        UniqueConstraint("merchant_id", "external_ref"),
        # Open-items search finds a customer by exact email or phone without reading every row.
        Index("ix_debtor_email", "merchant_id", "email"),
        Index("ix_debtor_phone", "merchant_id", "phone"),
        # Open items sorted by customer name: customers walked in name order, each one's invoices looked up
        Index("ix_debtor_merchant_name", "merchant_id", "name", "id"),
        # … and filtered by preferred channel (a subquery of the page and of the totals)
        Index("ix_debtor_channel", "merchant_id", "preferred_channel"),
        # … and by a part of the name, company or customer number through trigram indexes on PostgreSQL
        trigram_index("ix_debtor_name_trgm", "name"),
        trigram_index("ix_debtor_company_trgm", "company"),
        trigram_index("ix_debtor_external_ref_trgm", "external_ref"),
        CheckConstraint("kind IN ('person', 'business')", name="kind_known"),
        CheckConstraint("preferred_channel IS NULL OR preferred_channel IN ('email', 'sms', 'letter')", name="channel_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="Surrogate key")
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id", ondelete="CASCADE"), index=True, comment="Tenant")
    external_ref: Mapped[str] = mapped_column(String(64), comment="The shop's customer number, unique per merchant")
    kind: Mapped[str] = mapped_column(String(10), default="person", comment="person (consumer) or business")
    name: Mapped[str] = mapped_column(String(200), comment="Full name of the person (contact person for businesses)")
    company: Mapped[str | None] = mapped_column(String(200), comment="Company name for business debtors")
    email: Mapped[str | None] = mapped_column(String(254), comment="Email address for reminders")
    phone: Mapped[str | None] = mapped_column(String(40), comment="Mobile number in E.164 form for SMS")
    street: Mapped[str | None] = mapped_column(String(200), comment="Postal address: street and number")
    postal_code: Mapped[str | None] = mapped_column(String(20), comment="Postal address: postal code")
    city: Mapped[str | None] = mapped_column(String(100), comment="Postal address: city")
    country: Mapped[str | None] = mapped_column(String(2), comment="Postal address: ISO 3166 country code")
    language: Mapped[str | None] = mapped_column(String(5), comment="Preferred language (de, en)")
    date_of_birth: Mapped[date | None] = mapped_column(Date, comment="Birth date, for age-banded reminder policies")
    preferred_channel: Mapped[str | None] = mapped_column(String(10), comment="Channel the debtor chose: email, sms or letter")
    consent_email: Mapped[bool] = mapped_column(Boolean, default=True, comment="May be reminded by email")
    consent_sms: Mapped[bool] = mapped_column(Boolean, default=False, comment="Agreed to reminders by SMS")
    link_version: Mapped[int] = mapped_column(Integer, default=1, comment="Bumped to revoke every outstanding portal link")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, comment="When the debtor was first seen")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, comment="Last change")

    merchant: Mapped[Merchant] = relationship()

    @property
    def display_name(self) -> str:
        return self.company or self.name

    @property
    def is_business(self) -> bool:
        return self.kind == "business"


class PortalSessionEnd(db.Model):
    """A debtor's portal session that was ended by leaving the portal, until its cookie would expire anyway.

    Portal sessions live in the signed cookie; each carries a random session id. Leaving
    records the id's hash here, so the same cookie, kept or copied, opens nothing
    afterwards, while the debtor's other sessions (another device) and links stay valid.
    """

    __tablename__ = "portal_session_end"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, comment="SHA-256 (hex) of the ended session's id")
    debtor_id: Mapped[int] = mapped_column(ForeignKey("debtor.id", ondelete="CASCADE"), index=True, comment="Whose session it was")
    ended_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True, comment="When the debtor left; rows older than the session lifetime are dropped")



class LinkRequest(db.Model):
    """One "send me a new link" form, as sent: the worker looks the contact up and queues the message.

    Every request writes exactly this row, whether or not the contact belongs to anyone, so the
    answer (its time included) says nothing about who is a customer. Once processed, the contact is
    erased: what remains is that a request came, not from whom.
    """

    __tablename__ = "link_request"
    __table_args__ = (
        CheckConstraint("contact_kind IN ('email', 'phone')", name="contact_kind_known"),
        Index("ix_link_request_pending", "processed_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="Surrogate key")
    merchant_id: Mapped[int | None] = mapped_column(
        ForeignKey("merchant.id", ondelete="CASCADE"),
        comment="The shop the page was opened for (an expired link's shop); NULL: any shop on this installation")
    contact_kind: Mapped[str] = mapped_column(String(5), comment="email or phone: how the contact was entered")
    contact: Mapped[str | None] = mapped_column(
        String(254), comment="Normalised email address or E.164 number; erased once processed")
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, comment="When the form was sent")
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, comment="When the worker looked it up; NULL: pending")
    matched: Mapped[int | None] = mapped_column(Integer, comment="Debtors found (only the worker knows; never shown to the requester)")
