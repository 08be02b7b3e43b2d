"""Every dashboard figure on the three-month fixture equals the hand computation written here."""
from __future__ import annotations

import pytest

from portal.analytics import queries
from portal.analytics.queries import Scope
from portal.extensions import db
from tests.analytics.fixture import END, START, TODAY, build, d


@pytest.fixture
def shop(app):
    return build()


def scope(merchant, **kw):
    return Scope(merchant_id=merchant.id, start=kw.pop("start", START), end=kw.pop("end", END), today=TODAY,
                 currency=kw.pop("currency", "EUR"), **kw)


def test_aging_now_and_at_each_month_end(shop):
    merchant, _ = shop
    s = scope(merchant)
    # 31 March: C 300.00 + 1.20 interest, 58 days past due; F 80.00, 6 days; G 60.00 due 15 April.
    # D was handed over on 20 March, A, B, E, I paid, H cancelled: nothing of theirs is open.
    now = queries.open_at(db.session, s, d(3, 31))
    assert now.amounts == {"not_due": 6000, "0_30": 8000, "31_60": 30120, "61_90": 0, "90_plus": 0}
    assert now.counts == {"not_due": 1, "0_30": 1, "31_60": 1, "61_90": 0, "90_plus": 0}
    development = queries.aging_development(db.session, s)
    assert [p.day for p in development] == [d(1, 31), d(2, 28), d(3, 31)]
    # 31 January: B 200.00 (16 days past due), C 300.00 not yet due; A and I paid, H cancelled on the 25th.
    assert development[0].amounts == {"not_due": 30000, "0_30": 20000, "31_60": 0, "61_90": 0, "90_plus": 0}
    # 28 February: C 27 days, D 400.00 13 days (its 50.00 came on 1 March), E 50.00 not yet due; B paid on the 20th.
    assert development[1].amounts == {"not_due": 5000, "0_30": 70000, "31_60": 0, "61_90": 0, "90_plus": 0}
    assert development[2].amounts == now.amounts
    # On the day itself the same figure comes from the balances the ledger keeps on each invoice.
    live = queries.open_at(db.session, Scope(
        merchant_id=merchant.id, start=START, end=END, today=d(3, 31), currency="EUR"), d(3, 31))
    assert live.amounts == now.amounts and live.counts == now.counts


def test_recovery_share_by_step_and_channel_and_days_to_payment(shop):
    merchant, _ = shop
    r = queries.recovery(db.session, scope(merchant))
    # Due in the quarter, not cancelled: A 100, B 200, C 300, D 400, E 50, F 80, I 90 = 1,220.00
    assert (r.invoices, r.due_minor) == (7, 122000)
    # Received, at most the principal: A 100, B 200 (of 205), D 50, E 50, I 90 = 490.00
    assert r.recovered_minor == 49000 and round(r.share, 4) == 0.4016
    assert r.paid_invoices == 4  # A, B, E, I
    assert r.by_step == {"reminder": (2, 15000), "notice_1": (1, 20000), None: (1, 9000)}
    assert r.by_channel == {"email": (1, 10000), "letter": (1, 20000), None: (2, 14000)}  # E's SMS never went out
    # Days from due date to payment: A 8, E 11, I 14, B 36 → median (2nd of 4) 11, 90th percentile (4th) 36
    assert (r.median_days, r.p90_days) == (11, 36)


def test_funnel_per_step_and_channel(shop):
    merchant, _ = shop
    rows = [(f.step, f.channel, f.queued, f.sent, f.opened, f.started, f.paid[7], f.paid[14], f.paid[30])
            for f in queries.funnel(db.session, scope(merchant))]
    assert rows == [
        # B's first notice on 5 Feb, paid on 20 Feb: within 30 days, not within 14
        ("notice_1", "letter", 1, 1, 0, 0, 0, 0, 1),
        # A's reminder (12 Jan): opened and started the next day, paid on the 13th; B's (22 Jan): paid 20 Feb, day 29
        ("reminder", "email", 2, 2, 1, 1, 1, 1, 2),
        # C's letter: the link opened on 20 March is weeks later, not counted
        ("reminder", "letter", 1, 1, 0, 0, 0, 0, 0),
        # E's SMS failed: queued, never sent
        ("reminder", "sms", 1, 0, 0, 0, 0, 0, 0),
    ]


