"""API views: thin wrappers around intake and the ledger; every query scoped to g.merchant."""
from __future__ import annotations

from flask import abort, current_app, g, jsonify, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal import ledger
from portal.api import bp
from portal.api.openapi import spec
from portal.api.serialize import invoice_json
from portal.clock import today_for
from portal.domain import einvoice
from portal.domain.intake import validate_invoice, validate_payment
from portal.domain.money import minor_to_str
from portal.extensions import db
from portal.intake import einvoice as einvoice_intake
from portal.intake.service import IntakeConflict, submit_invoice
from portal.models import Invoice, LedgerEntry
from portal.payments import plausibility


_NOT_JSON = {"": ["the body must be JSON (Content-Type: application/json)"]}


def _unprocessable(fields: dict):
    response = jsonify(error="validation_failed", message="The request has invalid fields.", fields=fields)
    response.status_code = 422
    return response


def _conflict(message: str, invoice: Invoice | None = None):
    body = {"error": "conflict", "message": message}
    if invoice is not None:
        body["invoice"] = invoice_json(invoice)
    response = jsonify(body)
    response.status_code = 409
    return response


def _invoice_or_404(number: str) -> Invoice:
    invoice = db.session.execute(
        select(Invoice).where(Invoice.merchant_id == g.merchant.id, Invoice.number == number)
    ).scalar_one_or_none()
    if invoice is None:
        abort(404, description=f"No invoice {number!r}.")
    return invoice


def _booked_before(reference: str) -> bool:
    """A repeat of a payment already booked is answered as a repeat, however the balance moved since."""
    return db.session.execute(
        select(LedgerEntry.id).where(LedgerEntry.merchant_id == g.merchant.id, LedgerEntry.source == "api",
                                     LedgerEntry.external_ref == reference)
    ).first() is not None


def _today():
    return today_for(g.merchant.timezone)


@bp.get("/openapi.json")
def openapi():
    return jsonify(spec())


EINVOICE_TYPES = ("application/xml", "text/xml", "application/pdf")


@bp.post("/invoices")
def create_invoice():
    if request.mimetype in EINVOICE_TYPES:
        return create_from_einvoice()
    body = request.get_json(silent=True)
    if body is None:
        return _unprocessable(_NOT_JSON)
    data, errors = validate_invoice(body, today=_today())
    if errors:
        return _unprocessable(errors)
    try:
        result = submit_invoice(g.merchant, data, g.actor)
    except IntakeConflict as exc:
        db.session.rollback()
        return _conflict(str(exc), exc.invoice)
    db.session.commit()
    return jsonify(invoice_json(result.invoice)), 201 if result.created else 200


@bp.get("/invoices/<path:number>")
def get_invoice(number: str):
    invoice = _invoice_or_404(number)
    body = invoice_json(invoice)
    db.session.commit()  # last_used_at of the key
    return jsonify(body)


