"""Case services: opening disputes, plan requests, promises and questions, the staff decisions on them,
and the daily check that completes or ends plans and promises.

Every function works inside the caller's transaction (views, CLI and the daily run
commit) and records what happened as Event rows on the invoices' timelines.
Escalation is paused while a case stands and resumed exactly once when it ends,
through portal.dunning.escalation.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select

from portal import ledger
from portal.domain import installments, rf
from portal.domain.attachments import AttachmentRejected, check
from portal.domain.calendar import sla_deadline
from portal.extensions import db
from portal.models import Attachment, Case, CaseNote, Debtor, Event, InstallmentPlan, Invoice, Merchant, PlanRate
from portal.models.case import DISPUTE_REASONS, HOLDING_KINDS, STANDING_STATUSES
from portal.models.types import utcnow

MAX_BODY = 5000
MAX_FILES = 5


class CaseError(ValueError):
    """A request that cannot be taken; `code` is shown to the user (translated by the view)."""

    def __init__(self, code: str, **details):
        super().__init__(code)
        self.code = code
        self.details = details


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes


# ---------------------------------------------------------------- helpers


def _escalation():
    from portal.dunning import escalation

    return escalation


def _event(case: Case, kind: str, actor: str, data: dict | None = None, invoice: Invoice | None = None) -> None:
    targets = [invoice] if invoice is not None else (case.invoices or [None])
    for inv in targets:
        db.session.add(
            Event(
                merchant_id=case.merchant_id,
                invoice_id=inv.id if inv is not None else None,
                debtor_id=case.debtor_id,
                kind=kind,
                actor=actor,
                data={"case_id": case.id, **(data or {})},
            )
        )


def _notify_debtor(case: Case, template: str, key: str, context: dict | None = None, not_before: datetime | None = None):
    """Queue a message about the case to the debtor; None when it was queued before or cannot be delivered."""
    from portal.messaging.outbox import enqueue

    return enqueue(
        debtor=case.debtor,
        purpose=f"case_{case.kind}",
        template=template,
        channels=_channels(case.debtor),
        dedupe_key=f"case:{case.id}:{key}",
        context={"case_id": case.id, **(context or {})},
        invoices=[(inv, f"case:{case.id}:{key}") for inv in case.invoices],
        not_before=not_before,
    )


def _channels(debtor: Debtor) -> list[str]:
    preferred = debtor.preferred_channel
    order = ["email", "sms", "letter"]
    if preferred in order:
        order.remove(preferred)
        order.insert(0, preferred)
    return order


def _notify_staff(case: Case, template: str = "staff_new_case", dedupe: str | None = None) -> None:
    from portal.messaging import outbox

    notice = getattr(outbox, "enqueue_staff_notice", None)
    if notice is not None and case.debtor.merchant.support_email:
        notice(
            merchant=case.debtor.merchant,
            template=template,
            dedupe_key=f"case:{case.id}:staff:{template}" + (f":{dedupe}" if dedupe else ""),
            context={"case_id": case.id, "kind": case.kind, "debtor_name": case.debtor.display_name,
                     "invoices": [inv.number for inv in case.invoices]},
        )


def _check_invoices(debtor: Debtor, invoices: Sequence[Invoice]) -> list[Invoice]:
    if not invoices:
        raise CaseError("no_invoices")
    for inv in invoices:
        if inv.debtor_id != debtor.id or inv.merchant_id != debtor.merchant_id:
            raise CaseError("unknown_invoice")
        if not inv.is_open:
            raise CaseError("invoice_closed", number=inv.number)
    standing = db.session.execute(
        select(Case.id, Invoice.number)
        .join(Case.invoices)
        .where(Invoice.id.in_([i.id for i in invoices]), Case.status.in_(STANDING_STATUSES), Case.kind.in_(HOLDING_KINDS))
    ).first()
    if standing is not None:
        raise CaseError("case_exists", number=standing[1])
    return sorted(invoices, key=lambda i: (i.due_date, i.id))


def _new_case(debtor: Debtor, kind: str, invoices: list[Invoice], *, body: str | None, now: datetime, **fields) -> Case:
    merchant = debtor.merchant
    body = (body or "").strip()
    if len(body) > MAX_BODY:
        raise CaseError("body_too_long", max=MAX_BODY)
    case = Case(
        merchant_id=debtor.merchant_id,
        debtor_id=debtor.id,
        kind=kind,
        status="open",
        body=body or None,
        sla_due_at=sla_deadline(now, merchant.case_sla_business_days, merchant.timezone),
        created_at=now,
        **fields,
    )
    case.debtor = debtor
    case.invoices = list(invoices)
    db.session.add(case)
    db.session.flush()
    if body:
        db.session.add(CaseNote(case_id=case.id, author="debtor", body=body, created_at=now))
    return case


def _pause_all(case: Case, reason: str, today: date, until: date | None = None) -> None:
    for inv in case.invoices:
        if inv.is_open:
            _escalation().pause(inv, reason, until=until, today=today)


def _resume_all(case: Case, today: date, next_action_on: date | None = None) -> None:
    """Resume escalation for the case's invoices that are still open and not held by another case."""
    for inv in case.invoices:
        if not inv.is_open or inv.paused_reason is None:
            continue
        other = db.session.execute(
            select(Case.id)
            .join(Case.invoices)
            .where(Invoice.id == inv.id, Case.id != case.id, Case.status.in_(STANDING_STATUSES),
                   Case.kind.in_(HOLDING_KINDS))
        ).first()
        if other is not None:
            continue
        _escalation().resume(inv, today=today)
        if next_action_on is not None and inv.next_action_on is not None:
            inv.next_action_on = max(inv.next_action_on, next_action_on)


