"""The dashboard page and its CSV downloads show the fixture's hand-computed figures; charts match by hand."""
from __future__ import annotations

import re
from datetime import date, datetime, timezone

import pytest

from portal.analytics import charts
from portal.extensions import db
from portal.models import DayFigure, OpenDay
from tests.analytics.fixture import build
from tests.factories import make_user
from tests.office.conftest import PASSWORD, sign_in

QUERY = "?start=2026-01-01&end=2026-03-31"


@pytest.fixture
def page(app, client, monkeypatch):
    merchant, groups = build()
    import portal.office.dashboard as view

    monkeypatch.setattr(view, "today_for", lambda tz: date(2026, 4, 10))
    make_user(merchant, "chef@shop.example", role="support", password=PASSWORD)
    assert sign_in(client, "chef@shop.example").status_code == 303
    return client, merchant, groups


def test_the_dashboard_shows_every_figure_with_its_explanation_and_a_chart_that_matches(page):
    client, merchant, _ = page
    html = client.get("/office/" + QUERY).get_data(as_text=True)
    for heading in ("Offener Betrag nach Tagen über Fälligkeit", "Entwicklung des offenen Betrags", "Vom Schreiben zur Zahlung",
                    "Forderungslaufzeit (DSO) je Monat", "Ohne Mitarbeitende erledigt"):
        assert heading in html
    assert "441,20\xa0€" in html  # open on 31 March
    assert "40,2\xa0%" in html  # received of what fell due: 490.00 of 1,220.00
    # The aging chart: bars scaled to the largest bucket (C's 301.20), 200 units wide at most.
    svg = re.search(r'<svg class="chart".*?</svg>', html, re.S).group(0)
    widths = [float(w) for w in re.findall(r'<rect class="bar"[^>]*width="([\d.]+)"', svg)]
    assert widths == [round(6000 * 200 / 30120, 1), round(8000 * 200 / 30120, 1), 200.0, 0.0, 0.0] == [39.8, 53.1, 200.0, 0.0, 0.0]
    assert "<title" in svg and "<desc" in svg and 'role="img"' in svg
    # The development chart: 28 February is the largest total (750.00); its 0–30 segment 700.00 → 186.7 units.
    dev = re.findall(r'<svg class="chart".*?</svg>', html, re.S)[1]
    feb = re.findall(r'<g class="row">.*?</g>', dev, re.S)[1]
    assert re.findall(r'width="([\d.]+)"', feb) == ["13.3", "186.7"]
    assert 'style=' not in html.split("<main", 1)[1]  # strict CSP: no style attributes
    # The past month ends are now cached; the same page again reads them from the cache.
    assert db.session.query(OpenDay).filter_by(merchant_id=merchant.id).count() == 3 * 5
    assert client.get("/office/" + QUERY).get_data(as_text=True).count("441,20\xa0€") == html.count("441,20\xa0€")


def test_each_table_downloads_as_csv(page):
    client, _, groups = page
    response = client.get("/office/" + QUERY + "&export=aging")
    assert response.mimetype == "text/csv" and "attachment" in response.headers["Content-Disposition"]
    lines = response.get_data(as_text=True).lstrip("\ufeff").splitlines()
    assert lines[0].endswith(";Offener Betrag;Rechnungen")
    assert lines[1:] == ["noch nicht fällig;60.00;1", "0–30 Tage;80.00;1", "31–60 Tage;301.20;1", "61–90 Tage;0.00;0",
                         "über 90 Tage;0.00;0", "Summe;441.20;3"]
    funnel = client.get("/office/" + QUERY + "&export=funnel").get_data(as_text=True).lstrip("\ufeff").splitlines()
    assert funnel[2].split(";")[:4] == ["Zahlungserinnerung", "E-Mail", "2", "2"]
    older = client.get("/office/" + QUERY + f"&group={groups['older'].id}&export=recovery").get_data(as_text=True)
    assert "Fällig geworden;300.00" in older and "Eingegangen;0.00" in older
    assert client.get("/office/" + QUERY + "&export=nothing").status_code == 404


def test_a_payment_booked_late_drops_the_cached_days_it_changes(page):
    client, merchant, _ = page
    from portal import ledger
    from portal.analytics import rollup
    from portal.models import Invoice, Watermark

    client.get("/office/" + QUERY)
    c = db.session.query(Invoice).filter_by(merchant_id=merchant.id, number="C").one()
    ledger.book(c, kind="payment", amount_minor=30120, source="bank", external_ref="late", booked_on=date(2026, 2, 20),
                actor="bank")
    db.session.commit()
    first_open, days = rollup.refresh(db.session, merchant.id)
    db.session.commit()
    assert first_open == date(2026, 2, 20)  # open amounts from the value date on …
    assert {r.day for r in db.session.query(OpenDay).filter_by(merchant_id=merchant.id)} == {date(2026, 1, 31)}
    # … and the days the payment can change: its booking day, C's issue, due and message days
    assert {date(2026, 2, 20), date(2026, 1, 10), date(2026, 2, 1), date(2026, 2, 8)} <= days
    assert date(2026, 1, 5) not in days  # A's days (due 5 January) stay cached
    assert not db.session.query(DayFigure).filter(DayFigure.merchant_id == merchant.id, DayFigure.day.in_(days)).count()
    assert db.session.query(DayFigure).filter_by(merchant_id=merchant.id, day=date(2026, 1, 5)).count() == 6
    html = client.get("/office/" + QUERY).get_data(as_text=True)  # … computed again: C is no longer open
    assert "140,00\xa0€" in html
    assert "64,8\xa0%" in html  # received 490.00 + C's 300.00 (its 1.20 interest is not principal) of 1,220.00
    assert db.session.get(Watermark, merchant.id) is not None


