"""Ninety days of daily dunning runs for a debtor of every customer group: exactly which
message goes out on which day over which channel, and which charges it carries."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.dunning.run import run
from portal.extensions import db
from portal.models import Invoice, LedgerEntry, Message
from tests.dunning.helpers import DUE, make_debtor_invoice, messages
from tests.factories import make_merchant

STEPS = [(-3, "pre_due_reminder"), (7, "payment_reminder"), (21, "first_notice"), (35, "second_notice"),
         (49, "final_notice"), (63, "handover_notice")]
EXPECTED_CHANNELS = {
    "standard": ["email", "email", "email", "email", "letter", "letter"],
    "older": ["letter"] * 6,
    "mobile": ["sms", "sms", "sms", "sms", "letter", "letter"],
    "business": ["email", "email", "email", "email", "letter", "letter"],
}

# DUE is Sunday 1 June 2025; the pre-due reminder goes out Thursday 29 May, the 1st notice Sunday 22 June.
EXPECTED_DEFAULT = {
    # email received Fri 30 May; 30 days from the due date (the later day) → Tue 1 July (§ 286 (3) BGB)
    "standard": ("2025-07-01", "thirty_days"),
    # letter received on the 4th day, Mon 2 June, after the due date: 30 days from receipt → Wed 2 July
    "older": ("2025-07-02", "thirty_days"),
    # an SMS does not carry the § 286 (3) notice: the 1st notice's deadline, 22 June + 10 = Wed 2 July (§ 286 (1) BGB)
    "mobile": ("2025-07-02", "notice_deadline"),
    # businesses need no notice: 30 days after due date and receipt of the invoice → Tue 1 July
    "business": ("2025-07-01", "thirty_days"),
}


def drive(days, start):
    """Run every day from `start` for `days` days; returns (day offset from DUE, template, channel, debtor ref)."""
    seen, out = set(), []
    for n in range(days):
        today = start + timedelta(days=n)
        run(today=today)
        for message in messages():
            if message.id not in seen:
                seen.add(message.id)
                out.append(((today - DUE).days, message.template, message.channel, message.context["items"]))
    return out


@pytest.mark.parametrize("group", list(EXPECTED_CHANNELS))
def test_ninety_days_of_runs_send_each_step_once_on_its_day_and_channel(app, group):
    merchant = make_merchant(business_flat_fee=True)
    invoice = make_debtor_invoice(merchant, group, "RE-1")
    sent = drive(90, DUE - timedelta(days=14))
    assert [(day, template, channel) for day, template, channel, _ in sent] == [
        (day, template, channel) for (day, template), channel in zip(STEPS, EXPECTED_CHANNELS[group])
    ]
    invoice = db.session.get(Invoice, invoice.id)
    assert invoice.status == "handed_over" and invoice.closed_on == DUE + timedelta(days=63)
    assert (invoice.default_on.isoformat(), invoice.default_rule) == EXPECTED_DEFAULT[group]


def charges_of(invoice_id):
    return [(e.kind, e.amount_minor, e.booked_on, e.external_ref) for e in db.session.execute(
        select(LedgerEntry).where(LedgerEntry.invoice_id == invoice_id).order_by(LedgerEntry.id)).scalars()]


def test_consumer_charges_to_the_cent_with_a_fee_only_for_the_letter_at_its_actual_cost(app):
    """Dunning fees reflect actual costs: the second notice goes by email (fee 0), the final notice by letter,
    charged at the step's letter fee (1,25 €), below the merchant's letter costs (1,45 €) and the cap."""
    merchant = make_merchant(dunning_fee_cap_minor=250, letter_cost_minor=145)
    invoice = make_debtor_invoice(merchant, "standard", "RE-1")
    sent = drive(70, DUE - timedelta(days=5))
    d = lambda n: DUE + timedelta(days=n)  # noqa: E731
    assert [(day, template, channel) for day, template, channel, _ in sent][3:5] == [
        (35, "second_notice", "email"), (49, "final_notice", "letter")]
    assert charges_of(invoice.id) == [
        # in default from the end of 1 July (§ 286 (3)); second notice (day 35): 2–6 July, 5 days at 6.27 % → 0.86
        ("interest", 86, d(35), f"interest:{invoice.id}:{d(35).isoformat()}"),
        # no fee: the second notice went by email
        # final notice (day 49): 7–20 July, 14 days at 6.27 % → 1000 × 14 × 6.27 / 365 = 2.40
        ("interest", 240, d(49), f"interest:{invoice.id}:{d(49).isoformat()}"),
        ("fee", 125, d(49), f"fee:{invoice.id}:final"),  # min(1,25 step, 1,45 letter costs, 2,50 cap)
        # handover (day 63): 21 July–3 August, 14 days → 2.40, no fee
        ("interest", 240, d(63), f"interest:{invoice.id}:{d(63).isoformat()}"),
    ]
    assert db.session.get(Invoice, invoice.id).open_minor == 100000 + 86 + 240 + 125 + 240
    # Every message itemises what is open: the final notice shows its fee and both interest bookings.
    final_items = next(items for day, template, _, items in sent if template == "final_notice")
    assert final_items[0]["fees_minor"] == 125 and final_items[0]["interest_minor"] == 326
    assert final_items[0]["open_minor"] == 100000 + 86 + 240 + 125


def test_business_debtor_pays_interest_at_nine_points_and_the_40_euro_flat_fee(app):
    merchant = make_merchant(business_flat_fee=True)
    invoice = make_debtor_invoice(merchant, "business", "RE-1")
    drive(70, DUE - timedelta(days=5))
    d = lambda n: DUE + timedelta(days=n)  # noqa: E731
    assert [(k, a, b) for k, a, b, _ in charges_of(invoice.id)] == [
        ("interest", 141, d(35)),  # in default from the end of 1 July: 100000 × 5 × 10.27 / 36500 = 1.41
        ("fee", 4000, d(35)),  # § 288 (5) BGB, once; dunning fees are credited against it
        ("interest", 394, d(49)),  # 100000 × 14 × 10.27 / 36500 = 3.94
        ("interest", 394, d(63)),
    ]
    [flat] = db.session.execute(select(LedgerEntry).where(LedgerEntry.invoice_id == invoice.id, LedgerEntry.kind == "fee")).scalars()
    # The handover export credits it against later collection costs (§ 288 (5) sentence 3 BGB) by this marker.
    assert flat.external_ref.endswith(":flatfee") and flat.data["credit_against_collection_costs"] is True


def test_one_message_per_debtor_lists_every_invoice_due_that_day(app):
    merchant = make_merchant()
    first = make_debtor_invoice(merchant, "standard", "RE-1")
    second = make_debtor_invoice(merchant, "standard", "RE-2", amount="50.00")
    run(today=DUE + timedelta(days=7))
    [message] = messages()
    assert sorted(mi.invoice_id for mi in message.invoices) == sorted([first.id, second.id])
    assert [i["number"] for i in message.context["items"]] == ["RE-1", "RE-2"]


def test_after_missed_days_only_the_latest_step_goes_out_but_no_legal_notice_is_skipped(app):
    merchant = make_merchant()
    invoice = make_debtor_invoice(merchant, "standard", "RE-1")
    run(today=DUE + timedelta(days=7))
    run(today=DUE + timedelta(days=50))  # missed days: notice_1 (day 21) and notice_2 (day 35) and final (49) were due
    assert [m.template for m in messages()] == ["payment_reminder", "first_notice"]  # not beyond the default notice
    invoice = db.session.get(Invoice, invoice.id)
    # The second notice keeps its planned distance (14 days) from the late first notice.
    assert invoice.next_action_on == DUE + timedelta(days=64)
    run(today=DUE + timedelta(days=63))
    assert len(messages()) == 2


def test_rerunning_a_day_creates_nothing(app, runner):
    merchant = make_merchant()
    make_debtor_invoice(merchant, "standard", "RE-1")
    day = (DUE + timedelta(days=35)).isoformat()
    first = runner.invoke(args=["dunning", "run", "--today", day, "--merchant", merchant.slug])
    assert first.exit_code == 0 and "1 message(s) queued" in first.output
    counts = (len(messages()), db.session.execute(select(LedgerEntry)).all().__len__())
    again = runner.invoke(args=["dunning", "run", "--today", day])
    assert "0 step(s) taken" in again.output
    assert (len(messages()), db.session.execute(select(LedgerEntry)).all().__len__()) == counts


def test_a_run_interrupted_mid_way_and_rerun_creates_no_duplicate(app):
    merchant = make_merchant()
    for n, group in enumerate(["standard", "older", "business"]):
        make_debtor_invoice(merchant, group, f"RE-{n}")
    day = DUE + timedelta(days=35)

    class Crash(Exception):
        pass

    def crash_after_first_batch(result):
        raise Crash

    with pytest.raises(Crash):
        run(today=day, batch_debtors=1, after_batch=crash_after_first_batch)
    db.session.rollback()
    assert len(messages()) == 1  # the first batch was committed, the rest never started
    run(today=day, batch_debtors=1)
    assert len(messages()) == 3
    keys = [mi.step for m in messages() for mi in m.invoices]
    # first look on day 35: a first message is a reminder, never a notice (late import)
    assert sorted(keys) == ["reminder", "reminder", "reminder"]
    assert len(db.session.execute(select(Message.dedupe_key)).all()) == 3
