"""The § 247 BGB table in the back office: admins see and maintain it (validated, audited, CSRF), support staff
get "no permission", every staff page warns from 14 days before a half-year whose rate is missing."""
from __future__ import annotations

import re
from datetime import date
from html import unescape

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import BaseRateEntry, Event
from tests.factories import make_user
from tests.office.conftest import PASSWORD, csrf_from, sign_in

ISO_DAY = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")


def text_of(html: str) -> str:
    """What a person reads: the page without tags, attributes, scripts and styles."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", body)).replace("\xa0", " "))


def admin_of(client, merchant, email="admin@alpha.example", language="de"):
    user = make_user(merchant, email, role="admin", password=PASSWORD)
    user.language = language
    db.session.commit()
    assert sign_in(client, user.email).status_code == 303
    return client


@pytest.fixture
def admin(client, merchant_a):
    return admin_of(client, merchant_a)


def post_rate(client, valid_from, rate, token=None):
    token = token or csrf_from(client.get("/office/base-rates").get_data(as_text=True))
    return client.post("/office/base-rates", data={"csrf_token": token, "valid_from": valid_from, "rate": rate})


def test_the_page_shows_the_rates_in_force_with_their_make_up_in_german_and_no_iso_dates(admin):
    response = admin.get("/office/base-rates")
    assert response.status_code == 200
    text = text_of(response.get_data(as_text=True))
    assert "6,27 % p. a. (Basiszinssatz 1,27 % + 5 Prozentpunkte)" in text
    assert "10,27 % p. a. (Basiszinssatz 1,27 % + 9 Prozentpunkte)" in text
    assert "01.01.2026" in text and "mit Settle ausgeliefert" in text
    assert not ISO_DAY.search(text), ISO_DAY.search(text)


def test_the_page_reads_in_english_for_an_english_speaking_admin(client, merchant_a):
    admin_of(client, merchant_a, language="en")
    text = text_of(client.get("/office/base-rates").get_data(as_text=True))
    assert "6.27 % p. a. (base rate 1.27 % + 5 percentage points)" in text
    assert "10.27 % p. a. (base rate 1.27 % + 9 percentage points)" in text
    assert "Basiszinssatz" not in text


def test_support_staff_may_neither_see_nor_change_the_table(signed_in):
    assert signed_in.get("/office/base-rates").status_code == 403
    token = csrf_from(signed_in.get("/office/").get_data(as_text=True))
    assert signed_in.post("/office/base-rates", data={"csrf_token": token, "valid_from": "2026-07-01", "rate": "1.27"}).status_code == 403
    assert db.session.query(BaseRateEntry).count() == 0


def test_a_form_without_its_csrf_token_is_refused(admin):
    response = admin.post("/office/base-rates", data={"valid_from": "2026-07-01", "rate": "1.27"})
    assert response.status_code == 400
    assert db.session.query(BaseRateEntry).count() == 0


@pytest.mark.parametrize("valid_from, rate, says", [
    ("2026-07-15", "1,27", "immer ab dem 1. Januar oder dem 1. Juli"),
    ("15.07.2026", "1,27", "immer ab dem 1. Januar oder dem 1. Juli"),
    ("nächsten Juli", "1,27", "z. B. 01.07.2026"),
    ("2026-07-01", "21", "zwischen −10 % und 20 %"),
    ("2026-07-01", "1,275", "höchstens zwei Nachkommastellen"),
    ("2026-07-01", "", "als Zahl"),
    ("2026-01-01", "2,00", "lässt sich deshalb nicht mehr ändern"),
])
def test_the_form_refuses_a_day_that_is_no_half_year_start_and_a_rate_outside_the_sane_range(admin, valid_from, rate, says):
    response = post_rate(admin, valid_from, rate)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert says in text_of(html) and 'aria-invalid="true"' in html
    assert db.session.query(BaseRateEntry).count() == 0


def test_an_admin_enters_the_rate_it_is_audited_and_shown_in_the_table_and_the_audit_log(admin, merchant_a):
    response = post_rate(admin, "01.07.2026", "1,27")
    assert response.status_code == 303
    page = text_of(admin.get("/office/base-rates").get_data(as_text=True))
    assert "Basiszinssatz für das Halbjahr ab 01.07.2026 gespeichert: 1,27 %." in page
    assert "eingetragen von admin@alpha.example" in page
    event = db.session.execute(select(Event).where(Event.kind == "staff.base_rate.set")).scalar_one()
    assert (event.merchant_id, event.data["valid_from"], event.data["rate"], event.data["by"]) == (
        merchant_a.id, "2026-07-01", "1.27", "admin@alpha.example")
    entry = db.session.query(BaseRateEntry).one()
    assert (entry.valid_from, str(entry.rate_percent), entry.merchant_id, entry.actor_email) == (
        date(2026, 7, 1), "1.27", merchant_a.id, "admin@alpha.example")
    audit = text_of(admin.get("/office/audit").get_data(as_text=True))
    assert "Basiszinssatz (§ 247 BGB) für das Halbjahr ab 01.07.2026 eingetragen: 1,27 %" in audit
    # Entering it again changes nothing and is not audited twice.
    assert post_rate(admin, "2026-07-01", "1.27").status_code == 303
    assert db.session.query(BaseRateEntry).count() == 1
    assert db.session.query(Event).filter_by(kind="staff.base_rate.set").count() == 1


def test_another_merchant_sees_the_shared_rate_but_not_who_entered_it(app, admin, merchant_b):
    assert post_rate(admin, "2026-07-01", "1,27").status_code == 303
    other = app.test_client()
    admin_of(other, merchant_b, email="admin@beta.example")
    page = text_of(other.get("/office/base-rates").get_data(as_text=True))
    assert "im Backoffice eines anderen Shops eingetragen" in page
    assert "admin@alpha.example" not in page
    assert db.session.query(Event).filter_by(kind="staff.base_rate.set", merchant_id=merchant_b.id).count() == 0


def banner(client) -> str | None:
    match = re.search(r'<p class="flash [^"]*banner-base-rate"[^>]*>(.*?)</p>', client.get("/office/").get_data(as_text=True), re.S)
    return text_of(match.group(1)).strip() if match else None


def test_every_page_warns_from_14_days_before_a_half_year_whose_rate_is_missing(app, admin, monkeypatch, merchant_a):
    import portal.office.base_rates as page

    # The running half-year has no rate (the shipped table ends with 1 July 2026 "unknown"): interest is held back.
    monkeypatch.setattr(page, "today_for", lambda tz: date(2026, 12, 2))
    assert banner(admin).startswith("Der Basiszinssatz (§ 247 BGB) für das Halbjahr ab 01.07.2026 ist nicht eingetragen.")
    assert "Basiszinssatz eintragen" in banner(admin)
    assert post_rate(admin, "2026-07-01", "1,27").status_code == 303
    # 17 December is 15 days before 1 January 2027: no banner yet; from 18 December (14 days) there is one.
    monkeypatch.setattr(page, "today_for", lambda tz: date(2026, 12, 17))
    assert banner(admin) is None
    monkeypatch.setattr(page, "today_for", lambda tz: date(2026, 12, 18))
    assert banner(admin).startswith("Der Basiszinssatz (§ 247 BGB) für das Halbjahr ab 01.01.2027 ist noch nicht eingetragen.")
    # Support staff see it too, without the link they could not follow.
    support = app.test_client()
    make_user(merchant_a, "help@alpha.example", role="support", password=PASSWORD)
    sign_in(support, "help@alpha.example")
    assert banner(support).startswith("Der Basiszinssatz") and "Basiszinssatz eintragen" not in banner(support)
    assert post_rate(admin, "2027-01-01", "1,27").status_code == 303
    assert banner(admin) is None
