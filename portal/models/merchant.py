"""The merchant (tenant) with its settings, its API keys and its back-office users."""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from portal.extensions import db
from portal.models.types import MinorUnits, UTCDateTime, utcnow


class Merchant(db.Model):
    __tablename__ = "merchant"
    __table_args__ = (
        CheckConstraint("link_ttl_days BETWEEN 1 AND 365", name="link_ttl_range"),
        CheckConstraint("dunning_fee_cap_minor >= 0", name="fee_cap_nonneg"),
        CheckConstraint("letter_cost_minor >= 0", name="letter_cost_nonneg"),
        CheckConstraint("remainder_tolerance_minor >= 0", name="remainder_tolerance_nonneg"),
        CheckConstraint("remainder_action IN ('write_off', 'staff')", name="remainder_action_known"),
        CheckConstraint("credit_handling IN ('refund', 'offset')", name="credit_handling_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="Surrogate key")
    slug: Mapped[str] = mapped_column(String(40), unique=True, comment="URL-safe short name, used in webhook URLs and the CLI")
    name: Mapped[str] = mapped_column(String(120), comment="Shop name shown to debtors")
    legal_name: Mapped[str] = mapped_column(String(200), comment="Registered company name for letters and imprint")
    street: Mapped[str | None] = mapped_column(String(200), comment="Postal address: street and number")
    postal_code: Mapped[str | None] = mapped_column(String(20), comment="Postal address: postal code")
    city: Mapped[str | None] = mapped_column(String(100), comment="Postal address: city")
    country: Mapped[str] = mapped_column(String(2), default="DE", comment="Postal address: ISO 3166 country code")
    legal_form: Mapped[str | None] = mapped_column(String(20), comment="Legal form (portal/domain/company.py LEGAL_FORMS): sole, gbr, ek, ohg, kg, gmbh_co_kg, gmbh, ug, ag, other")
    registered_office: Mapped[str | None] = mapped_column(String(100), comment="Registered office (Sitz) for letters and emails")
    register_court: Mapped[str | None] = mapped_column(String(100), comment="Register court, e.g. Amtsgericht Stuttgart")
    register_number: Mapped[str | None] = mapped_column(String(40), comment="Commercial register number, e.g. HRB 12345")
    managing_directors: Mapped[str | None] = mapped_column(String(300), comment="All managing directors (AG: management board), comma-separated")
    general_partner: Mapped[str | None] = mapped_column(String(300), comment="GmbH & Co. KG: the personally liable partner with its office, register and directors")
    supervisory_chair: Mapped[str | None] = mapped_column(String(120), comment="AG: chair of the supervisory board")
    vat_id: Mapped[str | None] = mapped_column(String(20), comment="VAT identification number (USt-IdNr.), compact")
    support_email: Mapped[str | None] = mapped_column(String(254), comment="Where debtors write; Reply-To of reminders")
    support_phone: Mapped[str | None] = mapped_column(String(40), comment="Support phone number shown in the portal")
    support_hours: Mapped[str | None] = mapped_column(String(200), comment="Support opening hours, free text")
    iban: Mapped[str | None] = mapped_column(String(34), comment="Bank account for transfers (validated, stored compact)")
    bic: Mapped[str | None] = mapped_column(String(11), comment="BIC of the bank account")
    account_holder: Mapped[str | None] = mapped_column(String(70), comment="Account holder name as the bank knows it (EPC QR name)")
    holiday_state: Mapped[str | None] = mapped_column(String(2), comment="German state whose public holidays count for deadlines (§ 193 BGB), e.g. BY; NULL: national holidays only")
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Berlin", comment="IANA time zone in which due dates and 'today' are reckoned")
    default_language: Mapped[str] = mapped_column(String(5), default="de", comment="Language for debtors who have none on file")
    logo_url: Mapped[str | None] = mapped_column(String(500), comment="Logo image (same-origin path or data URL)")
    primary_color: Mapped[str] = mapped_column(String(7), default="#1f4e79", comment="Brand colour for headers and buttons (#rrggbb)")
    accent_color: Mapped[str] = mapped_column(String(7), default="#e8f0f8", comment="Light brand colour for backgrounds (#rrggbb)")
    imprint_url: Mapped[str | None] = mapped_column(String(500), comment="Link to the shop's imprint (Impressum)")
    privacy_url: Mapped[str | None] = mapped_column(String(500), comment="Link to the shop's privacy notice")
    stripe_secret_key: Mapped[str | None] = mapped_column(String(255), comment="Stripe secret API key; never shown back in full")
    stripe_webhook_secret: Mapped[str | None] = mapped_column(String(255), comment="Stripe webhook signing secret; never shown back in full")
    link_ttl_days: Mapped[int] = mapped_column(Integer, default=60, comment="Days a portal link stays valid")
    link_step_up: Mapped[bool] = mapped_column(Boolean, default=False, comment="Ask for the postal code before showing more than amounts")
    dunning_fee_cap_minor: Mapped[int] = mapped_column(MinorUnits, default=250, comment="Highest dunning fee per notice, minor units")
    letter_cost_minor: Mapped[int] = mapped_column(MinorUnits, default=125, server_default="125", comment="Actual cost of one dunning letter (postage and print), minor units: the highest fee for a letter")
    business_flat_fee: Mapped[bool] = mapped_column(Boolean, default=False, comment="Charge business debtors the 40 EUR flat fee of §288 (5) BGB")
    consumer_default_notice: Mapped[bool] = mapped_column(Boolean, default=True, comment="Tell consumers on the pre-due reminder that they default 30 days after due date (§286 (3) BGB) and rely on it")
    plan_max_rates: Mapped[int] = mapped_column(Integer, default=6, comment="Installment plans: most monthly rates approved without staff")
    plan_min_rate_minor: Mapped[int] = mapped_column(MinorUnits, default=2500, comment="Installment plans: smallest rate approved without staff")
    plan_max_total_minor: Mapped[int] = mapped_column(MinorUnits, default=500000, comment="Installment plans: largest total approved without staff")
    plan_first_rate_days: Mapped[int] = mapped_column(Integer, default=30, comment="Installment plans: first rate at most this many days ahead")
    plan_include_charges: Mapped[bool] = mapped_column(Boolean, default=True, comment="Installment plans include fees and interest (else they are waived)")
    plan_grace_days: Mapped[int] = mapped_column(Integer, default=7, comment="Days after a rate's due date before the plan counts as broken")
    promise_max_days: Mapped[int] = mapped_column(Integer, default=30, comment="Promise to pay: latest date a debtor may pick, in days from today")
    case_sla_business_days: Mapped[int] = mapped_column(Integer, default=2, comment="Business days within which staff answer a case")
    payment_term_days: Mapped[int] = mapped_column(Integer, default=14, server_default="14", comment="E-invoices without a due date: due this many days after the issue date")
    einvoice_customer_ref: Mapped[str] = mapped_column(String(5), default="BT-46", server_default="BT-46", comment="Which e-invoice term is the customer number: BT-46 (buyer identifier) or BT-10 (buyer reference)")
    # Bank reconciliation (docs/payments.md): small remainders and credits from overpayments.
    remainder_tolerance_minor: Mapped[int] = mapped_column(MinorUnits, default=100, server_default="100", comment="A remainder up to this (minor units) after a bank payment is not dunned: bank charges the payer's bank took")
    remainder_action: Mapped[str] = mapped_column(String(10), default="write_off", server_default="write_off", comment="What happens to such a remainder: write_off (booked at once) or staff (dunning stops, staff decide)")
    credit_handling: Mapped[str] = mapped_column(String(10), default="refund", server_default="refund", comment="What happens to an overpayment, as the debtor is told: refund (paid back) or offset (set against the next invoice)")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, comment="When the merchant was created")

    api_keys: Mapped[list["ApiKey"]] = relationship(back_populates="merchant")

    def __repr__(self) -> str:
        return f"<Merchant {self.slug}>"


def _hash_key(secret: str) -> str:
    # API keys carry 256 bits of randomness: a fast hash is the right tool (no brute force to slow down).
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiKey(db.Model):
    __tablename__ = "api_key"

    id: Mapped[int] = mapped_column(primary_key=True, comment="Surrogate key")
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id", ondelete="CASCADE"), index=True, comment="Tenant the key acts for")
    prefix: Mapped[str] = mapped_column(String(16), unique=True, comment="Visible start of the key, to tell keys apart")
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, comment="SHA-256 of the whole key")
    name: Mapped[str | None] = mapped_column(String(100), comment="What the key is used for")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, comment="When the key was created")
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, comment="Last successful authentication")
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, comment="When the key was revoked; revoked keys never authenticate")

    merchant: Mapped[Merchant] = relationship(back_populates="api_keys")

    @classmethod
    def generate(cls, merchant: Merchant, name: str | None = None) -> tuple["ApiKey", str]:
        """A new key and its secret; only the hash is stored, the secret is shown once."""
        prefix = "stl_" + secrets.token_hex(4)
        secret = f"{prefix}_{secrets.token_urlsafe(32)}"
        return cls(merchant=merchant, prefix=prefix, key_hash=_hash_key(secret), name=name), secret

    @staticmethod
    def hash_secret(secret: str) -> str:
        return _hash_key(secret)


