"""Paying: choose invoices, then card (Stripe Checkout) or bank transfer (QR code), then wait for the money.

The payments feature owns the services (`portal.payments.transfer`, `.checkout`); these
views only choose the invoices, call them, and record `payment.started` events.
"""
from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for

from portal.debtor import bp, events
from portal.debtor import session as portal_session
from portal.debtor.pages import today, viewed
from portal.debtor.queries import (InvoiceView, invoice_of, open_invoices, preselected, selected, total_of,
                                   with_requested_plans)
from portal.extensions import db
from portal.payments.checkout import CheckoutUnavailable, start_checkout
from portal.payments.transfer import TransferUnavailable, transfer_for


def payable_invoices(debtor) -> list[InvoiceView]:
    """What the debtor may pay here: the open invoices, and handed-over claims while the shop still collects."""
    from portal.dunning.handover import agency_collects

    return open_invoices(debtor, today(debtor), handed_over=not agency_collects(debtor.merchant_id))


def _ids(source) -> list[int]:
    out = []
    for raw in source.getlist("invoice"):
        if raw.isascii() and raw.isdigit() and len(raw) < 12:  # '¹²³'.isdigit() is true too
            out.append(int(raw))
    return out


def _external(endpoint: str, **values) -> str:
    """Absolute URL on the public base address (the one in messages), not whatever Host the request named."""
    return current_app.config["BASE_URL"].rstrip("/") + url_for(endpoint, **values)


def card_offered(merchant) -> bool:
    return bool(merchant.stripe_secret_key)


def _vary(response):
    response.headers.add("Vary", "HX-Request")
    return response


@bp.route("/portal/pay")
def pay():
    debtor = portal_session.current_debtor()
    views = with_requested_plans(debtor, payable_invoices(debtor))
    first = preselected(views, portal_session.asked_invoices())
    chosen = selected(views, _ids(request.args), default=None if "chosen" in request.args else first)
    context = {
        "invoices": views,
        "chosen_ids": {v.invoice.id for v in chosen},
        "chosen": chosen,
        "totals": total_of(chosen),
        "card": card_offered(debtor.merchant),
        "transfer": bool(debtor.merchant.iban),
    }
    if request.headers.get("HX-Request"):
        return _vary(current_app.make_response(render_template("debtor/partials/_pay_summary.html", **context)))
    viewed(debtor, "pay")
    if not views:
        from portal.debtor.queries import handed_over_claims
        from portal.dunning.handover import agency_card

        context.update(handed_over=handed_over_claims(debtor), agency=agency_card(debtor.merchant_id))
    return _vary(current_app.make_response(render_template("debtor/pay.html", **context)))


@bp.route("/portal/pay", methods=["POST"])
def pay_start():
    debtor = portal_session.current_debtor()
    views = payable_invoices(debtor)
    chosen = selected(views, _ids(request.form))
    ids = [v.invoice.id for v in chosen]
    method = request.form.get("method")
    if not chosen:
        flash("choose_invoice", "error")
        return redirect(url_for("debtor.pay", chosen=1) if views else url_for("debtor.overview"), 303)
    if method == "card" and card_offered(debtor.merchant):
        try:
            url = start_checkout(
                debtor, [v.invoice for v in chosen],
                success_url=_external("debtor.payment_return", invoice=ids),
                cancel_url=_external("debtor.pay", invoice=ids),
            )
        except CheckoutUnavailable:
            db.session.rollback()
            flash("card_unavailable", "error")
            return redirect(url_for("debtor.pay", invoice=ids), 303)
        _started(debtor, chosen, "card")
        db.session.commit()
        return redirect(url, 303)
    if method == "transfer" and debtor.merchant.iban:
        _started(debtor, chosen, "transfer")
        db.session.commit()
        return redirect(url_for("debtor.transfer", invoice=ids), 303)
    # "Update total" without JavaScript, or a method this shop does not offer: show the choice again.
    return redirect(url_for("debtor.pay", invoice=ids), 303)


def _started(debtor, chosen: list[InvoiceView], method: str) -> None:
    numbers = [v.invoice.number for v in chosen]
    for total in total_of(chosen):
        data = {"method": method, "invoices": numbers, "amount_minor": total.minor, "currency": total.currency}
        for view in chosen:
            if view.invoice.currency == total.currency:
                events.record(debtor, "payment.started", invoice=view.invoice, data=data)


@bp.route("/portal/pay/transfer")
def transfer():
    debtor = portal_session.current_debtor()
    views = payable_invoices(debtor)
    chosen = selected(views, _ids(request.args))
    if not chosen:
        return redirect(url_for("debtor.overview"), 303)
    try:
        details = transfer_for(debtor, [v.invoice for v in chosen])
    except TransferUnavailable:
        db.session.rollback()
        return render_template("debtor/transfer.html", details=None, chosen=chosen), 409
    db.session.commit()  # a reference covering several invoices is kept, so the bank transfer can be matched
    return render_template("debtor/transfer.html", details=details, chosen=chosen, qr_name=_qr_name(debtor, details))


def _qr_name(debtor, details) -> str:
    from portal.domain.spreadsheet import safe_zip_part

    return safe_zip_part(f"GiroCode-{debtor.merchant.name}-{details.reference}") + ".png"


@bp.route("/portal/pay/transfer/qr.png")
def transfer_qr():
    """The transfer's EPC QR code as a PNG download: a phone cannot scan its own screen, but banking
    apps read a GiroCode from the photo gallery."""
    from portal.payments.qr import qr_png

    debtor = portal_session.current_debtor()
    chosen = selected(payable_invoices(debtor), _ids(request.args))
    if not chosen:
        abort(404)
    try:
        details = transfer_for(debtor, [v.invoice for v in chosen])
    except TransferUnavailable:
        db.session.rollback()
        abort(404)
    db.session.commit()
    if details.payload is None:
        abort(404)
    response = current_app.make_response(qr_png(details.payload, scale=10))
    response.mimetype = "image/png"
    response.headers["Content-Disposition"] = f'attachment; filename="{_qr_name(debtor, details)}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/portal/pay/return")
def payment_return():
    debtor = portal_session.current_debtor()
    chosen = [invoice_of(debtor, i, today(debtor)) for i in list(dict.fromkeys(_ids(request.args)))[:50]]
    if not chosen:
        return redirect(url_for("debtor.overview"), 303)
    waiting = [v for v in chosen if v.invoice.is_open and v.invoice.open_minor > 0]
    context = {"chosen": chosen, "waiting": waiting, "ids": [v.invoice.id for v in chosen]}
    template = "debtor/partials/_payment_status.html" if request.headers.get("HX-Request") else "debtor/payment_return.html"
    response = current_app.make_response(render_template(template, **context))
    if request.headers.get("HX-Request") and not waiting:
        # 286 tells htmx to stop polling; the content still swaps in.
        response.status_code = 286
    return _vary(response)
