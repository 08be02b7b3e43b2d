"""The base-rate table in force: `flask base-rates set` validates and audits; every process sees a change
without a restart; the rate is written out the way a person reads it."""
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, insert, select

from portal.domain.base_rate import InvalidBaseRate, load_table, parse_rate, validate_entry
from portal.dunning import base_rates
from portal.extensions import db
from portal.models import BaseRateEntry, Event
from tests.factories import make_merchant


def set_rate(runner, *args):
    return runner.invoke(args=["base-rates", "set", *args])


@pytest.mark.parametrize("day, rate, says", [
    ("2026-07-02", "1.27", "1 January or 1 July"),
    ("2026-03-01", "1.27", "1 January or 1 July"),
    ("2027-01-01", "25", "outside -10 … 20 %"),
    ("2027-01-01", "-10.5", "outside -10 … 20 %"),
    ("2027-01-01", "1.275", "at most two decimals"),
    ("2027-01-01", "eins", "not a rate"),
    ("2027-13-01", "1.27", "use YYYY-MM-DD"),
])
def test_the_command_line_refuses_a_day_that_is_no_half_year_start_and_a_rate_outside_the_sane_range(app, runner, day, rate, says):
    result = set_rate(runner, day, rate, "--today", "2026-12-20")
    assert result.exit_code != 0 and says in result.output
    assert db.session.query(BaseRateEntry).count() == 0


def test_a_rate_in_force_cannot_be_changed_but_one_for_a_coming_half_year_can_be_corrected(app, runner):
    refused = set_rate(runner, "2026-01-01", "2.00", "--today", "2026-12-20")
    assert refused.exit_code == 1 and "stays 1.27 %" in refused.output
    assert set_rate(runner, "2027-01-01", "1.50", "--today", "2026-12-20").exit_code == 0
    corrected = set_rate(runner, "2027-01-01", "1,60", "--today", "2026-12-21")
    assert corrected.exit_code == 0 and "(was 1.50 %)" in corrected.output
    assert base_rates.current_table().rate_on(date(2027, 3, 1)) == Decimal("1.60")
    assert [(e.rate_percent, e.previous_percent) for e in db.session.query(BaseRateEntry).order_by(BaseRateEntry.id)] == [
        (Decimal("1.50"), None), (Decimal("1.60"), Decimal("1.50"))]


def test_without_a_day_the_command_line_reckons_in_germany_where_the_half_year_begins_an_hour_before_utc(
        app, runner, monkeypatch):
    # At 23:30 UTC on 30 June it is 01:30 on 1 July in Germany: the half-year from 1 July has begun, and its
    # rate (entered ahead) can no longer be changed. (A year far ahead, so the real clock cannot decide.)
    from datetime import datetime, timezone

    import portal.clock

    assert set_rate(runner, "2099-07-01", "1.50", "--today", "2099-06-01").exit_code == 0

    class LateOnThirtiethOfJune(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2099, 6, 30, 23, 30, tzinfo=timezone.utc).astimezone(tz)

    monkeypatch.setattr(portal.clock, "datetime", LateOnThirtiethOfJune)
    refused = set_rate(runner, "2099-07-01", "1.60")
    assert refused.exit_code == 1 and "stays 1.50 %" in refused.output
    assert base_rates.current_table().rate_on(date(2099, 7, 1)) == Decimal("1.50")


def test_the_command_line_entry_is_in_every_merchants_audit_log_with_the_login_name(app, runner, monkeypatch):
    monkeypatch.setattr("getpass.getuser", lambda: "ops-anna")
    a, b = make_merchant(), make_merchant()
    assert set_rate(runner, "2026-07-01", "1.27", "--today", "2026-12-02").exit_code == 0
    rows = db.session.execute(select(Event.merchant_id, Event.kind, Event.actor, Event.data).where(Event.kind == "staff.base_rate.set")
                              .order_by(Event.merchant_id)).all()
    assert [(r.merchant_id, r.actor, r.data["valid_from"], r.data["rate"]) for r in rows] == [
        (a.id, "cli:ops-anna", "2026-07-01", "1.27"), (b.id, "cli:ops-anna", "2026-07-01", "1.27")]
    entry = db.session.query(BaseRateEntry).one()
    assert (entry.actor, entry.merchant_id, entry.valid_from) == ("cli:ops-anna", None, date(2026, 7, 1))