class User(UserMixin, db.Model):
    __tablename__ = "user_account"
    __table_args__ = (CheckConstraint("role IN ('admin', 'support')", name="role_known"),)

    id: Mapped[int] = mapped_column(primary_key=True, comment="Surrogate key")
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id", ondelete="CASCADE"), index=True, comment="Tenant the user works for")
    email: Mapped[str] = mapped_column(String(254), unique=True, comment="Login name, lower-cased")
    name: Mapped[str | None] = mapped_column(String(120), comment="Display name on the timeline")
    password_hash: Mapped[str] = mapped_column(String(255), comment="Salted password hash (scrypt)")
    role: Mapped[str] = mapped_column(String(20), default="support", comment="admin (settings, users) or support (cases)")
    active: Mapped[bool] = mapped_column(Boolean, default=True, comment="Inactive users cannot sign in")
    language: Mapped[str] = mapped_column(String(5), default="de", comment="Back-office language")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, comment="When the user was created")

    merchant: Mapped[Merchant] = relationship()

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active


class StaffSession(db.Model):
    """A signed-in back-office session, so signing out (or a password change) ends it on the server.

    The cookie carries a random session token; only its SHA-256 is stored. A request is
    signed in only while its token's row exists: a copied or kept cookie is worth nothing
    once the row is gone.
    """

    __tablename__ = "staff_session"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, comment="SHA-256 (hex) of the session token in the cookie")
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True, comment="Who signed in")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, comment="When the session began (sign-in)")

    @staticmethod
    def hash_token(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()
