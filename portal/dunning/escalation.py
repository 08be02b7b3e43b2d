"""The escalation state machine of an invoice, and its transitions outside the run.

States: open (level n, next action on a day) → … → handed over; paused (dispute, plan,
promise, unreachable) with an optional day to look again; stopped for good when paid,
cancelled or written off. The run (portal.dunning.run) takes steps; the functions here
pause, resume, stop and reopen. Each writes its Event in the caller's transaction;
nothing here commits.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import and_, func, or_, select, update

from portal.domain import dunning as rules
from portal.dunning import bulk
from portal.extensions import db
from portal.models import Event, Invoice, InvoiceStatus, Message, MessageInvoice, MessageStatus, Policy

# staff: paused by hand in the back office; agency: due for handover, but no collection agency is configured yet
PAUSE_REASONS = ("dispute", "plan", "promise", "unreachable", "staff", "agency")
DEAD_STATUSES = (InvoiceStatus.PAID.value, InvoiceStatus.CANCELLED.value, InvoiceStatus.WRITTEN_OFF.value)


class EscalationError(Exception):
    """A transition the invoice's state does not allow."""


def step_rules(policy: Policy) -> list[rules.StepRule]:
    return [
        rules.StepRule(
            key=s.key, offset_days=s.offset_days, offset_from=s.offset_from, legal=s.legal, fee_minor=s.fee_minor,
            channels=tuple(s.channels), template=s.template, payment_days=s.payment_days, notice_286=s.notice_286,
            fee_email_minor=s.fee_email_minor or 0, fee_sms_minor=s.fee_sms_minor or 0,
        )
        for s in policy.steps
    ]


def group_rule(policy: Policy) -> rules.GroupRule:
    return rules.GroupRule(
        kind=policy.match_kind, age_min=policy.match_age_min, age_max=policy.match_age_max,
        amount_min_minor=policy.match_amount_min_minor, amount_max_minor=policy.match_amount_max_minor,
        language=policy.match_language, preferred_channel=policy.match_preferred_channel, customer=policy.match_customer,
    )


def _event(invoice: Invoice, kind: str, actor: str, data: dict | None = None) -> None:
    db.session.add(Event.on_invoice(invoice, kind, actor, data))


def invoice_is_live(status: str, paused_reason: str | None, step: str | None = None) -> bool:
    """Whether a message about this invoice should still go out (the handover notice goes to handed-over ones).

    Messages about a case (installment plan, promise, dispute: step "case:…") are sent
    while the invoice is paused, since the pause is that very case; they stop only when
    the invoice is no longer open.
    """
    if status == InvoiceStatus.OPEN.value:
        return paused_reason is None or (step or "").startswith("case:")
    return status == InvoiceStatus.HANDED_OVER.value


def cancel_dead_messages(invoice: Invoice, *, reason: str) -> int:
    """Cancel pending messages about `invoice` whose invoices are no longer live. Returns how many."""
    db.session.flush()
    message_ids = db.session.execute(
        select(Message.id)
        .join(MessageInvoice, MessageInvoice.message_id == Message.id)
        .where(MessageInvoice.invoice_id == invoice.id, Message.status == MessageStatus.PENDING.value)
    ).scalars().all()
    cancelled = 0
    for message in db.session.execute(select(Message).where(Message.id.in_(message_ids))).scalars():
        rows = db.session.execute(
            select(Invoice.status, Invoice.paused_reason, MessageInvoice.step)
            .join(MessageInvoice, MessageInvoice.invoice_id == Invoice.id)
            .where(MessageInvoice.message_id == message.id)
        ).all()
        if any(invoice_is_live(*row) for row in rows):
            continue
        message.status = MessageStatus.CANCELLED.value
        message.last_error = reason
        cancelled += 1
        _event(invoice, "message.cancelled", "system", {"message_id": message.id, "reason": reason})
    return cancelled


def stopped(invoice: Invoice, on: date) -> None:
    """Paid, cancelled or written off: no further steps; pending reminders are not sent."""
    invoice.next_action_on = None
    cancel_dead_messages(invoice, reason=f"invoice {invoice.status}")