def test_a_rate_entered_by_another_process_counts_at_the_next_lookup_without_a_restart(app, database_url):
    first = base_rates.current_table()
    assert not first.knows(date(2026, 7, 1))
    assert base_rates.current_table() is first  # unchanged version: the copy in memory is used
    # Another process (its own connection) enters the rate and commits.
    other = create_engine(database_url)
    with other.begin() as conn:
        conn.execute(insert(BaseRateEntry.__table__).values(valid_from=date(2026, 7, 1), rate_percent=Decimal("1.77"),
                                                            actor="cli:other", entered_at=first_moment()))
    other.dispose()
    db.session.commit()  # this process's next request or batch starts a new transaction
    assert base_rates.current_table().rate_on(date(2026, 8, 1)) == Decimal("1.77")


def first_moment():
    from portal.models.types import utcnow

    return utcnow()


def test_the_domain_rules_for_an_entry():
    assert validate_entry(date(2026, 7, 1), Decimal("-0.88")) == (date(2026, 7, 1), Decimal("-0.88"))
    assert parse_rate(" 1,27 % ") == Decimal("1.27") and parse_rate("\u22120,88") == Decimal("-0.88")
    with pytest.raises(InvalidBaseRate) as exc:
        validate_entry(date(2026, 1, 2), Decimal("1"))
    assert exc.value.reason == "not_half_year"
    table = load_table()
    assert table.known_through(date(2026, 6, 20), date(2026, 7, 10)) == date(2026, 6, 30)
    assert table.first_unknown(date(2026, 6, 20), date(2026, 7, 10)) == date(2026, 7, 1)
    assert table.known_through(date(2026, 7, 2), date(2026, 7, 10)) is None


@pytest.mark.parametrize("language, consumer, business", [
    ("de", "6,27 % p. a. (Basiszinssatz 1,27 % + 5 Prozentpunkte)", "10,27 % p. a. (Basiszinssatz 1,27 % + 9 Prozentpunkte)"),
    ("en", "6.27 % p. a. (base rate 1.27 % + 5 percentage points)", "10.27 % p. a. (base rate 1.27 % + 9 percentage points)"),
])
def test_the_rate_is_written_with_its_make_up_in_the_readers_language(app, language, consumer, business):
    from flask import g

    from portal.i18n import format_interest_rate

    with app.test_request_context():
        g.locale = language
        assert format_interest_rate(Decimal("6.27"), Decimal("1.27")) == consumer
        assert format_interest_rate("10.27", "1.27") == business
        assert format_interest_rate("4.12", "-0.88").endswith("\u22120,88 % + 5 Prozentpunkte)" if language == "de"
                                                              else "\u22120.88 % + 5 percentage points)")


@pytest.mark.parametrize("language, line", [
    ("de", "7,02 % p. a. (Basiszinssatz 2,02 % + 5 Prozentpunkte) auf 1.000,00 € vom 02.07.2026 bis 06.07.2026 (5 Tage)"),
    ("en", "7.02 % p. a. (base rate 2.02 % + 5 percentage points) on €1,000.00 from Jul 2, 2026 to Jul 6, 2026 (5 days)"),
])
def test_an_email_itemises_each_interest_period_with_the_rate_and_its_make_up(app, language, line):
    from flask import g, render_template

    from portal.domain.money import Money

    segment = {"from": date(2026, 7, 2), "to": date(2026, 7, 6), "days": 5, "principal": Money(100000, "EUR"),
               "base_rate": "2.02", "rate": "7.02"}
    item = {"number": "RE-1", "order_ref": None, "due_date": date(2026, 6, 1), "principal": Money(100000, "EUR"),
            "open": Money(100096, "EUR"), "paid_minor": 0, "interest_refused": None,
            "charges": [{"label": "interest", "amount": Money(96, "EUR"), "segments": [segment]}]}
    with app.test_request_context():
        g.locale = language
        for name in ("email/partials/_items.txt", "email/partials/_items.html"):
            text = " ".join(render_template(name, items=[item], total=Money(100096, "EUR")).replace("\xa0", " ").split())
            assert line in text, text
