"""Support desk: the queue of cases by service level, a case with its invoices' whole timeline,
and the staff decisions (reply, plan approval / counter-offer / refusal, dispute resolution,
invoice cancellation and amount correction). Every action is audited."""
from __future__ import annotations

import base64
import json
from datetime import date, datetime

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import selectinload

from portal import ledger
from portal.cases import messages, service, storage
from portal.cases.service import CaseError
from portal.clock import today_for
from portal.domain.money import MoneyError, parse_minor
from portal.extensions import db
from portal.models import Attachment, Case, Invoice, User
from portal.models.case import OPEN_STATUSES
from portal.office import audit, bp, register_nav, scoped_get
from portal import timeline as presenter

register_nav("office.cases", _l("Cases"))

QUEUES = {
    "waiting": ("open",),
    "customer": ("countered",),
    "active": ("active",),
    "closed": ("resolved", "rejected", "completed", "broken", "withdrawn"),
}


def _today() -> date:
    return today_for(g.merchant.timezone)


def _actor() -> str:
    return f"user:{g.user.id}"


QUEUE_PAGE = 50


@bp.get("/cases")
def cases():
    """One page of a queue: most urgent first (earliest service-level deadline, cases without one last), the closed
    queue newest first; further pages by keyset cursor (an index walk, never skipping rows)."""
    queue = request.args.get("queue", "waiting")
    if queue not in QUEUES:
        queue = "waiting"
    rows, next_cursor = _queue_page(QUEUES[queue], closed=queue == "closed", after=request.args.get("after"))
    from portal.models.types import utcnow

    now = utcnow()
    return render_template(
        "office/cases.html", cases=rows, queue=queue, now=now, labels=messages, next_cursor=next_cursor,
        first_page=not request.args.get("after"),
        overdue={c.id for c in rows if c.status in OPEN_STATUSES and c.sla_due_at and _aware(c.sla_due_at) < now},
    )


def _queue_page(statuses: tuple, *, closed: bool, after: str | None):
    """The cases of one queue after the cursor, with their customers and invoices loaded in two queries (not two per
    case). Sorted by (deadline ascending | closing time descending), then id, undated cases last."""
    column = Case.closed_at if closed else Case.sla_due_at
    stmt = (select(Case).where(Case.merchant_id == g.merchant.id, Case.status.in_(statuses))
            .options(selectinload(Case.debtor), selectinload(Case.invoices)))
    cursor = _decode_queue_cursor(after)
    if cursor is not None:
        value, last_id = cursor
        next_id = Case.id < last_id if closed else Case.id > last_id
        if value is None:  # within the undated cases at the end
            stmt = stmt.where(column.is_(None), next_id)
        else:
            beyond = column < value if closed else column > value
            stmt = stmt.where(or_(column.is_(None), beyond, and_(column == value, next_id)))
    if closed:
        stmt = stmt.order_by(column.desc().nulls_last(), Case.id.desc())
    else:
        stmt = stmt.order_by(column.asc().nulls_last(), Case.id.asc())
    size = QUEUE_PAGE
    rows = db.session.execute(stmt.limit(size + 1)).scalars().all()
    if len(rows) <= size:
        return rows, None
    rows = rows[:size]
    last = rows[-1]
    value = last.closed_at if closed else last.sla_due_at
    raw = json.dumps([_aware(value).isoformat() if value else None, last.id], separators=(",", ":")).encode()
    return rows, base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_queue_cursor(token: str | None):
    """(deadline or None, case id) from a cursor; None for a missing or hand-edited one (the first page)."""
    if not token:
        return None
    try:
        value, last_id = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not isinstance(last_id, int) or not (value is None or isinstance(value, str)):
            return None
        return (datetime.fromisoformat(value) if value else None), last_id
    except (ValueError, TypeError):
        return None


def _aware(value):
    from datetime import timezone

    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _case_page(case: Case, status: int = 200, error: str | None = None):
    items = presenter.for_invoices(g.merchant.id, list(case.invoices))
    staff = db.session.execute(
        select(User).where(User.merchant_id == g.merchant.id, User.active.is_(True)).order_by(User.email)
    ).scalars().all()
    plan_view = None
    if case.plan is not None and case.plan.status == "active":
        paid = service.plan_paid_minor(case.plan, case.invoices)
        from portal.domain import installments

        plan_view = {"paid": paid, "covered": installments.rates_paid(service.rates_of(case.plan), paid)}
    return render_template(
        "office/case.html", case=case, timeline=items, invoice_numbers={i.id: i.number for i in case.invoices}, staff=staff, labels=messages, error=error,
        plan_view=plan_view, today=_today(),
    ), status


@bp.get("/cases/<int:case_id>")
def case_detail(case_id: int):
    return _case_page(scoped_get(Case, case_id))


def _act(case: Case, action: str, fn, data: dict | None = None, success: str | None = None):
    """Run one staff decision: service call, audit row, commit, 303 — or the page again with the error (422)."""
    try:
        fn()
    except CaseError as exc:
        db.session.rollback()
        return _case_page(db.session.get(Case, case.id), 422, messages.error_text(exc))
    audit(action, {"case_id": case.id, **(data or {})}, invoice=case.invoices[0] if case.invoices else None)
    db.session.commit()
    if success:
        flash(success, "success")
    return redirect(url_for("office.case_detail", case_id=case.id), code=303)


