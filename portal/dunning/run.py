"""The dunning run: every open invoice whose next action day has come, as of a given day.

Work is done per batch of debtors, one transaction per batch: the charges (ledger),
the outbox messages, the escalation advance and the events of a batch commit together
or not at all, so a run interrupted half-way and started again neither loses nor
doubles a step. A repeated run for the same day finds nothing due (every taken step
moved its invoice's next action day forward). All of one debtor's invoices due on the
day are in the same batch and go out as one message.
"""
from __future__ import annotations

import hashlib
from array import array
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import func, select

from portal import ledger
from portal.clock import today_for
from portal.domain import charges as law
from portal.domain import default as law_default
from portal.domain import dunning as rules
from portal.domain.calendar import legal_calendar
from portal.dunning import base_rates, bulk
from portal.dunning import interest as held_back
from portal.dunning.escalation import group_rule, step_rules
from portal.extensions import db
from portal.messaging import outbox
from portal.models import Debtor, Event, Invoice, LedgerEntry, Merchant, Policy
from portal.models.invoice import CHARGE_KINDS
from portal.transactions import writing

ACTOR = "system:dunning"
BATCH_DEBTORS = 500

# What planning needs of a debtor (a Core row, not an ORM object: no identity map, no lazy loads).
_DEBTOR_COLUMNS = (
    Debtor.id, Debtor.merchant_id, Debtor.kind, Debtor.date_of_birth, Debtor.language, Debtor.preferred_channel,
    Debtor.email, Debtor.consent_email, Debtor.phone, Debtor.consent_sms, Debtor.street, Debtor.postal_code, Debtor.city,
)

_INVOICE_COLUMNS = (
    Invoice.id, Invoice.debtor_id, Invoice.number, Invoice.issue_date, Invoice.due_date, Invoice.currency,
    Invoice.amount_minor, Invoice.open_minor, Invoice.order_ref, Invoice.dunning_level, Invoice.dunning_step,
    Invoice.paused_reason, Invoice.default_on, Invoice.default_rule, Invoice.dunning_policy_id, Invoice.dunning_last_on,
    Invoice.interest_through, Invoice.next_action_on,
)


@dataclass
class RunResult:
    merchants: int = 0
    invoices_looked_at: int = 0
    steps_taken: int = 0
    messages: int = 0
    charges: int = 0
    handed_over: int = 0
    unreachable: int = 0
    no_agency: int = 0
    interest_refused: int = 0
    batches: int = 0
    by_step: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def summary(self) -> str:
        steps = ", ".join(f"{k} {v}" for k, v in sorted(self.by_step.items())) or "none"
        return (
            f"{self.invoices_looked_at} invoice(s) looked at, {self.steps_taken} step(s) taken ({steps}), "
            f"{self.messages} message(s) queued, {self.charges} charge(s) booked, {self.handed_over} handed over, "
            f"{self.unreachable} paused as unreachable, {self.interest_refused} without interest (base rate unknown)"
            + (f", {self.no_agency} held before handover (no collection agency configured)" if self.no_agency else "")
        )


@dataclass(frozen=True)
class PolicyRules:
    id: int
    name: str
    group: rules.GroupRule
    steps: list[rules.StepRule]


def load_policies(merchant_id: int) -> list[PolicyRules]:
    """The policies a new invoice can be put under: active, current versions, by priority."""
    policies = db.session.execute(
        select(Policy).where(Policy.merchant_id == merchant_id, Policy.active.is_(True), Policy.superseded_at.is_(None))
        .order_by(Policy.priority, Policy.id)
    ).scalars().all()
    return [PolicyRules(p.id, p.name, group_rule(p), step_rules(p)) for p in policies if p.steps]


def load_policy(merchant_id: int, policy_id: int) -> PolicyRules | None:
    """Any version of a policy by id (invoices keep the version they were put under), or None."""
    p = db.session.get(Policy, policy_id)
    if p is None or p.merchant_id != merchant_id or not p.steps:
        return None
    return PolicyRules(p.id, p.name, group_rule(p), step_rules(p))


