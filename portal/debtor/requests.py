"""Installment plans, promises to pay, objections and questions from the debtor's side.

The forms here hand over to the case services (portal/cases): a plan inside the shop's
rules starts at once, anything else waits for the shop; a promise pauses reminders
until the promised day; an objection pauses reminders for the disputed invoices; a
question goes to the support queue (reminders go on) and its answer comes by message. The
debtor then sees the case page: status, schedule and how to pay a rate, the shop's
replies, and a way to answer.
"""
from __future__ import annotations

from datetime import timedelta

from flask import abort, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _

from portal.cases import messages as case_messages
from portal.cases import service
from portal.cases.service import CaseError, Upload
from portal.debtor import bp, events
from portal.debtor import session as portal_session
from portal.debtor.forms import DisputeForm, PlanRequestForm, PromiseForm, QuestionForm
from portal.debtor.pages import today
from portal.debtor.queries import open_invoices, preselected, total_of, with_requested_plans
from portal.domain import attachments, installments
from portal.extensions import db, limiter
from portal.models import Attachment, Case

KINDS = {
    "plan": ("debtor/request_plan.html", PlanRequestForm),
    "promise": ("debtor/request_promise.html", PromiseForm),
    "dispute": ("debtor/request_dispute.html", DisputeForm),
    "question": ("debtor/request_question.html", QuestionForm),
}


def _form(kind: str, debtor, views):
    form_class = KINDS[kind][1]
    day = today(debtor)
    kwargs = {"today": day, "max_days": debtor.merchant.promise_max_days} if kind == "promise" else {}
    form = form_class(**kwargs)
    form.invoices.choices = [(v.invoice.id, v.invoice.number) for v in views]
    if not form.is_submitted() and kind == "question":
        # Asked from an invoice's page: about that invoice; otherwise about nothing in particular.
        about = request.args.get("invoice", type=int)
        form.invoices.data = [v.invoice.id for v in views if v.invoice.id == about]
    elif not form.is_submitted():
        # The same invoices the pay page ticks: never a not-yet-due one the debtor was not asked about.
        form.invoices.data = [v.invoice.id for v in preselected(views, portal_session.asked_invoices())]
        if kind == "plan":
            form.first_due.data = day + timedelta(days=min(14, debtor.merchant.plan_first_rate_days))
            form.installments.data = 3
    return form


def _open_case(kind: str, debtor, form, chosen):
    day = today(debtor)
    invoices = [v.invoice for v in chosen]
    if kind == "plan":
        return service.request_plan(debtor, invoices, rates=form.installments.data, first_due=form.first_due.data,
                                    today=day, body=form.note.data)
    if kind == "question":
        return service.ask_question(debtor, invoices, body=form.message.data)
    if kind == "promise":
        return service.make_promise(debtor, invoices, promised_on=form.pay_by.data, today=day, body=form.note.data)
    uploads = [Upload(f.filename or "attachment", f.read()) for f in (form.files.data or []) if f and f.filename]
    return service.open_dispute(debtor, invoices, reason=form.reason.data, body=form.details.data, uploads=uploads, today=day)


def _preview(debtor, form, views):
    """The schedule the debtor would get, shown before sending (and whether the shop must decide)."""
    if form.installments.data is None or form.first_due.data is None:
        return None
    wanted = set(form.invoices.data or [])
    chosen = [v.invoice for v in views if v.invoice.id in wanted] or [v.invoice for v in views]
    if len({inv.currency for inv in chosen}) != 1:
        return None
    total = service.plan_total(debtor.merchant, chosen)
    try:
        rates = installments.schedule(total, form.installments.data, form.first_due.data)
    except installments.PlanRequestError:
        return None
    outside = installments.violations(service.plan_rules(debtor.merchant), total, form.installments.data,
                                      form.first_due.data, today(debtor))
    return {"rates": rates, "currency": chosen[0].currency, "needs_review": bool(outside)}


def _larger_request_for_uploads():
    """Let the objection form's POST through up to PORTAL_UPLOAD_REQUEST_LIMIT (runs before the CSRF check,
    which reads the form): files over the total limit are then answered by the view, with the text kept."""
    if request.method == "POST" and request.endpoint == "debtor.request_form" and (request.view_args or {}).get("kind") == "dispute":
        request.max_content_length = current_app.config.get("PORTAL_UPLOAD_REQUEST_LIMIT", 100 * 1024 * 1024)


@bp.record_once
def _first_before_request(state):
    # Before every other before_request function of the app, Flask-WTF's CSRF check included.
    state.app.before_request_funcs.setdefault(None, []).insert(0, _larger_request_for_uploads)


def _file_sizes(form) -> list[tuple[str, int]]:
    out = []
    for f in form.files.data or []:
        if f and f.filename:
            f.stream.seek(0, 2)
            out.append((f.filename, f.stream.tell()))
            f.stream.seek(0)
    return out