def _close(case: Case, status: str, resolution: str) -> None:
    case.status = status
    case.resolution = resolution
    case.closed_at = utcnow()


def _open_total(invoices: Sequence[Invoice]) -> int:
    return sum(max(inv.open_minor, 0) for inv in invoices)


def _charges_total(invoices: Sequence[Invoice]) -> int:
    total = 0
    for inv in invoices:
        sums = ledger.charges(inv)
        total += sums.get("fee", 0) + sums.get("interest", 0)
    return total


# ---------------------------------------------------------------- disputes


def open_dispute(debtor: Debtor, invoices: Sequence[Invoice], *, reason: str, body: str,
                 uploads: Sequence[Upload] = (), today: date, now: datetime | None = None) -> Case:
    """A dispute pauses escalation for the disputed invoices only. Files are checked before anything is written."""
    if reason not in DISPUTE_REASONS:
        raise CaseError("reason_unknown")
    if not (body or "").strip() and reason == "other":
        raise CaseError("body_required")
    if len(uploads) > MAX_FILES:
        raise CaseError("too_many_files", max=MAX_FILES)
    checked = []
    for upload in uploads:
        try:
            checked.append((check(upload.filename, upload.data), upload.data))
        except AttachmentRejected as exc:
            raise CaseError(f"file_{exc.code}", filename=upload.filename) from None
    invoices = _check_invoices(debtor, invoices)
    case = _new_case(debtor, "dispute", invoices, body=body, now=now or utcnow(), reason=reason)
    from portal.cases import storage

    for meta, data in checked:
        key, digest = storage.save(data)
        db.session.add(
            Attachment(
                merchant_id=debtor.merchant_id, case_id=case.id, debtor_id=debtor.id, filename=meta.safe_name,
                mime_type=meta.mime_type, size=len(data), sha256=digest, storage_key=key,
            )
        )
    _pause_all(case, "dispute", today)
    _event(case, "case.dispute_opened", "debtor", {"reason": reason, "attachments": len(checked)})
    _notify_debtor(case, "dispute_received", "received")
    _notify_staff(case)
    return case


# ---------------------------------------------------------------- questions


def ask_question(debtor: Debtor, invoices: Sequence[Invoice], *, body: str, now: datetime | None = None) -> Case:
    """A question for the shop's support queue, about some invoices or none. It does not pause reminders
    (an objection does); staff answer by message, which the debtor also finds in the portal."""
    if not (body or "").strip():
        raise CaseError("question_required")
    for inv in invoices:
        if inv.debtor_id != debtor.id or inv.merchant_id != debtor.merchant_id:
            raise CaseError("unknown_invoice")
    chosen = sorted(invoices, key=lambda i: (i.due_date, i.id))
    case = _new_case(debtor, "question", chosen, body=body, now=now or utcnow())
    _event(case, "case.question_asked", "debtor", {"invoices": [inv.number for inv in chosen]})
    _notify_staff(case)
    return case


