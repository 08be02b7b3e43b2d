"""Handover to a collection agency as a lifecycle: the agency, payments after handover, the export.

- The merchant's agency (`CollectionAgency`): named in the handover notice and on the portal;
  `payee` says whether the debtor pays the agency (the portal then offers no payment) or still
  the shop.
- A payment that reaches the merchant after the handover (bank statement, Stripe, shop API) is
  booked as any payment is (`portal.ledger`); `payment_after_handover` adds the timeline event
  `handover.payment_received` and a notice to the support address, so staff tell the agency.
- The export (`export`): one ZIP per call with the claims handed over and not exported before
  (in full) and, for claims exported before, every ledger entry the agency has not been told
  about (payments after handover, interest supplements, credits): each entry is reported once.
  Every export is recorded (`HandoverExport`, with the claims and entries it carried).

Columns of every file: docs/handover.md.
"""
from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select

from portal.domain import default as default_rules
from portal.domain.base_rate import BaseRateUnknown
from portal.domain.charges import margin, principal_on
from portal.domain.money import minor_to_str
from portal.domain.names import split_name
from portal.domain.spreadsheet import safe_zip_name, write_csv
from portal.extensions import db
from portal.models import (Case, CaseInvoice, CollectionAgency, Debtor, Event, HandoverExport, HandoverExportClaim,
                           HandoverExportEntry, Invoice, InvoiceStatus, LedgerEntry, Merchant, Message, MessageInvoice,
                           MessageStatus)
from portal.models.invoice import CHARGE_KINDS

PAYMENT_EVENT = "handover.payment_received"
STAFF_TEMPLATE = "staff_payment_after_handover"

DEFAULT_RULE_TEXT = {
    default_rules.NOTICE_DEADLINE: "§ 286 Abs. 1 BGB: Mahnung mit Zahlungsfrist, Verzug mit Ablauf der Frist",
    default_rules.NOTICE_RECEIPT: "§ 286 Abs. 1 BGB: Mahnung ohne Frist, Verzug mit Zugang",
    default_rules.THIRTY_DAYS: "§ 286 Abs. 3 BGB: 30 Tage nach Fälligkeit und Zugang der Rechnung",
}
LEGAL_BASIS_TEXT = {
    "fee_flat": "§ 288 Abs. 5 BGB (Verzugspauschale)",
    "fee_dunning": "§§ 280 Abs. 1 und 2, 286 BGB (Mahnkosten als Verzugsschaden)",
    "interest": "§ 288 Abs. 1 und 2 BGB (Verzugszinsen)",
}
FLAT_FEE_CREDIT_TEXT = ("Die Verzugspauschale (§ 288 Abs. 5 Satz 1 BGB) ist auf einen geschuldeten Schadensersatz "
                        "anzurechnen, soweit dieser in Kosten der Rechtsverfolgung begründet ist (§ 288 Abs. 5 Satz 3 BGB).")


# -- the agency ---------------------------------------------------------------------------------

def agency_of(merchant_id: int) -> CollectionAgency | None:
    return db.session.get(CollectionAgency, merchant_id)


def agency_collects(merchant_id: int) -> bool:
    """Debtors pay the agency after handover: the portal offers no payment for handed-over claims."""
    agency = agency_of(merchant_id)
    return agency is None or agency.collects  # without settings the agency is presumed to collect


def notice_values(merchant: Merchant, *, sms: bool = False) -> dict:
    """The handover notice's placeholders (portal/messaging/wording.py), in the current locale."""
    from flask_babel import gettext as _

    agency = agency_of(merchant.id)
    creditor = ", ".join(p for p in (merchant.legal_name, merchant.street,
                                     f"{merchant.postal_code or ''} {merchant.city or ''}".strip()) if p)
    if merchant.support_email:
        creditor += f" ({merchant.support_email})"
    basis = agency.legal_basis if agency else "art6_1_f"
    values = {
        # Without an agency nothing is handed over (the run holds the claim); only previews render this placeholder.
        "agency_name": agency.name if agency else _("[name of your collection agency]"),
        "agency_address": ", ".join(agency.address_lines()[1:]) if agency else "",
        "agency_contact": "", "agency_registration": (agency.registration or "") if agency else "",
        "agency_privacy_url": (agency.privacy_url or "") if agency else "",
        "pay_agency": agency is None or agency.collects, "creditor": creditor,
        "legal_basis": _("Art. 6 (1) (b) and (f) GDPR") if basis == "art6_1_b_f" else _("Art. 6 (1) (f) GDPR"),
        "privacy_url": merchant.privacy_url or "",
    }
    if agency is not None:
        values["agency_contact"] = ", ".join(p for p in (agency.contact_person, agency.email, agency.phone) if p)
    return values


