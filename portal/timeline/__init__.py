"""The one presenter of what happened: every event kind becomes a sentence a person reads.

Events are stored once as data (`portal.models.Event`); this module turns them into
entries for the back-office timelines (invoice, debtor), the audit log and its CSV.
`PRESENTERS` maps each kind to a small function returning the sentence in the reader's
language; `present_actor` names who did it (the customer, a staff member by name,
Settle, the shop); `_links` adds links (the message as sent, the case). Technical data
stays available, folded away, in `Entry.details`.

One entry per thing that happened: a staff action is stored twice (the domain event,
e.g. `case.plan_activated`, and the audit row `staff.plan.approve`), a debtor's request
twice (`request.plan` and `case.plan_requested`), and a dunning step once as the step
and once more when its message is sent. `build()` merges such echoes into the entry of
the thing itself (the audit rows stay complete in the audit log).

Adding an event kind: write it with a literal kind (or add its values to `FAMILIES`),
register a sentence here with `@presents("kind", example={...})` and translate it;
`tests/timeline/test_every_kind.py` reads the code for kinds and fails otherwise.
"""
from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from flask import url_for
from flask_babel import gettext as _
from flask_babel import pgettext

from portal.i18n import format_day, format_minor, status_label
from portal.models.case import CASE_KINDS, HOLDING_KINDS
from portal.models.invoice import NEGATIVE_KINDS, POSITIVE_KINDS
from portal.timeline import labels
from portal.timeline.labels import step_label

# Kinds written from a template: the values each placeholder can take.
FAMILIES: dict[str, tuple[str, ...]] = {
    "ledger.{}": NEGATIVE_KINDS + POSITIVE_KINDS + ("adjustment",),
    "case.{}_completed": HOLDING_KINDS,
    "request.{}": CASE_KINDS,
    "upload.{}": ("done", "rejected", "failed"),
}


@dataclass(frozen=True)
class Link:
    label: str
    url: str


@dataclass
class Entry:
    """One line of a timeline: when, what (a sentence), who, where to look, and the raw record."""

    at: datetime
    kind: str
    sentence: str
    actor: str
    links: list[Link] = field(default_factory=list)
    details: list[tuple[str, str]] = field(default_factory=list)
    event_ids: list[int] = field(default_factory=list)
    invoice_id: int | None = None


@dataclass
class Context:
    """What the presenters may look up, loaded once per timeline (never a query per event)."""

    currency: str = "EUR"
    users: dict[int, object] = field(default_factory=dict)
    messages: dict[int, object] = field(default_factory=dict)
    step_messages: dict[tuple[int, str], object] = field(default_factory=dict)
    bank_days: dict[str, date] = field(default_factory=dict)  # external_ref of a bank booking -> statement day
    invoice_numbers: dict[int, str] = field(default_factory=dict)


class View:
    """One event as its presenter sees it: data with safe accessors for money and days."""

    def __init__(self, event, ctx: Context):
        self.event = event
        self.ctx = ctx
        self.data: dict = dict(event.data or {})
        self.merged_message = None  # the message of a dunning step, when it was sent

    def get(self, key: str, default=None):
        value = self.data.get(key)
        return default if value in (None, "", [], {}) else value

    def money(self, key: str = "amount_minor", *, signed: bool = False) -> str:
        minor = self.data.get(key)
        if not isinstance(minor, int):
            return _("an amount")
        currency = self.data.get("currency") or self.ctx.currency
        return format_minor(minor if signed else abs(minor), currency)

    def day(self, key: str) -> str | None:
        value = self.data.get(key)
        if not value:
            return None
        try:
            return format_day(value if isinstance(value, date) else date.fromisoformat(str(value)[:10]))
        except ValueError:
            return None


Presenter = Callable[[View], str]
PRESENTERS: dict[str, Presenter] = {}
EXAMPLES: dict[str, dict] = {}


def presents(*kinds: str, example: dict | None = None):
    """Register the sentence of one or more event kinds; `example` is typical data (used by the tests)."""

    def register(fn: Presenter) -> Presenter:
        for kind in kinds:
            if kind in PRESENTERS:
                raise ValueError(f"event kind {kind} has two presenters")
            PRESENTERS[kind] = fn
            EXAMPLES[kind] = example or {}
        return fn

    return register


def sentence(event, ctx: Context | None = None) -> str:
    """The sentence of one event (an unknown kind still reads as a sentence, never as raw data)."""
    view = View(event, ctx or Context())
    fn = PRESENTERS.get(event.kind)
    return fn(view) if fn is not None else _("Something was recorded (technical details below).")


# -- who did it ----------------------------------------------------------------------------------

def present_actor(actor: str | None, ctx: Context | None = None, data: dict | None = None) -> str:
    actor = actor or ""
    if actor == "debtor":
        return _("Customer")
    if actor.startswith("user:"):
        user_id = actor.split(":", 1)[1]
        user = (ctx.users if ctx else {}).get(int(user_id)) if user_id.isascii() and user_id.isdigit() else None
        if user is not None:
            return user.name or user.email
        return (data or {}).get("by") or _("Staff member")
    if actor.startswith("api"):
        return _("Shop (API)")
    if actor.startswith("import"):
        return _("File import")
    if actor == "stripe":
        return "Stripe"
    if actor == "anonymous":
        return _("Unknown person")
    if actor.startswith("cli:"):
        return _("Command line (%(login)s)", login=actor.split(":", 1)[1]) if actor[4:] else _("Command line")
    return "Settle"


# -- sentences -----------------------------------------------------------------------------------

def _paid_suffix(v: View) -> str:
    before, after = v.get("status_before"), v.get("status")
    if before and after and before != after:
        return " – " + _("the invoice is now %(status)s", status=status_label(after))
    return ""


@presents("invoice.created", example={"amount_minor": 11900, "currency": "EUR", "due_date": "2026-01-15"})
def _invoice_created(v: View) -> str:
    due = v.day("due_date")
    if due:
        return _("Invoice over %(amount)s created, due on %(due)s", amount=v.money(), due=due)
    return _("Invoice over %(amount)s created", amount=v.money())