def resolve_dispute(case: Case, *, actor: str, today: date, credit_minor: dict[int, int] | None = None,
                    full: bool = False, note: str | None = None) -> None:
    """Close a dispute in the debtor's favour: fully (the invoices are cancelled) or with partial credits.

    After a partial credit escalation resumes for what remains open.
    """
    _require(case, "dispute", ("open", "countered"))
    if full:
        for inv in case.invoices:
            if inv.is_open:
                ledger.cancel(inv, on=today, actor=actor, reason=f"Dispute {case.id} resolved in the debtor's favour")
        _close(case, "resolved", "credited")
    else:
        credits = {k: v for k, v in (credit_minor or {}).items() if v}
        if not credits:
            raise CaseError("credit_required")
        by_id = {inv.id: inv for inv in case.invoices}
        for invoice_id, amount in credits.items():
            inv = by_id.get(invoice_id)
            if inv is None:
                raise CaseError("unknown_invoice")
            if amount <= 0 or amount > inv.open_minor:
                raise CaseError("credit_out_of_range", number=inv.number)
            ledger.book(inv, kind="credit", amount_minor=amount, source="staff",
                        external_ref=f"case:{case.id}:credit:{inv.id}", booked_on=today, actor=actor,
                        memo=f"Partial credit, dispute {case.id}")
        _close(case, "resolved", "partly_credited")
        _resume_all(case, today)
    if note:
        db.session.add(CaseNote(case_id=case.id, author="staff", user_id=_user_id(actor), body=note))
    _event(case, "case.dispute_resolved", actor, {"full": full, "credits": credit_minor or {}})
    _notify_debtor(case, "dispute_resolved", "resolved", {"full": full, "note": note})


def reject_dispute(case: Case, *, actor: str, today: date, note: str, resume_on: date | None = None) -> None:
    """The claim stands: escalation resumes, not before `resume_on` (a fresh deadline for the debtor)."""
    _require(case, "dispute", ("open", "countered"))
    if not (note or "").strip():
        raise CaseError("note_required")
    if resume_on is not None and resume_on < today:
        raise CaseError("date_in_past")
    _close(case, "rejected", "rejected")
    db.session.add(CaseNote(case_id=case.id, author="staff", user_id=_user_id(actor), body=note.strip()))
    _resume_all(case, today, next_action_on=resume_on)
    _event(case, "case.dispute_rejected", actor, {"resume_on": resume_on.isoformat() if resume_on else None})
    _notify_debtor(case, "dispute_rejected", "rejected", {"note": note.strip(), "pay_by": resume_on.isoformat() if resume_on else None})


# ---------------------------------------------------------------- installment plans


def plan_rules(merchant: Merchant) -> installments.PlanRules:
    return installments.PlanRules(
        max_rates=merchant.plan_max_rates,
        min_rate_minor=merchant.plan_min_rate_minor,
        max_total_minor=merchant.plan_max_total_minor,
        first_rate_within_days=merchant.plan_first_rate_days,
        include_charges=merchant.plan_include_charges,
        grace_days=merchant.plan_grace_days,
    )


def plan_total(merchant: Merchant, invoices: Sequence[Invoice]) -> int:
    """What the plan spreads: everything open, or without fees and interest when the merchant waives them."""
    total = _open_total(invoices)
    if not merchant.plan_include_charges:
        total -= _charges_total(invoices)
    return total


def request_plan(debtor: Debtor, invoices: Sequence[Invoice], *, rates: int, first_due: date, today: date,
                 body: str | None = None, now: datetime | None = None) -> Case:
    """A plan inside the merchant's rules is active at once; anything else waits for staff."""
    try:
        installments.validate_request(rates, first_due, today)
    except installments.PlanRequestError as exc:
        raise CaseError("plan_invalid", why=str(exc)) from None
    invoices = _check_invoices(debtor, invoices)
    merchant = debtor.merchant
    currencies = {inv.currency for inv in invoices}
    if len(currencies) != 1:
        raise CaseError("mixed_currencies")
    total = plan_total(merchant, invoices)
    if total < rates:
        raise CaseError("plan_invalid", why="amount too small")
    case = _new_case(debtor, "plan", invoices, body=body, now=now or utcnow())
    plan = InstallmentPlan(
        case_id=case.id, merchant_id=merchant.id, debtor_id=debtor.id, currency=currencies.pop(),
        total_minor=total, rates_count=rates, first_due=first_due,
        include_charges=merchant.plan_include_charges, status="proposed",
    )
    case.plan = plan
    db.session.add(plan)
    _pause_all(case, "plan", today)
    outside = installments.violations(plan_rules(merchant), total, rates, first_due, today)
    _event(case, "case.plan_requested", "debtor", {"rates": rates, "first_due": first_due.isoformat(),
                                                    "total_minor": total, "outside_rules": outside})
    if not outside:
        _activate(case, actor="auto", today=today)
    else:
        _notify_debtor(case, "plan_received", "received")
        _notify_staff(case)
    return case