@dataclass(frozen=True, slots=True)
class AgencyCard:
    """What the portal shows of the agency (hashable: part of the overview's page-cache key)."""

    name: str
    address: tuple[str, ...]
    contact_person: str | None
    email: str | None
    phone: str | None
    privacy_url: str | None
    collects: bool


def agency_card(merchant_id: int) -> AgencyCard | None:
    agency = agency_of(merchant_id)
    if agency is None:
        return None
    return AgencyCard(agency.name, tuple(agency.address_lines()[1:]), agency.contact_person, agency.email, agency.phone,
                      agency.privacy_url, agency.collects)


def payable_after_handover(invoice) -> bool:
    """A handed-over claim the debtor may still pay through the portal: the shop collects (setting)."""
    return invoice.status == InvoiceStatus.HANDED_OVER.value and invoice.open_minor > 0 and not agency_collects(invoice.merchant_id)


# -- payments after handover ------------------------------------------------------------------

def payment_after_handover(*, merchant_id: int, invoice_id: int, debtor_id: int, number: str, amount_minor: int,
                           currency: str, source: str, external_ref: str, booked_on: date, actor: str) -> dict:
    """The timeline event for a payment booked on a handed-over claim, and the staff notice (queued).

    Returns the event as a row (bulk bookings insert it with their own events); `ledger.book`
    adds it as an ORM object."""
    from portal.messaging import outbox

    merchant = db.session.get(Merchant, merchant_id)
    outbox.enqueue_staff_notice(
        merchant=merchant, template=STAFF_TEMPLATE, dedupe_key=f"handover-payment:{merchant_id}:{source}:{external_ref}"[:200],
        context={"invoice": number, "amount_minor": amount_minor, "currency": currency, "source": source,
                 "booked_on": booked_on.isoformat()},
    )
    return {"merchant_id": merchant_id, "invoice_id": invoice_id, "debtor_id": debtor_id, "kind": "handover.payment_received",
            "actor": actor, "data": {"amount_minor": amount_minor, "currency": currency, "source": source,
                                     "external_ref": external_ref, "booked_on": booked_on.isoformat()}}


def pending_after_handover(merchant_id: int) -> list[tuple[LedgerEntry, Invoice]]:
    """Payments booked on handed-over claims that no export has reported yet: staff tell the agency."""
    return db.session.execute(
        select(LedgerEntry, Invoice).join(Invoice, Invoice.id == LedgerEntry.invoice_id)
        .outerjoin(HandoverExportEntry, HandoverExportEntry.ledger_entry_id == LedgerEntry.id)
        .where(LedgerEntry.merchant_id == merchant_id, LedgerEntry.kind == "payment",
               HandoverExportEntry.ledger_entry_id.is_(None), Invoice.status == InvoiceStatus.HANDED_OVER.value,
               select(Event.id).where(Event.invoice_id == LedgerEntry.invoice_id, Event.kind == PAYMENT_EVENT,
                                      Event.merchant_id == merchant_id).exists())
        .order_by(LedgerEntry.id)
    ).all()


# -- the export ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Export:
    data: bytes
    claims: int
    supplements: int
    export_id: int


def _money(minor: int, currency: str) -> str:
    return minor_to_str(minor, currency)


def _iso(day) -> str | None:
    return day.isoformat() if day else None