@writing
def run(*, today: date | None = None, merchant: Merchant | None = None, batch_debtors: int = BATCH_DEBTORS,
        after_batch=None, debtor_ids=None) -> RunResult:
    """Run for one merchant or all; `today` defaults to each merchant's own calendar day.

    This is a unit of work like a CLI command: it commits after every batch.
    `after_batch(result)` is called after each commit (progress, tests that interrupt).
    `debtor_ids` limits the pass to these debtors (the simulator replays a few debtors inside
    a transaction it rolls back; each debtor's steps depend on nothing but its own invoices).
    On SQLite each of its transactions takes the write lock before it reads (`portal.transactions`):
    a second run started meanwhile waits per batch and finds the invoices the first one moved on.
    """
    result = RunResult()
    merchants = [merchant] if merchant else db.session.execute(select(Merchant).order_by(Merchant.id)).scalars().all()
    from portal.cases.service import daily as cases_daily

    for m in merchants:
        result.merchants += 1
        day = today or today_for(m.timezone)
        # Plans and promises first: one that broke today is dunned again from today's state.
        cases_daily(m, day, debtor_ids=debtor_ids)
        db.session.commit()
        _run_merchant(m, day, result, batch_debtors, after_batch, only_debtors=debtor_ids)
    return result


_caught_up_with: dict[int, tuple] = {}  # merchant id -> the base rates its held-back interest was last charged with


def _catch_up(merchant: Merchant, today: date) -> None:
    """Interest a missing rate held back, once per process and table (a release that ships a new rate restarts us)."""
    table = base_rates.current_table()
    key = (base_rates.current_version(), tuple(sorted((day, rate) for day, rate in table.rates.items() if rate is not None)))
    if _caught_up_with.get(merchant.id) == key:
        return
    held_back.catch_up(merchant, table, today)
    db.session.commit()
    _caught_up_with[merchant.id] = key


def _run_merchant(merchant: Merchant, today: date, result: RunResult, batch_debtors: int, after_batch,
                  only_debtors=None) -> None:
    _catch_up(merchant, today)
    policies = load_policies(merchant.id)
    # The work list in one query on ix_invoice_dunning_worklist: (debtor, invoice) of every due invoice,
    # kept as two flat integer arrays (16 bytes per due invoice) so memory stays flat at any size.
    debtor_ids, invoice_ids = array("q"), array("q")
    worklist = select(Invoice.debtor_id, Invoice.id).where(
        Invoice.in_status("open"), Invoice.next_action_on <= today, Invoice.merchant_id == merchant.id)
    if only_debtors is not None:
        worklist = worklist.where(Invoice.debtor_id.in_(list(only_debtors)))
    for debtor_id, invoice_id in db.session.execute(worklist.order_by(Invoice.debtor_id, Invoice.id)):
        debtor_ids.append(debtor_id)
        invoice_ids.append(invoice_id)
    db.session.commit()  # end the read; each batch is its own transaction
    settings = _MerchantSettings.of(merchant)
    start, total = 0, len(invoice_ids)
    while start < total:
        # A batch ends after `batch_debtors` debtors, never in the middle of a debtor's invoices.
        end, debtors = start, 0
        while end < total and debtors < batch_debtors:
            debtor = debtor_ids[end]
            while end < total and debtor_ids[end] == debtor:
                end += 1
            debtors += 1
        _Batch(merchant, settings, today, policies, invoice_ids[start:end], result).process()
        db.session.commit()
        result.batches += 1
        if after_batch:
            after_batch(result)
        start = end


@dataclass(frozen=True)
class _MerchantSettings:
    """The merchant's dunning settings as plain values (ORM attributes expire at every batch commit)."""

    id: int
    default_language: str
    dunning_fee_cap_minor: int
    business_flat_fee: bool
    consumer_default_notice: bool
    holiday_state: str | None
    letter_cost_minor: int = 0
    has_agency: bool = True  # a collection agency is configured: without one nothing is handed over

    @classmethod
    def of(cls, merchant: Merchant) -> "_MerchantSettings":
        from portal.dunning.handover import agency_of

        return cls(merchant.id, merchant.default_language, merchant.dunning_fee_cap_minor, merchant.business_flat_fee,
                   merchant.consumer_default_notice, merchant.holiday_state, merchant.letter_cost_minor or 0,
                   agency_of(merchant.id) is not None)


