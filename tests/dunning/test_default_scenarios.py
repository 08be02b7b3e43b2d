"""When default begins, over time: daily runs with explicit dates for consumers and businesses in the
email-, SMS- and letter-first groups, late imports and deadlines on holidays (§§ 286, 193 BGB).

DUE is Sunday 1 June 2025 (invoice date 18 May); the default policies send the pre-due reminder on
day −3 (Thursday 29 May, Ascension Day), the reminder on day 7, the 1st notice (10-day deadline) on
day 21 (Sunday 22 June) and the 2nd notice on day 35 (Sunday 6 July).
"""
from datetime import date, timedelta

from sqlalchemy import select, update

from portal.dunning.run import run
from portal.extensions import db
from portal.models import Invoice, LedgerEntry, Policy, PolicyStep
from tests.dunning.helpers import DUE, make_debtor_invoice, messages
from tests.factories import make_merchant


def day(n: int) -> date:
    return DUE + timedelta(days=n)


def run_on(*offsets: int) -> None:
    for n in offsets:
        run(today=day(n))


def default_of(invoice) -> tuple[str | None, str | None]:
    invoice = db.session.get(Invoice, invoice.id, populate_existing=True)
    return (invoice.default_on.isoformat() if invoice.default_on else None, invoice.default_rule)


def interest_of(invoice) -> list[tuple[date, int]]:
    return [(e.booked_on, e.amount_minor) for e in db.session.execute(
        select(LedgerEntry).where(LedgerEntry.invoice_id == invoice.id, LedgerEntry.kind == "interest")
        .order_by(LedgerEntry.id)).scalars()]


def test_286_1_consumer_email_first_is_in_default_when_the_notice_deadline_passes(app):
    merchant = make_merchant(consumer_default_notice=False)
    invoice = make_debtor_invoice(merchant, "standard", "RE-1")
    run_on(-3, 7)
    assert default_of(invoice) == (None, None)  # reminders alone put nobody in default
    run_on(21)
    notice = messages()[-1]
    assert notice.template == "first_notice" and notice.context["deadline"] == "2025-07-02"  # Sun 22 June + 10 days
    assert default_of(invoice) == ("2025-07-02", "notice_deadline")
    run_on(35)
    # interest from the day after the deadline: 3–6 July, 4 days × 1000.00 × 6.27 % / 365 = 0.687 → 0.69
    assert interest_of(invoice) == [(day(35), 69)]


def test_286_1_a_notice_without_deadline_puts_the_debtor_in_default_on_presumed_receipt_letter_first(app):
    merchant = make_merchant()
    invoice = make_debtor_invoice(merchant, "older", "RE-1")
    older = db.session.execute(select(Policy).where(Policy.merchant_id == merchant.id, Policy.priority == 10)).scalar_one()
    db.session.execute(update(PolicyStep).where(PolicyStep.policy_id == older.id, PolicyStep.key == "notice_1")
                       .values(payment_days=0))
    db.session.commit()
    run_on(-3, 7, 21)
    # the letter of Sunday 22 June is presumed received on the fourth day, Thursday 26 June: earlier than
    # the 30 days of § 286 (3) counted from the pre-due letter (2 July)
    assert default_of(invoice) == ("2025-06-26", "notice_receipt")
    run_on(35)
    # 27–30 June at 2.27 + 5 = 7.27 %, 1–6 July at 1.27 + 5 = 6.27 %: 1000 × (4 × 7.27 + 6 × 6.27) / 36500 = 1.83
    assert interest_of(invoice) == [(day(35), 183)]


def test_286_3_consumer_letter_notice_counts_30_days_from_its_presumed_receipt_not_from_the_due_date(app):
    merchant = make_merchant()
    invoice = make_debtor_invoice(merchant, "older", "RE-1")
    run_on(-3)
    [letter] = messages()
    assert letter.channel == "letter" and letter.context["notice_286"] is True
    # posted Thu 29 May, presumed received Mon 2 June (after the due date) + 30 days → Wed 2 July
    assert default_of(invoice) == ("2025-07-02", "thirty_days")


def test_286_3_consumer_email_notice_counts_30_days_from_the_due_date_when_received_before_it(app):
    merchant = make_merchant()
    invoice = make_debtor_invoice(merchant, "standard", "RE-1")
    run_on(-3)
    # received Fri 30 May, before the due date: 1 June + 30 → Tue 1 July
    assert default_of(invoice) == ("2025-07-01", "thirty_days")
    run_on(7, 21, 35)
    assert default_of(invoice) == ("2025-07-01", "thirty_days")  # the later deadline (2 July) changes nothing
    assert interest_of(invoice) == [(day(35), 86)]  # 2–6 July, 5 days × 6.27 % on 1000.00 = 0.859 → 0.86


