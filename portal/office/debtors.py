"""A customer's page: every invoice, contact data and consents, cases, messages, payments and
the timeline of all of it, with the actions that apply to all their open invoices."""
from __future__ import annotations

from flask import g, render_template
from sqlalchemy import select

from portal import timeline as presenter
from portal.clock import today_for
from portal.extensions import db
from portal.models import Case, Debtor, Invoice, LedgerEntry, Message
from portal.office import bp, scoped_get


def debtor_page(debtor: Debtor, status: int = 200, error: str | None = None):
    m = g.merchant.id
    invoices = db.session.execute(
        select(Invoice).where(Invoice.merchant_id == m, Invoice.debtor_id == debtor.id).order_by(Invoice.due_date, Invoice.id)
    ).scalars().all()
    cases = db.session.execute(
        select(Case).where(Case.merchant_id == m, Case.debtor_id == debtor.id).order_by(Case.id.desc())
    ).scalars().all()
    messages = db.session.execute(
        select(Message).where(Message.merchant_id == m, Message.debtor_id == debtor.id).order_by(Message.id.desc()).limit(100)
    ).scalars().all()
    payments = db.session.execute(
        select(LedgerEntry, Invoice.number).join(Invoice, Invoice.id == LedgerEntry.invoice_id)
        .where(LedgerEntry.merchant_id == m, Invoice.debtor_id == debtor.id,
               LedgerEntry.kind.in_(("payment", "refund", "chargeback", "reversal")))
        .order_by(LedgerEntry.booked_on.desc(), LedgerEntry.id.desc())
    ).all()
    return render_template(
        "office/debtor.html", debtor=debtor, invoices=invoices, open_invoices=[i for i in invoices if i.is_open],
        cases=cases, messages=messages, payments=payments, timeline=presenter.for_debtor(debtor),
        invoice_numbers={i.id: i.number for i in invoices}, today=today_for(g.merchant.timezone), error=error,
    ), status


@bp.get("/debtors/<int:debtor_id>")
def debtor_detail(debtor_id: int):
    return debtor_page(scoped_get(Debtor, debtor_id))