def _schedule_after_pause(invoice: Invoice, today: date) -> date | None:
    if invoice.dunning_policy_id is None:
        return today  # not looked at yet: the next run chooses the policy and plans
    policy = db.session.get(Policy, invoice.dunning_policy_id)
    return rules.resume_day(step_rules(policy), invoice.dunning_level, invoice.due_date, invoice.dunning_last_on, today)


def reopened(invoice: Invoice, on: date) -> None:
    """A refund or chargeback made a paid invoice owe again: dunning resumes with new dates."""
    invoice.next_action_on = None if invoice.paused_reason else _schedule_after_pause(invoice, on)
    _event(invoice, "dunning.resumed", "system", {"reason": "reopened", "next_action_on": _iso(invoice.next_action_on)})


def pause(invoice: Invoice, reason: str, until: date | None = None, *, today: date, actor: str = "system") -> bool:
    """Stop escalating while a dispute, plan or promise stands; `until`: look again on that day.

    Pending reminders about it are cancelled. Pausing again updates reason and day
    (returns False when nothing changed).
    """
    if reason not in PAUSE_REASONS:
        raise EscalationError(f"unknown pause reason {reason!r}")
    if invoice.status != InvoiceStatus.OPEN.value:
        raise EscalationError(f"a {invoice.status.replace('_', ' ')} invoice cannot be paused")
    if until is not None and until <= today:
        raise EscalationError("a pause ends after today")
    if invoice.paused_reason == reason and invoice.next_action_on == until:
        return False
    invoice.paused_reason = reason
    invoice.next_action_on = until
    _event(invoice, "dunning.paused", actor, {"reason": reason, "until": _iso(until)})
    cancel_dead_messages(invoice, reason=f"paused: {reason}")
    return True


def resume(invoice: Invoice, *, today: date, actor: str = "system") -> bool:
    """End a pause: the next step is planned anew, at least RESUME_GRACE_DAYS from today."""
    if invoice.paused_reason is None:
        return False
    reason = invoice.paused_reason
    invoice.paused_reason = None
    invoice.next_action_on = _schedule_after_pause(invoice, today) if invoice.status == InvoiceStatus.OPEN.value else None
    _event(invoice, "dunning.resumed", actor, {"reason": reason, "next_action_on": _iso(invoice.next_action_on)})
    return True


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def stopped_many(paid: Sequence[tuple[int, int, int]], *, reason: str) -> dict[int, list[dict]]:
    """`stopped` for many invoices at once (the ledger's bulk booking): cancel their dead pending messages.

    `paid`: (invoice id, merchant id, debtor id) of the invoices that just stopped, in the
    order they stopped; the caller has already cleared their next action. A message is
    cancelled when none of its invoices is live any more (`invoice_is_live`, in SQL), with
    one UPDATE for the whole set; its `message.cancelled` event goes to the invoice that
    stopped last, which is where one-by-one `stopped` calls would have cancelled it.
    Returns invoice id → event rows for the caller to insert in its own order.
    """
    if not paid:
        return {}
    order = {invoice_id: k for k, (invoice_id, _, _) in enumerate(paid)}
    who = {invoice_id: (merchant_id, debtor_id) for invoice_id, merchant_id, debtor_id in paid}
    link = MessageInvoice.__table__.alias("link")
    live = (
        select(1).select_from(link.join(Invoice.__table__, Invoice.__table__.c.id == link.c.invoice_id))
        .where(
            link.c.message_id == MessageInvoice.message_id,
            or_(
                and_(Invoice.__table__.c.status == InvoiceStatus.OPEN.value,
                     or_(Invoice.__table__.c.paused_reason.is_(None), func.substr(link.c.step, 1, 5) == "case:")),
                Invoice.__table__.c.status == InvoiceStatus.HANDED_OVER.value,
            ),
        )
    )
    ids = sorted(order)
    candidates: dict[int, int] = {}  # message id → invoice that stopped last
    for start in range(0, len(ids), 1000):
        for message_id, invoice_id in db.session.execute(
            select(MessageInvoice.message_id, MessageInvoice.invoice_id)
            .join(Message, Message.id == MessageInvoice.message_id)
            .where(bulk.among(MessageInvoice.invoice_id, ids[start : start + 1000]),
                   Message.status == MessageStatus.PENDING.value, ~live.exists())
        ):
            if message_id not in candidates or order[invoice_id] > order[candidates[message_id]]:
                candidates[message_id] = invoice_id
    if not candidates:
        return {}
    message_ids = sorted(candidates)
    cancelled: list[int] = []
    for start in range(0, len(message_ids), 500):
        cancelled += db.session.execute(
            update(Message)
            .where(Message.id.in_(message_ids[start : start + 500]), Message.status == MessageStatus.PENDING.value)
            .values(status=MessageStatus.CANCELLED.value, last_error=reason)
            .returning(Message.id),
            execution_options={"synchronize_session": False},
        ).scalars().all()
    events: dict[int, list[dict]] = {}
    for message_id in sorted(cancelled):
        stale = db.session.identity_map.get(db.session.identity_key(Message, message_id))
        if stale is not None:
            db.session.expire(stale)
        invoice_id = candidates[message_id]
        merchant_id, debtor_id = who[invoice_id]
        events.setdefault(invoice_id, []).append({
            "merchant_id": merchant_id, "invoice_id": invoice_id, "debtor_id": debtor_id, "kind": "message.cancelled",
            "actor": "system", "data": {"message_id": message_id, "reason": reason},
        })
    return events