def _form_date(name: str) -> date | None:
    raw = (request.form.get(name) or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise CaseError("date_invalid") from None


@bp.post("/cases/<int:case_id>/reply")
def case_reply(case_id: int):
    case = scoped_get(Case, case_id)
    internal = request.form.get("internal") == "1"
    body = request.form.get("body", "")
    return _act(case, "case.note" if internal else "case.reply",
                lambda: service.reply(case, actor=_actor(), body=body, internal=internal),
                {"internal": internal}, _("Note saved.") if internal else _("Reply sent to the customer."))


@bp.post("/cases/<int:case_id>/assign")
def case_assign(case_id: int):
    case = scoped_get(Case, case_id)
    raw = request.form.get("user_id") or ""
    user_id = int(raw) if raw.isascii() and raw.isdigit() else None
    if user_id is not None:
        scoped_get(User, user_id)  # another merchant's user answers 404
    return _act(case, "case.assign", lambda: service.assign(case, actor=_actor(), user_id=user_id), {"user_id": user_id})


@bp.post("/cases/<int:case_id>/plan/approve")
def plan_approve(case_id: int):
    case = scoped_get(Case, case_id)
    return _act(case, "plan.approve", lambda: service.approve_plan(case, actor=_actor(), today=_today()),
                success=_("The plan is active; the customer has been sent the schedule."))


@bp.post("/cases/<int:case_id>/plan/counter")
def plan_counter(case_id: int):
    case = scoped_get(Case, case_id)

    def run():
        rates = request.form.get("rates", "")
        if not (rates.isascii() and rates.isdigit()):
            raise CaseError("plan_invalid", why=_("number of rates missing"))
        first_due = _form_date("first_due")
        if first_due is None:
            raise CaseError("plan_invalid", why=_("first due date missing"))
        service.counter_plan(case, actor=_actor(), today=_today(), rates=int(rates), first_due=first_due,
                             note=(request.form.get("note") or "").strip() or None)

    return _act(case, "plan.counter", run, {"rates": request.form.get("rates"), "first_due": request.form.get("first_due")},
                _("Your proposal has been sent to the customer."))


@bp.post("/cases/<int:case_id>/plan/reject")
def plan_reject(case_id: int):
    case = scoped_get(Case, case_id)
    note = (request.form.get("note") or "").strip() or None
    return _act(case, "plan.reject", lambda: service.reject_plan(case, actor=_actor(), today=_today(), note=note),
                success=_("The request has been declined; reminders continue."))


@bp.post("/cases/<int:case_id>/dispute/resolve")
def dispute_resolve(case_id: int):
    case = scoped_get(Case, case_id)
    full = request.form.get("mode") == "full"
    credits: dict[int, int] = {}

    def run():
        if not full:
            for inv in case.invoices:
                raw = (request.form.get(f"credit_{inv.id}") or "").strip()
                if raw:
                    try:
                        credits[inv.id] = parse_minor(raw, inv.currency)
                    except MoneyError:
                        raise CaseError("credit_out_of_range", number=inv.number) from None
        service.resolve_dispute(case, actor=_actor(), today=_today(), full=full, credit_minor=credits,
                                note=(request.form.get("note") or "").strip() or None)

    return _act(case, "dispute.resolve", run, {"full": full, "credits": credits},
                _("The objection has been resolved and the customer informed."))


@bp.post("/cases/<int:case_id>/dispute/reject")
def dispute_reject(case_id: int):
    case = scoped_get(Case, case_id)

    def run():
        service.reject_dispute(case, actor=_actor(), today=_today(), note=request.form.get("note", ""),
                               resume_on=_form_date("resume_on"))

    return _act(case, "dispute.reject", run, {"resume_on": request.form.get("resume_on")},
                _("The objection has been declined; reminders continue."))


@bp.post("/invoices/<int:invoice_id>/cancel")
def invoice_cancel(invoice_id: int):
    invoice = scoped_get(Invoice, invoice_id)
    reason = (request.form.get("reason") or "").strip() or None
    try:
        changed = ledger.cancel(invoice, on=_today(), actor=_actor(), reason=reason)
    except ledger.InvoiceClosed as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("office.invoice_detail", invoice_id=invoice.id), code=303)
    if changed:
        audit("invoice.cancel", {"reason": reason}, invoice=invoice)
    db.session.commit()
    flash(_("Invoice %(number)s has been cancelled.", number=invoice.number), "success")
    return redirect(_back(invoice), code=303)


@bp.post("/invoices/<int:invoice_id>/correct")
def invoice_correct(invoice_id: int):
    invoice = scoped_get(Invoice, invoice_id)
    note = (request.form.get("note") or "").strip()
    try:
        amount = parse_minor(request.form.get("amount", ""), invoice.currency)
        service.correct_amount(invoice, actor=_actor(), today=_today(), new_amount_minor=amount, note=note)
    except (MoneyError, CaseError) as exc:
        db.session.rollback()
        text = messages.error_text(exc) if isinstance(exc, CaseError) else _("Please enter a valid amount.")
        flash(text, "error")
        return redirect(_back(invoice), code=303)
    audit("invoice.correct", {"amount_minor": amount, "note": note}, invoice=invoice)
    db.session.commit()
    flash(_("The amount of invoice %(number)s has been corrected.", number=invoice.number), "success")
    return redirect(_back(invoice), code=303)


def _back(invoice: Invoice) -> str:
    case_id = request.form.get("case_id", "")
    if case_id.isascii() and case_id.isdigit():
        case = db.session.get(Case, int(case_id))
        if case is not None and case.merchant_id == g.merchant.id:
            return url_for("office.case_detail", case_id=case.id)
    return url_for("office.invoice_detail", invoice_id=invoice.id)


@bp.get("/attachments/<int:attachment_id>")
def attachment(attachment_id: int):
    item = scoped_get(Attachment, attachment_id)
    audit("attachment.download", {"attachment_id": item.id, "case_id": item.case_id})
    db.session.commit()
    return storage.attachment_response(item)
