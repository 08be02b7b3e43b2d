"""Back office: bank statement upload and the list of incoming payments nobody could match.

Staff upload a camt.053/054 file (or a ZIP), which the worker imports with the same service as
`flask payments import-camt` (see `portal.uploads.jobs`), and assign what the matching left over to invoices
by number. Every action is audited; every query is scoped to `g.merchant`.
"""
from __future__ import annotations

import re

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from portal.clock import today_for
from portal.extensions import db
from portal.models import BankEntry, BankStatementFile, Invoice
from portal.office import audit, bp, register_nav, scoped_get
from portal.payments.reconcile import AssignmentError, assign, unmatched_entries

register_nav("office.payments", _l("Bank payments"))


def _page(status: int = 200, errors: dict | None = None):
    files = db.session.execute(
        select(BankStatementFile).where(BankStatementFile.merchant_id == g.merchant.id)
        .order_by(BankStatementFile.imported_at.desc()).limit(20)
    ).scalars().all()
    from portal.office.uploads import recent_jobs

    return render_template("office/payments.html", entries=unmatched_entries(g.merchant), files=files,
                           jobs=recent_jobs(("bank_statement",)), errors=errors or {}), status


@bp.get("/payments")
def payments():
    return _page()


@bp.post("/payments/upload")
def payments_upload():
    """Queue the statement for the worker (the same `import_statements` as the command line)."""
    from portal.office.uploads import queue_upload

    job, error = queue_upload("bank_statement", "statement")
    if error:
        return _page(422, {"upload": error})
    return redirect(url_for("office.upload_job", job_id=job.id), 303)


@bp.post("/payments/entries/<int:entry_id>/assign")
def payments_assign(entry_id: int):
    entry = scoped_get(BankEntry, entry_id)
    numbers = [n for n in re.split(r"[\s,;]+", request.form.get("invoices", "")) if n]
    invoices = db.session.execute(
        select(Invoice).where(Invoice.merchant_id == g.merchant.id, Invoice.number.in_(numbers))
    ).scalars().all() if numbers else []
    missing = sorted(set(numbers) - {inv.number for inv in invoices})
    if not numbers or missing:
        message = (_("No invoice %(numbers)s.", numbers=", ".join(missing)) if missing
                   else _("Enter at least one invoice number."))
        return _page(422, {entry.id: message})
    try:
        assign(g.merchant, entry, invoices, actor=f"user:{g.user.id}", today=today_for(g.merchant.timezone))
    except AssignmentError as exc:
        db.session.rollback()
        return _page(422, {entry.id: str(exc)})
    for invoice in invoices:
        audit("bank_entry.assigned", {"bank_entry": entry.id, "amount_minor": entry.amount_minor}, invoice=invoice)
    db.session.commit()
    flash(_("Payment assigned to %(numbers)s.", numbers=", ".join(inv.number for inv in invoices)), "success")
    return redirect(url_for("office.payments"), 303)