@presents("invoice.cancelled", example={"reason": "Bestellung storniert"})
def _invoice_cancelled(v: View) -> str:
    if v.get("reason"):
        return _("Invoice cancelled (reason: %(reason)s)", reason=v.get("reason"))
    return _("Invoice cancelled")


@presents("invoice.written_off", example={"reason": "Kleinbetrag"})
def _invoice_written_off(v: View) -> str:
    if v.get("reason"):
        return _("Invoice written off (reason: %(reason)s)", reason=v.get("reason"))
    return _("Invoice written off")


@presents("invoice.handed_over", example={"step": "handover"})
def _handed_over(v: View) -> str:
    return _("Claim handed over to the collection agency")


@presents("handover.payment_received", example={"amount_minor": 5000, "currency": "EUR", "source": "bank",
                                               "external_ref": "E-1", "booked_on": "2026-03-02"})
def _payment_after_handover(v: View) -> str:
    return _("Payment of %(amount)s received after the handover: staff were told; the next export reports it to the agency",
             amount=v.money())


@presents("ledger.payment", example={"amount_minor": -4990, "currency": "EUR", "source": "bank", "external_ref": "E-1",
                                     "open_minor": 0, "status": "paid", "status_before": "open"})
def _payment(v: View) -> str:
    amount, source = v.money(), v.get("source")
    if source == "bank":
        day = v.ctx.bank_days.get(v.get("external_ref") or "")
        if day:
            text = _("Payment of %(amount)s received by bank transfer (statement of %(day)s)", amount=amount, day=format_day(day))
        else:
            text = _("Payment of %(amount)s received by bank transfer", amount=amount)
    elif source == "stripe":
        text = _("Payment of %(amount)s received by card (Stripe)", amount=amount)
    elif source == "staff":
        text = _("Payment of %(amount)s received elsewhere, recorded by staff", amount=amount)
    elif source == "api":
        text = _("Payment of %(amount)s reported by the shop", amount=amount)
    elif source == "plan":
        text = _("Installment of %(amount)s received", amount=amount)
    else:
        text = _("Payment of %(amount)s received", amount=amount)
    return text + _paid_suffix(v)


@presents("ledger.credit", example={"amount_minor": -1000, "currency": "EUR", "source": "staff"})
def _credit(v: View) -> str:
    return _("Credit of %(amount)s booked", amount=v.money()) + _paid_suffix(v)


@presents("ledger.write_off", example={"amount_minor": -250, "currency": "EUR", "source": "staff",
                                       "status": "written_off", "status_before": "open"})
def _write_off(v: View) -> str:
    return _("Remaining %(amount)s written off", amount=v.money()) + _paid_suffix(v)


@presents("ledger.fee", example={"amount_minor": 250, "currency": "EUR", "source": "dunning"})
def _fee(v: View) -> str:
    if v.get("label") == "fee_flat" or str(v.get("external_ref") or "").endswith(":flatfee"):
        return _("Late-payment flat fee (section 288 (5) BGB) of %(amount)s charged", amount=v.money()) + _paid_suffix(v)
    return _("Dunning fee of %(amount)s charged", amount=v.money()) + _paid_suffix(v)


@presents("ledger.interest", example={"amount_minor": 112, "currency": "EUR", "source": "dunning"})
def _interest(v: View) -> str:
    return _("Default interest of %(amount)s charged", amount=v.money()) + _paid_suffix(v)


@presents("ledger.refund", example={"amount_minor": 1990, "currency": "EUR", "source": "stripe"})
def _refund(v: View) -> str:
    return _("%(amount)s refunded to the customer", amount=v.money()) + _paid_suffix(v)


@presents("ledger.chargeback", example={"amount_minor": 4990, "currency": "EUR", "source": "stripe"})
def _chargeback(v: View) -> str:
    return _("Card payment of %(amount)s charged back by the bank", amount=v.money()) + _paid_suffix(v)


@presents("ledger.reversal", example={"amount_minor": 4990, "currency": "EUR", "source": "bank"})
def _reversal(v: View) -> str:
    return _("Transfer of %(amount)s returned by the bank", amount=v.money()) + _paid_suffix(v)


@presents("ledger.adjustment", example={"amount_minor": -500, "currency": "EUR", "source": "staff"})
def _adjustment(v: View) -> str:
    return _("Invoice amount corrected by %(amount)s", amount=v.money(signed=True)) + _paid_suffix(v)


@presents("dunning.step", example={"step": "notice_1", "legal": "default_notice", "policy": "Standard", "skipped": [],
                                   "charges": [], "next_action_on": "2026-02-15"})
def _step(v: View) -> str:
    step = step_label(v.get("step"), v.get("legal"))
    message = v.merged_message
    if message is not None and message.status == "sent":
        text = _("%(step)s sent %(channel)s", step=step, channel=labels.channel_by(message.channel))
    elif message is not None and message.status in ("pending", "sending"):
        text = _("%(step)s is being sent %(channel)s", step=step, channel=labels.channel_by(message.channel))
    else:
        text = _("%(step)s due", step=step)
    nxt = v.day("next_action_on")
    if nxt:
        text += " – " + _("next step on %(day)s", day=nxt)
    return text


@presents("dunning.paused", example={"reason": "dispute", "until": "2026-02-01"})
def _paused(v: View) -> str:
    until = v.day("until")
    reason = labels.pause_reason(v.get("reason"))
    if v.get("reason") == "staff" and v.get("note"):
        reason = v.get("note")  # the reason the staff member gave
    if until:
        return _("Reminders paused until %(day)s: %(reason)s", day=until, reason=reason)
    return _("Reminders paused: %(reason)s", reason=reason)


@presents("dunning.resumed", example={"reason": "dispute", "next_action_on": "2026-02-10"})
def _resumed(v: View) -> str:
    nxt = v.day("next_action_on")
    if nxt:
        return _("Reminders resumed; next step on %(day)s", day=nxt)
    return _("Reminders resumed")


@presents("dunning.no_policy")
def _no_policy(v: View) -> str:
    return _("No reminder sent: no dunning policy fits this customer")