def _activate(case: Case, *, actor: str, today: date) -> None:
    plan = case.plan
    if not plan.include_charges:
        for inv in case.invoices:
            sums = ledger.charges(inv)
            for kind in ("fee", "interest"):
                if sums.get(kind, 0) > 0:
                    ledger.book(inv, kind="credit", amount_minor=sums[kind], source="plan",
                                external_ref=f"plan:{plan.id}:waive:{kind}:{inv.id}", booked_on=today,
                                actor=actor, memo=f"{kind.capitalize()} waived for installment plan {plan.id}")
    # The plan spreads what is open now (the debtor may have paid something meanwhile).
    plan.total_minor = _open_total(case.invoices)
    schedule = installments.schedule(plan.total_minor, plan.rates_count, plan.first_due)
    plan.rates = [PlanRate(number=r.number, due_on=r.due_on, amount_minor=r.amount_minor, rf_reference=rf.new()) for r in schedule]
    plan.status = "active"
    plan.open_at_start_minor = plan.total_minor
    plan.activated_on = today
    plan.approved_by = actor
    case.status = "active"
    for inv in case.invoices:
        _escalation().pause(inv, "plan", until=None, today=today)
    _event(case, "case.plan_activated", actor, {"rates": [(r.due_on.isoformat(), r.amount_minor) for r in schedule]})
    _notify_debtor(case, "plan_confirmed", "confirmed", {"rates": [
        {"number": r.number, "due_on": r.due_on.isoformat(), "amount_minor": r.amount_minor,
         "reference": rate.rf_reference} for r, rate in zip(schedule, plan.rates)
    ], "currency": plan.currency})


def approve_plan(case: Case, *, actor: str, today: date) -> None:
    _require(case, "plan", ("open",))
    _activate(case, actor=actor, today=today)


def counter_plan(case: Case, *, actor: str, today: date, rates: int, first_due: date, note: str | None = None) -> None:
    """Staff propose other terms; the debtor accepts or declines them in the portal."""
    _require(case, "plan", ("open",))
    try:
        installments.validate_request(rates, first_due, today)
    except installments.PlanRequestError as exc:
        raise CaseError("plan_invalid", why=str(exc)) from None
    plan = case.plan
    plan.rates_count, plan.first_due, plan.status = rates, first_due, "countered"
    case.status = "countered"
    if note:
        db.session.add(CaseNote(case_id=case.id, author="staff", user_id=_user_id(actor), body=note))
    _event(case, "case.plan_countered", actor, {"rates": rates, "first_due": first_due.isoformat()})
    _notify_debtor(case, "plan_countered", f"countered:{rates}:{first_due.isoformat()}", {"rates_count": rates, "first_due": first_due.isoformat(), "note": note})


def accept_counter(case: Case, debtor: Debtor, *, today: date) -> None:
    _require(case, "plan", ("countered",))
    if case.debtor_id != debtor.id:
        raise CaseError("unknown_case")
    if case.plan.first_due < today:
        case.plan.first_due = today + timedelta(days=7)
    _activate(case, actor="debtor", today=today)


def reject_plan(case: Case, *, actor: str, today: date, note: str | None = None) -> None:
    """Staff refuse a request, or the debtor declines a counter-offer: escalation resumes."""
    _require(case, "plan", ("open", "countered"))
    case.plan.status = "rejected"
    _close(case, "rejected", "rejected")
    if note:
        db.session.add(CaseNote(case_id=case.id, author="staff" if actor.startswith("user:") else "debtor",
                                user_id=_user_id(actor), body=note))
    _resume_all(case, today)
    _event(case, "case.plan_rejected", actor)
    if actor.startswith("user:"):
        _notify_debtor(case, "plan_rejected", "rejected", {"note": note})