@bp.post("/invoices/<path:number>/payments")
def add_payment(number: str):
    invoice = _invoice_or_404(number)
    body = request.get_json(silent=True)
    if body is None:
        return _unprocessable(_NOT_JSON)
    data, errors = validate_payment(body, invoice.currency, today=_today())
    if errors:
        return _unprocessable(errors)
    if not _booked_before(data.reference) and not plausibility.is_plausible(invoice, data.amount_minor):
        plausibility.flag(invoice, amount_minor=data.amount_minor, source="api", ref=data.reference, actor=g.actor)
        db.session.commit()
        limit = minor_to_str(max(invoice.open_minor, 0) + plausibility.excess_limit_minor(invoice), invoice.currency)
        return _unprocessable({"amount": [f"is implausibly large for this invoice (at most {limit} {invoice.currency} "
                                          "is accepted); it was not booked and the shop's staff have been notified"]})

    def book():
        return ledger.book(
            invoice,
            kind="payment",
            amount_minor=data.amount_minor,
            source="api",
            external_ref=data.reference,
            booked_on=data.received_on,
            actor=g.actor,
            memo="Payment reported by the shop",
        )

    try:
        try:
            with db.session.begin_nested():
                booking = book()
        except IntegrityError:
            # A concurrent request (a shop retrying after a timeout) booked the same reference
            # first; now that it is visible, this one is a repeat or a conflict like any other.
            booking = book()
    except ledger.BookingConflict as exc:
        db.session.rollback()
        return _conflict(str(exc))
    if booking.created:
        from portal.payments import receipts

        db.session.refresh(invoice)
        receipts.queue(invoice.debtor, [invoice], ref=data.reference, method="shop", paid_on=data.received_on,
                       amount_minor=data.amount_minor)
        if invoice.open_minor < 0:  # an overpayment: a credit the debtor sees, staff are told
            from portal.payments import credits

            credits.overpaid(invoice.merchant, [invoice.id], ref=data.reference)
    db.session.commit()
    db.session.refresh(invoice)
    payload = {
        "payment": {
            "reference": booking.entry.external_ref,
            "amount": minor_to_str(-booking.entry.amount_minor, invoice.currency),
            "received_on": booking.entry.booked_on.isoformat(),
        },
        "invoice": invoice_json(invoice),
    }
    return jsonify(payload), 201 if booking.created else 200


@bp.post("/invoices/<path:number>/cancel")
def cancel_invoice(number: str):
    invoice = _invoice_or_404(number)
    body = request.get_json(silent=True) or {}
    reason = body.get("reason") if isinstance(body, dict) and isinstance(body.get("reason"), str) else None
    try:
        ledger.cancel(invoice, on=_today(), actor=g.actor, reason=reason)
    except ledger.InvoiceClosed as exc:
        db.session.rollback()
        return _conflict(str(exc), invoice)
    db.session.commit()
    db.session.refresh(invoice)
    return jsonify(invoice_json(invoice))


def create_from_einvoice():
    """The same answers for an XRechnung / ZUGFeRD body: 201, 200 on a repeat, 409, 422 by business term."""
    length = request.content_length
    if length is not None and length > einvoice.MAX_BYTES:
        return _unprocessable({"": [f"the body is larger than {einvoice.MAX_BYTES // 1_000_000} MB"]})
    raw = request.stream.read(einvoice.MAX_BYTES + 1)
    if len(raw) > einvoice.MAX_BYTES:
        return _unprocessable({"": [f"the body is larger than {einvoice.MAX_BYTES // 1_000_000} MB"]})
    today = _today()
    try:
        prepared = einvoice_intake.prepare(g.merchant, raw, today=today)
        outcome = einvoice_intake.book(
            g.merchant, prepared, storage_dir=current_app.config["STORAGE_DIR"], actor=g.actor, today=today
        )
    except einvoice.EInvoiceError as exc:
        db.session.rollback()
        return _unprocessable(exc.errors)
    except einvoice_intake.EInvoiceConflict as exc:
        db.session.rollback()
        return _conflict(str(exc), exc.invoice)
    try:
        db.session.commit()
    except Exception:
        db.session.rollback()
        einvoice_intake.discard([outcome])
        raise
    db.session.refresh(outcome.invoice)
    warnings = [{"term": term, "message": message} for term, message in outcome.warnings]
    document = {"format": prepared.document.format, "warnings": warnings}
    if prepared.credit is not None:
        credit = prepared.credit
        body = {
            "credit_note": {"number": credit.number, "amount": minor_to_str(credit.amount_minor, credit.currency),
                            "currency": credit.currency, "credits": credit.invoice_number, **document},
            "invoice": invoice_json(outcome.invoice),
        }
    else:
        body = {**invoice_json(outcome.invoice), "einvoice": {**document, "due_date_from": prepared.due_source}}
    return jsonify(body), 201 if outcome.created else 200
