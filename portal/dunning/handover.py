"""Handover export for a collection agency: what § 13a RDG requires the agency to tell the debtor.

One ZIP per merchant: `claims.csv` (one line per invoice), `claims.json` (the same with
every detail: interest computation, charges, payments, reminders) and `letters/` with the
PDFs of every letter sent about those invoices. Includes invoices handed over in the
given period (default: all).
"""
from __future__ import annotations

import io
import json
import zipfile
from datetime import date

from sqlalchemy import select

from portal.domain.money import minor_to_str
from portal.domain.spreadsheet import safe_zip_name, write_csv
from portal.extensions import db
from portal.messaging.channels.letter import stored_pdf
from portal.models import Debtor, Event, Invoice, LedgerEntry, Merchant, Message, MessageInvoice, MessageStatus

CSV_FIELDS = [
    "creditor", "creditor_address", "invoice_number", "order_ref", "claim_subject", "issue_date", "due_date",
    "default_on", "handed_over_on", "currency", "principal", "payments_received", "interest", "fees", "open_total",
    "interest_computation", "reminder_dates", "disputed", "debtor_ref", "debtor_kind", "debtor_name", "debtor_company",
    "debtor_date_of_birth", "debtor_street", "debtor_postal_code", "debtor_city", "debtor_country", "debtor_email",
    "debtor_phone",
]


def claim_record(invoice: Invoice, merchant: Merchant, debtor: Debtor) -> dict:
    entries = db.session.execute(select(LedgerEntry).where(LedgerEntry.invoice_id == invoice.id).order_by(LedgerEntry.id)).scalars().all()
    money = lambda minor: minor_to_str(minor, invoice.currency)  # noqa: E731
    interest = [e for e in entries if e.kind == "interest"]
    fees = [e for e in entries if e.kind == "fee"]
    payments = [e for e in entries if e.kind not in ("interest", "fee")]
    reminders = db.session.execute(
        select(Message.sent_at, Message.channel, MessageInvoice.step, Message.template, Message.context)
        .join(MessageInvoice, MessageInvoice.message_id == Message.id)
        .where(MessageInvoice.invoice_id == invoice.id, Message.status == MessageStatus.SENT.value)
        .order_by(Message.sent_at, Message.id)
    ).all()
    pauses = db.session.execute(
        select(Event.data).where(Event.invoice_id == invoice.id, Event.kind == "dunning.paused")
    ).scalars().all()
    disputed = invoice.paused_reason == "dispute" or any((data or {}).get("reason") == "dispute" for data in pauses)
    return {
        "creditor": {"name": merchant.legal_name, "street": merchant.street, "postal_code": merchant.postal_code,
                     "city": merchant.city, "country": merchant.country, "email": merchant.support_email,
                     "iban": merchant.iban},
        "debtor": {"ref": debtor.external_ref, "kind": debtor.kind, "name": debtor.name, "company": debtor.company,
                   "date_of_birth": _iso(debtor.date_of_birth), "street": debtor.street, "postal_code": debtor.postal_code,
                   "city": debtor.city, "country": debtor.country, "email": debtor.email, "phone": debtor.phone},
        "claim": {"invoice_number": invoice.number, "order_ref": invoice.order_ref,
                  "subject": "; ".join(f"{line.get('quantity', 1)} × {line.get('description')}" for line in invoice.lines or []) or f"Invoice {invoice.number}",
                  "lines": invoice.lines, "issue_date": _iso(invoice.issue_date), "due_date": _iso(invoice.due_date),
                  "default_on": _iso(invoice.default_on), "handed_over_on": _iso(invoice.closed_on),
                  "currency": invoice.currency, "principal": money(invoice.amount_minor)},
        "interest": [{"amount": money(e.amount_minor), "booked_on": _iso(e.booked_on), "law": "§ 288 BGB",
                      "computation": e.data} for e in interest],
        "fees": [{"amount": money(e.amount_minor), "booked_on": _iso(e.booked_on), "what": e.memo} for e in fees],
        "payments": [{"amount": money(-e.amount_minor), "booked_on": _iso(e.booked_on), "kind": e.kind, "source": e.source,
                      "reference": e.external_ref} for e in payments],
        "totals": {"principal": money(invoice.amount_minor), "payments_received": money(-sum(e.amount_minor for e in payments)),
                   "interest": money(sum(e.amount_minor for e in interest)), "fees": money(sum(e.amount_minor for e in fees)),
                   "open": money(invoice.open_minor)},
        "reminders": [{"dated": (r.context or {}).get("today"), "sent_on": r.sent_at.date().isoformat() if r.sent_at else None,
                       "channel": r.channel, "step": r.step, "template": r.template} for r in reminders],
        "disputed": disputed,
    }


