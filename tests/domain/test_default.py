"""When default begins (§ 286 BGB): presumed receipt per channel, deadlines moved by § 193 BGB, the earliest rule wins."""
from datetime import date

from portal.domain import default as law
from portal.domain.calendar import LegalCalendar

NATIONAL = LegalCalendar()
BAVARIA = LegalCalendar("BY")


def test_letter_presumed_received_on_the_fourth_day_after_posting_122_ao_analogy():
    assert law.presumed_receipt(date(2025, 5, 29), "letter", NATIONAL) == date(2025, 6, 2)  # Thu → Mon
    assert law.presumed_receipt(date(2025, 5, 30), "letter", NATIONAL) == date(2025, 6, 3)  # Fri → Tue
    # Wed 24 Dec 2025: the fourth day is Sunday 28 December → Monday 29 December
    assert law.presumed_receipt(date(2025, 12, 24), "letter", NATIONAL) == date(2025, 12, 29)


def test_email_and_sms_presumed_received_on_the_next_working_day():
    assert law.presumed_receipt(date(2025, 12, 19), "email", NATIONAL) == date(2025, 12, 22)  # Fri → Mon
    # Christmas Eve: 25/26 December are holidays, 27/28 the weekend
    assert law.presumed_receipt(date(2025, 12, 24), "email", NATIONAL) == date(2025, 12, 29)
    assert law.presumed_receipt(date(2025, 5, 28), "sms", NATIONAL) == date(2025, 5, 30)  # 29 May: Ascension Day


def test_193_bgb_a_deadline_on_a_state_holiday_moves_to_the_next_working_day():
    # sent Sat 27 Dec 2025 with 10 days: Tue 6 January 2026 is Epiphany in Bavaria, not nationwide
    assert law.payment_deadline(date(2025, 12, 27), 10, NATIONAL) == date(2026, 1, 6)
    assert law.payment_deadline(date(2025, 12, 27), 10, BAVARIA) == date(2026, 1, 7)
    # a deadline on a Saturday moves to Monday
    assert law.payment_deadline(date(2025, 6, 11), 10, NATIONAL) == date(2025, 6, 23)
    assert law.payment_deadline(date(2025, 6, 11), 0, NATIONAL) is None


def test_286_1_a_notice_with_deadline_gives_default_when_the_deadline_passes_without_one_on_receipt():
    due = date(2025, 6, 1)
    assert law.by_notice(sent_on=date(2025, 6, 22), channel="email", payment_days=10, due_date=due,
                         calendar=NATIONAL) == law.Default(date(2025, 7, 2), law.NOTICE_DEADLINE)
    assert law.by_notice(sent_on=date(2025, 6, 22), channel="letter", payment_days=0, due_date=due,
                         calendar=NATIONAL) == law.Default(date(2025, 6, 26), law.NOTICE_RECEIPT)
    # a deadline never ends before the notice is presumed received: letter of Wed 24 Dec with 2 days → Mon 29 Dec
    assert law.by_notice(sent_on=date(2025, 12, 24), channel="letter", payment_days=2, due_date=due,
                         calendar=NATIONAL) == law.Default(date(2025, 12, 29), law.NOTICE_DEADLINE)
    # a Mahnung before the due date has no effect (§ 286 (1): "nach dem Eintritt der Fälligkeit")
    assert law.by_notice(sent_on=date(2025, 6, 1), channel="email", payment_days=10, due_date=due,
                         calendar=NATIONAL) is None


def test_286_3_thirty_days_run_from_the_later_of_due_date_and_receipt_and_end_on_a_working_day():
    assert law.by_thirty_days(due_date=date(2025, 6, 1), received_on=date(2025, 6, 2), calendar=NATIONAL) == \
        law.Default(date(2025, 7, 2), law.THIRTY_DAYS)
    # 25 Nov + 30 = 25 Dec (Christmas) → 26 Dec (holiday) → weekend → Mon 29 Dec
    assert law.by_thirty_days(due_date=date(2025, 11, 25), received_on=date(2025, 11, 17), calendar=NATIONAL) == \
        law.Default(date(2025, 12, 29), law.THIRTY_DAYS)


def test_286_3_the_consumer_notice_counts_by_email_or_letter_never_by_sms():
    kw = dict(current=None, business=False, due_date=date(2025, 6, 1), issue_date=date(2025, 5, 18),
              sent_on=date(2025, 5, 28), causes_default=False, payment_days=0, notice_286=True, calendar=NATIONAL)
    assert law.after_step(channel="sms", **kw) is None
    # email received Fri 30 May; 30 days from the due date (later) → Tue 1 July
    assert law.after_step(channel="email", **kw) == law.Default(date(2025, 7, 1), law.THIRTY_DAYS)
    # letter received Mon 2 June (after the due date): 30 days from receipt → Wed 2 July
    assert law.after_step(channel="letter", **kw) == law.Default(date(2025, 7, 2), law.THIRTY_DAYS)


def test_the_earliest_rule_wins_and_a_tie_keeps_the_rule_known_first():
    earlier = law.Default(date(2025, 7, 1), law.THIRTY_DAYS)
    assert law.earliest(law.Default(date(2025, 7, 2), law.NOTICE_DEADLINE), earlier) == earlier
    tie = law.Default(date(2025, 7, 1), law.NOTICE_DEADLINE)
    assert law.earliest(earlier, tie).rule == law.THIRTY_DAYS
    assert law.earliest(None, None) is None
