"""The simulator page (`/office/simulator`, all staff): the next 120 days of an invoice, a customer,
a customer group or a what-if invoice, and what changes when the customer acts on day N.

A plain GET form (a simulation writes nothing, so the result is a page one can bookmark and
reload); the work is `portal.simulator.engine.simulate`, i.e. the real run and worker inside
a transaction that is rolled back. Sentences come from the timeline's presenters.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from types import SimpleNamespace

from flask import g, render_template, request
from flask_babel import gettext as _
from flask_babel import pgettext
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from sqlalchemy import select

from portal import timeline as presenters
from portal.clock import today_for
from portal.domain.money import MoneyError, parse_minor
from portal.simulator import engine as sim
from portal.dunning.labels import DEFAULT_RULES
from portal.extensions import db
from portal.i18n import CHANNELS, format_day, format_minor, status_label
from portal.models import Debtor, Invoice, Policy
from portal.office import bp, register_nav
from portal.office.texts import LANGUAGE_LABELS as LANGUAGES

register_nav("office.simulator", lazy_pgettext("simulator", "Simulator"))

MODES = {
    "invoice": _l("An invoice"),
    "debtor": _l("A customer (all open invoices)"),
    "group": _l("A customer group"),
    "whatif": _l("A what-if invoice"),
}
ACTIONS = {
    "": lazy_pgettext("simulator", "does nothing"),
    "open_link": _l("opens the link in the message"),
    "promise": _l("promises to pay by a date"),
    "pay_half": _l("pays half of the open amount"),
}
KINDS = {"person": lazy_pgettext("simulator", "Consumer"), "business": lazy_pgettext("simulator", "Business customer")}


@dataclass
class Line:
    """One line of the day-by-day list as a person reads it."""

    text: str
    invoices: str = ""
    detail: str = ""
    change: str = ""  # "added" / "dropped" in the what-if comparison


@dataclass
class Form:
    mode: str = "invoice"
    number: str = ""
    customer: str = ""
    group: str = ""
    amount: str = "250,00"
    kind: str = "person"
    age: str = "45"
    language: str = "de"
    channel: str = "email"
    due: str = "7"
    action: str = ""
    day: str = "14"
    promise_days: str = "10"
    errors: dict = field(default_factory=dict)

    @classmethod
    def from_args(cls, args) -> "Form":
        form = cls()
        for name in ("mode", "number", "customer", "group", "amount", "kind", "age", "language", "channel", "due",
                     "action", "day", "promise_days"):
            if name in args:
                setattr(form, name, args.get(name, "").strip()[:80])
        return form


def _int(form: Form, name: str, low: int, high: int, message: str) -> int | None:
    try:
        value = int(getattr(form, name))
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        form.errors[name] = message
        return None
    return value


def _target(form: Form) -> dict | None:
    """The keyword arguments of `simulate` for the form, or None with `form.errors` filled."""
    m = g.merchant.id
    if form.mode == "invoice":
        invoice = db.session.execute(select(Invoice).where(Invoice.merchant_id == m, Invoice.number == form.number)
                                     ).scalar_one_or_none()
        if invoice is None:
            form.errors["number"] = _("No invoice with this number.")
        elif invoice.status != "open":
            form.errors["number"] = _("This invoice is no longer open (%(status)s): nothing more happens to it.",
                                      status=status_label(invoice.status))
        else:
            return {"invoice_ids": [invoice.id]}
    elif form.mode == "debtor":
        debtor = db.session.execute(select(Debtor).where(Debtor.merchant_id == m, Debtor.external_ref == form.customer)
                                    ).scalar_one_or_none()
        if debtor is None:
            form.errors["customer"] = _("No customer with this customer number.")
        else:
            return {"debtor_id": debtor.id}
    elif form.mode == "group":
        policy = db.session.execute(select(Policy).where(Policy.merchant_id == m, Policy.id == _as_int(form.group))
                                    ).scalar_one_or_none()
        if policy is None:
            form.errors["group"] = _("Please choose a customer group.")
        else:
            return {"policy_id": policy.id}
    elif form.mode == "whatif":
        try:
            amount = parse_minor(form.amount, "EUR")
        except (MoneyError, ValueError, ArithmeticError):
            amount = None
        if amount is None or not 1 <= amount <= 10_000_000_00:
            form.errors["amount"] = _("Please enter an amount between 0,01 € and 10.000.000,00 €.")
        age = _int(form, "age", 18, 110, _("Please enter an age between 18 and 110.")) if form.kind == "person" else None
        due = _int(form, "due", -365, 90, _("Please enter between -365 and 90 days."))
        for name, allowed in (("kind", KINDS), ("language", LANGUAGES), ("channel", CHANNELS)):
            if getattr(form, name) not in allowed:
                form.errors[name] = _("Please choose one of the options.")
        if not form.errors:
            return {"hypothetical": sim.Hypothetical(amount_minor=amount, kind=form.kind, age=age, language=form.language,
                                                     channel=form.channel, due_in_days=due)}
    else:
        form.errors["mode"] = _("Please choose what to simulate.")
    return None


def _as_int(value: str) -> int:
    return int(value) if value.isascii() and value.isdigit() else -1


def _what_if(form: Form) -> sim.WhatIf | None:
    if form.action not in ACTIONS:
        form.errors["action"] = _("Please choose one of the options.")
        return None
    if not form.action:
        return None
    day = _int(form, "day", 0, sim.DAYS - 1, _("Please enter a day between 0 and %(last)s.", last=sim.DAYS - 1))
    promise_days = 10
    if form.action == "promise":
        promise_days = _int(form, "promise_days", 1, g.merchant.promise_max_days,
                            _("Your customers may promise a date up to %(days)s days ahead.", days=g.merchant.promise_max_days))
    if day is None or promise_days is None:
        return None
    return sim.WhatIf(form.action, day, promise_days)


# -- sentences ------------------------------------------------------------------------------------


def _event(kind: str, data: dict, entry: sim.Entry) -> str:
    message = SimpleNamespace(purpose=entry.purpose, invoices=[SimpleNamespace(invoice_id=0, step=entry.step)])
    ctx = presenters.Context(currency=entry.currency, messages={data.get("message_id"): message})
    return presenters.sentence(SimpleNamespace(kind=kind, data=data, invoice_id=0), ctx)


def describe(entry: sim.Entry) -> Line:
    invoices = ", ".join(entry.invoices)
    if entry.kind == "message":
        text = _event("message.sent", {"message_id": 0, "channel": entry.channel}, entry)
        detail = entry.subject or ""
        if entry.channel == "sms" and entry.data.get("sms"):
            detail = entry.data["sms"]
        return Line(text, invoices, detail)
    if entry.kind in ("fee", "interest"):
        return Line(_event(f"ledger.{entry.kind}", {"amount_minor": entry.amount_minor, "currency": entry.currency}, entry),
                    invoices)
    if entry.kind == "default":
        rule = DEFAULT_RULES.get(entry.default_rule or "")
        text = _("In default from %(day)s; default interest from %(next)s", day=format_day(entry.default_on),
                 next=format_day(entry.default_on + timedelta(days=1)))
        return Line(text, invoices, str(rule) if rule else "")
    if entry.kind == "handover":
        return Line(_event("invoice.handed_over", {}, entry), invoices)
    return Line(_event(entry.event_kind, entry.data, entry), invoices)


def _days(timeline: sim.Timeline, added=(), dropped=()) -> list[dict]:
    added_keys = {e.key() for e in added}
    out = {}
    for entry in list(timeline.entries) + list(dropped):
        line = describe(entry)
        if entry in dropped:
            line.change = "dropped"
        elif entry.key() in added_keys:
            line.change = "added"
        out.setdefault(entry.on, []).append(line)
    return [{"on": day, "number": (day - timeline.start).days, "lines": lines} for day, lines in sorted(out.items())]


def _summary(timeline: sim.Timeline) -> list[dict]:
    rows = []
    for number, o in sorted(timeline.invoices.items()):
        rows.append({
            "number": number,
            "open_start": format_minor(o.open_minor_start, o.currency),
            "fees": format_minor(o.fees_minor, o.currency),
            "interest": format_minor(o.interest_minor, o.currency),
            "default_on": format_day(o.default_on) if o.default_on else pgettext("simulator", "not in default"),
            "handover_on": format_day(o.handover_on) if o.handover_on else pgettext("simulator", "no handover"),
            "open_end": format_minor(o.open_minor_end, o.currency) if o.status_end in ("open", "handed_over")
            else status_label(o.status_end),
        })
    return rows


@bp.get("/simulator")
def simulator():
    form = Form.from_args(request.args)
    groups = db.session.execute(select(Policy.id, Policy.name).where(Policy.merchant_id == g.merchant.id)
                                .order_by(Policy.priority, Policy.id)).all()
    result = None
    status = 200
    if request.args.get("run"):
        target = _target(form)
        what_if = _what_if(form)
        if target is not None and not form.errors:
            merchant_id, start = g.merchant.id, today_for(g.merchant.timezone)
            # End this request's transaction before the simulation takes the write lock, and touch none of its
            # objects until the simulation is done: reading an expired attribute would begin a new transaction
            # (on SQLite BEGIN IMMEDIATE, the write lock the simulation's own connection then waits for).
            db.session.commit()
            try:
                baseline = sim.simulate(merchant_id, start=start, **target)
                variant = sim.simulate(merchant_id, start=start, what_if=what_if, **target) if what_if else None
            except sim.SimulationError as exc:
                form.errors["action" if exc.code.startswith("promise") else "mode"] = _message(exc)
            else:
                result = _result(baseline, variant, form)
        if form.errors:
            status = 422
    return render_template("office/simulator.html", form=form, groups=groups, modes=MODES, actions=ACTIONS, kinds=KINDS,
                           languages=LANGUAGES, channels=CHANNELS, result=result, days=sim.DAYS), status


def _message(exc: sim.SimulationError) -> str:
    if exc.code == "promise_promise_out_of_range":
        return _("The promised date must lie between %(earliest)s and %(latest)s.",
                 earliest=format_day(exc.details["earliest"]), latest=format_day(exc.details["latest"]))
    if exc.code.startswith("promise"):
        return _("The customer could not promise a date on that day (nothing is open any more).")
    return _("The what-if invoice is not valid; please check amount, age and due date.")


def _result(baseline: sim.Timeline, variant: sim.Timeline | None, form: Form) -> dict:
    result = {"start": baseline.start, "end": baseline.end, "invoices": len(baseline.invoices),
              "summary": _summary(baseline), "days": _days(baseline), "what_if": None}
    if variant is not None:
        added, dropped = sim.changes(baseline, variant)
        day = baseline.start + timedelta(days=variant.what_if.day)
        result["what_if"] = {
            "label": _("If the customer %(action)s on day %(n)s (%(day)s)", action=ACTIONS[form.action],
                       n=variant.what_if.day, day=format_day(day)),
            "summary": _summary(variant), "days": _days(variant, added, dropped), "changed": sim.changes_course(added, dropped),
        }
    return result
