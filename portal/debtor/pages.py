"""The debtor's pages: overview, invoice detail with PDF and timeline, contact, the step-up check."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from flask import abort, current_app, redirect, render_template, send_file, url_for
from sqlalchemy import select
from werkzeug.security import safe_join

from portal.clock import today_for
from portal.debtor import bp, events
from portal.debtor import session as portal_session
from portal.debtor.forms import VerifyForm
from portal.debtor.pagecache import render_page, row_key
from portal.debtor.queries import (case_headings, invoice_of, open_invoices, overview_data, preselected, timeline,
                                   paid_by, total_of, with_requested_plans)
from portal.domain import stepup
from portal.domain.money import Money
from portal.extensions import db, limiter
from portal.models import Debtor, Event


def today(debtor: Debtor):
    return today_for(debtor.merchant.timezone)


def viewed(debtor: Debtor, page: str, invoice=None) -> None:
    key = f"{page}:{invoice.id}" if invoice is not None else page
    if portal_session.first_view(key):
        events.record(debtor, "page.viewed", invoice=invoice, data={"page": page})
        db.session.commit()


@bp.route("/portal/")
def overview():
    debtor = portal_session.current_debtor()
    cases = case_headings(debtor)
    data = overview_data(debtor, today(debtor))
    views = with_requested_plans(debtor, data.invoices, cases)
    due = tuple(preselected(views, portal_session.asked_invoices()))
    credits = data.credits
    viewed(debtor, "overview")
    # The busiest page: served from the page cache, keyed by exactly what it shows (see pagecache).
    from portal.domain.statement import totals
    from portal.dunning.handover import agency_card

    handed = data.handed_over
    return render_page("debtor/overview.html", debtor, invoices=views, totals=tuple(total_of(views)), cases=cases,
                       due_totals=tuple(total_of(due)), due_count=len(due), handed_over=handed,
                       handed_over_totals=tuple(totals(c.open for c in handed)), agency=agency_card(debtor.merchant_id) if handed else None,
                       credits=credits,
                       credit_totals=tuple(totals(amount for _, amount in credits)))


@bp.route("/portal/invoices/<int:invoice_id>")
def invoice(invoice_id: int):
    debtor = portal_session.current_debtor()
    view = with_requested_plans(debtor, [invoice_of(debtor, invoice_id, today(debtor))])[0]
    viewed(debtor, "detail", view.invoice)
    from portal.dunning.handover import agency_card

    agency = agency_card(debtor.merchant_id) if view.invoice.status == "handed_over" else None
    items, paid = tuple(timeline(debtor, view)), paid_by(view.invoice)
    # From the page cache too; the invoice is an ORM row, so the key names what the page shows from it:
    # every column (lines and due dates included), every booking, the balance and state for today,
    # the history as listed (reminders sent included), how it was paid, and the agency's card.
    shown = (row_key(view.invoice), tuple(row_key(e) for e in view.invoice.entries), view.balance, view.state, items, paid,
             agency)
    return render_page("debtor/invoice.html", debtor, key=shown, view=view, timeline=items, paid_by=paid, agency=agency)


@bp.route("/portal/invoices/<int:invoice_id>/pdf")
def invoice_pdf(invoice_id: int):
    debtor = portal_session.current_debtor()
    invoice = invoice_of(debtor, invoice_id, today(debtor)).invoice
    if not invoice.pdf_file:
        abort(404)
    path = safe_join(current_app.config["STORAGE_DIR"], invoice.pdf_file)
    if path is None or not Path(path).is_file():
        abort(404)
    safe_name = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in invoice.number)
    response = send_file(
        path, mimetype="application/pdf", as_attachment=True, download_name=f"{safe_name}.pdf",
        conditional=False, etag=False, max_age=0,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/portal/invoices/<int:invoice_id>/e-invoice")
def invoice_einvoice(invoice_id: int):
    """The original XRechnung as a readable page (a ZUGFeRD PDF is offered as the PDF instead)."""
    from portal.debtor import einvoice_view

    debtor = portal_session.current_debtor()
    view = invoice_of(debtor, invoice_id, today(debtor))
    try:
        document = einvoice_view.document_of(view.invoice)
    except einvoice_view.NotAvailable:
        abort(404)
    viewed(debtor, "einvoice", view.invoice)
    response = current_app.make_response(
        render_template("debtor/einvoice.html", view=view, **einvoice_view.context(document))
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/portal/invoices/<int:invoice_id>/e-invoice.xml")
def invoice_einvoice_xml(invoice_id: int):
    """The original XML as received, for the debtor's own accounting (never shown inline)."""
    debtor = portal_session.current_debtor()
    invoice = invoice_of(debtor, invoice_id, today(debtor)).invoice
    if not invoice.einvoice_file or not invoice.einvoice_file.endswith(".xml"):
        abort(404)
    path = safe_join(current_app.config["STORAGE_DIR"], invoice.einvoice_file)
    if path is None or not Path(path).is_file():
        abort(404)
    safe_name = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in invoice.number)
    response = send_file(path, mimetype="application/xml", as_attachment=True, download_name=f"{safe_name}.xml",
                         conditional=False, etag=False, max_age=0)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/favicon.ico")
def favicon():
    """The icon browsers ask for by themselves (no <link> in every page: the overview stays light)."""
    response = send_file(Path(current_app.static_folder) / "img" / "favicon.ico", mimetype="image/vnd.microsoft.icon",
                         max_age=7 * 24 * 3600)
    return response


@bp.route("/portal/contact")
def contact():
    portal_session.current_debtor()
    return render_template("debtor/contact.html")


def _step_up_limit() -> str:
    return current_app.config.get("PORTAL_STEP_UP_RATE_LIMIT", "10/minute;50/day")


def _recent_failures(debtor: Debtor, now: datetime) -> list[datetime]:
    rows = db.session.scalars(
        select(Event.occurred_at).where(
            Event.debtor_id == debtor.id,
            Event.kind == "stepup.failed",
            Event.occurred_at >= now - stepup.WINDOW,
        )
    )
    # SQLite hands back naive datetimes; they were written in UTC.
    return [t if t.tzinfo else t.replace(tzinfo=timezone.utc) for t in rows]


@bp.route("/portal/verify", methods=["GET", "POST"])
@limiter.limit(_step_up_limit, methods=["POST"])
def verify():
    debtor = portal_session.current_debtor()
    if portal_session.is_verified(debtor):
        return redirect(url_for("debtor.overview"), 303)
    now = datetime.now(timezone.utc)
    views = open_invoices(debtor, today(debtor))
    form = VerifyForm()
    failures = _recent_failures(debtor, now)
    is_locked = stepup.locked(failures, now)
    status, failed = 200, False
    if form.is_submitted() and is_locked:
        status = 429
    elif form.validate_on_submit():
        expected = stepup.expected_answer(postal_code=debtor.postal_code, customer_number=debtor.external_ref)
        if stepup.matches(expected, form.answer.data):
            portal_session.mark_verified(debtor)
            events.record(debtor, "stepup.passed")
            db.session.commit()
            return redirect(url_for("debtor.overview"), 303)
        events.record(debtor, "stepup.failed")
        db.session.commit()
        failed, status = True, 422
        is_locked = stepup.locked([*failures, now], now)
    elif form.is_submitted():
        status = 422
    return render_template(
        "debtor/verify.html", form=form, question=stepup.question(debtor.postal_code),
        totals=total_of(views), count=len(views), locked=is_locked, failed=failed,
        attempts_left=max(0, stepup.MAX_FAILURES - len(failures) - int(failed)),
    ), status
