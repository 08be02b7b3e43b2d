"""Back office: bank statement upload and the list of incoming payments nobody could match.

Staff upload a camt.053/054 file (or a ZIP) — the same service as
`flask payments import-camt` — and assign what the matching left over to invoices
by number. Every action is audited; every query is scoped to `g.merchant`.
"""
from __future__ import annotations

import re

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from portal.clock import today_for
from portal.domain.camt import CamtError
from portal.extensions import db
from portal.models import BankEntry, BankStatementFile, Invoice
from portal.office import audit, bp, register_nav, scoped_get
from portal.payments.reconcile import AssignmentError, assign, import_statements, unmatched_entries

register_nav("office.payments", _l("Bank payments"))


def _page(status: int = 200, errors: dict | None = None):
    files = db.session.execute(
        select(BankStatementFile).where(BankStatementFile.merchant_id == g.merchant.id)
        .order_by(BankStatementFile.imported_at.desc()).limit(20)
    ).scalars().all()
    return render_template("office/payments.html", entries=unmatched_entries(g.merchant), files=files,
                           errors=errors or {}), status


@bp.get("/payments")
def payments():
    return _page()


@bp.post("/payments/upload")
def payments_upload():
    upload = request.files.get("statement")
    if upload is None or not upload.filename:
        return _page(422, {"upload": _("Choose a camt.053 or camt.054 file (XML or ZIP).")})
    data = upload.read()
    try:
        result = import_statements(g.merchant, data, upload.filename, actor=f"user:{g.user.id}",
                                   today=today_for(g.merchant.timezone))
    except CamtError as exc:
        db.session.rollback()
        return _page(422, {"upload": _("The file was rejected and nothing was booked: %(error)s", error=str(exc))})
    audit("bank_statement.imported", {"file": upload.filename, "booked": result.total("booked"),
                                      "unmatched": result.total("unmatched"), "returns": result.total("reversed")})
    db.session.commit()
    if all(f.already_imported for f in result.files):
        flash(_("This file was imported before; nothing was booked again."), "info")
    else:
        flash(_("%(booked)d payment(s) booked, %(unmatched)d left to assign, %(returns)d return(s) booked, "
                "%(seen)d seen before.", booked=result.total("booked"), unmatched=result.total("unmatched"),
                returns=result.total("reversed"), seen=result.total("duplicates")), "success")
    return redirect(url_for("office.payments"), 303)


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