class _Batch:
    def __init__(self, merchant: Merchant, settings: _MerchantSettings, today: date, policies: list[PolicyRules],
                 invoice_ids, result: RunResult):
        self.merchant, self.today, self.policies, self.invoice_ids, self.result = merchant, today, policies, invoice_ids, result
        self.settings = settings
        self.calendar = legal_calendar(settings.holiday_state)
        self.rates = base_rates.current_table()  # per batch: a rate entered meanwhile counts from the next batch
        self.policy_by_id = {p.id: p for p in policies}
        self.charge_rows: list[dict] = []
        self.invoice_updates: list[dict] = []
        self.events: list[dict] = []
        self.messages: list[dict] = []
        self.staff: dict[str, list[str]] = defaultdict(list)

    def process(self) -> None:
        settings = self.settings
        # By primary key only, so no planner can prefer the work-list index and scan every due invoice per batch;
        # the work-list conditions are checked here again because a payment or pause may have changed the
        # invoice since the list was read (and now waits for this batch's row locks on PostgreSQL).
        stmt = select(*_INVOICE_COLUMNS, Invoice.merchant_id, Invoice.status).where(bulk.among(Invoice.id, self.invoice_ids))
        if db.engine.dialect.name == "postgresql":
            stmt = stmt.with_for_update()  # payments booked meanwhile wait for this batch, or this batch for them
        invoices = sorted(
            (
                inv for inv in db.session.execute(stmt)
                if inv.merchant_id == settings.id and inv.status == "open" and inv.next_action_on is not None
                and inv.next_action_on <= self.today
            ),
            key=lambda inv: (inv.debtor_id, inv.id),
        )
        if not invoices:
            return
        self.result.invoices_looked_at += len(invoices)
        debtor_ids = sorted({inv.debtor_id for inv in invoices})
        debtors = {d.id: d for d in db.session.execute(select(*_DEBTOR_COLUMNS).where(bulk.among(Debtor.id, debtor_ids)))}
        first_invoice: dict[int, int] = {}
        if any(p.group.customer for p in self.policies) and any(inv.dunning_policy_id is None for inv in invoices):
            # "First or returning customer" is a rule of some policy and some invoice still needs one.
            first_invoice = dict(
                db.session.execute(
                    select(Invoice.debtor_id, func.min(Invoice.id)).where(Invoice.debtor_id.in_(debtor_ids)).group_by(Invoice.debtor_id)
                ).all()
            )
        entries = defaultdict(list)
        for row in db.session.execute(
            select(LedgerEntry.invoice_id, LedgerEntry.kind, LedgerEntry.amount_minor, LedgerEntry.booked_on,
                   LedgerEntry.external_ref, LedgerEntry.data)
            .where(bulk.among(LedgerEntry.invoice_id, [inv.id for inv in invoices]))
            .order_by(LedgerEntry.id)
        ):
            entries[row.invoice_id].append(row)

        planned_by_debtor: dict[int, list[dict]] = defaultdict(list)
        for inv in invoices:
            debtor = debtors[inv.debtor_id]
            plan = self._plan(inv, debtor, returning=first_invoice.get(inv.debtor_id) != inv.id, entries=entries[inv.id])
            if plan is not None:
                planned_by_debtor[inv.debtor_id].append(plan)
        for debtor_id, plans in planned_by_debtor.items():
            self._debtor_message(debtors[debtor_id], plans)
        self._write()

    # -- planning (no writes) -------------------------------------------------------------

    def _plan(self, inv, debtor: Debtor, *, returning: bool, entries: list) -> dict | None:
        update_row = {"id": inv.id}
        policy = self._policy(inv.dunning_policy_id) if inv.dunning_policy_id else None
        if policy is None:
            policy = self._choose(inv, debtor, returning)
            if policy is None:
                update_row["next_action_on"] = None
                self.invoice_updates.append(update_row)
                self._event(inv, "dunning.no_policy", {})
                return None
            update_row["dunning_policy_id"] = policy.id
        steps = policy.steps
        if inv.paused_reason:
            # A pause with an end day: it ended today; plan anew from here.
            update_row["paused_reason"] = None
            nxt = rules.resume_day(steps, inv.dunning_level, inv.due_date, inv.dunning_last_on, self.today)
            update_row["next_action_on"] = nxt
            self.invoice_updates.append(update_row)
            self._event(inv, "dunning.resumed", {"reason": inv.paused_reason, "next_action_on": _iso(nxt)})
            return None
        not_before = inv.next_action_on if inv.dunning_policy_id else None
        index = rules.step_to_take(steps, inv.dunning_level, inv.due_date, inv.dunning_last_on, self.today,
                                   not_before=not_before)
        if index is None:
            update_row["next_action_on"] = rules.upcoming_day(steps, inv.dunning_level, inv.due_date, inv.dunning_last_on,
                                                              self.today, not_before=not_before)
            self.invoice_updates.append(update_row)
            return None
        step = steps[index]
        if step.legal == rules.HANDOVER and not self.settings.has_agency:
            # Handing over needs an agency to hand over to, named in the notice (and in the export): until the
            # merchant enters one (settings: collection agency, which resumes these), the claim waits here.
            update_row.update(paused_reason="agency", next_action_on=None)
            self.invoice_updates.append(update_row)
            self._event(inv, "dunning.paused", {"reason": "agency", "step": step.key})
            self.staff["agency_missing"].append(inv.number)
            self.result.no_agency += 1
            return None
        business = debtor.kind == "business"
        in_default = inv.default_on is not None and inv.default_on < self.today
        new_charges: list[law.Charge] = []
        interest_through = inv.interest_through
        interest_refused = None
        if in_default:
            # As far as the base rates are known; the days of a half-year without a rate stay open
            # (interest_through stops before them) and are charged when it is entered (portal.dunning.interest).
            first_day = max(inv.default_on, inv.interest_through or inv.default_on) + timedelta(days=1)
            movements = [(e.booked_on, e.amount_minor) for e in entries if e.kind not in CHARGE_KINDS]
            due = held_back.interest_due(amount_minor=inv.amount_minor, movements=movements, first_day=first_day,
                                         last_day=self.today, business=business, table=self.rates)
            if due.missing_half_year is not None:
                interest_refused = due.missing_half_year.isoformat()
            if due.through is not None:
                interest_through = due.through
                if due.interest.amount_minor > 0:
                    new_charges.append(law.Charge("interest", due.interest.amount_minor,
                                                  f"interest:{inv.id}:{self.today.isoformat()}", "interest", due.interest.as_dict()))
        handover = step.legal == rules.HANDOVER
        update_row.update(
            dunning_level=index + 1, dunning_step=step.key, dunning_last_on=self.today,
            interest_through=interest_through,
            next_action_on=None if handover else rules.next_action(steps, index + 1, inv.due_date, self.today),
        )
        if handover:
            update_row.update(status="handed_over", closed_on=self.today)
        return {
            "inv": inv, "step": step, "index": index, "policy": policy, "update": update_row, "charges": new_charges,
            "entries": entries, "skipped": [s.key for s in steps[inv.dunning_level:index]], "interest_refused": interest_refused,
            "notice_286": step.notice_286 and self.settings.consumer_default_notice and not business,
            "business": business, "in_default": in_default,
        }

    def _policy(self, policy_id: int) -> PolicyRules | None:
        """The invoice's own policy version, also one superseded since (loaded once per batch)."""
        if policy_id not in self.policy_by_id:
            self.policy_by_id[policy_id] = load_policy(self.settings.id, policy_id)
        return self.policy_by_id[policy_id]

    def _fees(self, plan: dict, channel: str) -> None:
        """The step's fees for the channel it goes out on (a fee reflects that channel's actual cost)."""
        inv, step = plan["inv"], plan["step"]
        flat_booked = any(e.external_ref == f"fee:{inv.id}:flatfee" for e in plan["entries"])
        for fee in law.fees_for_step(
            step_key=step.key, step_fee_minor=step.fee_for(channel, self.settings.letter_cost_minor),
            fee_cap_minor=self.settings.dunning_fee_cap_minor, in_default=plan["in_default"], business=plan["business"],
            flat_fee_enabled=self.settings.business_flat_fee, flat_fee_booked=flat_booked, currency=inv.currency,
            channel=channel,
        ):
            plan["charges"].append(law.Charge(fee.kind, fee.amount_minor, f"fee:{inv.id}:{fee.ref.removeprefix('fee:')}",
                                              fee.label, fee.data))

    def _choose(self, inv, debtor: Debtor, returning: bool) -> PolicyRules | None:
        facts = rules.DebtorFacts(debtor.kind, debtor.date_of_birth, debtor.language, debtor.preferred_channel, returning)
        for policy in self.policies:
            if rules.matches(policy.group, facts, inv.amount_minor, self.today):
                return policy
        return None

    def _debtor_message(self, debtor: Debtor, plans: list[dict]) -> None:
        lead = max(plans, key=lambda p: rules.severity(p["step"], p["index"]))
        channels = rules.ordered_channels(lead["step"].channels, debtor.preferred_channel)
        if not outbox.reachable_channels(debtor, channels):
            for plan in plans:
                inv = plan["inv"]
                self.invoice_updates.append({"id": inv.id, "paused_reason": "unreachable", "next_action_on": None})
                self._event(inv, "dunning.paused", {"reason": "unreachable", "step": plan["step"].key, "channels": channels})
                self.staff["unreachable"].append(inv.number)
            self.result.unreachable += len(plans)
            return
        channel = outbox.reachable_channels(debtor, channels)[0]
        items = []
        for plan in plans:
            inv, step = plan["inv"], plan["step"]
            self._fees(plan, channel)
            self._default(plan, channel)
            self.invoice_updates.append(plan["update"])
            for charge in plan["charges"]:
                self.charge_rows.append({
                    "merchant_id": self.settings.id, "invoice_id": inv.id, "debtor_id": inv.debtor_id, "kind": charge.kind,
                    "amount_minor": charge.amount_minor, "currency": inv.currency, "external_ref": charge.ref,
                    "booked_on": self.today, "memo": _MEMOS[charge.label], "data": {"label": charge.label, **(charge.data or {})},
                })
            self.result.charges += len(plan["charges"])
            if plan["interest_refused"]:
                self.result.interest_refused += 1
                self.staff["base_rate"].append(plan["interest_refused"])
                self._event(inv, "dunning.interest_refused", {"half_year": plan["interest_refused"]})
            self._event(inv, "dunning.step", {
                "step": step.key, "legal": step.legal, "policy": plan["policy"].name, "skipped": plan["skipped"],
                "charges": [{"label": c.label, "amount_minor": c.amount_minor} for c in plan["charges"]],
                "next_action_on": _iso(plan["update"].get("next_action_on")),
            })
            if step.legal == rules.HANDOVER:
                self.result.handed_over += 1
                self.staff["handover"].append(inv.number)
                self._event(inv, "invoice.handed_over", {"step": step.key})
            self.result.steps_taken += 1
            self.result.by_step[step.key] += 1
            items.append(_item(plan))
        keys = ",".join(f"{p['inv'].id}:{p['step'].key}" for p in plans)
        self.messages.append({
            "debtor": debtor, "purpose": "dunning", "template": lead["step"].template, "channels": channels,
            "language": debtor.language or self.settings.default_language,
            "dedupe_key": f"dunning:{debtor.id}:{self.today.isoformat()}:{hashlib.sha256(keys.encode()).hexdigest()[:16]}",
            "invoices": [(p["inv"].id, p["step"].key) for p in plans],
            "context": {
                "step": lead["step"].key, "legal": lead["step"].legal, "policy": lead["policy"].name,
                "today": self.today.isoformat(), "currency": plans[0]["inv"].currency, "channel": channel,
                "deadline": _iso(law_default.stated_deadline(self.today, channel, lead["step"].payment_days, self.calendar)
                                 or self.today),
                "notice_286": lead["notice_286"],
                "items": items,
            },
        })

    def _default(self, plan: dict, channel: str) -> None:
        """When the debtor is in default after this step, sent today over `channel` (§ 286 BGB)."""
        inv, step = plan["inv"], plan["step"]
        current = law_default.Default(inv.default_on, inv.default_rule or law_default.NOTICE_RECEIPT) if inv.default_on else None
        default = law_default.after_step(
            current=current, business=plan["business"], due_date=inv.due_date, issue_date=inv.issue_date,
            sent_on=self.today, channel=channel, causes_default=step.legal in rules.CAUSES_DEFAULT,
            payment_days=step.payment_days, notice_286=plan["notice_286"], calendar=self.calendar,
        )
        if default is not None and default != current:
            plan["update"].update(default_on=default.on, default_rule=default.rule)
        # What the worker needs to re-judge this step if the message goes out over another channel.
        plan["default_before"] = [current.on.isoformat(), current.rule] if current else None

    # -- writing (one transaction per batch, committed by the caller) --------------------

    def _write(self) -> None:
        ledger.book_charges(self.charge_rows, actor=ACTOR)
        if self.invoice_updates:
            # One bulk update per set of changed columns (no ORM unit of work); updated_at via its onupdate.
            by_keys = defaultdict(list)
            for row in self.invoice_updates:
                by_keys[tuple(sorted(row))].append(row)
            for rows in by_keys.values():
                bulk.update_rows(Invoice.__table__, rows)
        ids = outbox.enqueue_many(self.messages)
        self.result.messages += sum(1 for i in ids if i is not None)
        bulk.insert_rows(Event.__table__, self.events)
        for kind, numbers in self.staff.items():
            self._staff_notice(kind, numbers)

    def _staff_notice(self, kind: str, values: list[str]) -> None:
        digest = hashlib.sha256(",".join(values).encode()).hexdigest()[:16]
        outbox.enqueue_staff_notice(
            merchant=self.merchant, template=f"staff_{kind}",
            dedupe_key=f"staff:{kind}:{self.merchant.id}:{self.today.isoformat()}:{digest}",
            context={"today": self.today.isoformat(), "values": sorted(set(values))},
        )

    def _event(self, inv, kind: str, data: dict) -> None:
        self.events.append({
            "merchant_id": self.settings.id, "invoice_id": inv.id, "debtor_id": inv.debtor_id, "kind": kind,
            "actor": ACTOR, "data": data,
        })


