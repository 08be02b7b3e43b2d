"""Base rates (§ 247 BGB) entered after release: one row per entry, never updated (the history is the audit)."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.models.types import UTCDateTime, utcnow


class BaseRateEntry(db.Model):
    """A rate entered for a half-year; the latest entry per half-year counts and wins over the shipped table.

    The table is the same for every merchant (the rate is the Bundesbank's, not the shop's); the
    highest id is the version the running processes compare to know whether their copy is current.
    """

    __tablename__ = "base_rate_entry"
    __table_args__ = (
        CheckConstraint("rate_percent BETWEEN -10 AND 20", name="base_rate_sane"),
        Index("ix_base_rate_entry_valid_from", "valid_from"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="Surrogate key; the maximum is the table's version")
    valid_from: Mapped[date] = mapped_column(Date, comment="First day of the half-year (1 January or 1 July)")
    rate_percent: Mapped[Decimal] = mapped_column(Numeric(5, 2), comment="Base rate in percent per annum (may be negative)")
    previous_percent: Mapped[Decimal | None] = mapped_column(Numeric(5, 2), comment="The rate that counted before this entry, if any")
    actor: Mapped[str] = mapped_column(String(80), comment="Who entered it: user:<id> or cli:<login name>")
    actor_email: Mapped[str | None] = mapped_column(String(254), comment="The staff member's email at the time, for the audit")
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchant.id", ondelete="SET NULL"),
                                                    comment="The staff member's merchant (NULL: command line)")
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, comment="When it was entered (UTC)")
