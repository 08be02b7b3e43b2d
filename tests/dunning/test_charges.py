"""Statutory charges, checked to the cent against examples computed by hand."""
from datetime import date
from decimal import Decimal

import pytest

from portal.domain import charges as law
from portal.domain.base_rate import BaseRateUnknown, load_table, parse_table


def interest(amount, first, last, business=False, movements=()):
    return law.default_interest(amount_minor=amount, movements=list(movements), first_day=first, last_day=last,
                                business=business, table=load_table())


def test_the_table_holds_the_published_base_rates():
    table = load_table()
    assert [table.rate_on(date(y, m, 15)) for y, m in ((2023, 1), (2023, 7), (2024, 1), (2024, 7), (2025, 1), (2025, 7),
                                                       (2026, 1))] == [
        Decimal("1.62"), Decimal("3.12"), Decimal("3.62"), Decimal("3.37"), Decimal("2.27"), Decimal("1.27"), Decimal("1.27")]


def test_interest_for_a_half_year_the_table_does_not_know_is_refused_not_guessed():
    with pytest.raises(BaseRateUnknown):
        interest(100000, date(2026, 6, 20), date(2026, 7, 10))
    with pytest.raises(BaseRateUnknown):
        parse_table(["valid_from,rate_percent,status", "2025-07-01,1.27,published"]).rate_on(date(2026, 3, 1))


def test_consumer_interest_spanning_the_base_rate_change_of_july_2025():
    # 1,000.00 EUR; 26–30 June at 2.27 + 5 = 7.27 %, 1–6 July at 1.27 + 5 = 6.27 %:
    # 100000 × (5 × 7.27 + 6 × 6.27) / 100 / 365 = 202.66 cents → 2.03 EUR
    result = interest(100000, date(2025, 6, 26), date(2025, 7, 6))
    assert result.amount_minor == 203
    assert [(s.days, s.rate) for s in result.segments] == [(5, Decimal("7.27")), (6, Decimal("6.27"))]


def test_business_interest_is_nine_points_over_the_base_rate():
    # 100000 × (5 × 11.27 + 6 × 10.27) / 36500 = 323.21 cents
    assert interest(100000, date(2025, 6, 26), date(2025, 7, 6), business=True).amount_minor == 323


def test_a_whole_year_of_2024_at_3_62_and_3_37_percent():
    # 182 days (1 Jan–30 Jun, leap year) at 8.62 %, 184 days at 8.37 %, on 500.00 EUR, actual/365:
    # 50000 × (182 × 8.62 + 184 × 8.37) / 36500 = 4258.79 cents
    assert interest(50000, date(2024, 1, 1), date(2024, 12, 31)).amount_minor == 4259


def test_a_partial_payment_lowers_the_principal_from_the_next_day():
    # 1000.00 open 1–10 March 2025, 400.00 paid on 5 March: 5 days on 1000, 5 days on 600, at 7.27 %
    # (5 × 100000 + 5 × 60000) × 7.27 / 36500 = 159.34 cents
    result = interest(100000, date(2025, 3, 1), date(2025, 3, 10), movements=[(date(2025, 3, 5), -40000)])
    assert result.amount_minor == 159


def test_rounding_happens_once_half_up_for_the_whole_period():
    # 10.00 EUR for 3 days at 7.27 %: 1000 × 3 × 7.27 / 36500 = 0.5975 cents → 1 cent
    # (rounding each day, 0.199 cents, would give 0)
    result = interest(1000, date(2025, 3, 1), date(2025, 3, 3))
    assert result.exact_minor.quantize(Decimal("0.0001")) == Decimal("0.5975")
    assert result.amount_minor == 1


def test_no_dunning_fee_before_default_and_capped_after():
    kw = dict(step_key="notice_2", business=False, flat_fee_enabled=False, flat_fee_booked=False, currency="EUR")
    assert law.fees_for_step(step_fee_minor=500, fee_cap_minor=250, in_default=False, **kw) == []
    [fee] = law.fees_for_step(step_fee_minor=500, fee_cap_minor=250, in_default=True, **kw)
    assert (fee.kind, fee.amount_minor) == ("fee", 250)


def test_business_debtors_pay_the_40_euro_flat_fee_once_and_no_dunning_fees_on_top():
    kw = dict(step_key="notice_2", step_fee_minor=250, fee_cap_minor=250, in_default=True, business=True,
              flat_fee_enabled=True, currency="EUR")
    [flat] = law.fees_for_step(flat_fee_booked=False, **kw)
    assert (flat.amount_minor, flat.label) == (4000, "fee_flat")
    assert law.fees_for_step(flat_fee_booked=True, **kw) == []




def test_the_flat_fee_is_marked_to_be_credited_against_later_collection_costs():
    """§ 288 (5) sentence 3 BGB: the handover export finds the flat fee by this marker."""
    [flat] = law.fees_for_step(step_key="notice_2", step_fee_minor=250, fee_cap_minor=250, in_default=True, business=True,
                               flat_fee_enabled=True, flat_fee_booked=False, currency="EUR")
    assert flat.data["credit_against_collection_costs"] is True
    assert law.COLLECTION_COST_CREDIT == "credit_against_collection_costs"