def _handed_over_at(invoice: Invoice) -> datetime | None:
    return db.session.execute(
        select(Event.occurred_at).where(Event.invoice_id == invoice.id, Event.kind == "invoice.handed_over")
        .order_by(Event.id).limit(1)
    ).scalar()


def _after_handover(entry: LedgerEntry, invoice: Invoice, handed_at: datetime | None) -> bool:
    if handed_at is not None and entry.created_at is not None:
        created = entry.created_at if entry.created_at.tzinfo else entry.created_at.replace(tzinfo=handed_at.tzinfo)
        handed = handed_at if handed_at.tzinfo else handed_at.replace(tzinfo=created.tzinfo)
        return created > handed
    return bool(invoice.closed_on and entry.booked_on > invoice.closed_on)


def _label(entry: LedgerEntry) -> str | None:
    data = entry.data or {}
    if entry.kind == "interest":
        return "interest"
    if entry.kind == "fee":
        # The flat fee: label fee_flat and the marker credit_against_collection_costs (portal/dunning/run.py).
        return "fee_flat" if data.get("label") == "fee_flat" or data.get("credit_against_collection_costs") else "fee_dunning"
    return None


def entry_record(entry: LedgerEntry, invoice: Invoice, handed_at: datetime | None, *, supplement: bool) -> dict:
    label = _label(entry)
    data = entry.data or {}
    amount = abs(entry.amount_minor)
    record = {
        "entry_id": entry.id, "kind": entry.kind, "booked_on": _iso(entry.booked_on),
        "amount": _money(amount, entry.currency), "signed_amount": _money(entry.amount_minor, entry.currency),
        "source": entry.source, "reference": entry.external_ref, "memo": entry.memo,
        "legal_basis": LEGAL_BASIS_TEXT.get(label) if label else None,
        "after_handover": _after_handover(entry, invoice, handed_at), "supplement": supplement,
        # Interest caught up after a late base rate carries data.supplement (docs/dunning.md, "Interest supplements").
        "interest_supplement": bool(entry.kind == "interest" and (data.get("supplement") or data.get("catch_up"))),
        "supplement_reason": data.get("supplement") if entry.kind == "interest" and isinstance(data.get("supplement"), str) else None,
    }
    if entry.kind == "interest":
        record["periods"] = [_period(s, entry.currency) for s in data.get("segments", [])]
    return record


def _period(segment: dict, currency: str) -> dict:
    principal = int(segment["principal_minor"])
    rate = Decimal(str(segment["rate"]))
    exact = Decimal(principal) * rate * int(segment["days"]) / Decimal(36500)
    return {"from": segment["from"], "to": segment["to"], "days": int(segment["days"]),
            "principal": _money(principal, currency), "base_rate": segment.get("base_rate"), "rate": str(segment["rate"]),
            "interest": _money(int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP)), currency)}


def _running_interest(invoice: Invoice, debtor: Debtor, entries: list[LedgerEntry]) -> dict:
    """The rate that runs from the day after handover on the principal then open (§ 288 (1), (2) BGB)."""
    start = (invoice.closed_on or invoice.due_date) + timedelta(days=1)
    movements = [(e.booked_on, e.amount_minor) for e in entries if e.kind not in CHARGE_KINDS]
    principal = principal_on(start, invoice.amount_minor, movements)
    out = {"from": start.isoformat(), "principal": _money(principal, invoice.currency),
           "margin_points": str(margin(debtor.kind == "business")), "base_rate": None, "rate": None, "per_day": None}
    if invoice.default_on is None:
        return out
    start = max(start, invoice.default_on + timedelta(days=1))
    out["from"] = start.isoformat()
    try:
        from portal.dunning.base_rates import current_table  # shipped rows and rates entered since

        base = current_table().rate_on(start)
    except BaseRateUnknown:
        return out
    rate = base + margin(debtor.kind == "business")
    out.update(base_rate=str(base), rate=str(rate),
               per_day=str((Decimal(principal) * rate / Decimal(36500) / 100).quantize(Decimal("0.0001"))))
    return out


