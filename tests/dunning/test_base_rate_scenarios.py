"""Interest that is never lost (§ 288 (1), (2) BGB over the base rate of § 247 BGB): daily runs over time with
`flask dunning run --today`, a half-year whose rate is entered late with `flask base-rates set … --today`.

The scenario: 1,000.00 EUR due Monday 1 June 2026, debtor reminded by email; in default from the end of
1 July 2026 (§ 286 (3) BGB: 30 days after due date and receipt), interest from 2 July. The shipped table has no
rate for the half-year from 1 July 2026; these tests enter 2.02 % for it (consumers 7.02 %, businesses 11.02 %).
Steps: 2nd notice Mon 6 July, final notice Mon 20 July, handover Mon 3 August 2026.
"""
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.messaging import render
from portal.models import BaseRateEntry, Event, Invoice, LedgerEntry, Message
from tests.dunning.helpers import make_debtor_invoice
from tests.factories import make_merchant

DUE = date(2026, 6, 1)


def cli(runner, *args):
    result = runner.invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result.output


def drive(runner, first: date, last: date):
    day = first
    while day <= last:
        cli(runner, "dunning", "run", "--today", day.isoformat())
        day += timedelta(days=1)


def interest_entries(invoice_id):
    return [(e.amount_minor, e.booked_on, e.external_ref, (e.data or {}).get("supplement"))
            for e in db.session.execute(select(LedgerEntry).where(LedgerEntry.invoice_id == invoice_id,
                                                                   LedgerEntry.kind == "interest").order_by(LedgerEntry.id)).scalars()]


def charged_days(invoice_id) -> list[date]:
    days = []
    for e in db.session.execute(select(LedgerEntry).where(LedgerEntry.invoice_id == invoice_id, LedgerEntry.kind == "interest")).scalars():
        for s in e.data["segments"]:
            start = date.fromisoformat(s["from"])
            days += [start + timedelta(days=n) for n in range(s["days"])]
    return sorted(days)


def test_a_rate_entered_late_charges_the_held_back_days_at_once_then_every_step_goes_on_and_nothing_is_charged_twice(app, runner):
    merchant = make_merchant()
    invoice = make_debtor_invoice(merchant, "standard", "RE-1", due=DUE)
    drive(runner, DUE - timedelta(days=5), date(2026, 7, 10))
    # The 2nd notice of 6 July could not charge 2–6 July: no rate for the half-year yet. Held back, not lost.
    inv = db.session.get(Invoice, invoice.id)
    assert (inv.default_on, inv.interest_through) == (date(2026, 7, 1), None)
    assert interest_entries(invoice.id) == []
    assert db.session.execute(select(Event.data).where(Event.invoice_id == invoice.id, Event.kind == "dunning.interest_refused")
                              ).scalars().all() == [{"half_year": "2026-07-01"}]

    out = cli(runner, "base-rates", "set", "2026-07-01", "2.02", "--today", "2026-07-10")
    assert "2.02 %" in out and "1 invoice(s)" in out
    # As soon as it is entered: 2–6 July, 5 days × 1,000.00 × 7.02 % / 365 = 96.16 cents → 0.96 EUR.
    assert interest_entries(invoice.id) == [(96, date(2026, 7, 10), f"interest:{invoice.id}:2026-07-02..2026-07-06", "rate_entered_late")]
    assert db.session.get(Invoice, invoice.id).interest_through == date(2026, 7, 6)

    # Entering the same rate again, and running the same day again, change nothing.
    assert "nothing changed" in cli(runner, "base-rates", "set", "2026-07-01", "2.02", "--today", "2026-07-11")
    cli(runner, "dunning", "run", "--today", "2026-07-10")
    assert len(interest_entries(invoice.id)) == 1
    assert db.session.query(BaseRateEntry).count() == 1

    drive(runner, date(2026, 7, 11), date(2026, 8, 5))
    assert interest_entries(invoice.id) == [
        (96, date(2026, 7, 10), f"interest:{invoice.id}:2026-07-02..2026-07-06", "rate_entered_late"),
        # final notice 20 July: 7–20 July, 14 days × 1,000.00 × 7.02 % / 365 = 269.26 → 2.69 EUR
        (269, date(2026, 7, 20), f"interest:{invoice.id}:2026-07-20", None),
        # handover 3 August: 21 July–3 August, 14 days → 2.69 EUR
        (269, date(2026, 8, 3), f"interest:{invoice.id}:2026-08-03", None),
    ]
    # Every day from 2 July to the handover day is charged exactly once.
    assert charged_days(invoice.id) == [date(2026, 7, 2) + timedelta(days=n) for n in range(33)]
    fees = sum(e.amount_minor for e in db.session.execute(
        select(LedgerEntry).where(LedgerEntry.invoice_id == invoice.id, LedgerEntry.kind == "fee")).scalars())
    assert db.session.get(Invoice, invoice.id).open_minor == 100000 + fees + 96 + 269 + 269
    # The final notice (a letter, 20 July) itemises the interest with its rate as a person reads it.
    final = db.session.execute(select(Message).where(Message.template == "final_notice")).scalar_one()
    with app.test_request_context():
        letter = render.render_letter_html(final, link="https://example.test/p/x")
    text = " ".join(letter.replace("\xa0", " ").split())
    assert ("Verzugszinsen (§ 288 BGB): 7,02 % p. a. (Basiszinssatz 2,02 % + 5 Prozentpunkte) vom 02.07.2026 bis 20.07.2026"
            in text), text