@presents("dunning.interest_refused", example={"half_year": "2026-07-01"})
def _interest_refused(v: View) -> str:
    day = v.day("half_year")
    if day:
        return _("Default interest from %(day)s held back: the base rate for that half-year is not entered yet; "
                 "it is charged as soon as it is", day=day)
    return _("Default interest held back: the base rate is not entered yet; it is charged as soon as it is")


@presents("dunning.interest_caught_up", example={"amount_minor": 523, "currency": "EUR", "from": "2026-01-01",
                                                 "to": "2026-01-30", "supplement": "after_handover"})
def _interest_caught_up(v: View) -> str:
    args = {"amount": v.money(), "start": v.day("from") or "–", "end": v.day("to") or "–"}
    if v.get("supplement") == "after_handover":
        return _("Default interest of %(amount)s for %(start)s to %(end)s charged after the base rate was entered: "
                 "supplement for the collection agency", **args)
    return _("Default interest of %(amount)s for %(start)s to %(end)s charged after the base rate was entered", **args)


@presents("dunning.default_changed", example={"channel": "letter", "planned_channel": "email",
                                              "default_on": "2025-07-02", "rule": "thirty_days", "was": "2025-07-01"})
def _default_changed(v: View) -> str:
    day = v.day("default_on")
    channel = labels.channel_by(v.get("channel") or "")
    if day:
        return _("Sent %(channel)s instead: default now begins after %(day)s", channel=channel, day=day)
    return _("Sent %(channel)s instead: the customer is not in default yet", channel=channel)


def _message_name(v: View) -> str:
    message = v.ctx.messages.get(v.get("message_id"))
    if message is None:
        return _("Message")
    step = next((mi.step for mi in message.invoices if mi.invoice_id == v.event.invoice_id), None)
    if message.purpose == "dunning" and step:
        return step_label(step)
    return str(labels.PURPOSES.get(message.purpose, _("Message")))


@presents("message.sent", example={"message_id": 1, "channel": "email", "provider_id": "<x@localhost>"})
def _message_sent(v: View) -> str:
    return _("%(message)s sent %(channel)s", message=_message_name(v), channel=labels.channel_by(v.get("channel")))


@presents("message.fallback", example={"message_id": 1, "from": "email", "to": "letter", "error": "550 mailbox unknown"})
def _message_fallback(v: View) -> str:
    return _("%(message)s could not be delivered %(failed)s; it is sent %(next)s instead", message=_message_name(v),
             failed=labels.channel_by(v.get("from")), next=labels.channel_by(v.get("to")))


@presents("message.dead", example={"message_id": 1, "error": "no address"})
def _message_dead(v: View) -> str:
    return _("%(message)s could not be delivered on any channel", message=_message_name(v))


@presents("message.in_doubt", example={"message_id": 1, "channel": "email", "error": "in doubt: email: handed over"})
def _message_in_doubt(v: View) -> str:
    return _("%(message)s may have been delivered %(channel)s: the sending stopped before the answer was recorded; "
             "it is not sent again, the support address was notified", message=_message_name(v),
             channel=labels.channel_by(v.get("channel")))


@presents("message.cancelled", example={"message_id": 1, "reason": "paid"})
def _message_cancelled(v: View) -> str:
    return _("%(message)s not sent: no longer needed", message=_message_name(v))


@presents("link.opened")
def _link_opened(v: View) -> str:
    return _("Portal link opened")


@presents("link.requested", example={"matched": True, "channel": "email"})
def _link_requested(v: View) -> str:
    return _("New portal link requested")


@presents("page.viewed", example={"page": "pay"})
def _page_viewed(v: View) -> str:
    page = labels.PAGES.get(v.get("page") or "")
    return _("Looked at the page “%(page)s” in the portal", page=page) if page else _("Looked at the portal")


@presents("stepup.passed")
def _stepup_passed(v: View) -> str:
    return _("Identity confirmed in the portal")


@presents("stepup.failed")
def _stepup_failed(v: View) -> str:
    return _("Identity check in the portal failed")


@presents("payment.started", example={"method": "card", "invoices": ["RE-1"], "amount_minor": 4990, "currency": "EUR"})
def _payment_started(v: View) -> str:
    method = labels.PAY_METHODS.get(v.get("method") or "")
    if method and isinstance(v.data.get("amount_minor"), int):
        return _("Started to pay %(amount)s %(method)s", amount=v.money(), method=method)
    if method:
        return _("Started to pay %(method)s", method=method)
    return _("Started to pay")


@presents("payment.failed", example={"reason": "card_declined", "stripe_event": "evt_1"})
def _payment_failed(v: View) -> str:
    return _("Card payment failed")


@presents("payment.disputed", example={"dispute": "dp_1", "reason": "fraudulent", "amount_minor": 4990, "status": "needs_response"})
def _payment_disputed(v: View) -> str:
    if isinstance(v.data.get("amount_minor"), int):
        return _("Card payment of %(amount)s disputed at the customer’s bank", amount=v.money())
    return _("Card payment disputed at the customer’s bank")


@presents("payment.overpaid", example={"credit_minor": 1000, "currency": "EUR", "source": "bank", "ref": "E-1"})
def _overpaid(v: View) -> str:
    return _("Overpaid by %(amount)s (kept as a credit)", amount=v.money("credit_minor"))


@presents("payment.small_remainder", example={"amount_minor": 50, "currency": "EUR", "tolerance_minor": 100,
                                             "action": "write_off", "ref": "E-1"})
def _small_remainder(v: View) -> str:
    if v.data.get("action") == "staff":
        return pgettext("timeline credit", "Small remainder of %(amount)s (within the tolerance of %(tolerance)s): reminders paused, staff notified",
                        amount=v.money(), tolerance=v.money("tolerance_minor"))
    return pgettext("timeline credit", "Small remainder of %(amount)s written off (within the tolerance of %(tolerance)s, e.g. bank charges)",
                    amount=v.money(), tolerance=v.money("tolerance_minor"))