def plan_paid_minor(plan: InstallmentPlan, invoices: Sequence[Invoice]) -> int:
    """Paid since activation: how far the plan's invoices' open total has come down."""
    return max((plan.open_at_start_minor or 0) - _open_total(invoices), 0)


def rates_of(plan: InstallmentPlan) -> list[installments.Rate]:
    return [installments.Rate(r.number, r.due_on, r.amount_minor) for r in plan.rates]


# ---------------------------------------------------------------- promises


def make_promise(debtor: Debtor, invoices: Sequence[Invoice], *, promised_on: date, today: date,
                 body: str | None = None, now: datetime | None = None) -> Case:
    earliest, latest = installments.promise_window(today, debtor.merchant.promise_max_days)
    if not earliest <= promised_on <= latest:
        raise CaseError("promise_out_of_range", earliest=earliest.isoformat(), latest=latest.isoformat())
    invoices = _check_invoices(debtor, invoices)
    case = _new_case(debtor, "promise", invoices, body=body, now=now or utcnow(), promised_on=promised_on)
    case.status = "active"
    _pause_all(case, "promise", today, until=promised_on)
    _event(case, "case.promise_made", "debtor", {"promised_on": promised_on.isoformat()})
    _notify_debtor(case, "promise_confirmed", "confirmed", {"promised_on": promised_on.isoformat()})
    return case


# ---------------------------------------------------------------- the daily check


def _morning(day: date, tz_name: str) -> datetime:
    return datetime.combine(day, time(9, 0), ZoneInfo(tz_name)).astimezone(timezone.utc)


def daily(merchant: Merchant, today: date, *, debtor_ids=None) -> dict[str, int]:
    """Complete, remind and end plans and promises as of `today`; safe to repeat for the same day.

    Called by the dunning run before it evaluates escalation, so an invoice whose plan
    or promise broke today is dunned again from today's state (`debtor_ids`: only these
    debtors' cases, as the run's own filter).
    """
    counts = {"completed": 0, "broken": 0, "reminded": 0}
    stmt = select(Case).where(Case.merchant_id == merchant.id, Case.status == "active", Case.kind.in_(("plan", "promise")))
    if debtor_ids is not None:
        stmt = stmt.where(Case.debtor_id.in_(list(debtor_ids)))
    cases = db.session.execute(stmt.order_by(Case.id)).scalars().all()
    for case in cases:
        open_invoices = [inv for inv in case.invoices if inv.is_open]
        if not open_invoices:
            _close(case, "completed", "paid")
            if case.plan is not None:
                case.plan.status, case.plan.ended_on = "completed", today
            _event(case, f"case.{case.kind}_completed", "system")
            counts["completed"] += 1
            continue
        if case.kind == "promise":
            result = _promise_step(case, today, merchant)
        else:
            result = _plan_step(case, today, merchant)
        if result:
            counts[result] += 1
    return counts


def _promise_step(case: Case, today: date, merchant: Merchant) -> str | None:
    if today > case.promised_on:
        _close(case, "broken", "broken")
        _resume_all(case, today)
        _event(case, "case.promise_broken", "system", {"promised_on": case.promised_on.isoformat()})
        _notify_debtor(case, "promise_broken", "broken", {"promised_on": case.promised_on.isoformat()})
        return "broken"
    if today >= case.promised_on - timedelta(days=1):
        queued = _notify_debtor(case, "promise_reminder", "reminder", {"promised_on": case.promised_on.isoformat()},
                                not_before=_morning(today, merchant.timezone))
        return "reminded" if queued is not None else None
    return None