_MEMOS = {
    "interest": "Default interest (§ 288 BGB)",
    "fee_flat": "Late-payment flat fee (section 288 (5) BGB)",
    "fee_dunning": "Dunning fee",
}


def _item(plan: dict) -> dict:
    """What a message says about one invoice, fixed when it is queued."""
    inv, entries = plan["inv"], plan["entries"]
    fees = sum(e.amount_minor for e in entries if e.kind == "fee") + sum(c.amount_minor for c in plan["charges"] if c.kind == "fee")
    interest = sum(e.amount_minor for e in entries if e.kind == "interest") + sum(c.amount_minor for c in plan["charges"] if c.kind == "interest")
    other = sum(e.amount_minor for e in entries if e.kind not in CHARGE_KINDS)
    charge_lines = [
        {"label": (e.data or {}).get("label", e.kind), "amount_minor": e.amount_minor, "booked_on": e.booked_on.isoformat(),
         "segments": (e.data or {}).get("segments")}
        for e in entries if e.kind in CHARGE_KINDS
    ] + [
        {"label": c.label, "amount_minor": c.amount_minor, "booked_on": None, "segments": (c.data or {}).get("segments")}
        for c in plan["charges"]
    ]
    return {
        "invoice_id": inv.id, "number": inv.number, "order_ref": inv.order_ref, "issue_date": inv.issue_date.isoformat(),
        "due_date": inv.due_date.isoformat(), "step": plan["step"].key, "legal": plan["step"].legal,
        "principal_minor": inv.amount_minor, "paid_minor": -other, "fees_minor": fees, "interest_minor": interest,
        "open_minor": inv.open_minor + sum(c.amount_minor for c in plan["charges"]),
        "default_on": _iso(plan["update"].get("default_on", inv.default_on)), "charges": charge_lines,
        "interest_refused": plan["interest_refused"], "default_before": plan.get("default_before"),
    }


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None