@presents("credit.refunded", example={"amount_minor": 1000, "currency": "EUR", "note": None})
def _credit_refunded(v: View) -> str:
    return pgettext("timeline credit", "Credit of %(amount)s refunded to the customer", amount=v.money())


@presents("credit.applied", example={"amount_minor": 1000, "currency": "EUR", "to_invoice": 2, "to_number": "RE-2"})
def _credit_applied(v: View) -> str:
    return pgettext("timeline credit", "Credit of %(amount)s set against invoice %(number)s", amount=v.money(),
                    number=v.get("to_number", ""))


@presents("payment.implausible", example={"amount_minor": 100000000, "currency": "EUR", "open_minor": 11900,
                                         "limit_minor": 11900, "source": "api", "ref": "PP-1"})
def _implausible(v: View) -> str:
    if v.get("booked"):
        return _("Payment of %(amount)s booked although far more than was open (staff notified)", amount=v.money())
    if v.get("source") == "bank":
        return _("Bank transfer of %(amount)s not booked: far more than is open; it waits to be assigned (staff notified)",
                 amount=v.money())
    return _("Payment of %(amount)s not booked: far more than is open (staff notified)", amount=v.money())


@presents("payment.assigned", example={"bank_entry": 1})
def _payment_assigned(v: View) -> str:
    return _("Bank payment assigned to this invoice by hand")


@presents("debtor.created")
def _debtor_created(v: View) -> str:
    return _("Customer created")


@presents("debtor.updated", example={"changed": {"email": ["a@example.de", "b@example.de"]}})
def _debtor_updated(v: View) -> str:
    fields = labels.field_list(v.get("changed") or ())
    return _("Customer details changed: %(fields)s", fields=fields) if fields else _("Customer details changed")


@presents("debtor.preferences_changed", example={"changed": ["preferred_channel"], "preferred_channel": "sms"})
def _preferences(v: View) -> str:
    fields = labels.field_list(v.get("changed") or ())
    return _("Customer changed their preferences: %(fields)s", fields=fields) if fields else _("Customer changed their preferences")


@presents("import.completed", example={"created": 20, "unchanged": 2, "rows": 22})
def _import_completed(v: View) -> str:
    return _("Invoice file imported: %(created)s new, %(unchanged)s unchanged", created=v.get("created", 0),
             unchanged=v.get("unchanged", 0))


@presents("upload.done", example={"job": 1, "file": "rechnungen.csv", "upload": "invoices", "created": 20})
def _upload_done(v: View) -> str:
    return _("Uploaded file %(file)s imported", file=v.get("file", ""))


@presents("upload.rejected", example={"job": 1, "file": "rechnungen.csv", "upload": "invoices", "problems": 3})
def _upload_rejected(v: View) -> str:
    return _("Uploaded file %(file)s rejected: %(count)s problem(s), nothing imported", file=v.get("file", ""),
             count=v.get("problems", 0))


@presents("upload.failed", example={"job": 1, "file": "rechnungen.csv", "upload": "invoices", "problems": 1})
def _upload_failed(v: View) -> str:
    return _("Import of the uploaded file %(file)s did not complete; nothing was booked", file=v.get("file", ""))


@presents("einvoice.warning", example={"term": "BT-10", "message": "buyer reference missing"})
def _einvoice_warning(v: View) -> str:
    if v.get("term"):
        return _("E-invoice accepted with a remark on business term %(term)s", term=v.get("term"))
    return _("E-invoice accepted with a remark")


# cases (disputes, installment plans, promises to pay)

@presents("case.dispute_opened", example={"reason": "damaged", "attachments": 1})
def _dispute_opened(v: View) -> str:
    from portal.cases.messages import REASONS

    reason = REASONS.get(v.get("reason") or "")
    return _("Customer disputes the invoice: “%(reason)s”", reason=reason) if reason else _("Customer disputes the invoice")


@presents("case.dispute_resolved", example={"full": True, "credits": {}})
def _dispute_resolved(v: View) -> str:
    return _("Dispute accepted in full") if v.get("full") else _("Dispute accepted in part")


@presents("case.dispute_rejected", example={"resume_on": "2026-02-01"})
def _dispute_rejected(v: View) -> str:
    day = v.day("resume_on")
    return _("Dispute rejected; reminders resume on %(day)s", day=day) if day else _("Dispute rejected")


@presents("case.plan_requested", example={"rates": 3, "first_due": "2026-02-01", "total_minor": 9000, "outside_rules": False})
def _plan_requested(v: View) -> str:
    day = v.day("first_due")
    if day and v.get("rates"):
        return _("Customer asks for an installment plan: %(rates)s installments from %(day)s", rates=v.get("rates"), day=day)
    return _("Customer asks for an installment plan")


@presents("case.plan_activated", example={"rates": [["2026-02-01", 3000], ["2026-03-01", 3000]]})
def _plan_activated(v: View) -> str:
    rates = v.get("rates") or []
    return _("Installment plan agreed: %(count)s installments", count=len(rates)) if rates else _("Installment plan agreed")


@presents("case.plan_countered", example={"rates": 4, "first_due": "2026-02-15"})
def _plan_countered(v: View) -> str:
    day = v.day("first_due")
    if day and v.get("rates"):
        return _("Counter-proposal sent: %(rates)s installments from %(day)s", rates=v.get("rates"), day=day)
    return _("Counter-proposal for the installment plan sent")


@presents("case.plan_rejected")
def _plan_rejected(v: View) -> str:
    return _("Installment plan declined")


@presents("case.plan_broken", example={"missed_rate": 2, "due_on": "2026-03-01", "paid_minor": 0})
def _plan_broken(v: View) -> str:
    day = v.day("due_on")
    if day and v.get("missed_rate"):
        return _("Installment plan ended: installment %(number)s due on %(day)s was not paid", number=v.get("missed_rate"), day=day)
    return _("Installment plan ended: an installment was not paid")


@presents("case.plan_completed")
def _plan_completed(v: View) -> str:
    return _("Installment plan paid in full")


@presents("case.promise_made", example={"promised_on": "2026-02-01"})
def _promise_made(v: View) -> str:
    day = v.day("promised_on")
    return _("Customer promises to pay by %(day)s", day=day) if day else _("Customer promises to pay")