def _creditor(merchant: Merchant) -> dict:
    return {"name": merchant.legal_name, "shop": merchant.name, "legal_form": merchant.legal_form,
            "street": merchant.street, "postal_code": merchant.postal_code, "city": merchant.city,
            "country": merchant.country, "registered_office": merchant.registered_office,
            "register_court": merchant.register_court, "register_number": merchant.register_number,
            "managing_directors": merchant.managing_directors, "vat_id": merchant.vat_id,
            "email": merchant.support_email, "phone": merchant.support_phone, "iban": merchant.iban, "bic": merchant.bic}


def _debtor(debtor: Debtor) -> dict:
    business = debtor.kind == "business"
    person = split_name(debtor.name)
    return {"ref": debtor.external_ref, "kind": debtor.kind, "salutation": person.salutation, "title": person.title,
            "first_name": person.first_name, "last_name": person.last_name, "name_as_stored": debtor.name,
            "company": debtor.company if business else None, "contact_person": debtor.name if business else None,
            "date_of_birth": _iso(debtor.date_of_birth), "street": debtor.street, "postal_code": debtor.postal_code,
            "city": debtor.city, "country": debtor.country, "email": debtor.email, "phone": debtor.phone,
            "language": debtor.language}


def subject_of(invoice: Invoice) -> str:
    """What the claim is for: the line items (quantity × description), else the invoice itself."""
    lines = [f"{line.get('quantity', 1)} × {line.get('description')}" for line in invoice.lines or [] if line.get("description")]
    return "; ".join(lines) or f"Rechnung {invoice.number}"


def _messages(invoice: Invoice) -> list[Message]:
    return db.session.execute(
        select(Message).join(MessageInvoice, MessageInvoice.message_id == Message.id)
        .where(MessageInvoice.invoice_id == invoice.id, Message.status == MessageStatus.SENT.value,
               Message.debtor_id.is_not(None))
        .order_by(Message.sent_at, Message.id)
    ).scalars().all()


def _copy(message: Message) -> tuple[str, bytes] | None:
    """A copy of a sent message as the debtor got it: letters as their stored PDF, email and SMS as text."""
    from portal.messaging import render
    from portal.messaging.channels.letter import stored_pdf

    link = "https://…/p/…"  # never put a working portal link into a file that leaves the house
    if message.channel == "letter":
        path = stored_pdf(message)
        return ("pdf", path.read_bytes()) if path is not None else None
    if message.channel == "sms":
        return "txt", (render.render_sms(message, link=link, as_sent=True) + "\n").encode()
    email = render.render_email(message, link=link, as_sent=True)
    return "txt", f"Betreff / Subject: {email.subject}\nAn / To: {message.recipient or ''}\n\n{email.text}".encode()


def _disputes(invoice: Invoice) -> list[dict]:
    cases = db.session.execute(
        select(Case).join(CaseInvoice, CaseInvoice.case_id == Case.id)
        .where(CaseInvoice.invoice_id == invoice.id, Case.kind == "dispute").order_by(Case.id)
    ).scalars().all()
    return [{"opened_on": _iso(c.created_at.date()) if c.created_at else None, "reason": c.reason, "status": c.status,
             "resolution": c.resolution, "what_the_debtor_wrote": c.body,
             "closed_on": _iso(c.closed_at.date()) if c.closed_at else None} for c in cases]


