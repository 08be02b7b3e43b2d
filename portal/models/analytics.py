"""Pre-aggregated dashboard figures: the open amount by days past due at the end of past days.

What was open at the end of a past day only changes when something is booked with a date on or
before that day after the fact (a bank statement imported late, a payment reported with an
earlier value date, an invoice imported with an old issue date). `portal.analytics.rollup`
watches the ledger and invoice ids for exactly that and drops the cached days from the earliest
affected date on; the next dashboard request computes them again.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.models.types import JSONType, MinorUnits, UTCDateTime, utcnow


class OpenDay(db.Model):
    __tablename__ = "analytics_open_day"

    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id", ondelete="CASCADE"), primary_key=True, comment="Tenant")
    day: Mapped[date] = mapped_column(Date, primary_key=True, comment="End of this calendar day")
    currency: Mapped[str] = mapped_column(String(3), primary_key=True, comment="Currency of the amounts")
    group_id: Mapped[int] = mapped_column(Integer, primary_key=True, comment="Customer group (dunning policy) filter; 0 = all")
    channel: Mapped[str] = mapped_column(String(10), primary_key=True, comment="Channel filter; empty = all")
    bucket: Mapped[str] = mapped_column(String(10), primary_key=True, comment="Days past due: not_due, 0_30, 31_60, 61_90, 90_plus")
    amount_minor: Mapped[int] = mapped_column(MinorUnits, comment="Open amount in minor units")
    invoices: Mapped[int] = mapped_column(Integer, comment="Number of invoices with something open")
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, comment="When it was computed")


class DayFigure(db.Model):
    """One day's share of an additive dashboard figure (recovery by due day, funnel by message day, …)."""

    __tablename__ = "analytics_day_figure"

    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id", ondelete="CASCADE"), primary_key=True, comment="Tenant")
    figure: Mapped[str] = mapped_column(String(20), primary_key=True, comment="recovery, funnel, self_service, cases, handover, charges")
    day: Mapped[date] = mapped_column(Date, primary_key=True, comment="The day the figure's records are anchored on")
    currency: Mapped[str] = mapped_column(String(3), primary_key=True, comment="Currency filter")
    group_id: Mapped[int] = mapped_column(Integer, primary_key=True, comment="Customer group filter; 0 = all")
    channel: Mapped[str] = mapped_column(String(10), primary_key=True, comment="Channel filter; empty = all")
    data: Mapped[dict | list] = mapped_column(JSONType, comment="The day's partial result (counts, sums, histograms)")
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, comment="When it was computed")


class Watermark(db.Model):
    """How far the rollup has looked at new rows (ledger, invoices, messages, events, cases) for late changes."""

    __tablename__ = "analytics_watermark"

    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id", ondelete="CASCADE"), primary_key=True, comment="Tenant")
    marks: Mapped[dict] = mapped_column(JSONType, comment="Per table: rows up to this id are reflected in the cache")
    pending: Mapped[dict] = mapped_column(JSONType, comment="Per table: the highest id seen at pending_at")
    pending_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, comment="When the pending ids were read")
    currencies: Mapped[list | None] = mapped_column(JSONType, comment="The merchant's invoice currencies, most invoices first; NULL: to be counted again")
