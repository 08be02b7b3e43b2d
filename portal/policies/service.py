"""Drafts of a customer group's policy: read from the editor's form, checked, saved as a new version.

Rules that keep a policy lawful (each refusal names the step and the rule):
- the offsets increase: every step is planned after the one before it;
- the notice that puts the debtor in default (`default_notice`) comes before any fee, and is free
  itself (a dunning fee is damages for delay, § 280 (2), § 286 BGB: only once in default);
- a final notice announcing the handover comes before the handover, and between them lie at least
  `HANDOVER_MIN_DAYS` and at least the final notice's payment days plus the presumed receipt of a
  letter (4 days, § 122 (2) no. 1 AO by analogy): the debtor must be able to pay within the deadline;
- fees: a letter fee at most the merchant's letter costs (postage and print), every fee at most the
  merchant's cap (courts accept actual costs only).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import select

from portal.domain import dunning as rules
from portal.domain.money import MoneyError, minor_to_str, parse_minor
from portal.extensions import db
from portal.messaging import wording
from portal.models import Invoice, Merchant, Policy, PolicyStep
from portal.models.types import utcnow

CURRENCY = "EUR"
CHANNELS = ("email", "sms", "letter")
KINDS = ("person", "business")
CUSTOMERS = ("first", "returning")
LANGUAGES = ("de", "en")
# The dunning message kinds a step can send (one wording per kind, portal/messaging/texts).
TEMPLATES = tuple(name for name, kind in wording.KINDS.items() if kind.family == "dunning")
HANDOVER_MIN_DAYS = 14
LETTER_RECEIPT_DAYS = 4
MAX_STEPS = 12
_ANY_DUE_DATE = date(2026, 1, 1)  # offsets are checked as days from some due date


@dataclass
class StepDraft:
    key: str = ""
    offset_days: int = 0
    offset_from: str = "due"
    legal: str = rules.REMINDER
    template: str = "payment_reminder"
    channels: list[str] = field(default_factory=lambda: ["email", "letter"])
    fee_minor: int = 0  # by letter
    fee_email_minor: int = 0
    fee_sms_minor: int = 0
    payment_days: int = 10
    notice_286: bool = False

    def rule(self) -> rules.StepRule:
        return rules.StepRule(
            key=self.key, offset_days=self.offset_days, offset_from=self.offset_from, legal=self.legal,
            fee_minor=self.fee_minor, channels=tuple(self.channels), template=self.template,
            payment_days=self.payment_days, notice_286=self.notice_286, fee_email_minor=self.fee_email_minor,
            fee_sms_minor=self.fee_sms_minor,
        )

    @property
    def has_fee(self) -> bool:
        return bool(self.fee_minor or self.fee_email_minor or self.fee_sms_minor)


@dataclass
class Draft:
    name: str = ""
    priority: int = 100
    active: bool = True
    match_kind: str | None = None
    match_age_min: int | None = None
    match_age_max: int | None = None
    match_amount_min_minor: int | None = None
    match_amount_max_minor: int | None = None
    match_language: str | None = None
    match_preferred_channel: str | None = None
    match_customer: str | None = None
    steps: list[StepDraft] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Draft":
        steps = [StepDraft(**s) for s in data.get("steps", [])]
        return cls(**{**{k: v for k, v in data.items() if k != "steps"}, "steps": steps})

    def group(self) -> rules.GroupRule:
        return rules.GroupRule(
            kind=self.match_kind, age_min=self.match_age_min, age_max=self.match_age_max,
            amount_min_minor=self.match_amount_min_minor, amount_max_minor=self.match_amount_max_minor,
            language=self.match_language, preferred_channel=self.match_preferred_channel, customer=self.match_customer,
        )


RULE_FIELDS = ("match_kind", "match_age_min", "match_age_max", "match_amount_min_minor", "match_amount_max_minor",
               "match_language", "match_preferred_channel", "match_customer")


def draft_of(policy: Policy) -> Draft:
    return Draft(
        name=policy.name, priority=policy.priority, active=policy.active,
        **{f: getattr(policy, f) for f in RULE_FIELDS},
        steps=[StepDraft(key=s.key, offset_days=s.offset_days, offset_from=s.offset_from, legal=s.legal, template=s.template,
                         channels=list(s.channels), fee_minor=s.fee_minor, fee_email_minor=s.fee_email_minor or 0,
                         fee_sms_minor=s.fee_sms_minor or 0, payment_days=s.payment_days, notice_286=s.notice_286)
               for s in policy.steps],
    )


def money_text(minor: int | None) -> str:
    """How the form shows an amount: "2,50" (German decimal comma; the parser reads both)."""
    return "" if minor is None else minor_to_str(minor, CURRENCY).replace(".", ",")


# -- reading the form ---------------------------------------------------------------------

def _int(form, name: str, errors: dict, *, required: bool = False, low: int | None = None, high: int | None = None):
    raw = (form.get(name) or "").strip()
    if not raw:
        if required:
            errors[name] = _("Please enter a whole number.")
        return None
    try:
        value = int(raw)
    except ValueError:
        errors[name] = _("Please enter a whole number.")
        return None
    if (low is not None and value < low) or (high is not None and value > high):
        errors[name] = _("Please enter a number from %(low)s to %(high)s.", low=low, high=high)
        return None
    return value


def _money(form, name: str, errors: dict, *, default: int | None = None):
    raw = (form.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = parse_minor(raw, CURRENCY)
    except MoneyError:
        errors[name] = _("Please enter an amount such as 2,50.")
        return default
    if value < 0:
        errors[name] = _("Please enter an amount such as 2,50.")
        return default
    return value


def _choice(form, name: str, allowed) -> str | None:
    value = (form.get(name) or "").strip()
    return value if value in allowed else None


def from_form(form) -> tuple[Draft, dict[str, str]]:
    """The draft the form describes and the fields it could not read (field name → message)."""
    errors: dict[str, str] = {}
    draft = Draft(
        name=(form.get("name") or "").strip()[:80],
        priority=_int(form, "priority", errors, required=True, low=0, high=10000) or 0,
        active=form.get("active") in ("1", "on", "y", "true"),
        match_kind=_choice(form, "match_kind", KINDS),
        match_age_min=_int(form, "match_age_min", errors, low=0, high=130),
        match_age_max=_int(form, "match_age_max", errors, low=0, high=130),
        match_amount_min_minor=_money(form, "match_amount_min", errors),
        match_amount_max_minor=_money(form, "match_amount_max", errors),
        match_language=_choice(form, "match_language", LANGUAGES),
        match_preferred_channel=_choice(form, "match_preferred_channel", CHANNELS),
        match_customer=_choice(form, "match_customer", CUSTOMERS),
    )
    count = _int(form, "step_count", {}, low=0, high=MAX_STEPS + 1) or 0
    for i in range(count):
        p = f"step-{i}-"
        if form.get(p + "remove"):
            continue
        key = (form.get(p + "key") or "").strip()[:40]
        if not key and not (form.get(p + "offset") or "").strip():
            continue  # the empty row for a new step, left empty
        channels: list[str] = []
        for n in (1, 2, 3):
            channel = _choice(form, f"{p}channel-{n}", CHANNELS)
            if channel and channel not in channels:
                channels.append(channel)
        draft.steps.append(StepDraft(
            key=key,
            offset_days=_int(form, p + "offset", errors, required=True, low=-60, high=730) or 0,
            offset_from="previous" if form.get(p + "from") == "previous" else "due",
            legal=_choice(form, p + "legal", rules.LEGAL_MEANINGS) or rules.REMINDER,
            template=_choice(form, p + "template", TEMPLATES) or "payment_reminder",
            channels=channels,
            fee_minor=_money(form, p + "fee-letter", errors, default=0),
            fee_email_minor=_money(form, p + "fee-email", errors, default=0),
            fee_sms_minor=_money(form, p + "fee-sms", errors, default=0),
            payment_days=_int(form, p + "days", errors, required=True, low=0, high=90) or 0,
            notice_286=bool(form.get(p + "notice286")),
        ))
    _assign_keys(draft.steps)
    return draft, errors


def _assign_keys(steps: list[StepDraft]) -> None:
    """New steps get a key unique in the policy (recorded on invoices and messages; never shown)."""
    used = {s.key for s in steps if s.key}
    for n, step in enumerate(steps, start=1):
        if not step.key:
            base = {rules.DEFAULT_NOTICE: "notice", rules.FINAL_NOTICE: "final", rules.HANDOVER: "handover"}.get(step.legal, "reminder")
            key, i = base, n
            while key in used:
                key, i = f"{base}_{i}", i + 1
            step.key = key
            used.add(key)


# -- the rules that keep it lawful -----------------------------------------------------------

def problems(draft: Draft, merchant: Merchant, *, group_id: int | None = None) -> dict[str, str]:
    """Field → a translated reason the draft cannot be saved; empty when it can."""
    errors: dict[str, str] = {}
    if not draft.name:
        errors["name"] = _("Please name the customer group.")
    else:
        clash = db.session.execute(select(Policy.id, Policy.lineage_id).where(
            Policy.merchant_id == merchant.id, Policy.name == draft.name, Policy.superseded_at.is_(None))).all()
        if any((lineage or pid) != group_id for pid, lineage in clash):
            errors["name"] = _("Another customer group already has this name.")
    if draft.match_age_min is not None and draft.match_age_max is not None and draft.match_age_min > draft.match_age_max:
        errors["match_age_max"] = _("The oldest age must not be below the youngest.")
    if (draft.match_amount_min_minor is not None and draft.match_amount_max_minor is not None
            and draft.match_amount_min_minor > draft.match_amount_max_minor):
        errors["match_amount_max"] = _("The largest amount must not be below the smallest.")
    if (draft.match_age_min is not None or draft.match_age_max is not None) and draft.match_kind == "business":
        errors["match_kind"] = _("Companies have no age: an age band applies to private customers only.")
    steps = draft.steps
    if not steps:
        errors["steps"] = _("A policy needs at least one step.")
        return errors
    if len(steps) > MAX_STEPS:
        errors["steps"] = _("A policy has at most %(n)s steps.", n=MAX_STEPS)
    days = rules.planned_days([s.rule() for s in steps], _ANY_DUE_DATE)
    default_at = next((i for i, s in enumerate(steps) if s.legal == rules.DEFAULT_NOTICE), None)
    for i, step in enumerate(steps):
        p = f"step-{i}-"
        number = i + 1
        if not step.channels:
            errors[p + "channel-1"] = _("Step %(n)s: choose at least one channel.", n=number)
        if i > 0 and days[i] <= days[i - 1]:
            errors[p + "offset"] = _("Step %(n)s: the steps must follow one another; this one would be planned on or "
                                     "before the step before it.", n=number)
        if step.offset_from == "previous" and i == 0:
            errors[p + "from"] = _("Step 1 counts from the due date: there is no step before it.")
        if step.has_fee and (default_at is None or i <= default_at):
            errors[p + "fee-letter"] = _("Step %(n)s: a fee is allowed only after the notice that puts the customer in "
                                         "default; that notice itself is free (§ 286 BGB).", n=number)
        if step.fee_minor > merchant.letter_cost_minor:
            errors.setdefault(p + "fee-letter", _(
                "Step %(n)s: a letter fee may be at most the actual cost of a letter, %(cost)s (postage and print, "
                "see the settings).", n=number, cost=_money_label(merchant.letter_cost_minor)))
        if max(step.fee_minor, step.fee_email_minor, step.fee_sms_minor) > merchant.dunning_fee_cap_minor:
            errors.setdefault(p + "fee-letter", _(
                "Step %(n)s: a fee may be at most %(cap)s (your highest dunning fee per notice).", n=number,
                cap=_money_label(merchant.dunning_fee_cap_minor)))
        if step.legal in (rules.DEFAULT_NOTICE, rules.FINAL_NOTICE) and (days[i] - _ANY_DUE_DATE).days <= 0:
            errors[p + "offset"] = _("Step %(n)s: a notice can put the customer in default only after the due date "
                                     "(§ 286 (1) BGB).", n=number)
        if step.legal == rules.HANDOVER:
            finals = [j for j in range(i) if steps[j].legal == rules.FINAL_NOTICE]
            if not finals:
                errors[p + "legal"] = _("Step %(n)s: the handover to a collection agency needs a final notice before it "
                                        "that announces it.", n=number)
            else:
                final = finals[-1]
                need = max(HANDOVER_MIN_DAYS, steps[final].payment_days + LETTER_RECEIPT_DAYS)
                gap = (days[i] - days[final]).days
                if gap < need:
                    errors[p + "offset"] = _(
                        "Step %(n)s: between the final notice and the handover lie %(gap)s days; at least %(need)s are "
                        "needed (the final notice's payment period after receipt, at least %(min)s days).",
                        n=number, gap=gap, need=need, min=HANDOVER_MIN_DAYS)
            if i != len(steps) - 1:
                errors[p + "legal"] = _("Step %(n)s: the handover ends the dunning; it must be the last step.", n=number)
        if step.legal == rules.FINAL_NOTICE and step.template != "final_notice":
            errors[p + "template"] = _("Step %(n)s: a final notice must use the final notice's words (they announce "
                                       "the handover).", n=number)
        if step.legal == rules.DEFAULT_NOTICE and step.template not in ("first_notice", "second_notice", "final_notice"):
            errors[p + "template"] = _("Step %(n)s: a notice that puts the customer in default must use the words of a "
                                       "notice (they state the deadline and the default).", n=number)
        if step.legal == rules.HANDOVER and step.template != "handover_notice":
            errors[p + "template"] = _("Step %(n)s: the handover must use the handover notice's words.", n=number)
    return errors




def _money_label(minor: int) -> str:
    from portal.i18n import format_minor

    return format_minor(minor, CURRENCY)


# -- saving ------------------------------------------------------------------------------

def current_groups(merchant_id: int) -> list[Policy]:
    return db.session.execute(
        select(Policy).where(Policy.merchant_id == merchant_id, Policy.superseded_at.is_(None))
        .order_by(Policy.priority, Policy.id)
    ).scalars().all()


def current_version(merchant_id: int, group_id: int) -> Policy | None:
    return db.session.execute(select(Policy).where(
        Policy.merchant_id == merchant_id, Policy.superseded_at.is_(None),
        (Policy.id == group_id) | (Policy.lineage_id == group_id))).scalar_one_or_none()


def versions(merchant_id: int, group_id: int) -> list[Policy]:
    return db.session.execute(select(Policy).where(
        Policy.merchant_id == merchant_id, (Policy.id == group_id) | (Policy.lineage_id == group_id))
        .order_by(Policy.version.desc())).scalars().all()


def save(merchant: Merchant, draft: Draft, *, by: str, base: Policy | None = None) -> Policy:
    """A new version of the group (or a new group): invoices already under `base` keep it. The caller commits."""
    now = utcnow()
    policy = Policy(
        merchant_id=merchant.id, name=draft.name, priority=draft.priority, active=draft.active,
        **{f: getattr(draft, f) for f in RULE_FIELDS},
        version=(base.version + 1) if base is not None else 1,
        lineage_id=base.group_id if base is not None else None, changed_by=by,
    )
    policy.steps = [
        PolicyStep(key=s.key, position=n, offset_days=s.offset_days, offset_from=s.offset_from, channels=list(s.channels),
                   template=s.template, fee_minor=s.fee_minor, fee_email_minor=s.fee_email_minor,
                   fee_sms_minor=s.fee_sms_minor, legal=s.legal, payment_days=s.payment_days, notice_286=s.notice_286)
        for n, s in enumerate(draft.steps, start=1)
    ]
    if base is not None:
        base.superseded_at = now
        db.session.flush()  # the old version is superseded before the new one joins the current ones
    db.session.add(policy)
    db.session.flush()
    return policy


def changes(before: Draft | None, after: Draft) -> list[str]:
    """The fields that changed, for the audit row (names of fields, not values a person reads)."""
    if before is None:
        return ["created"]
    a, b = before.as_dict(), after.as_dict()
    out = [k for k in a if k != "steps" and a[k] != b[k]]
    if a["steps"] != b["steps"]:
        out.append("steps")
    return out


# -- moving an invoice -------------------------------------------------------------------

class MoveRefused(Exception):
    """The invoice cannot be moved (closed, or already there); the message is for staff."""


def move_invoice(invoice: Invoice, target: Policy, *, today) -> dict:
    """Put an open invoice under another group's current policy; plans its next step there. The caller audits and commits.

    Steps already taken stay taken: the invoice continues in the new policy after the step with the same
    key, or else after the last step of no greater legal weight than the one it had.
    """
    from portal.dunning.escalation import step_rules

    if invoice.status != "open":
        raise MoveRefused(_("Only an open invoice can move to another customer group."))
    if invoice.dunning_policy_id == target.id:
        raise MoveRefused(_("The invoice is already under this policy."))
    before = db.session.get(Policy, invoice.dunning_policy_id) if invoice.dunning_policy_id else None
    steps = step_rules(target)
    level = 0
    if invoice.dunning_step:
        keys = [s.key for s in steps]
        if invoice.dunning_step in keys:
            level = keys.index(invoice.dunning_step) + 1
        else:
            old_legal = next((s.legal for s in (before.steps if before else []) if s.key == invoice.dunning_step),
                             rules.REMINDER)
            weight = rules.LEGAL_MEANINGS.index(old_legal)
            level = max((n + 1 for n, s in enumerate(steps) if rules.LEGAL_MEANINGS.index(s.legal) <= weight), default=0)
    invoice.dunning_policy_id = target.id
    invoice.dunning_level = level
    if not invoice.paused_reason:
        # A day already past is simply due at the next run.
        invoice.next_action_on = rules.upcoming_day(steps, level, invoice.due_date, invoice.dunning_last_on, today)
    return {
        "from": before.name if before else None, "from_version": before.version if before else None,
        "to": target.name, "to_version": target.version, "level": level,
        "next_action_on": invoice.next_action_on.isoformat() if invoice.next_action_on else None,
    }


def sample_age(draft: Draft) -> int | None:
    """An age inside the group's band, for its sample debtor."""
    if draft.match_age_min is None and draft.match_age_max is None:
        return None
    low = draft.match_age_min if draft.match_age_min is not None else max(18, (draft.match_age_max or 40) - 10)
    high = draft.match_age_max if draft.match_age_max is not None else low + 10
    return (low + high) // 2


def days_from_due(draft: Draft) -> list[int]:
    base = _ANY_DUE_DATE
    return [(d - base).days for d in rules.planned_days([s.rule() for s in draft.steps], base)]


__all__ = ["Draft", "StepDraft", "from_form", "problems", "save", "move_invoice", "MoveRefused", "draft_of",
           "current_groups", "current_version", "versions", "changes"]