def _too_large_together(sizes: list[tuple[str, int]]) -> str:
    from flask_babel import format_decimal

    def mb(n: int) -> str:
        return format_decimal(round(n / 2**20, 1), format="#,##0.0") + " MB"

    return _("These files are %(total)s together, more than the %(limit)s one message can carry: %(files)s. "
             "Your text is kept below; please choose fewer or smaller files.",
             total=mb(sum(n for _, n in sizes)), limit=mb(attachments.MAX_TOTAL_BYTES),
             files=", ".join(f"{name} ({mb(n)})" for name, n in sizes))


@bp.route("/portal/requests/<kind>", methods=["GET", "POST"])
@limiter.limit("30/hour", methods=["POST"])
def request_form(kind: str):
    if kind not in KINDS:
        abort(404)
    debtor = portal_session.current_debtor()
    views = with_requested_plans(debtor, open_invoices(debtor, today(debtor)))
    form = _form(kind, debtor, views)
    error = None
    if kind == "dispute" and form.is_submitted():
        sizes = _file_sizes(form)
        if attachments.over_total(sizes):
            form.validate()
            return render_template(KINDS[kind][0], form=form, invoices=views, totals=total_of(views), kind=kind,
                                   error=_too_large_together(sizes), preview=None, merchant_rules=debtor.merchant,
                                   limits=_limits()), 413
    if form.validate_on_submit() and request.form.get("action") != "preview":
        wanted = set(form.invoices.data or [])
        chosen = [v for v in views if v.invoice.id in wanted]
        try:
            case = _open_case(kind, debtor, form, chosen)
        except CaseError as exc:
            db.session.rollback()
            error = case_messages.error_text(exc)
        else:
            events.record(debtor, f"request.{kind}", invoice=chosen[0].invoice if len(chosen) == 1 else None,
                          data={"case_id": case.id, "invoices": [v.invoice.number for v in chosen]})
            db.session.commit()
            return redirect(url_for("debtor.case_detail", case_id=case.id), 303)
    submitted = form.is_submitted() and request.form.get("action") != "preview"
    status = 422 if submitted else 200
    preview = _preview(debtor, form, views) if kind == "plan" else None
    if kind == "plan" and request.headers.get("HX-Request") and not submitted:
        # htmx: the terms changed; only the schedule is swapped in (no validation messages while choosing).
        response = current_app.make_response(render_template("debtor/partials/_schedule.html", preview=preview))
        response.headers.add("Vary", "HX-Request")
        return response
    return render_template(KINDS[kind][0], form=form, invoices=views, totals=total_of(views), kind=kind,
                           error=error, preview=preview, merchant_rules=debtor.merchant, limits=_limits(),
                           answer_by=_answer_by(debtor) if kind == "question" else None), status


def _answer_by(debtor):
    """The day by which the shop's team answers a question sent now (its service level, in business days)."""
    from portal.domain.calendar import sla_deadline
    from portal.models.types import utcnow

    from zoneinfo import ZoneInfo

    merchant = debtor.merchant
    return sla_deadline(utcnow(), merchant.case_sla_business_days, merchant.timezone).astimezone(ZoneInfo(merchant.timezone)).date()


