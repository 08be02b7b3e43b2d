"""Dunning policies: per merchant, which customer group gets which steps on which channels.

A policy is data the merchant can change: rules that select a customer group and an
ordered list of steps. Every new merchant gets the German defaults (portal.dunning.defaults).
Policies are versioned: a change in the editor (portal/policies) saves a new version of the
group and marks the old one superseded; invoices keep the version they were put under.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.merchant import Merchant
from portal.models.types import JSONType, MinorUnits, UTCDateTime


class Policy(db.Model):
    __tablename__ = "dunning_policy"
    __table_args__ = (
        UniqueConstraint("merchant_id", "name", "version"),
        CheckConstraint("match_kind IS NULL OR match_kind IN ('person', 'business')", name="kind_known"),
        CheckConstraint("match_customer IS NULL OR match_customer IN ('first', 'returning')", name="customer_known"),
        CheckConstraint(
            "match_preferred_channel IS NULL OR match_preferred_channel IN ('email', 'sms', 'letter')",
            name="channel_known",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="Surrogate key")
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id", ondelete="CASCADE"), index=True, comment="Tenant")
    name: Mapped[str] = mapped_column(String(80), comment="Name of the customer group, shown to staff")
    priority: Mapped[int] = mapped_column(Integer, default=100, comment="Lower is tried first; the first matching policy applies")
    active: Mapped[bool] = mapped_column(Boolean, default=True, comment="Inactive policies are never chosen")
    match_kind: Mapped[str | None] = mapped_column(String(10), comment="Only person (consumer) or business debtors; NULL: both")
    match_age_min: Mapped[int | None] = mapped_column(Integer, comment="Youngest age (years, from date of birth) in the group")
    match_age_max: Mapped[int | None] = mapped_column(Integer, comment="Oldest age (years) in the group")
    match_amount_min_minor: Mapped[int | None] = mapped_column(MinorUnits, comment="Smallest invoice amount in the group, minor units")
    match_amount_max_minor: Mapped[int | None] = mapped_column(MinorUnits, comment="Largest invoice amount in the group, minor units")
    match_language: Mapped[str | None] = mapped_column(String(5), comment="Only debtors with this language")
    match_preferred_channel: Mapped[str | None] = mapped_column(String(10), comment="Only debtors who chose this channel")
    match_customer: Mapped[str | None] = mapped_column(String(10), comment="first (no earlier invoice) or returning customers")
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1", comment="Version of this customer group's policy, from 1")
    lineage_id: Mapped[int | None] = mapped_column(ForeignKey("dunning_policy.id", ondelete="SET NULL"), index=True, comment="First version of the same customer group; NULL: this is the first")
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, comment="When a newer version replaced it; invoices already under it keep it")
    changed_by: Mapped[str | None] = mapped_column(String(254), comment="Who saved this version (email), NULL for the seeded defaults")

    @property
    def group_id(self) -> int:
        """The customer group across versions: the id of its first version."""
        return self.lineage_id or self.id

    @property
    def current(self) -> bool:
        return self.superseded_at is None

    merchant: Mapped[Merchant] = relationship()
    steps: Mapped[list["PolicyStep"]] = relationship(
        back_populates="policy", order_by="PolicyStep.position", cascade="all, delete-orphan"
    )


class PolicyStep(db.Model):
    __tablename__ = "dunning_policy_step"
    __table_args__ = (
        UniqueConstraint("policy_id", "key"),
        UniqueConstraint("policy_id", "position"),
        CheckConstraint("offset_from IN ('due', 'previous')", name="offset_from_known"),
        CheckConstraint("legal IN ('reminder', 'default_notice', 'final_notice', 'handover')", name="legal_known"),
        CheckConstraint("fee_minor >= 0", name="fee_nonneg"),
        CheckConstraint("fee_email_minor >= 0 AND fee_sms_minor >= 0", name="channel_fees_nonneg"),
        CheckConstraint("payment_days >= 0", name="payment_days_nonneg"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="Surrogate key")
    policy_id: Mapped[int] = mapped_column(ForeignKey("dunning_policy.id", ondelete="CASCADE"), index=True, comment="The policy")
    key: Mapped[str] = mapped_column(String(40), comment="Step key, unique in the policy; recorded on the invoice and message")
    position: Mapped[int] = mapped_column(Integer, comment="Order of the step in the policy, from 1")
    offset_days: Mapped[int] = mapped_column(Integer, comment="Days after the due date (negative: before) or after the previous step")
    offset_from: Mapped[str] = mapped_column(String(10), default="due", comment="due: offset from the due date; previous: from the previous step")
    channels: Mapped[list] = mapped_column(JSONType, comment="Channels in order of preference; later ones are fallbacks")
    template: Mapped[str] = mapped_column(String(60), comment="Message template under templates/email|sms|letter")
    fee_minor: Mapped[int] = mapped_column(MinorUnits, default=0, comment="Dunning fee when the notice goes out as a letter (charged only in default; at most the merchant's letter costs and fee cap)")
    fee_email_minor: Mapped[int] = mapped_column(MinorUnits, default=0, server_default="0", comment="Dunning fee when it goes out by email (default 0: an email costs next to nothing)")
    fee_sms_minor: Mapped[int] = mapped_column(MinorUnits, default=0, server_default="0", comment="Dunning fee when it goes out by SMS (default 0)")
    legal: Mapped[str] = mapped_column(String(20), comment="Legal meaning: reminder, default_notice, final_notice, handover")
    payment_days: Mapped[int] = mapped_column(Integer, default=10, comment="Days the message gives the debtor to pay")
    notice_286: Mapped[bool] = mapped_column(Boolean, default=False, comment="Carries the consumer notice of § 286 (3) BGB (if the merchant relies on it)")

    policy: Mapped[Policy] = relationship(back_populates="steps")


@event.listens_for(Merchant, "after_insert")
def _seed_default_policies(mapper, connection, merchant) -> None:
    """Every new merchant starts with the German default policies (changeable data)."""
    from portal.dunning.defaults import seed_rows

    seed_rows(connection, merchant.id)