def rejudge_default(message: Message) -> None:
    """A dunning message went out over a fallback channel: judge its step's effect on default again (§ 286 BGB).

    The run judged it for the channel it queued the message on (`context["channel"]`) and the day
    of the step (`context["today"]`, the day the worker sends it as a rule); a letter
    instead of an email is received later, an SMS does not carry the § 286 (3) notice. Only an
    invoice whose latest step is still this message's step is re-judged (nothing has been
    charged on the strength of it yet). Writes a `dunning.default_changed` event where the day
    or rule changed; never commits.
    """
    from portal.domain import default as law_default
    from portal.domain.calendar import legal_calendar
    from portal.models import Debtor, Merchant

    planned = (message.context or {}).get("channel")
    if message.purpose != "dunning" or not planned or planned == message.channel:
        return
    sent_on = date.fromisoformat(message.context["today"])
    merchant = db.session.get(Merchant, message.merchant_id)
    debtor = db.session.get(Debtor, message.debtor_id)
    calendar = legal_calendar(merchant.holiday_state)
    items = {item["invoice_id"]: item for item in message.context.get("items", [])}
    for link in message.invoices:
        invoice = db.session.get(Invoice, link.invoice_id)
        item = items.get(invoice.id)
        if item is None or invoice.dunning_step != link.step or invoice.dunning_policy_id is None:
            continue
        step = next((s for s in db.session.get(Policy, invoice.dunning_policy_id).steps if s.key == link.step), None)
        if step is None:
            continue
        before = item.get("default_before")
        current = law_default.Default(date.fromisoformat(before[0]), before[1]) if before else None
        business = debtor.kind == "business"
        default = law_default.after_step(
            current=current, business=business, due_date=invoice.due_date, issue_date=invoice.issue_date,
            sent_on=sent_on, channel=message.channel, causes_default=step.legal in rules.CAUSES_DEFAULT,
            payment_days=step.payment_days, calendar=calendar,
            notice_286=step.notice_286 and merchant.consumer_default_notice and not business,
        )
        new = (default.on, default.rule) if default else (None, None)
        if new == (invoice.default_on, invoice.default_rule):
            continue
        _event(invoice, "dunning.default_changed", "system:worker", {
            "channel": message.channel, "planned_channel": planned, "default_on": _iso(new[0]), "rule": new[1],
            "was": _iso(invoice.default_on),
        })
        invoice.default_on, invoice.default_rule = new