@presents("case.promise_broken", example={"promised_on": "2026-02-01"})
def _promise_broken(v: View) -> str:
    day = v.day("promised_on")
    return _("Promise to pay by %(day)s not kept", day=day) if day else _("Promise to pay not kept")


@presents("case.promise_completed")
def _promise_completed(v: View) -> str:
    return _("Promise to pay kept")


@presents("case.dispute_completed")
def _dispute_completed(v: View) -> str:
    return _("Dispute closed: the invoice is settled")


@presents("case.note", example={"note_id": 1})
def _case_note(v: View) -> str:
    return _("Internal note added")


@presents("case.reply", example={"note_id": 1})
def _case_reply(v: View) -> str:
    return _("Reply sent to the customer")


@presents("case.debtor_message")
def _case_debtor_message(v: View) -> str:
    return _("Customer wrote a message")


@presents("case.assigned", example={"user_id": 1})
def _case_assigned(v: View) -> str:
    user = v.ctx.users.get(v.get("user_id"))
    if user is not None:
        return _("Request assigned to %(name)s", name=user.name or user.email)
    return _("Request assigned")


@presents("request.plan")
def _request_plan(v: View) -> str:
    return _("Customer asks for an installment plan")


@presents("request.promise")
def _request_promise(v: View) -> str:
    return _("Customer promises to pay")


@presents("request.dispute")
def _request_dispute(v: View) -> str:
    return _("Customer disputes the invoice")


@presents("request.question")
def _request_question(v: View) -> str:
    return _("Customer asks a question in the portal")


@presents("case.question_asked")
def _question_asked(v: View) -> str:
    return _("Customer asks a question")


@presents("case.question_answered", example={"note_id": 1})
def _question_answered(v: View) -> str:
    return _("Question answered")


@presents("case.question_reopened")
def _question_reopened(v: View) -> str:
    return _("Customer wrote again; the question is open again")


# staff actions (the audit trail)

def _staff(kind: str, text: Callable[[View], str], example: dict | None = None) -> None:
    presents(kind, example=example)(text)


def _base_rate_set(v: View) -> str:
    from portal.i18n import format_percent_number

    day, rate = v.day("valid_from"), v.get("rate")
    if day and rate is not None:
        return _("Base rate (§ 247 BGB) for the half-year from %(day)s entered: %(rate)s %%", day=day,
                 rate=format_percent_number(rate))
    return _("Base rate (§ 247 BGB) entered")


_staff("staff.base_rate.set", _base_rate_set, {"valid_from": "2026-07-01", "rate": "1.27", "previous": None})
_staff("staff.login", lambda v: _("Signed in to the back office"), {"ip": "127.0.0.1"})
_staff("staff.login_failed", lambda v: _("Failed attempt to sign in"), {"ip": "127.0.0.1"})
_staff("staff.user.create", lambda v: _("Staff account %(email)s created", email=v.get("email", "")) if v.get("email")
       else _("Staff account created"), {"user_id": 2, "email": "anna@example.de", "role": "support"})
_staff("staff.user.update", lambda v: _("Staff account %(email)s changed", email=v.get("email", "")) if v.get("email")
       else _("Staff account changed"), {"user_id": 2, "email": "anna@example.de", "active": False})
_staff("staff.user.password_changed", lambda v: _("Password changed"), {"user_id": 2})
_staff("staff.settings.update", lambda v: _("Shop settings changed"), {"changed": ["name"]})
_staff("staff.texts.update", lambda v: _("Message texts changed (version %(version)s)", version=v.get("version", "")),
       {"kind": "first_notice", "language": "de", "version": 2, "action": "save"})
_staff("staff.policy.saved", lambda v: _("Dunning policy “%(group)s” saved as version %(version)s", group=v.get("group", ""),
                                         version=v.get("version", "")),
       {"group": "Standard", "group_id": 1, "version": 2, "previous_version": 1, "changed": ["steps"]})
_staff("staff.invoice.policy_moved", lambda v: (
    _("Moved from the dunning policy “%(old)s” (version %(old_v)s) to “%(new)s” (version %(new_v)s)", old=v.get("from"),
      old_v=v.get("from_version"), new=v.get("to", ""), new_v=v.get("to_version", ""))
    if v.get("from") else _("Put under the dunning policy “%(new)s” (version %(new_v)s)", new=v.get("to", ""),
                            new_v=v.get("to_version", ""))),
       {"from": "Standard", "from_version": 1, "to": "Ältere Kundschaft", "to_version": 2, "level": 2,
        "next_action_on": "2026-02-01"})
_staff("staff.bank_statement.imported", lambda v: _("Bank statement %(file)s imported: %(booked)s payments booked",
                                                   file=v.get("file", ""), booked=v.get("booked", 0)),
       {"file": "camt.xml", "booked": 3})
_staff("staff.settings.logo", lambda v: _("Logo removed") if v.get("action") == "removed" else _("New logo uploaded"),
       {"action": "uploaded", "bytes": 20480})
_staff("staff.upload.queued", lambda v: _("File %(file)s uploaded for import", file=v.get("file", "")),
       {"job": 1, "file": "rechnungen.csv", "upload": "invoices", "bytes": 2048})
_staff("staff.bank_entry.assigned", lambda v: _("Bank payment of %(amount)s assigned by hand", amount=v.money()),
       {"bank_entry": 1, "amount_minor": 4990})
_staff("staff.case.assign", lambda v: _("Request assigned"), {"case_id": 1, "user_id": 2})
_staff("staff.case.note", lambda v: _("Internal note added"), {"case_id": 1})
_staff("staff.case.reply", lambda v: _("Reply sent to the customer"), {"case_id": 1})
_staff("staff.plan.approve", lambda v: _("Installment plan approved"), {"case_id": 1})
_staff("staff.plan.counter", lambda v: _("Counter-proposal for the installment plan sent"), {"case_id": 1, "rates": "3"})
_staff("staff.plan.reject", lambda v: _("Installment plan declined"), {"case_id": 1})
_staff("staff.dispute.resolve", lambda v: _("Dispute accepted"), {"case_id": 1})
_staff("staff.dispute.reject", lambda v: _("Dispute rejected"), {"case_id": 1})
_staff("staff.invoice.cancel", lambda v: _("Invoice cancelled (reason: %(reason)s)", reason=v.get("reason")) if v.get("reason")
       else _("Invoice cancelled"), {"reason": "Doppelt erfasst"})