def _csv_row(record: dict) -> dict:
    c, d, t = record["claim"], record["debtor"], record["totals"]
    creditor = record["creditor"]
    computation = " | ".join(
        f"{s['rate']} % p.a. on {int(s['principal_minor']) / 100:.2f} {c['currency']} {s['from']}..{s['to']} ({s['days']} d)"
        for i in record["interest"] for s in (i["computation"] or {}).get("segments", [])
    )
    return {
        "creditor": creditor["name"], "creditor_address": f"{creditor['street'] or ''}, {creditor['postal_code'] or ''} {creditor['city'] or ''}".strip(", "),
        "invoice_number": c["invoice_number"], "order_ref": c["order_ref"], "claim_subject": c["subject"],
        "issue_date": c["issue_date"], "due_date": c["due_date"], "default_on": c["default_on"],
        "handed_over_on": c["handed_over_on"], "currency": c["currency"], "principal": t["principal"],
        "payments_received": t["payments_received"], "interest": t["interest"], "fees": t["fees"], "open_total": t["open"],
        "interest_computation": computation, "reminder_dates": ", ".join(f"{r['dated'] or r['sent_on']} {r['step']} ({r['channel']})" for r in record["reminders"]),
        "disputed": "yes" if record["disputed"] else "no", "debtor_ref": d["ref"], "debtor_kind": d["kind"],
        "debtor_name": d["name"], "debtor_company": d["company"], "debtor_date_of_birth": d["date_of_birth"],
        "debtor_street": d["street"], "debtor_postal_code": d["postal_code"], "debtor_city": d["city"],
        "debtor_country": d["country"], "debtor_email": d["email"], "debtor_phone": d["phone"],
    }


def export_zip(merchant: Merchant, *, since: date | None = None, until: date | None = None) -> tuple[bytes, int]:
    """The ZIP and the number of claims in it."""
    stmt = select(Invoice).where(Invoice.merchant_id == merchant.id, Invoice.status == "handed_over").order_by(Invoice.closed_on, Invoice.id)
    if since:
        stmt = stmt.where(Invoice.closed_on >= since)
    if until:
        stmt = stmt.where(Invoice.closed_on <= until)
    invoices = db.session.execute(stmt).scalars().all()
    records, letters = [], {}
    for invoice in invoices:
        debtor = db.session.get(Debtor, invoice.debtor_id)
        records.append(claim_record(invoice, merchant, debtor))
        for message in db.session.execute(
            select(Message).join(MessageInvoice, MessageInvoice.message_id == Message.id)
            .where(MessageInvoice.invoice_id == invoice.id, Message.channel == "letter", Message.status == MessageStatus.SENT.value)
        ).scalars():
            path = stored_pdf(message)
            if path is not None:
                letters[safe_zip_name("letters", invoice.number, f"{message.provider_id.removeprefix('print:')}-{message.id}.pdf")] = path.read_bytes()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("claims.csv", write_csv((_csv_row(r) for r in records), CSV_FIELDS))
        archive.writestr("claims.json", json.dumps({"creditor": merchant.legal_name, "claims": records}, ensure_ascii=False, indent=2))
        for name, data in letters.items():
            archive.writestr(name, data)
    return out.getvalue(), len(records)


def _iso(day) -> str | None:
    return day.isoformat() if day else None