@pytest.mark.parametrize("group, rate, expected", [
    # 2 July–3 August 2026, 33 days × 1,000.00 × 7.02 % / 365 = 634.68 cents → 6.35 EUR (consumer: base + 5 points)
    ("standard", "7.02", 635),
    # 33 days × 1,000.00 × 11.02 % / 365 = 996.33 cents → 9.96 EUR (business: base + 9 points, § 288 (2) BGB)
    ("business", "11.02", 996),
])
def test_a_claim_handed_over_before_the_rate_was_entered_gets_the_interest_up_to_the_handover_day_as_a_supplement(
        app, runner, group, rate, expected):
    merchant = make_merchant()
    invoice = make_debtor_invoice(merchant, group, "RE-1", due=DUE)
    drive(runner, DUE - timedelta(days=5), date(2026, 8, 5))
    inv = db.session.get(Invoice, invoice.id)
    assert (inv.status, inv.closed_on, inv.default_on, inv.interest_through) == ("handed_over", date(2026, 8, 3), date(2026, 7, 1), None)
    assert interest_entries(invoice.id) == []

    cli(runner, "base-rates", "set", "2026-07-01", "2.02", "--today", "2026-08-10")
    entry = db.session.execute(select(LedgerEntry).where(LedgerEntry.invoice_id == invoice.id, LedgerEntry.kind == "interest")).scalar_one()
    assert (entry.amount_minor, entry.booked_on, entry.external_ref) == (expected, date(2026, 8, 10), f"interest:{invoice.id}:2026-07-02..2026-08-03")
    # The marker the handover export selects: kind "interest" with data.supplement == "after_handover".
    assert entry.data["supplement"] == "after_handover" and entry.memo == "Default interest (§ 288 BGB), supplement after handover"
    assert [(s["from"], s["to"], s["days"], s["base_rate"], s["rate"]) for s in entry.data["segments"]] == [
        ("2026-07-02", "2026-08-03", 33, "2.02", rate)]
    inv = db.session.get(Invoice, invoice.id)
    assert (inv.status, inv.interest_through) == ("handed_over", date(2026, 8, 3))
    # Staff are told to pass it on to the agency.
    notice = db.session.execute(select(Message).where(Message.template == "staff_interest_supplement")).scalar_one()
    assert notice.context["values"] == ["RE-1"]
    # Again: nothing twice.
    cli(runner, "dunning", "run", "--today", "2026-08-11")
    assert len(interest_entries(invoice.id)) == 1


def test_a_step_charges_interest_up_to_the_last_day_whose_base_rate_is_known_and_holds_back_only_the_rest(app, runner):
    merchant = make_merchant()
    invoice = make_debtor_invoice(merchant, "standard", "RE-1", due=date(2026, 5, 11))
    # In default from the end of 10 June 2026; 2nd notice Mon 15 June, final notice Mon 29 June, handover Mon 13 July.
    drive(runner, date(2026, 5, 6), date(2026, 7, 14))
    inv = db.session.get(Invoice, invoice.id)
    assert inv.default_on == date(2026, 6, 10)
    assert interest_entries(invoice.id) == [
        # 11–15 June, 5 days × 1,000.00 × 6.27 % / 365 = 85.89 → 0.86 EUR
        (86, date(2026, 6, 15), f"interest:{invoice.id}:2026-06-15", None),
        # 16–29 June, 14 days → 240.49 → 2.40 EUR
        (240, date(2026, 6, 29), f"interest:{invoice.id}:2026-06-29", None),
        # handover 13 July: 30 June at 6.27 % (17.18 cents) is charged; 1–13 July wait for the rate → 0.17 EUR
        (17, date(2026, 7, 13), f"interest:{invoice.id}:2026-07-13", None),
    ]
    assert db.session.get(Invoice, invoice.id).interest_through == date(2026, 6, 30)
    cli(runner, "base-rates", "set", "2026-07-01", "2.02", "--today", "2026-07-20")
    # 1–13 July, 13 days × 1,000.00 × 7.02 % / 365 = 250.03 → 2.50 EUR, after handover
    assert interest_entries(invoice.id)[-1] == (250, date(2026, 7, 20), f"interest:{invoice.id}:2026-07-01..2026-07-13", "after_handover")
    assert charged_days(invoice.id) == [date(2026, 6, 11) + timedelta(days=n) for n in range(33)]