_staff("staff.invoice.correct", lambda v: _("Invoice amount corrected to %(amount)s", amount=v.money()),
       {"amount_minor": 9900, "note": "Rabatt"})
_staff("staff.attachment.download", lambda v: _("Attachment of a request downloaded"), {"attachment_id": 1, "case_id": 1})
_staff("staff.letters.batch_download", lambda v: _("Letters of %(day)s downloaded for printing (%(count)s)",
                                                  day=v.day("day") or "–", count=v.get("letters", 0)),
       {"day": "2026-01-15", "letters": 4})
_staff("staff.payment.record", lambda v: _("Payment of %(amount)s recorded", amount=v.money()),
       {"amount_minor": 4990, "currency": "EUR", "received_on": "2026-01-10", "reference": "Bar"})
_staff("staff.invoice.write_off", lambda v: _("Remaining %(amount)s written off", amount=v.money()),
       {"amount_minor": 250, "currency": "EUR", "reason": "Kleinbetrag"})
_staff("staff.dunning.pause", lambda v: _("Reminders paused until %(day)s: %(note)s", day=v.day("until"), note=v.get("note", ""))
       if v.day("until") else _("Reminders paused: %(note)s", note=v.get("note") or _("no reason given")),
       {"until": "2026-02-01", "note": "Kunde im Urlaub"})
_staff("staff.dunning.resume", lambda v: _("Reminders resumed"), {"next_action_on": "2026-02-10"})
_staff("staff.credit.refund", lambda v: pgettext("timeline credit", "Refund of the credit (%(amount)s) recorded", amount=v.money()),
       {"amount_minor": 1000, "currency": "EUR", "note": "überwiesen"})
_staff("staff.credit.apply", lambda v: pgettext("timeline credit", "Credit of %(amount)s set against invoice %(number)s",
                                                amount=v.money(), number=v.get("to_number", "")),
       {"amount_minor": 1000, "currency": "EUR", "to_invoice": 2, "to_number": "RE-2"})
_staff("staff.message.resend", lambda v: _("%(step)s sent again %(channel)s", step=step_label(v.get("step")),
                                           channel=labels.channel_by(v.get("channel"))),
       {"message_id": 1, "step": "notice_1", "channel": "letter"})
_staff("staff.links.send", lambda v: _("New portal link sent %(channel)s", channel=labels.channel_by(v.get("channel")))
       if v.get("channel") else _("New portal link sent"), {"debtor_id": 1, "message_id": 1, "channel": "email"})
_staff("staff.links.revoke", lambda v: _("All earlier portal links revoked; a new link was sent") if v.get("new_link_sent")
       else _("All portal links revoked"), {"debtor_id": 1, "new_link_sent": True})
_staff("staff.debtor.view_as_customer", lambda v: _("Looked at the portal as the customer sees it"), {"debtor_id": 1})
_staff("staff.api_key.create", lambda v: _("API key “%(name)s” created", name=v.get("name", "")) if v.get("name")
       else _("API key created"), {"key_id": 1, "prefix": "stl_1a2b3c4d", "name": "Shopware"})
_staff("staff.api_key.revoke", lambda v: _("API key “%(name)s” revoked", name=v.get("name", "")) if v.get("name")
       else _("API key revoked"), {"key_id": 1, "prefix": "stl_1a2b3c4d", "name": "Shopware"})
_staff("staff.audit_log.export", lambda v: _("Audit log exported as CSV"), {"rows": 12})
_staff("staff.invoices.export", lambda v: _("Open items exported as CSV"), {"filters": {"status": "open"}})
_staff("staff.handover.export", lambda v: _("Export %(number)s for the collection agency: %(claims)s new claims, %(changes)s changes since earlier exports",
                                            number=v.get("export_id", ""), claims=v.get("claims", 0), changes=v.get("supplements", 0))
       if v.get("export_id") else _("Handed-over claims exported (%(count)s)", count=v.get("claims", 0)),
       {"export_id": 3, "claims": 2, "supplements": 1})
presents("handover.exported", example={"export_id": 3, "claims": 2, "supplements": 1})(
    lambda v: _("Export %(number)s for the collection agency written on the command line: %(claims)s new claims, %(changes)s changes since earlier exports",
                number=v.get("export_id", ""), claims=v.get("claims", 0), changes=v.get("supplements", 0)))
_staff("staff.settings.agency", lambda v: _("Collection agency details changed"), {"changed": ["name"], "payee": "agency"})
_staff("staff.webhook.create", lambda v: _("Webhook endpoint %(url)s registered", url=v.get("url", "")),
       {"endpoint_id": 1, "url": "https://erp.example/hooks", "events": ["invoice.paid"]})
_staff("staff.webhook.resend", lambda v: _("Webhook delivery sent again"), {"endpoint_id": 1, "delivery_id": 2, "webhook_id": "wh_1"})
_staff("staff.webhook.enable", lambda v: _("Webhook endpoint enabled"), {"endpoint_id": 1})
_staff("staff.webhook.disable", lambda v: _("Webhook endpoint disabled"), {"endpoint_id": 1})
presents("webhook.disabled", example={"endpoint_id": 1, "url": "https://erp.example/hooks", "reason": "failing"})(
    lambda v: _("Webhook endpoint %(url)s disabled because deliveries kept failing; the administrators were emailed",
                url=v.get("url", "")))


# -- building a timeline -------------------------------------------------------------------------

def _links(event, view: View) -> list[Link]:
    links = []
    message_id = view.merged_message.id if view.merged_message is not None else view.get("message_id")
    if isinstance(message_id, int) and message_id in view.ctx.messages:
        links.append(Link(_("Message as sent"), url_for("office.message_detail", message_id=message_id)))
    if isinstance(view.get("case_id"), int):
        links.append(Link(_("Request"), url_for("office.case_detail", case_id=view.get("case_id"))))
    return links


