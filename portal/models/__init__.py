"""The database models, one module per aggregate; importing this registers every table."""
from portal.models.merchant import ApiKey, Merchant, User
from portal.models.debtor import Debtor
from portal.models.invoice import Invoice, InvoiceStatus, LedgerEntry, LedgerKind
from portal.models.audit import Event
from portal.models.message import Message, MessageInvoice, MessageStatus

__all__ = [
    "ApiKey",
    "Debtor",
    "Event",
    "Invoice",
    "InvoiceStatus",
    "LedgerEntry",
    "LedgerKind",
    "Merchant",
    "Message",
    "MessageInvoice",
    "MessageStatus",
    "User",
]