def test_the_shipped_table_holds_1_27_percent_from_1_january_2026_as_published_by_the_bundesbank(app, runner):
    lines = cli(runner, "base-rates", "list").splitlines()
    assert "2026-01-01    1.27 %  shipped" in lines
    assert "2026-07-01  not entered" in lines


def test_the_agency_gets_interest_entered_after_an_export_in_the_next_export_as_a_supplement_once(app, runner):
    import io
    import json
    import zipfile

    from portal.dunning.handover import export

    merchant = make_merchant()
    make_debtor_invoice(merchant, "standard", "RE-1", due=DUE)
    drive(runner, DUE - timedelta(days=5), date(2026, 8, 5))
    first = export(merchant, actor="test")
    db.session.commit()
    assert (first.claims, first.supplements) == (1, 0)
    cli(runner, "base-rates", "set", "2026-07-01", "2.02", "--today", "2026-08-10")
    second = export(merchant, actor="test")
    db.session.commit()
    assert (second.claims, second.supplements) == (0, 1)
    with zipfile.ZipFile(io.BytesIO(second.data)) as archive:
        supplement, = json.loads(archive.read("claims.json"))["supplements"]
    # 2 July–3 August 2026 at 7.02 % (base rate 2.02 % + 5 points): 6.35 EUR, reported as an interest supplement
    assert (supplement["kind"], supplement["amount"], supplement["interest_supplement"]) == ("interest", "6.35", True)
    assert export(merchant, actor="test").supplements == 0


def test_a_running_worker_charges_the_held_back_interest_when_another_process_enters_the_rate(app, runner, database_url):
    """`flask worker` calls the daily run in a long-lived process: a rate committed elsewhere counts at its next pass."""
    from decimal import Decimal

    from sqlalchemy import create_engine, insert

    from portal.dunning.run import run
    from portal.models.types import utcnow

    merchant = make_merchant()
    invoice = make_debtor_invoice(merchant, "standard", "RE-1", due=DUE)
    for n in range(-5, 66):
        run(today=DUE + timedelta(days=n), merchant=merchant)  # handed over on 3 August with no interest
    assert interest_entries(invoice.id) == []
    other = create_engine(database_url)  # e.g. `flask base-rates set` on another machine
    with other.begin() as conn:
        conn.execute(insert(BaseRateEntry.__table__).values(valid_from=date(2026, 7, 1), rate_percent=Decimal("2.02"),
                                                            actor="cli:ops", entered_at=utcnow()))
    other.dispose()
    run(today=date(2026, 8, 12), merchant=merchant)
    # 2 July–3 August, 33 days at 7.02 % → 6.35 EUR, as a supplement for the agency
    assert interest_entries(invoice.id) == [(635, date(2026, 8, 12), f"interest:{invoice.id}:2026-07-02..2026-08-03", "after_handover")]
    run(today=date(2026, 8, 13), merchant=merchant)
    assert len(interest_entries(invoice.id)) == 1


def test_the_debtor_sees_each_interest_period_with_its_rate_and_make_up_in_the_portal(app, runner, client):
    import re
    from html import unescape

    from portal.links import token_for

    merchant = make_merchant()
    invoice = make_debtor_invoice(merchant, "standard", "RE-1", due=DUE)
    drive(runner, DUE - timedelta(days=5), date(2026, 7, 10))
    cli(runner, "base-rates", "set", "2026-07-01", "2.02", "--today", "2026-07-10")
    assert client.get(f"/p/{token_for(invoice.debtor)}").status_code == 303
    page = client.get(f"/portal/invoices/{invoice.id}").get_data(as_text=True)
    text = " ".join(unescape(re.sub(r"<[^>]+>", " ", page)).replace("\xa0", " ").split())
    assert "0,96 €" in text
    assert "7,02 % p. a. (Basiszinssatz 2,02 % + 5 Prozentpunkte) vom 02.07.2026 bis 06.07.2026" in text
