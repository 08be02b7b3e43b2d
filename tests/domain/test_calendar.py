from datetime import date, datetime, timezone

from portal.domain.calendar import add_business_days, easter_sunday, german_holidays, sla_deadline


def test_easter_dates_match_the_calendar():
    assert easter_sunday(2024) == date(2024, 3, 31)
    assert easter_sunday(2025) == date(2025, 4, 20)
    assert easter_sunday(2026) == date(2026, 4, 5)


def test_business_days_skip_weekends_and_german_holidays():
    assert add_business_days(date(2026, 11, 20), 2) == date(2026, 11, 24)  # Friday → Tuesday
    assert add_business_days(date(2026, 12, 23), 2) == date(2026, 12, 28)  # over Christmas
    assert date(2026, 4, 3) in german_holidays(2026)  # Good Friday


def test_an_sla_of_two_business_days_ends_at_midnight_merchant_time():
    received = datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc)  # a Friday afternoon
    deadline = sla_deadline(received, 2, "Europe/Berlin")
    assert deadline == datetime(2026, 11, 24, 22, 59, 59, tzinfo=timezone.utc)
