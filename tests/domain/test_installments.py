from datetime import date

import pytest

from portal.domain import installments as inst
from portal.domain.installments import PlanRules, Rate


def test_rates_are_equal_and_the_odd_cents_go_on_the_first_rate():
    rates = inst.schedule(10000, 3, date(2026, 1, 15))
    assert [r.amount_minor for r in rates] == [3334, 3333, 3333]
    assert sum(r.amount_minor for r in rates) == 10000
    assert [r.due_on for r in rates] == [date(2026, 1, 15), date(2026, 2, 15), date(2026, 3, 15)]


def test_monthly_rates_on_the_31st_fall_on_the_last_day_of_short_months():
    rates = inst.schedule(40000, 4, date(2026, 1, 31))
    assert [r.due_on for r in rates] == [date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30)]
    assert inst.add_months(date(2027, 11, 30), 3) == date(2028, 2, 29)


def test_a_request_inside_the_rules_has_no_violations():
    rules = PlanRules(max_rates=6, min_rate_minor=2500, max_total_minor=500000, first_rate_within_days=30)
    assert inst.violations(rules, 30000, 6, date(2026, 2, 1), today=date(2026, 1, 20)) == []


def test_every_rule_broken_is_named():
    rules = PlanRules(max_rates=6, min_rate_minor=2500, max_total_minor=100000, first_rate_within_days=30)
    found = inst.violations(rules, 120000, 60, date(2026, 3, 1), today=date(2026, 1, 1))
    assert set(found) == {"too_many_rates", "rate_too_small", "total_too_high", "first_rate_too_late"}


@pytest.mark.parametrize("rates, first_due", [(1, date(2026, 1, 10)), (37, date(2026, 1, 10)), (3, date(2025, 12, 31)), (3, date(2026, 6, 1))])
def test_hard_limits_refuse_impossible_plans(rates, first_due):
    with pytest.raises(inst.PlanRequestError):
        inst.validate_request(rates, first_due, today=date(2026, 1, 1))


def test_payments_cover_rates_in_order_and_a_rate_is_missed_only_after_the_grace_period():
    rates = [Rate(1, date(2026, 1, 15), 5000), Rate(2, date(2026, 2, 15), 5000), Rate(3, date(2026, 3, 15), 5000)]
    assert inst.rates_paid(rates, 4999) == 0
    assert inst.rates_paid(rates, 10000) == 2
    assert inst.missed_rate(rates, 5000, date(2026, 2, 22), grace_days=7) is None
    assert inst.missed_rate(rates, 5000, date(2026, 2, 23), grace_days=7) == rates[1]
    assert inst.missed_rate(rates, 15000, date(2027, 1, 1), grace_days=7) is None
    assert inst.amount_due_for(rates, 6000) == 4000
    assert inst.next_rate(rates, 15000) is None


def test_a_promise_can_be_made_from_tomorrow_up_to_the_merchants_limit():
    assert inst.promise_window(date(2026, 1, 1), 14) == (date(2026, 1, 2), date(2026, 1, 15))