def test_286_3_an_sms_does_not_carry_the_consumer_notice_sms_first(app):
    merchant = make_merchant()
    invoice = make_debtor_invoice(merchant, "mobile", "RE-1")
    run_on(-3)
    [sms] = messages()
    assert sms.channel == "sms"
    assert default_of(invoice) == (None, None)
    run_on(7, 21)
    assert default_of(invoice) == ("2025-07-02", "notice_deadline")


def test_286_3_a_business_is_in_default_30_days_after_due_date_and_receipt_without_any_notice(app):
    merchant = make_merchant(consumer_default_notice=False)
    invoice = make_debtor_invoice(merchant, "business", "RE-1")
    run_on(-3)
    # invoice of Sun 18 May presumed received Thu 22 May; due 1 June is later: + 30 → Tue 1 July
    assert default_of(invoice) == ("2025-07-01", "thirty_days")
    run_on(7, 21, 35)
    # 2–6 July at 1.27 + 9 = 10.27 %: 1000 × 5 × 10.27 / 36500 = 1.407 → 1.41
    assert interest_of(invoice) == [(day(35), 141)]


def test_193_a_notice_deadline_on_a_state_holiday_moves_to_the_next_working_day(app):
    due = date(2025, 12, 6)  # the 1st notice goes out on Sat 27 Dec; + 10 days = Tue 6 January 2026 (Epiphany)
    bavarian = make_merchant(consumer_default_notice=False, holiday_state="BY")
    berlin = make_merchant(consumer_default_notice=False, holiday_state="BE")
    in_bavaria = make_debtor_invoice(bavarian, "standard", "RE-1", due=due)
    in_berlin = make_debtor_invoice(berlin, "standard", "RE-1", due=due)
    for n in (-3, 7, 21):
        run(today=due + timedelta(days=n))
    notices = {m.merchant_id: m for m in messages() if m.template == "first_notice"}
    assert notices[bavarian.id].context["deadline"] == "2026-01-07"
    assert notices[berlin.id].context["deadline"] == "2026-01-06"
    assert default_of(in_bavaria) == ("2026-01-07", "notice_deadline")
    assert default_of(in_berlin) == ("2026-01-06", "notice_deadline")


def test_193_the_30_days_of_a_business_ending_on_christmas_day_end_on_the_next_working_day(app):
    merchant = make_merchant()
    invoice = make_debtor_invoice(merchant, "business", "RE-1", due=date(2025, 11, 25))
    run(today=date(2025, 11, 22))  # the pre-due reminder
    # 25 Nov + 30 = Thu 25 Dec; 26 Dec is a holiday, then the weekend → Mon 29 Dec
    assert default_of(invoice) == ("2025-12-29", "thirty_days")


def test_a_late_imported_invoice_gets_its_own_reminder_before_any_notice(app):
    merchant = make_merchant()
    invoice = make_debtor_invoice(merchant, "standard", "RE-1")
    run_on(30)  # first seen 30 days after the due date: the pre-due reminder, reminder and 1st notice are overdue
    [first] = messages()
    assert first.template == "payment_reminder"
    assert default_of(invoice) == (None, None)
    # the 1st notice keeps the policy's distance of 14 days from the reminder
    assert db.session.get(Invoice, invoice.id).next_action_on == day(44)
    run_on(43)
    assert len(messages()) == 1
    run_on(44)
    notice = messages()[-1]
    assert notice.template == "first_notice"
    # sent Tue 15 July + 10 days → Fri 25 July
    assert default_of(invoice) == ("2025-07-25", "notice_deadline")


def test_an_imported_invoice_gets_the_pre_due_reminder_three_days_before_due_and_never_on_the_due_date(app):
    merchant = make_merchant()
    early = make_debtor_invoice(merchant, "standard", "RE-1")
    for n in range(-14, 0):  # daily runs from the invoice date
        run(today=day(n))
    assert [(m.template, m.context["today"]) for m in messages()] == [("pre_due_reminder", "2025-05-29")]
    # an invoice imported on its due date: no pre-due reminder any more, the reminder comes on day 7
    late = make_debtor_invoice(merchant, "business", "RE-2")
    run(today=DUE)
    assert len(messages()) == 1
    assert db.session.get(Invoice, late.id).next_action_on == day(7)
    run_on(7)
    reminders = [(m.template, m.context["today"], [i["number"] for i in m.context["items"]]) for m in messages()[1:]]
    assert sorted(reminders) == [("payment_reminder", "2025-06-08", ["RE-1"]), ("payment_reminder", "2025-06-08", ["RE-2"])]
    assert early.id != late.id
