"""Business days for service levels: weekends and Germany's nationwide public holidays are not worked."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo


def easter_sunday(year: int) -> date:
    """Gregorian Easter (the anonymous Gregorian algorithm, a.k.a. Meeus/Jones/Butcher)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l = (32 + 2 * e + 2 * i - h - k) % 7  # noqa: E741 — the algorithm's own name
    m = (a + 11 * h + 22 * l) // 451
    month, day = divmod(h + l - 7 * m + 114, 31)
    return date(year, month, day + 1)


@lru_cache(maxsize=64)
def german_holidays(year: int) -> frozenset[date]:
    """Public holidays observed in every German state."""
    easter = easter_sunday(year)
    return frozenset(
        {
            date(year, 1, 1),
            easter - timedelta(days=2),  # Karfreitag
            easter + timedelta(days=1),  # Ostermontag
            date(year, 5, 1),
            easter + timedelta(days=39),  # Christi Himmelfahrt
            easter + timedelta(days=50),  # Pfingstmontag
            date(year, 10, 3),
            date(year, 12, 25),
            date(year, 12, 26),
        }
    )


def is_business_day(day: date) -> bool:
    return day.weekday() < 5 and day not in german_holidays(day.year)


def add_business_days(start: date, days: int) -> date:
    day = start
    while days > 0:
        day += timedelta(days=1)
        if is_business_day(day):
            days -= 1
    return day


def sla_deadline(received: datetime, business_days: int, tz_name: str) -> datetime:
    """End of the n-th business day after the day something arrived, in the merchant's zone (as UTC)."""
    tz = ZoneInfo(tz_name)
    local_day = received.astimezone(tz).date()
    due_day = add_business_days(local_day, business_days)
    return datetime.combine(due_day, time(23, 59, 59), tz).astimezone(timezone.utc)


class LegalCalendar:
    """Working days in the sense of § 193 BGB: not a Saturday, Sunday or public holiday.

    Public holidays are Germany's national ones plus those of the merchant's state
    (`Merchant.holiday_state`, ISO 3166-2 code without the "DE-" prefix, e.g. "BY"), from the
    `holidays` package; None means the national ones only.
    """

    def __init__(self, state: str | None = None):
        self.state = state or None
        self._years: dict[int, frozenset[date]] = {}

    def holidays_in(self, year: int) -> frozenset[date]:
        if year not in self._years:
            import holidays

            self._years[year] = frozenset(holidays.country_holidays("DE", subdiv=self.state, years=year))
        return self._years[year]

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self.holidays_in(day.year)

    def working_day_on_or_after(self, day: date) -> date:
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def add_working_days(self, start: date, days: int) -> date:
        day = start
        while days > 0:
            day += timedelta(days=1)
            if self.is_working_day(day):
                days -= 1
        return day


@lru_cache(maxsize=32)
def legal_calendar(state: str | None = None) -> LegalCalendar:
    return LegalCalendar(state)


# The German states by ISO 3166-2 code (without "DE-"), as the `holidays` package names its subdivisions.
GERMAN_STATES = {
    "BW": "Baden-Württemberg", "BY": "Bayern", "BE": "Berlin", "BB": "Brandenburg", "HB": "Bremen", "HH": "Hamburg",
    "HE": "Hessen", "MV": "Mecklenburg-Vorpommern", "NI": "Niedersachsen", "NW": "Nordrhein-Westfalen",
    "RP": "Rheinland-Pfalz", "SL": "Saarland", "SN": "Sachsen", "ST": "Sachsen-Anhalt", "SH": "Schleswig-Holstein",
    "TH": "Thüringen",
}