def _plan_step(case: Case, today: date, merchant: Merchant) -> str | None:
    plan = case.plan
    rates = rates_of(plan)
    paid = plan_paid_minor(plan, case.invoices)
    missed = installments.missed_rate(rates, paid, today, plan_rules(merchant).grace_days)
    if missed is not None:
        plan.status, plan.ended_on = "broken", today
        _close(case, "broken", "broken")
        _resume_all(case, today)
        _event(case, "case.plan_broken", "system", {"missed_rate": missed.number, "due_on": missed.due_on.isoformat(),
                                                     "paid_minor": paid})
        _notify_debtor(case, "plan_broken", "broken", {"missed_rate": missed.number, "due_on": missed.due_on.isoformat(),
                                                        "currency": plan.currency})
        return "broken"
    nxt = installments.next_rate(rates, paid)
    if nxt is not None and nxt.due_on - timedelta(days=3) <= today <= nxt.due_on:
        queued = _notify_debtor(case, "plan_rate_reminder", f"rate:{nxt.number}:reminder", {
            "rate_number": nxt.number, "due_on": nxt.due_on.isoformat(),
            "amount_minor": installments.amount_due_for(rates, paid), "currency": plan.currency,
            "reference": plan.rates[nxt.number - 1].rf_reference,
        }, not_before=_morning(today, merchant.timezone))
        return "reminded" if queued is not None else None
    return None


# ---------------------------------------------------------------- staff actions on any case


def _user_id(actor: str) -> int | None:
    return int(actor.split(":", 1)[1]) if actor.startswith("user:") else None


def _require(case: Case, kind: str, statuses: Sequence[str]) -> None:
    if case.kind != kind:
        raise CaseError("wrong_kind")
    if case.status not in statuses:
        raise CaseError("wrong_status", status=case.status)


def reply(case: Case, *, actor: str, body: str, internal: bool = False) -> CaseNote:
    """A staff reply (sent to the debtor) or an internal note (never shown to the debtor)."""
    body = (body or "").strip()
    if not body:
        raise CaseError("note_required")
    if len(body) > MAX_BODY:
        raise CaseError("body_too_long", max=MAX_BODY)
    note = CaseNote(case_id=case.id, author="staff", user_id=_user_id(actor), body=body, internal=internal)
    db.session.add(note)
    db.session.flush()
    _event(case, "case.note" if internal else "case.reply", actor, {"note_id": note.id})
    if not internal:
        _notify_debtor(case, "case_reply", f"reply:{note.id}", {"body": body})
        if case.kind == "question" and case.status == "open":
            # The reply is the answer: the question leaves the waiting queue (the debtor's next message reopens it).
            _close(case, "resolved", "answered")
            _event(case, "case.question_answered", actor, {"note_id": note.id})
    return note


def debtor_message(case: Case, debtor: Debtor, body: str) -> CaseNote:
    if case.debtor_id != debtor.id:
        raise CaseError("unknown_case")
    body = (body or "").strip()
    if not body:
        raise CaseError("body_required")
    if len(body) > MAX_BODY:
        raise CaseError("body_too_long", max=MAX_BODY)
    note = CaseNote(case_id=case.id, author="debtor", body=body)
    db.session.add(note)
    if case.status == "countered" and case.kind != "plan":
        case.status = "open"
    _event(case, "case.debtor_message", "debtor")
    if case.kind == "question" and case.status == "resolved":
        # A follow-up to an answered question: back in the queue, with a fresh deadline for the answer.
        merchant = debtor.merchant
        case.status, case.resolution, case.closed_at = "open", None, None
        case.sla_due_at = sla_deadline(utcnow(), merchant.case_sla_business_days, merchant.timezone)
        db.session.flush()
        _event(case, "case.question_reopened", "debtor", {"note_id": note.id})
        _notify_staff(case, dedupe=f"reopened:{note.id}")
    return note


def assign(case: Case, *, actor: str, user_id: int | None) -> None:
    case.assigned_user_id = user_id
    _event(case, "case.assigned", actor, {"user_id": user_id})


def correct_amount(invoice: Invoice, *, actor: str, today: date, new_amount_minor: int, note: str) -> None:
    """Correct an invoice's claim: an adjustment entry of the difference, with the reason."""
    if new_amount_minor <= 0:
        raise CaseError("amount_invalid")
    if not invoice.is_open:
        raise CaseError("invoice_closed", number=invoice.number)
    current = invoice.amount_minor + sum(e.amount_minor for e in invoice.entries if e.kind == "adjustment")
    delta = new_amount_minor - current
    if delta == 0:
        return
    seq = sum(1 for e in invoice.entries if e.kind == "adjustment") + 1
    ledger.book(invoice, kind="adjustment", amount_minor=delta, source="staff",
                external_ref=f"correct:{invoice.id}:{seq}", booked_on=today, actor=actor,
                memo=note or "Amount corrected")