def test_self_service_and_cases_against_the_sla(shop):
    merchant, _ = shop
    ss = queries.self_service(db.session, scope(merchant))
    # Paid in the quarter: A (card in the portal), E (its promise), B and I (staff acted on them)
    assert (ss.settled, ss.portal_card, ss.plan, ss.promise, ss.with_staff) == (4, 1, 0, 1, 2)
    assert ss.share == 0.5
    c = queries.cases(db.session, scope(merchant))
    assert c.opened == {"dispute": 2, "promise": 1, "plan": 1}
    # B's dispute answered after 96 h (SLA 48 h: late), C's after 24 h (in time); F's plan request still waits
    assert (c.answered, c.within_sla, c.waiting) == (2, 1, 1)
    assert (c.median_hours, c.p90_hours) == (24, 96)


def test_dso_handover_and_charges(shop):
    merchant, _ = shop
    months = queries.dso(db.session, scope(merchant))
    # Jan: open 500.00 at month end / invoiced 660.00 (B, C, H, I) × 31 = 23.5
    # Feb: open 750.00 / invoiced 450.00 (D, E) × 28 = 46.7;  Mar: open 441.20 / invoiced 140.00 (F, G) × 31 = 97.7
    assert [(m.month, m.receivables, m.sales, m.dso) for m in months] == [
        (d(1, 1), 50000, 66000, 23.5), (d(2, 1), 75000, 45000, 46.7), (d(3, 1), 44120, 14000, 97.7)]
    h = queries.handed_over(db.session, scope(merchant))
    assert (h.count, h.amount_minor) == (1, 35000)  # D: 400.00 less the 50.00 paid before the handover
    ch = queries.charges(db.session, scope(merchant))
    assert (ch.fee_charged, ch.fee_collected, ch.interest_charged, ch.interest_collected) == (500, 500, 120, 0)


def test_filters_by_customer_group_channel_and_currency(shop):
    merchant, groups = shop
    older = scope(merchant, group=groups["older"].id)
    assert queries.open_at(db.session, older, d(3, 31)).amounts["31_60"] == 30120
    assert queries.open_at(db.session, older, d(3, 31)).total == 30120
    assert (queries.recovery(db.session, older).due_minor, queries.recovery(db.session, older).recovered_minor) == (30000, 0)
    by_email = scope(merchant, channel="email")  # invoices reminded by email: A and B
    r = queries.recovery(db.session, by_email)
    assert (r.invoices, r.due_minor, r.recovered_minor) == (2, 30000, 30000)
    assert [(f.step, f.channel) for f in queries.funnel(db.session, by_email)] == [("reminder", "email")]
    chf = scope(merchant, currency="CHF")
    assert queries.open_at(db.session, chf, d(3, 31)).amounts["31_60"] == 50000
    assert queries.recovery(db.session, chf).due_minor == 50000


def test_a_customer_group_filter_counts_invoices_under_every_version_of_the_group(shop):
    from portal.models import Invoice
    from portal.policies import service

    merchant, groups = shop
    old = groups["older"]
    new = service.save(merchant, service.draft_of(old), by="admin@example.com", base=old)
    invoice = db.session.query(Invoice).filter_by(dunning_policy_id=old.id).first()
    invoice.dunning_policy_id = new.id  # one invoice entered the group after the change
    db.session.commit()
    older = scope(merchant, group=old.group_id)
    assert queries.open_at(db.session, older, d(3, 31)).total == 30120
    assert queries.recovery(db.session, older).due_minor == 30000