def claim_record(invoice: Invoice, merchant: Merchant, debtor: Debtor, agency: CollectionAgency | None,
                 copies: dict[str, bytes]) -> tuple[dict, list[LedgerEntry]]:
    """Everything the agency needs about one claim; copies of the messages are added to `copies`."""
    entries = db.session.execute(
        select(LedgerEntry).where(LedgerEntry.invoice_id == invoice.id).order_by(LedgerEntry.id)).scalars().all()
    handed_at = _handed_over_at(invoice)
    records = [entry_record(e, invoice, handed_at, supplement=False) for e in entries]
    cur = invoice.currency

    def total(pick) -> int:
        return sum(abs(e.amount_minor) for e, r in zip(entries, records) if pick(e, r))

    flat = [r for e, r in zip(entries, records) if _label(e) == "fee_flat"]
    history = []
    for message in _messages(invoice):
        step = next((mi.step for mi in message.invoices if mi.invoice_id == invoice.id), None)
        copy = _copy(message)
        name = None
        if copy is not None:
            name = safe_zip_name("messages", invoice.number, f"{message.id}-{message.channel}.{copy[0]}")
            copies[name] = copy[1]
        history.append({"message_id": message.id, "dated": (message.context or {}).get("today"),
                        "sent_on": _iso(message.sent_at.date()) if message.sent_at else None, "channel": message.channel,
                        "step": step, "kind": message.template, "subject": message.subject, "copy": name})
    record = {
        "creditor": _creditor(merchant),
        "debtor": _debtor(debtor),
        "claim": {"invoice_number": invoice.number, "invoice_date": _iso(invoice.issue_date), "due_date": _iso(invoice.due_date),
                  "order_ref": invoice.order_ref, "subject": subject_of(invoice), "lines": invoice.lines or [],
                  "currency": cur, "principal": _money(invoice.amount_minor, cur),
                  "handed_over_on": _iso(invoice.closed_on), "payee_after_handover": agency.payee if agency else "agency"},
        "default": {"on": _iso(invoice.default_on), "rule": invoice.default_rule,
                    "rule_text": DEFAULT_RULE_TEXT.get(invoice.default_rule)},
        "interest": [r for r in records if r["kind"] == "interest"],
        "running_interest": _running_interest(invoice, debtor, entries),
        "fees": [r for r in records if r["kind"] == "fee"],
        "flat_fee_credit": ({"amount": flat[0]["amount"], "text": FLAT_FEE_CREDIT_TEXT} if flat else None),
        "payments": [r for r in records if r["kind"] == "payment"],
        "other_entries": [r for r in records if r["kind"] not in ("interest", "fee", "payment")],
        "totals": {
            "principal": _money(invoice.amount_minor, cur),
            "interest": _money(total(lambda e, r: e.kind == "interest"), cur),
            "fees": _money(total(lambda e, r: e.kind == "fee"), cur),
            "payments_before_handover": _money(total(lambda e, r: e.kind == "payment" and not r["after_handover"]), cur),
            "payments_after_handover": _money(total(lambda e, r: e.kind == "payment" and r["after_handover"]), cur),
            "open": _money(invoice.open_minor, cur),
        },
        "dunning_history": history,
        "disputes": _disputes(invoice),
    }
    return record, list(entries)


CLAIM_FIELDS = [
    "export_id", "creditor_name", "creditor_legal_form", "creditor_street", "creditor_postal_code", "creditor_city",
    "creditor_country", "creditor_registered_office", "creditor_register_court", "creditor_register_number",
    "creditor_managing_directors", "creditor_vat_id", "creditor_iban",
    "debtor_ref", "debtor_kind", "debtor_salutation", "debtor_title", "debtor_first_name", "debtor_last_name",
    "debtor_company", "debtor_date_of_birth", "debtor_street", "debtor_postal_code", "debtor_city", "debtor_country",
    "debtor_email", "debtor_phone",
    "invoice_number", "invoice_date", "due_date", "order_ref", "claim_subject", "currency", "principal",
    "default_on", "default_rule", "default_rule_text", "handed_over_on", "payee_after_handover",
    "interest_total", "fees_total", "flat_fee", "flat_fee_credit_note", "payments_before_handover",
    "payments_after_handover", "open_total", "running_interest_from", "running_interest_base_rate",
    "running_interest_rate", "running_interest_principal", "running_interest_per_day", "messages", "disputed",
]
ENTRY_FIELDS = ["export_id", "invoice_number", "entry_id", "kind", "booked_on", "amount", "signed_amount", "legal_basis",
                "after_handover", "supplement", "interest_supplement", "source", "reference", "memo"]
INTEREST_FIELDS = ["export_id", "invoice_number", "entry_id", "booked_on", "from", "to", "days", "principal", "base_rate",
                   "rate", "interest", "supplement"]
