"""Back-office page: an invoice's timeline (the dashboard is portal.office.dashboard, the list portal.office.invoices)."""
from __future__ import annotations

from flask import g, redirect, render_template, request, url_for

from portal import ledger
from portal import timeline as presenter
from portal.clock import today_for
from portal.domain.money import Money
from portal.extensions import db
from portal.models import Invoice, Policy
from portal.policies import service as policy_service
from portal.office import bp, scoped_get


@bp.get("/invoices/<int:invoice_id>")
def invoice_detail(invoice_id: int):
    return invoice_page(scoped_get(Invoice, invoice_id))


@bp.get("/invoices/<int:invoice_id>/timeline")
def invoice_timeline(invoice_id: int):
    """Earlier entries of the invoice's timeline, appended by htmx under those shown ("Show earlier entries")."""
    invoice = scoped_get(Invoice, invoice_id)
    if not request.headers.get("HX-Request"):  # opened as a page: the invoice page at these entries
        return redirect(url_for("office.invoice_detail", invoice_id=invoice.id, before=request.args.get("before")), 303)
    page = presenter.for_invoice_page(invoice, request.args.get("before"))
    return render_template("office/partials/_invoice_timeline.html", invoice=invoice, timeline=page.entries,
                           earlier=page.earlier), 200


def invoice_page(invoice: Invoice, status: int = 200, error: str | None = None, payment_form: dict | None = None):
    """The invoice with its balance, actions and timeline (again with `error` and 422 after a bad form;
    `payment_form`: what was typed into "Record a payment", shown again, with `confirm` asking to confirm it)."""
    from portal.payments import credits

    before = request.args.get("before") if request.method == "GET" else None
    page = presenter.for_invoice_page(invoice, before)
    return render_template(
        "office/invoice.html", invoice=invoice, totals=ledger.itemised(invoice),
        timeline=page.entries, earlier=page.earlier, later=presenter.decode_timeline_cursor(before) is not None,
        error=error, today=today_for(g.merchant.timezone),
        credit_targets=credits.offset_targets(invoice) if invoice.open_minor < 0 else [],
        credit=Money(-invoice.open_minor, invoice.currency) if invoice.open_minor < 0 else None,
        policy=db.session.get(Policy, invoice.dunning_policy_id) if invoice.dunning_policy_id else None,
        groups=policy_service.current_groups(g.merchant.id), payment_form=payment_form,
    ), status
