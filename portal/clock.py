""""Today" for a merchant: legal dates are calendar days in the merchant's time zone.

Rules never call this themselves; they take `today` as an argument. Only entry points
(views, CLI, worker) ask the clock, so every rule can be tested and replayed.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo


def today_for(tz_name: str, now: datetime | None = None) -> date:
    now = now or datetime.now(timezone.utc)
    return now.astimezone(ZoneInfo(tz_name)).date()