MESSAGE_FIELDS = ["export_id", "invoice_number", "message_id", "dated", "sent_on", "channel", "step", "kind", "subject", "copy"]
DISPUTE_FIELDS = ["export_id", "invoice_number", "opened_on", "reason", "status", "resolution", "closed_on",
                  "what_the_debtor_wrote"]


def _claim_row(export_id: int, r: dict) -> dict:
    c, d, k, t, run = r["creditor"], r["debtor"], r["claim"], r["totals"], r["running_interest"]
    return {
        "export_id": export_id, "creditor_name": c["name"], "creditor_legal_form": c["legal_form"],
        "creditor_street": c["street"], "creditor_postal_code": c["postal_code"], "creditor_city": c["city"],
        "creditor_country": c["country"], "creditor_registered_office": c["registered_office"],
        "creditor_register_court": c["register_court"], "creditor_register_number": c["register_number"],
        "creditor_managing_directors": c["managing_directors"], "creditor_vat_id": c["vat_id"], "creditor_iban": c["iban"],
        "debtor_ref": d["ref"], "debtor_kind": d["kind"], "debtor_salutation": d["salutation"], "debtor_title": d["title"],
        "debtor_first_name": d["first_name"], "debtor_last_name": d["last_name"], "debtor_company": d["company"],
        "debtor_date_of_birth": d["date_of_birth"], "debtor_street": d["street"], "debtor_postal_code": d["postal_code"],
        "debtor_city": d["city"], "debtor_country": d["country"], "debtor_email": d["email"], "debtor_phone": d["phone"],
        "invoice_number": k["invoice_number"], "invoice_date": k["invoice_date"], "due_date": k["due_date"],
        "order_ref": k["order_ref"], "claim_subject": k["subject"], "currency": k["currency"], "principal": k["principal"],
        "default_on": r["default"]["on"], "default_rule": r["default"]["rule"], "default_rule_text": r["default"]["rule_text"],
        "handed_over_on": k["handed_over_on"], "payee_after_handover": k["payee_after_handover"],
        "interest_total": t["interest"], "fees_total": t["fees"],
        "flat_fee": r["flat_fee_credit"]["amount"] if r["flat_fee_credit"] else "",
        "flat_fee_credit_note": r["flat_fee_credit"]["text"] if r["flat_fee_credit"] else "",
        "payments_before_handover": t["payments_before_handover"], "payments_after_handover": t["payments_after_handover"],
        "open_total": t["open"], "running_interest_from": run["from"], "running_interest_base_rate": run["base_rate"],
        "running_interest_rate": run["rate"], "running_interest_principal": run["principal"],
        "running_interest_per_day": run["per_day"], "messages": len(r["dunning_history"]),
        "disputed": "yes" if r["disputes"] else "no",
    }


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def _entry_row(export_id: int, number: str, e: dict) -> dict:
    return {**{k: e.get(k) for k in ENTRY_FIELDS if k in e}, "export_id": export_id, "invoice_number": number,
            "after_handover": _yes(e["after_handover"]), "supplement": _yes(e["supplement"]),
            "interest_supplement": _yes(e["interest_supplement"])}


