"""Back-office overview pages: dashboard, invoice list and an invoice's timeline."""
from __future__ import annotations

from datetime import timedelta

from flask import g, render_template, request
from sqlalchemy import func, or_, select

from portal import ledger
from portal import timeline as presenter
from portal.clock import today_for
from portal.extensions import db
from portal.models import Debtor, Invoice, LedgerEntry
from portal.office import bp, scoped_get

def _by_currency(stmt) -> list[tuple[str, int, int]]:
    """(currency, count, total minor) rows: amounts in different currencies are never added up."""
    return [tuple(r) for r in db.session.execute(stmt).all()]


@bp.get("/")
def dashboard():
    today = today_for(g.merchant.timezone)
    m = g.merchant.id
    open_q = (
        select(Invoice.currency, func.count(), func.coalesce(func.sum(Invoice.open_minor), 0))
        .where(Invoice.merchant_id == m, Invoice.status == "open")
        .group_by(Invoice.currency)
        .order_by(Invoice.currency)
    )
    since = today - timedelta(days=30)
    recovered = _by_currency(
        select(LedgerEntry.currency, func.count(), func.coalesce(func.sum(-LedgerEntry.amount_minor), 0))
        .where(LedgerEntry.merchant_id == m, LedgerEntry.kind == "payment", LedgerEntry.booked_on >= since)
        .group_by(LedgerEntry.currency)
        .order_by(LedgerEntry.currency)
    )
    by_status = dict(
        db.session.execute(
            select(Invoice.status, func.count()).where(Invoice.merchant_id == m).group_by(Invoice.status)
        ).all()
    )
    return render_template(
        "office/dashboard.html",
        open_rows=_by_currency(open_q),
        overdue_rows=_by_currency(open_q.where(Invoice.due_date < today)),
        recovered_rows=recovered,
        by_status=by_status,
        today=today,
    )


@bp.get("/invoices/<int:invoice_id>")
def invoice_detail(invoice_id: int):
    return invoice_page(scoped_get(Invoice, invoice_id))


def invoice_page(invoice: Invoice, status: int = 200, error: str | None = None):
    """The invoice with its balance, actions and timeline (again with `error` and 422 after a bad form)."""
    return render_template(
        "office/invoice.html", invoice=invoice, totals=ledger.charges(invoice),
        timeline=presenter.for_invoice(invoice), error=error, today=today_for(g.merchant.timezone),
    ), status