def _details(event) -> list[tuple[str, str]]:
    rows = [(_("Event"), event.kind), (_("Recorded by"), event.actor or "")]
    for key, value in sorted((event.data or {}).items()):
        rows.append((key, str(value)))
    return rows


ECHO_WINDOW = timedelta(seconds=5)  # a staff action's audit row is written with its act, within this time


def _is_echo(event, primary) -> bool:
    """Whether `event` is a second record of what `primary` records (the same act, stored twice)."""
    if event.kind.startswith("request.") and primary.kind.startswith("case."):
        return (event.data or {}).get("case_id") is not None and (primary.data or {}).get("case_id") == (event.data or {}).get("case_id")
    if event.kind.startswith("staff.") and not primary.kind.startswith("staff."):
        return (primary.actor == event.actor and primary.invoice_id == event.invoice_id
                and abs((primary.occurred_at - event.occurred_at)) <= ECHO_WINDOW)
    return False


class _EchoIndex:
    """Which events `_is_echo` pairs, found through the keys the rule needs (invoice and case, invoice and actor)
    instead of comparing every event with every other one: a timeline of thousands of events costs what its
    events cost, not their square."""

    def __init__(self, events: list):
        self.position = {id(e): n for n, e in enumerate(events)}
        self.cases: dict = {}      # (invoice, case id) -> case.* events: primaries of request.* echoes
        self.requests: dict = {}   # (invoice, case id) -> request.* events
        self.acts: dict = {}       # (invoice, actor) -> events not staff.*: primaries of staff.* echoes
        self.staff: dict = {}      # (invoice, actor) -> staff.* events
        for e in events:
            case_id = (e.data or {}).get("case_id")
            if e.kind.startswith("case.") and case_id is not None:
                self.cases.setdefault((e.invoice_id, case_id), []).append(e)
            if e.kind.startswith("request.") and case_id is not None:
                self.requests.setdefault((e.invoice_id, case_id), []).append(e)
            (self.staff if e.kind.startswith("staff.") else self.acts).setdefault((e.invoice_id, e.actor), []).append(e)

    def _candidates(self, e, as_echo: bool) -> list:
        case_id = (e.data or {}).get("case_id")
        found = []
        if as_echo:
            if e.kind.startswith("request.") and case_id is not None:
                found += self.cases.get((e.invoice_id, case_id), ())
            if e.kind.startswith("staff."):
                found += self.acts.get((e.invoice_id, e.actor), ())
        else:
            if e.kind.startswith("case.") and case_id is not None:
                found += self.requests.get((e.invoice_id, case_id), ())
            if not e.kind.startswith("staff."):
                found += self.staff.get((e.invoice_id, e.actor), ())
        return found

    def has_primary(self, e) -> bool:
        return any(p is not e and _is_echo(e, p) for p in self._candidates(e, as_echo=True))

    def echoes_of(self, e) -> list:
        found = [x for x in self._candidates(e, as_echo=False) if x is not e and _is_echo(x, e)]
        return sorted(found, key=lambda x: self.position[id(x)])


def build(events: Iterable, ctx: Context) -> list[Entry]:
    """Entries oldest first, one per thing that happened (echoes and sent-notices merged into their act)."""
    events = sorted(events, key=lambda e: (e.occurred_at, e.id or 0))
    by_invoice: dict[int | None, list] = {}
    for e in events:
        by_invoice.setdefault(e.invoice_id, []).append(e)
    # A sent dunning message belongs to the step it carries: absorbed there, not listed again.
    absorbed: dict[int, object] = {}  # event id of the dunning.step -> message
    dropped: set[int] = set()
    for e in events:
        if e.kind == "message.sent":
            message = ctx.messages.get((e.data or {}).get("message_id"))
            if message is None or message.purpose != "dunning":
                continue
            steps = {mi.step for mi in message.invoices if mi.invoice_id == e.invoice_id}
            step_event = next((s for s in by_invoice.get(e.invoice_id, ()) if s.kind == "dunning.step"
                               and (s.data or {}).get("step") in steps), None)
            if step_event is not None:
                absorbed[step_event.id] = message
                dropped.add(e.id)
    echo_pairs = _EchoIndex(events)
    entries: list[Entry] = []
    for e in events:
        if e.id in dropped:
            continue
        if echo_pairs.has_primary(e):
            continue
        view = View(e, ctx)
        echoes = echo_pairs.echoes_of(e)
        for echo in echoes:  # what staff typed with the act (a note) belongs to its sentence
            for key, value in (echo.data or {}).items():
                view.data.setdefault(key, value)
        if e.kind == "dunning.step":
            view.merged_message = absorbed.get(e.id) or _step_message(e, ctx)
        fn = PRESENTERS.get(e.kind)
        text = fn(view) if fn is not None else _("Something was recorded (technical details below).")
        details = _details(e)
        for echo in echoes:
            details += _details(echo)
        entries.append(Entry(at=e.occurred_at, kind=e.kind, sentence=text, actor=present_actor(e.actor, ctx, e.data),
                             links=_links(e, view), details=details, event_ids=[e.id], invoice_id=e.invoice_id))
    return entries


def _step_message(event, ctx: Context):
    step = (event.data or {}).get("step")
    return ctx.step_messages.get((event.invoice_id, step)) if step else None


