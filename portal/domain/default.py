"""When a debtor is in default (Verzug, § 286 BGB): presumed receipt, deadlines, the rule that applies.

`default_on` is the day from whose end on the debtor is in default: interest runs from the next
day (§ 187 (1) BGB, the day of the event is not counted). Three rules give a candidate and the
earliest wins:

- `notice_deadline` (§ 286 (1) BGB): a Mahnung with a payment deadline puts the debtor in default
  when the deadline has passed unpaid: `default_on` is the deadline day (moved to the next working
  day, § 193 BGB).
- `notice_receipt` (§ 286 (1) BGB): a Mahnung without a deadline does so on its receipt.
- `thirty_days` (§ 286 (3) BGB): 30 days after the due date and receipt of the invoice (businesses);
  consumers only if the invoice or a later document told them so, and then counted from the
  receipt of that document. The 30th day moves like a deadline (§ 193 BGB). The notice counts only
  when an email or a letter carried it: an SMS never does.

Receipt is presumed per channel (docs/dunning.md, "When default begins"): a letter on the fourth
day after posting (§ 122 (2) no. 1 AO as amended from 2025, by analogy), an email or SMS on the next
working day after sending; a presumed receipt on a non-working day moves to the next working day.
A Mahnung sent before the due date has no effect (§ 286 (1) BGB: "nach dem Eintritt der Fälligkeit").
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from portal.domain.calendar import LegalCalendar

NOTICE_DEADLINE = "notice_deadline"
NOTICE_RECEIPT = "notice_receipt"
THIRTY_DAYS = "thirty_days"
RULES = (NOTICE_DEADLINE, NOTICE_RECEIPT, THIRTY_DAYS)

LETTER_RECEIPT_DAYS = 4  # § 122 (2) no. 1 AO since 1 January 2025 (PostModG): the fourth day after posting
ELECTRONIC_RECEIPT_WORKING_DAYS = 1  # email, SMS: the next working day
THIRTY_DAYS_PERIOD = 30
# Channels that can carry the § 286 (3) consumer notice (an SMS is too short to be relied on).
NOTICE_286_CHANNELS = ("email", "letter")


@dataclass(frozen=True, slots=True)
class Default:
    on: date  # from the end of this day the debtor is in default; interest from the next day
    rule: str  # one of RULES


def presumed_receipt(sent_on: date, channel: str, calendar: LegalCalendar) -> date:
    """The day a document sent (or posted) on `sent_on` over `channel` is presumed received."""
    if channel == "letter":
        return calendar.working_day_on_or_after(sent_on + timedelta(days=LETTER_RECEIPT_DAYS))
    return calendar.add_working_days(sent_on, ELECTRONIC_RECEIPT_WORKING_DAYS)


def payment_deadline(sent_on: date, payment_days: int, calendar: LegalCalendar) -> date | None:
    """The deadline a message states: `payment_days` after sending, moved off weekends and holidays (§ 193 BGB).

    None when the message sets no deadline (payment_days 0).
    """
    if payment_days <= 0:
        return None
    return calendar.working_day_on_or_after(sent_on + timedelta(days=payment_days))


def stated_deadline(sent_on: date, channel: str, payment_days: int, calendar: LegalCalendar) -> date | None:
    """The deadline a message sent on `sent_on` states: never before its presumed receipt."""
    deadline = payment_deadline(sent_on, payment_days, calendar)
    if deadline is None:
        return None
    return max(deadline, presumed_receipt(sent_on, channel, calendar))


def by_notice(*, sent_on: date, channel: str, payment_days: int, due_date: date,
              calendar: LegalCalendar) -> Default | None:
    """Default caused by a Mahnung sent on `sent_on` (None if sent before the claim was due)."""
    if sent_on <= due_date:
        return None
    deadline = stated_deadline(sent_on, channel, payment_days, calendar)
    if deadline is not None:
        return Default(deadline, NOTICE_DEADLINE)
    return Default(presumed_receipt(sent_on, channel, calendar), NOTICE_RECEIPT)


def by_thirty_days(*, due_date: date, received_on: date, calendar: LegalCalendar) -> Default:
    """§ 286 (3) BGB: the 30 days run from the later of due date and receipt (§ 187 (1) BGB)."""
    start = max(due_date, received_on)
    return Default(calendar.working_day_on_or_after(start + timedelta(days=THIRTY_DAYS_PERIOD)), THIRTY_DAYS)


def invoice_received_on(issue_date: date, calendar: LegalCalendar) -> date:
    """When the invoice itself is presumed received: as if posted on its issue date (the latest presumption)."""
    return presumed_receipt(issue_date, "letter", calendar)


def carries_notice_286(channel: str) -> bool:
    return channel in NOTICE_286_CHANNELS


def earliest(*candidates: Default | None) -> Default | None:
    known = [c for c in candidates if c is not None]
    if not known:
        return None
    # On a tie the first candidate is kept (the caller lists the default already known first).
    return min(known, key=lambda c: c.on)


def after_step(*, current: Default | None, business: bool, due_date: date, issue_date: date, sent_on: date,
               channel: str, causes_default: bool, payment_days: int, notice_286: bool,
               calendar: LegalCalendar) -> Default | None:
    """The debtor's default after a step sent on `sent_on` over `channel` (None: not in default yet).

    `current` is the default known before this step; `notice_286`: the step's text carries the
    consumer notice of § 286 (3) BGB (it counts only over email or letter).
    """
    candidates: list[Default | None] = [current]
    if causes_default:
        candidates.append(by_notice(sent_on=sent_on, channel=channel, payment_days=payment_days, due_date=due_date,
                                    calendar=calendar))
    if business:
        candidates.append(by_thirty_days(due_date=due_date, received_on=invoice_received_on(issue_date, calendar),
                                         calendar=calendar))
    elif notice_286 and carries_notice_286(channel):
        candidates.append(by_thirty_days(due_date=due_date, received_on=presumed_receipt(sent_on, channel, calendar),
                                         calendar=calendar))
    return earliest(*candidates)