def export(merchant: Merchant, *, actor: str, since: date | None = None, until: date | None = None) -> Export:
    """The next export for the agency, recorded: new claims in full, and what changed on earlier ones.

    `since`/`until` limit the new claims by handover day; changes on claims exported before are
    always reported. The caller commits."""
    agency = agency_of(merchant.id)
    handed = select(Invoice).where(Invoice.merchant_id == merchant.id, Invoice.status == InvoiceStatus.HANDED_OVER.value)
    exported_ids = set(db.session.execute(
        select(HandoverExportClaim.invoice_id).join(Invoice, Invoice.id == HandoverExportClaim.invoice_id)
        .where(Invoice.merchant_id == merchant.id)).scalars())
    stmt = handed.order_by(Invoice.closed_on, Invoice.id)
    if since:
        stmt = stmt.where(Invoice.closed_on >= since)
    if until:
        stmt = stmt.where(Invoice.closed_on <= until)
    new = [inv for inv in db.session.execute(stmt).scalars() if inv.id not in exported_ids]

    record = HandoverExport(merchant_id=merchant.id, actor=actor[:40], claims=0, supplements=0)
    db.session.add(record)
    db.session.flush()

    copies: dict[str, bytes] = {}
    claims, entry_rows, interest_rows, message_rows, dispute_rows = [], [], [], [], []
    for invoice in new:
        debtor = db.session.get(Debtor, invoice.debtor_id)
        claim, entries = claim_record(invoice, merchant, debtor, agency, copies)
        claims.append(claim)
        db.session.add(HandoverExportClaim(invoice_id=invoice.id, export_id=record.id))
        reported = set(db.session.execute(select(HandoverExportEntry.ledger_entry_id).where(
            HandoverExportEntry.ledger_entry_id.in_([e.id for e in entries]))).scalars()) if entries else set()
        for e in entries:
            if e.id not in reported:
                db.session.add(HandoverExportEntry(ledger_entry_id=e.id, export_id=record.id, supplement=False))
        number = invoice.number
        for group in ("interest", "fees", "payments", "other_entries"):
            for e in claim[group]:
                entry_rows.append(_entry_row(record.id, number, e))
        message_rows += [{"export_id": record.id, "invoice_number": number, **m} for m in claim["dunning_history"]]
        dispute_rows += [{"export_id": record.id, "invoice_number": number, **d} for d in claim["disputes"]]

    supplements = []
    if exported_ids:
        rows = db.session.execute(
            select(LedgerEntry, Invoice).join(Invoice, Invoice.id == LedgerEntry.invoice_id)
            .outerjoin(HandoverExportEntry, HandoverExportEntry.ledger_entry_id == LedgerEntry.id)
            .where(Invoice.merchant_id == merchant.id, HandoverExportEntry.ledger_entry_id.is_(None),
                   LedgerEntry.invoice_id.in_(sorted(exported_ids)))
            .order_by(Invoice.id, LedgerEntry.id)
        ).all()
        handed_at: dict[int, datetime | None] = {}
        for entry, invoice in rows:
            if invoice.id not in handed_at:
                handed_at[invoice.id] = _handed_over_at(invoice)
            item = entry_record(entry, invoice, handed_at[invoice.id], supplement=True)
            supplements.append({"invoice_number": invoice.number, "open_now": _money(invoice.open_minor, invoice.currency),
                                **item})
            entry_rows.append(_entry_row(record.id, invoice.number, item))
            db.session.add(HandoverExportEntry(ledger_entry_id=entry.id, export_id=record.id, supplement=True))

    for item in [e for c in claims for e in c["interest"]] + [s for s in supplements if s["kind"] == "interest"]:
        number = item.get("invoice_number") or next(c["claim"]["invoice_number"] for c in claims if item in c["interest"])
        for p in item["periods"]:
            interest_rows.append({"export_id": record.id, "invoice_number": number, "entry_id": item["entry_id"],
                                  "booked_on": item["booked_on"], **p, "supplement": _yes(item["supplement"])})

    record.claims, record.supplements = len(claims), len(supplements)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("claims.csv", write_csv((_claim_row(record.id, c) for c in claims), CLAIM_FIELDS))
        archive.writestr("entries.csv", write_csv(entry_rows, ENTRY_FIELDS))
        archive.writestr("interest.csv", write_csv(interest_rows, INTEREST_FIELDS))
        archive.writestr("messages.csv", write_csv(message_rows, MESSAGE_FIELDS))
        archive.writestr("disputes.csv", write_csv(dispute_rows, DISPUTE_FIELDS))
        archive.writestr("claims.json", json.dumps({
            "export_id": record.id, "creditor": _creditor(merchant),
            "agency": {"name": agency.name, "address": agency.address_lines()} if agency else None,
            "claims": claims, "supplements": supplements,
        }, ensure_ascii=False, indent=2))
        for name, data in sorted(copies.items()):
            archive.writestr(name, data)
    return Export(out.getvalue(), len(claims), len(supplements), record.id)
