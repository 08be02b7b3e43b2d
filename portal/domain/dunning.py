"""Dunning rules without Flask: which policy applies to a debtor, when each step is due,
and which step a run takes after missed days.

Schedule: step i is planned at due date + offset (offset_from "due") or at the previous
step's day + offset (offset_from "previous"). Once steps have been taken, a step is
never sooner after the previous one than planned: its day is
max(planned day, day the previous step was taken + planned gap). A run that finds
several steps due (missed days, invoice imported late) takes only the latest of them,
but never skips a notice with legal effect (default notice, final notice): the debtor
must have had each of those before the next.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

REMINDER = "reminder"
DEFAULT_NOTICE = "default_notice"
FINAL_NOTICE = "final_notice"
HANDOVER = "handover"
LEGAL_MEANINGS = (REMINDER, DEFAULT_NOTICE, FINAL_NOTICE, HANDOVER)
# Notices the debtor must have received before any later step: never skipped when catching up.
MANDATORY = (DEFAULT_NOTICE, FINAL_NOTICE, HANDOVER)
# Notices that put the debtor in default on receipt (if not in default already).
CAUSES_DEFAULT = (DEFAULT_NOTICE, FINAL_NOTICE)
# After a pause ends (dispute settled, plan or promise broken) the next step waits at least this long.
RESUME_GRACE_DAYS = 7


@dataclass(frozen=True, slots=True)
class StepRule:
    key: str
    offset_days: int
    offset_from: str  # "due" or "previous"
    legal: str
    fee_minor: int = 0
    channels: tuple[str, ...] = ("email", "letter")
    template: str = ""
    payment_days: int = 10
    notice_286: bool = False  # carries the consumer notice of § 286 (3) BGB
    fee_email_minor: int = 0  # fee_minor is the letter's fee; electronic channels cost next to nothing
    fee_sms_minor: int = 0

    def fee_for(self, channel: str, letter_cost_minor: int) -> int:
        """The fee this step asks when sent over `channel`: a letter never more than its actual cost."""
        if channel == "letter":
            return min(self.fee_minor, letter_cost_minor)
        return {"email": self.fee_email_minor, "sms": self.fee_sms_minor}.get(channel, 0)


@dataclass(frozen=True, slots=True)
class GroupRule:
    """Who a policy is for; None matches anyone."""

    kind: str | None = None  # person or business
    age_min: int | None = None
    age_max: int | None = None
    amount_min_minor: int | None = None
    amount_max_minor: int | None = None
    language: str | None = None
    preferred_channel: str | None = None
    customer: str | None = None  # first or returning


@dataclass(frozen=True, slots=True)
class DebtorFacts:
    kind: str
    date_of_birth: date | None
    language: str | None
    preferred_channel: str | None
    returning: bool


def age_on(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def matches(rule: GroupRule, debtor: DebtorFacts, amount_minor: int, today: date) -> bool:
    if rule.kind and debtor.kind != rule.kind:
        return False
    if rule.age_min is not None or rule.age_max is not None:
        if debtor.date_of_birth is None or debtor.kind == "business":
            return False
        age = age_on(debtor.date_of_birth, today)
        if rule.age_min is not None and age < rule.age_min:
            return False
        if rule.age_max is not None and age > rule.age_max:
            return False
    if rule.amount_min_minor is not None and amount_minor < rule.amount_min_minor:
        return False
    if rule.amount_max_minor is not None and amount_minor > rule.amount_max_minor:
        return False
    if rule.language and (debtor.language or "de") != rule.language:
        return False
    if rule.preferred_channel and debtor.preferred_channel != rule.preferred_channel:
        return False
    if rule.customer == "first" and debtor.returning:
        return False
    if rule.customer == "returning" and not debtor.returning:
        return False
    return True


def planned_days(steps: list[StepRule], due_date: date) -> list[date]:
    out: list[date] = []
    for i, step in enumerate(steps):
        anchor = out[i - 1] if step.offset_from == "previous" and i > 0 else due_date
        out.append(anchor + timedelta(days=step.offset_days))
    return out


def _planned_offset(steps: list[StepRule], index: int) -> int:
    """Days from the due date to the planned day of step `index` (same as planned_days, one step only)."""
    days = 0
    while True:
        step = steps[index]
        days += step.offset_days
        if step.offset_from != "previous" or index == 0:
            return days
        index -= 1


def step_day(steps: list[StepRule], index: int, due_date: date, previous_on: date | None) -> date:
    """The day step `index` is due, given the day the step before it was taken (or skipped)."""
    planned = due_date + timedelta(days=_planned_offset(steps, index))
    if previous_on is None or index == 0:
        return planned
    gap = _planned_offset(steps, index) - _planned_offset(steps, index - 1)
    return max(planned, previous_on + timedelta(days=gap))


def next_action(steps: list[StepRule], taken: int, due_date: date, last_on: date | None) -> date | None:
    """Day of the step after the `taken` first ones (None when the policy is done)."""
    if taken >= len(steps):
        return None
    return step_day(steps, taken, due_date, last_on)


def is_pre_due(steps: list[StepRule], index: int) -> bool:
    """A step planned before the due date (the pre-due reminder): never sent once the claim is due."""
    return _planned_offset(steps, index) < 0


def _first_step(steps: list[StepRule], taken: int, due_date: date, last_on: date | None, today: date,
                not_before: date | None) -> tuple[int, date] | None:
    """The step after the `taken` first ones that can still be sent, and its day (pre-due steps lapse on the due date)."""
    if taken >= len(steps):
        return None
    index = taken
    day = step_day(steps, index, due_date, last_on)
    # A pre-due step lapses once the claim is due; the step after it keeps its planned distance from it.
    while is_pre_due(steps, index) and max(day, today, not_before or day) >= due_date:
        if index + 1 >= len(steps):
            return None
        index, day = index + 1, step_day(steps, index + 1, due_date, day)
    if not_before is not None:
        day = max(day, not_before)
    return index, day


def step_to_take(steps: list[StepRule], taken: int, due_date: date, last_on: date | None, today: date,
                 not_before: date | None = None) -> int | None:
    """Index of the step a run on `today` takes, or None if none is due.

    Catching up jumps over ordinary reminders that are overdue, but stops at the first
    notice with legal effect that has not been sent yet; an invoice that has had no message
    yet (imported late) gets its reminder first, never a notice as its first message. A
    pre-due reminder whose day has passed is not sent on or after the due date. `not_before`
    is the invoice's planned next action day: a step postponed (after a pause) counts from
    that day, so a pause is never mistaken for missed days.
    """
    first = _first_step(steps, taken, due_date, last_on, today, not_before)
    if first is None:
        return None
    index, day = first
    if day > today:
        return None
    while index + 1 < len(steps) and steps[index].legal not in MANDATORY:
        following = step_day(steps, index + 1, due_date, day)
        if following > today:
            break
        if taken == 0 and steps[index + 1].legal in MANDATORY:
            break  # its own reminder before any notice
        index, day = index + 1, following
    return index


def upcoming_day(steps: list[StepRule], taken: int, due_date: date, last_on: date | None, today: date,
                 not_before: date | None = None) -> date | None:
    """The day of the next step a run will take (None when the policy is done); for `next_action_on`."""
    first = _first_step(steps, taken, due_date, last_on, today, not_before)
    return first[1] if first else None


def resume_day(steps: list[StepRule], taken: int, due_date: date, last_on: date | None, today: date) -> date | None:
    """Next action day after a pause ends on `today`: the plan, but not before the grace period."""
    planned = next_action(steps, taken, due_date, last_on)
    if planned is None:
        return None
    return max(planned, today + timedelta(days=RESUME_GRACE_DAYS))


def severity(step: StepRule, index: int) -> tuple[int, int]:
    return (LEGAL_MEANINGS.index(step.legal), index)


def ordered_channels(channels: tuple[str, ...] | list[str], preferred: str | None) -> list[str]:
    """The step's channels, with the debtor's own choice first when the step allows it."""
    channels = list(channels)
    if preferred and preferred in channels:
        channels.remove(preferred)
        channels.insert(0, preferred)
    return channels


def percent(value: Decimal) -> str:
    return f"{value:.2f}"