def load_context(merchant_id: int, events: list, currency: str = "EUR") -> Context:
    """Everything the presenters of these events look up, in a handful of queries."""
    from sqlalchemy import select

    from portal.extensions import db
    from portal.models import Invoice, LedgerEntry, Message, MessageInvoice, User

    ctx = Context(currency=currency)
    user_ids = {int(e.actor.split(":", 1)[1]) for e in events if (e.actor or "").startswith("user:") and e.actor[5:].isascii() and e.actor[5:].isdigit()}
    user_ids |= {e.data["user_id"] for e in events if isinstance((e.data or {}).get("user_id"), int)}
    if user_ids:
        ctx.users = {u.id: u for u in db.session.execute(
            select(User).where(User.merchant_id == merchant_id, User.id.in_(user_ids))).scalars()}
    invoice_ids = {e.invoice_id for e in events if e.invoice_id}
    message_ids = {e.data["message_id"] for e in events if isinstance((e.data or {}).get("message_id"), int)}
    if invoice_ids:
        rows = db.session.execute(
            select(MessageInvoice.invoice_id, MessageInvoice.step, MessageInvoice.message_id)
            .join(Message, Message.id == MessageInvoice.message_id)
            .where(Message.merchant_id == merchant_id, MessageInvoice.invoice_id.in_(invoice_ids))
        ).all()
        message_ids |= {r.message_id for r in rows}
    if message_ids:
        ctx.messages = {m.id: m for m in db.session.execute(
            select(Message).where(Message.merchant_id == merchant_id, Message.id.in_(message_ids))).scalars()}
    if invoice_ids:
        for r in rows:
            if r.message_id in ctx.messages:
                ctx.step_messages[(r.invoice_id, r.step)] = ctx.messages[r.message_id]
        refs = {(e.data or {}).get("external_ref") for e in events if e.kind == "ledger.payment"
                and (e.data or {}).get("source") == "bank"}
        refs.discard(None)
        if refs:
            ctx.bank_days = {ref: day for ref, day in db.session.execute(
                select(LedgerEntry.external_ref, LedgerEntry.booked_on)
                .where(LedgerEntry.merchant_id == merchant_id, LedgerEntry.source == "bank", LedgerEntry.external_ref.in_(refs))
            ).all()}
        ctx.invoice_numbers = dict(db.session.execute(
            select(Invoice.id, Invoice.number).where(Invoice.merchant_id == merchant_id, Invoice.id.in_(invoice_ids))).all())
    return ctx


def for_invoice(invoice) -> list[Entry]:
    """The timeline of one invoice."""
    return for_invoices(invoice.merchant_id, [invoice])


def for_invoices(merchant_id: int, invoices: list) -> list[Entry]:
    """One timeline of several invoices (a case's), each entry knowing its invoice."""
    from sqlalchemy import select

    from portal.extensions import db
    from portal.models import Event

    ids = [inv.id for inv in invoices]
    if not ids:
        return []
    events = db.session.execute(
        select(Event).where(Event.merchant_id == merchant_id, Event.invoice_id.in_(ids))
        .order_by(Event.occurred_at, Event.id)
    ).scalars().all()
    return build(events, load_context(merchant_id, events, invoices[0].currency))


TIMELINE_PAGE = 50


@dataclass
class TimelinePage:
    """Entries of one invoice newest first, and the cursor of the entries before them (None: there are none)."""

    entries: list[Entry]
    earlier: str | None


def encode_timeline_cursor(event) -> str:
    at = event.occurred_at
    at = (at.astimezone(timezone.utc) if at.tzinfo else at).replace(tzinfo=None)
    raw = json.dumps([at.isoformat(), event.id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_timeline_cursor(token: str | None) -> tuple[datetime, int] | None:
    """(time in UTC, event id) of the oldest event shown so far; None for a missing or hand-edited cursor."""
    if not token:
        return None
    try:
        at, event_id = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not isinstance(at, str) or not isinstance(event_id, int) or isinstance(event_id, bool):
            return None
        return datetime.fromisoformat(at).replace(tzinfo=timezone.utc), event_id
    except (ValueError, TypeError):
        return None


def for_invoice_page(invoice, before: str | None = None, size: int = TIMELINE_PAGE) -> TimelinePage:
    """The newest `size` events of an invoice (or those before the cursor) as entries, newest first.

    An invoice can gather hundreds of events (its portal link opened again and again): the page reads and words one
    page of them, never all. The merging that `build` does still sees what it needs beyond the page's edges: the
    events within ECHO_WINDOW of either edge (an echo stored with its act may fall just across) and the invoice's
    dunning steps (a sent message is absorbed into its step even when the step is on an earlier page). Each entry is
    shown on the page of its own (primary) event, so walking the pages shows every entry exactly once."""
    from sqlalchemy import and_, or_, select

    from portal.extensions import db
    from portal.models import Event

    of_invoice = select(Event).where(Event.merchant_id == invoice.merchant_id, Event.invoice_id == invoice.id)
    page = of_invoice
    cursor = decode_timeline_cursor(before)
    if cursor is not None:
        at, event_id = cursor
        page = page.where(or_(Event.occurred_at < at, and_(Event.occurred_at == at, Event.id < event_id)))
    shown = db.session.execute(page.order_by(Event.occurred_at.desc(), Event.id.desc()).limit(size + 1)).scalars().all()
    more = len(shown) > size
    shown = shown[:size]
    if not shown:
        return TimelinePage([], None)
    newest, oldest = shown[0].occurred_at, shown[-1].occurred_at
    around = db.session.execute(of_invoice.where(or_(
        and_(Event.occurred_at >= oldest - ECHO_WINDOW, Event.occurred_at <= oldest),
        and_(Event.occurred_at >= newest, Event.occurred_at <= newest + ECHO_WINDOW),
        Event.kind == "dunning.step",
    ))).scalars().all()
    events = {e.id: e for e in around}
    events.update((e.id, e) for e in shown)
    ids = {e.id for e in shown}
    entries = [entry for entry in build(events.values(), load_context(invoice.merchant_id, list(events.values()), invoice.currency))
               if entry.event_ids[0] in ids]
    entries.reverse()
    return TimelinePage(entries, encode_timeline_cursor(shown[-1]) if more else None)


def for_debtor(debtor, limit: int = 500) -> list[Entry]:
    """What happened to one customer and their invoices, newest events first limited to `limit`."""
    from sqlalchemy import select

    from portal.extensions import db
    from portal.models import Event

    events = db.session.execute(
        select(Event).where(Event.merchant_id == debtor.merchant_id, Event.debtor_id == debtor.id)
        .order_by(Event.occurred_at.desc(), Event.id.desc()).limit(limit)
    ).scalars().all()
    return build(events, load_context(debtor.merchant_id, events))