def _limits() -> dict:
    return {"files": attachments.MAX_FILES, "each_mb": attachments.MAX_BYTES // 2**20,
            "total_mb": attachments.MAX_TOTAL_BYTES // 2**20}


def _case_of(debtor, case_id: int) -> Case:
    case = db.session.get(Case, case_id)
    if case is None or case.debtor_id != debtor.id or case.merchant_id != debtor.merchant_id:
        abort(404)
    return case


@bp.route("/portal/cases/<int:case_id>")
def case_detail(case_id: int):
    debtor = portal_session.current_debtor()
    case = _case_of(debtor, case_id)
    plan = None
    if case.plan is not None and case.plan.rates:
        rates = service.rates_of(case.plan)
        paid = service.plan_paid_minor(case.plan, case.invoices) if case.plan.status == "active" else 0
        nxt = installments.next_rate(rates, paid) if case.plan.status == "active" else None
        plan = {
            "paid": paid,
            "covered": installments.rates_paid(rates, paid),
            "next": nxt,
            "due_now": installments.amount_due_for(rates, paid) if nxt else 0,
            "transfer": _rate_transfer(case, nxt, installments.amount_due_for(rates, paid)) if nxt else None,
        }
    proposal = None
    if case.plan is not None and case.status == "countered":
        # The shop's proposal in full, rate by rate, before the debtor accepts it (what accepting would set up).
        first_due = case.plan.first_due if case.plan.first_due >= today(debtor) else today(debtor) + timedelta(days=7)  # as accept_counter
        total = service.plan_total(debtor.merchant, [inv for inv in case.invoices if inv.is_open])
        try:
            proposal = installments.schedule(total, case.plan.rates_count, first_due) if total >= case.plan.rates_count else None
        except installments.PlanRequestError:
            proposal = None
    notes = [n for n in case.notes if not n.internal]
    return render_template("debtor/case.html", case=case, plan=plan, notes=notes, labels=case_messages, proposal=proposal,
                           card=bool(debtor.merchant.stripe_secret_key))


def _rate_transfer(case: Case, rate, amount_minor: int):
    """Transfer details for the next rate: its own RF reference, the amount that brings the plan up to date."""
    from portal.domain.epc import EpcError, epc_payload
    from portal.domain.iban import group
    from portal.domain.money import Money
    from portal.payments.qr import qr_svg

    merchant = case.debtor.merchant
    if not merchant.iban or case.plan.currency != "EUR" or amount_minor <= 0:
        return None
    reference = case.plan.rates[rate.number - 1].rf_reference
    try:
        payload = epc_payload(name=merchant.account_holder or merchant.legal_name, iban=merchant.iban, bic=merchant.bic,
                              amount_minor=amount_minor, currency="EUR", reference=reference)
    except EpcError:
        return None
    from portal.domain import rf

    return {"amount": Money(amount_minor, "EUR"), "reference": rf.pretty(reference), "reference_raw": reference,
            "iban": group(merchant.iban), "iban_raw": merchant.iban, "bic": merchant.bic,
            "holder": merchant.account_holder or merchant.legal_name, "qr_svg": qr_svg(payload), "payload": payload,
            "qr_name": _safe_name(f"GiroCode-{merchant.name}-{reference}") + ".png"}


def _safe_name(text: str) -> str:
    from portal.domain.spreadsheet import safe_zip_part

    return safe_zip_part(text)


def _next_rate_transfer(case: Case):
    rates = service.rates_of(case.plan)
    paid = service.plan_paid_minor(case.plan, case.invoices)
    nxt = installments.next_rate(rates, paid)
    return _rate_transfer(case, nxt, installments.amount_due_for(rates, paid)) if nxt else None


@bp.route("/portal/cases/<int:case_id>/qr.png")
def case_rate_qr(case_id: int):
    """The next installment's GiroCode as a PNG download, for banking apps that read it from the photo gallery."""
    from portal.payments.qr import qr_png

    debtor = portal_session.current_debtor()
    case = _case_of(debtor, case_id)
    if case.plan is None or case.plan.status != "active":
        abort(404)
    details = _next_rate_transfer(case)
    if details is None:
        abort(404)
    response = current_app.make_response(qr_png(details["payload"], scale=10))
    response.mimetype = "image/png"
    response.headers["Content-Disposition"] = f'attachment; filename="{details["qr_name"]}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/portal/cases/<int:case_id>/pay-rate")
def case_pay_rate(case_id: int):
    """Card payment of the next rate through Stripe Checkout, for the amount that brings the plan up to date."""
    from portal.payments.checkout import CheckoutUnavailable, start_checkout

    debtor = portal_session.current_debtor()
    case = _case_of(debtor, case_id)
    if case.plan is None or case.plan.status != "active":
        abort(404)
    rates = service.rates_of(case.plan)
    paid = service.plan_paid_minor(case.plan, case.invoices)
    amount = installments.amount_due_for(rates, paid)
    if amount <= 0:
        return redirect(url_for("debtor.case_detail", case_id=case.id), 303)
    back = url_for("debtor.case_detail", case_id=case.id, _external=True)
    try:
        url = start_checkout(debtor, case.invoices, success_url=back, cancel_url=back, amount_minor=amount,
                             description=_("Installment %(number)s", number=installments.next_rate(rates, paid).number))
    except CheckoutUnavailable:
        db.session.rollback()
        return redirect(url_for("debtor.case_detail", case_id=case.id), 303)
    events.record(debtor, "payment.started", invoice=case.invoices[0], data={"method": "card", "case_id": case.id,
                                                                            "amount_minor": amount})
    db.session.commit()
    return redirect(url, 303)


@bp.post("/portal/cases/<int:case_id>/answer")
def case_answer(case_id: int):
    """Accept or decline the shop's counter-offer for an installment plan."""
    debtor = portal_session.current_debtor()
    case = _case_of(debtor, case_id)
    try:
        if request.form.get("answer") == "accept":
            service.accept_counter(case, debtor, today=today(debtor))
        elif request.form.get("answer") == "decline":
            service.reject_plan(case, actor="debtor", today=today(debtor))
        else:
            abort(400)
    except CaseError:
        db.session.rollback()
    else:
        db.session.commit()
    return redirect(url_for("debtor.case_detail", case_id=case.id), 303)


@bp.post("/portal/cases/<int:case_id>/message")
@limiter.limit("20/hour")
def case_message(case_id: int):
    debtor = portal_session.current_debtor()
    case = _case_of(debtor, case_id)
    try:
        service.debtor_message(case, debtor, request.form.get("body", ""))
    except CaseError:
        db.session.rollback()
    else:
        db.session.commit()
    return redirect(url_for("debtor.case_detail", case_id=case.id) + "#conversation", 303)


@bp.route("/portal/attachments/<int:attachment_id>")
def attachment(attachment_id: int):
    """The debtor's own upload, as a download; anyone else's answers 404."""
    from portal.cases.storage import attachment_response

    debtor = portal_session.current_debtor()
    item = db.session.get(Attachment, attachment_id)
    if item is None or item.debtor_id != debtor.id or item.merchant_id != debtor.merchant_id:
        abort(404)
    return attachment_response(item)
