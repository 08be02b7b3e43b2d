"""Handover to a collection agency: the merchant's agency, and what each export carried.

The agency (one per merchant) is named in the handover notice and on the portal; `payee`
says where the debtor pays from the handover on. Every export is recorded with the claims
it carried in full and the ledger entries it carried, so the next export reports exactly
what changed since (payments after handover, interest supplements), each once.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.models.types import UTCDateTime, utcnow

PAYEES = ("agency", "shop")
LEGAL_BASES = ("art6_1_f", "art6_1_b_f")


class CollectionAgency(db.Model):
    __tablename__ = "collection_agency"
    __table_args__ = (
        CheckConstraint("payee IN ('agency', 'shop')", name="payee_known"),
        CheckConstraint("legal_basis IN ('art6_1_f', 'art6_1_b_f')", name="legal_basis_known"),
    )

    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id", ondelete="CASCADE"), primary_key=True, comment="Tenant whose claims the agency collects")
    name: Mapped[str] = mapped_column(String(200), comment="The agency's registered name")
    street: Mapped[str] = mapped_column(String(200), comment="Postal address: street and number")
    postal_code: Mapped[str] = mapped_column(String(20), comment="Postal address: postal code")
    city: Mapped[str] = mapped_column(String(100), comment="Postal address: city")
    country: Mapped[str] = mapped_column(String(2), default="DE", comment="Postal address: ISO 3166 country code")
    contact_person: Mapped[str | None] = mapped_column(String(120), comment="Who at the agency handles the merchant's claims")
    email: Mapped[str | None] = mapped_column(String(254), comment="Where debtors write to the agency")
    phone: Mapped[str | None] = mapped_column(String(40), comment="The agency's phone number for debtors")
    registration: Mapped[str | None] = mapped_column(String(200), comment="Registration in the legal services register (§ 10 RDG), e.g. 'Rechtsdienstleistungsregister, AG Stuttgart, Az. 371E-1234'")
    privacy_url: Mapped[str | None] = mapped_column(String(500), comment="The agency's own privacy notice")
    legal_basis: Mapped[str] = mapped_column(String(12), default="art6_1_f", comment="Basis of the data transfer: art6_1_f (legitimate interest) or art6_1_b_f (contract and legitimate interest)")
    payee: Mapped[str] = mapped_column(String(10), default="agency", comment="Where debtors pay after handover: agency (the portal offers no payment) or shop")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, comment="Last change")

    @property
    def collects(self) -> bool:
        """The agency collects: debtors pay it, not the shop."""
        return self.payee == "agency"

    def address_lines(self) -> list[str]:
        lines = [self.name, self.street, f"{self.postal_code} {self.city}".strip()]
        if (self.country or "DE").upper() != "DE":
            lines.append(self.country.upper())
        return [line for line in lines if line]


class HandoverExport(db.Model):
    """One export file produced for the agency (office download or `flask dunning handover-export`)."""

    __tablename__ = "handover_export"

    id: Mapped[int] = mapped_column(primary_key=True, comment="Surrogate key; the export's number for the agency")
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id", ondelete="CASCADE"), index=True, comment="Tenant")
    actor: Mapped[str] = mapped_column(String(40), comment="Who produced it: user:<id> or cli")
    claims: Mapped[int] = mapped_column(Integer, default=0, comment="Claims carried in full for the first time")
    supplements: Mapped[int] = mapped_column(Integer, default=0, comment="Ledger entries reported as changes since an earlier export")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, comment="When it was produced")


class HandoverExportClaim(db.Model):
    """A claim's first (full) export; later exports only report its changes."""

    __tablename__ = "handover_export_claim"

    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id", ondelete="CASCADE"), primary_key=True, comment="The claim")
    export_id: Mapped[int] = mapped_column(ForeignKey("handover_export.id", ondelete="CASCADE"), index=True, comment="Export that carried it in full")


class HandoverExportEntry(db.Model):
    """A ledger entry the agency has been told about (in a claim's full record or as a supplement)."""

    __tablename__ = "handover_export_entry"

    ledger_entry_id: Mapped[int] = mapped_column(ForeignKey("ledger_entry.id", ondelete="CASCADE"), primary_key=True, comment="The entry reported")
    export_id: Mapped[int] = mapped_column(ForeignKey("handover_export.id", ondelete="CASCADE"), index=True, comment="Export that reported it")
    supplement: Mapped[bool] = mapped_column(Boolean, default=False, comment="Reported as a change after an earlier export (not in the claim's first record)")
