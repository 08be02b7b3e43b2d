"""Flask-free rules behind the debtor portal: contrast of brand colours, balances, status words, step-up, contacts."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from portal.domain import stepup
from portal.domain.contact import Contact, parse_contact
from portal.domain.contrast import DEFAULT_PRIMARY, contrast_ratio, palette
from portal.domain.money import Money
from portal.domain.statement import breakdown, due_state, totals


def test_wcag_contrast_of_black_and_white_is_21_and_of_equal_colours_1():
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast_ratio("#777777", "#777777") == pytest.approx(1.0)
    assert contrast_ratio("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)  # the known AA threshold grey


@pytest.mark.parametrize("primary", ["#ffff00", "#7fd67f", "#e8f0f8", "#ff6600", "#00aaff"])
def test_light_brand_colours_are_darkened_until_white_text_reaches_4_5_to_1(primary):
    p = palette(primary, "#e8f0f8")
    assert p.primary_adjusted
    assert contrast_ratio(p.primary, "#ffffff") >= 4.5
    assert contrast_ratio(p.primary, "#f6f7f9") >= 4.5  # links on the page background
    assert contrast_ratio(p.primary, "#ffffff") < 5.5  # only as dark as needed


def test_a_readable_brand_colour_is_kept_and_a_broken_one_falls_back():
    assert palette("#2e6b30", "#eef5e9").primary == "#2e6b30"
    assert not palette("#2E6B30", None).primary_adjusted
    assert palette("not a colour", None).primary == DEFAULT_PRIMARY


def test_a_dark_accent_background_is_lightened_for_dark_text():
    p = palette("#2e6b30", "#333333")
    assert p.accent_adjusted and contrast_ratio(p.accent, "#1a1a1a") >= 4.5


def test_breakdown_itemises_principal_fees_interest_and_payments():
    b = breakdown(11900, "EUR", {"fee": 250, "interest": 137, "payment": -2000, "refund": 500, "credit": -100}, 10687)
    assert b.principal == Money(11900, "EUR") and b.fees == Money(250, "EUR") and b.interest == Money(137, "EUR")
    assert b.paid == Money(1500, "EUR") and b.credited == Money(100, "EUR") and b.open == Money(10687, "EUR")
    assert b.has_charges
    assert not breakdown(5000, "EUR", {}, 5000).has_charges


@pytest.mark.parametrize("due,status,paused,kind,days", [
    (date(2026, 1, 1), "open", None, "overdue", 12),
    (date(2026, 1, 13), "open", None, "due_today", 0),
    (date(2026, 1, 20), "open", None, "not_due", 7),
    (date(2026, 1, 1), "open", "dispute", "paused_dispute", 0),
    (date(2026, 1, 1), "paid", None, "paid", 0),
    (date(2026, 1, 1), "cancelled", None, "closed", 0),
])
def test_due_state_in_plain_terms(due, status, paused, kind, days):
    state = due_state(status=status, due_date=due, today=date(2026, 1, 13), paused_reason=paused)
    assert (state.kind, state.days) == (kind, days)


def test_totals_are_kept_per_currency():
    assert totals([Money(100, "EUR"), Money(5, "CHF"), Money(250, "EUR")]) == [Money(350, "EUR"), Money(5, "CHF")]


def test_step_up_answers_ignore_case_spaces_and_dashes_but_nothing_else():
    expected = stepup.expected_answer(postal_code="70173", customer_number="K-1")
    assert stepup.matches(expected, " 70 173")
    assert not stepup.matches(expected, "70174")
    assert not stepup.matches(expected, "")
    assert stepup.question(None) == "customer_number"
    assert stepup.matches(stepup.expected_answer(postal_code="  ", customer_number="K-1001"), "k1001")
    assert not stepup.matches("", "")


def test_step_up_locks_after_five_failures_within_a_day():
    now = datetime(2026, 1, 13, 12, tzinfo=timezone.utc)
    recent = [now - timedelta(hours=h) for h in range(5)]
    assert stepup.locked(recent, now)
    assert not stepup.locked(recent[:4], now)
    assert not stepup.locked([now - timedelta(hours=25)] * 5, now)


@pytest.mark.parametrize("raw,expected", [
    ("Max@Example.DE ", Contact("email", "max@example.de")),
    ("0170 1234567", Contact("phone", "+491701234567")),
    ("+49 (170) 123-4567", Contact("phone", "+491701234567")),
    ("0049 170 1234567", Contact("phone", "+491701234567")),
    ("hello", None),
    ("a@b", None),
    ("", None),
])
def test_contacts_typed_by_people_are_normalised(raw, expected):
    assert parse_contact(raw) == expected
