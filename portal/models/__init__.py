"""The database models, one module per aggregate; importing this registers every table."""
from sqlalchemy import DDL, event

from portal.extensions import db
from portal.models.merchant import ApiKey, Merchant, StaffSession, User
from portal.models.debtor import Debtor, LinkRequest, PortalSessionEnd
from portal.models.invoice import Invoice, InvoiceStatus, LedgerEntry, LedgerKind
from portal.models.audit import Event
from portal.models.case import Attachment, Case, CaseInvoice, CaseNote, InstallmentPlan, PlanRate
from portal.models.message import Message, MessageInvoice, MessageStatus, MessageText
from portal.models.dunning import Policy, PolicyStep
from portal.models.base_rate import BaseRateEntry
from portal.models.analytics import DayFigure, OpenDay, Watermark
from portal.models.upload import UploadJob
from portal.models.handover import CollectionAgency, HandoverExport, HandoverExportClaim, HandoverExportEntry
from portal.models.webhook import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookQueue
from portal.models.payment import (
    BankEntry,
    BankEntryKey,
    BankStatementFile,
    CheckoutItem,
    CheckoutSession,
    PaymentReference,
    PaymentReferenceInvoice,
    StripeEvent,
    StripePayment,
)

# The trigram indexes of the open-items search (portal.models.types.trigram_index) need pg_trgm on PostgreSQL.
event.listen(db.metadata, "before_create", DDL("CREATE EXTENSION IF NOT EXISTS pg_trgm").execute_if(dialect="postgresql"))

__all__ = [
    "CollectionAgency",
    "HandoverExport",
    "HandoverExportClaim",
    "HandoverExportEntry",
    "BaseRateEntry",
    "Attachment",
    "Case",
    "CaseInvoice",
    "CaseNote",
    "InstallmentPlan",
    "PlanRate",
    "BankEntry",
    "BankEntryKey",
    "BankStatementFile",
    "CheckoutItem",
    "CheckoutSession",
    "PaymentReference",
    "PaymentReferenceInvoice",
    "StripeEvent",
    "StripePayment",
    "ApiKey",
    "StaffSession",
    "Debtor",
    "PortalSessionEnd",
    "LinkRequest",
    "Event",
    "Invoice",
    "InvoiceStatus",
    "LedgerEntry",
    "LedgerKind",
    "Merchant",
    "Message",
    "MessageInvoice",
    "MessageStatus",
    "MessageText",
    "Policy",
    "PolicyStep",
    "UploadJob",
    "User",
    "DayFigure",
    "OpenDay",
    "Watermark",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookQueue",
]