def test_a_handover_dated_in_the_past_drops_the_cached_open_amounts_from_that_day_on(page):
    """A claim handed over on 28 March (the run of that day, recorded later) is no longer open on 31 March."""
    client, merchant, _ = page
    from portal.analytics import queries, rollup
    from portal.models import Event, Invoice

    assert "441,20\xa0€" in client.get("/office/" + QUERY).get_data(as_text=True)
    f = db.session.query(Invoice).filter_by(merchant_id=merchant.id, number="F").one()
    f.status, f.closed_on = "handed_over", date(2026, 3, 28)  # what the dunning run writes, with its event
    db.session.add(Event(merchant_id=merchant.id, invoice_id=f.id, debtor_id=f.debtor_id, kind="invoice.handed_over",
                         actor="system:dunning", data={"step": "handover"}))
    db.session.commit()
    first_open, days = rollup.refresh(db.session, merchant.id)
    db.session.commit()
    assert first_open == date(2026, 3, 28)
    assert date(2026, 3, 28) in days
    assert {r.day for r in db.session.query(OpenDay).filter_by(merchant_id=merchant.id)} == {date(2026, 1, 31), date(2026, 2, 28)}
    html = client.get("/office/" + QUERY).get_data(as_text=True)
    assert "361,20\xa0€" in html and "441,20\xa0€" not in html  # 441.20 less F's 80.00
    scope = queries.Scope(merchant_id=merchant.id, start=date(2026, 1, 1), end=date(2026, 3, 31), today=date(2026, 4, 10),
                          currency="EUR")
    handover = rollup.Cache(db.session).figure("handover", scope)
    assert (handover.count, handover.amount_minor) == (2, 35000 + 8000)  # D and now F


def test_a_message_marked_sent_after_its_day_was_cached_counts_as_sent(page):
    """The funnel counts a message on the day it was queued; sent later, that day's cached figure is recomputed."""
    client, merchant, _ = page
    from portal.analytics import queries, rollup
    from portal.messaging import worker
    from portal.models import Invoice, Message, MessageInvoice

    f = db.session.query(Invoice).filter_by(merchant_id=merchant.id, number="F").one()
    msg = Message(merchant_id=merchant.id, debtor_id=f.debtor_id, purpose="dunning", template="payment_reminder",
                  channel="letter", fallbacks=[], language="de", recipient=None, context={}, dedupe_key="late:F",
                  status="pending", created_at=datetime(2026, 3, 27, 9, tzinfo=timezone.utc))
    msg.invoices.append(MessageInvoice(invoice_id=f.id, step="reminder"))
    db.session.add(msg)
    db.session.commit()
    scope = queries.Scope(merchant_id=merchant.id, start=date(2026, 3, 27), end=date(2026, 3, 27), today=date(2026, 4, 10),
                          currency="EUR")

    def letters():
        rows = rollup.Cache(db.session).figure("funnel", scope)
        db.session.commit()
        return [(r.queued, r.sent) for r in rows if r.channel == "letter"]

    assert letters() == [(1, 0)]
    assert db.session.query(DayFigure).filter_by(merchant_id=merchant.id, figure="funnel", day=date(2026, 3, 27)).count() == 1
    msg.status, msg.sent_at = "sent", datetime(2026, 4, 9, 16, tzinfo=timezone.utc)  # the print batch went out late
    worker._event(msg, "message.sent", {"channel": "letter", "provider_id": "batch-1"})
    db.session.commit()
    assert letters() == [(1, 1)]


def test_a_link_opened_drops_only_the_days_of_messages_it_can_count_for_and_a_sign_in_drops_none(page):
    """The funnel counts an opening within 7 days after a message was sent; events about no invoice change no figure."""
    client, merchant, _ = page
    from portal.analytics import rollup
    from portal.models import Event, Invoice

    client.get("/office/" + QUERY)
    rollup.refresh(db.session, merchant.id)
    db.session.commit()
    b = db.session.query(Invoice).filter_by(merchant_id=merchant.id, number="B").one()
    db.session.add(Event(merchant_id=merchant.id, invoice_id=None, debtor_id=None, kind="staff.signed_in", actor="user:1",
                         occurred_at=datetime(2026, 2, 7, 8, tzinfo=timezone.utc)))
    db.session.commit()
    assert rollup.refresh(db.session, merchant.id) == (None, set())
    # B's letter went out on 5 February: an opening on 9 February falls in its window, the reminder of 22 January's not.
    db.session.add(Event(merchant_id=merchant.id, invoice_id=None, debtor_id=b.debtor_id, kind="link.opened", actor="debtor",
                         occurred_at=datetime(2026, 2, 9, 18, tzinfo=timezone.utc)))
    db.session.commit()
    first_open, days = rollup.refresh(db.session, merchant.id)
    db.session.commit()
    assert (first_open, days) == (None, {date(2026, 2, 5)})
    html = client.get("/office/" + QUERY + "&export=funnel").get_data(as_text=True).lstrip("\ufeff").splitlines()
    letter = next(line.split(";") for line in html if "Brief" in line)
    assert letter[5] == "1"  # link opened within 7 days of the letter
