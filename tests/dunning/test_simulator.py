"""The simulator tells the truth: its 120 days equal what `flask dunning run --today D` followed by
`flask worker --once` produce on a copy of the database, day by day, and it writes and sends nothing."""
from __future__ import annotations

import shutil
from collections import Counter
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, func, select, text

from portal import create_app
from portal.clock import today_for
from portal.simulator import engine as simulator
from portal.extensions import db
from portal.models import Invoice, LedgerEntry, Message, MessageInvoice, Policy
from tests import conftest
from tests.dunning.helpers import start_smtp
from tests.factories import make_invoice, make_merchant, shop_today

GROUPS = {
    # born, kind, extra debtor fields: one of each customer group of the default policies
    "older": ("1940-02-02", "person", {}),
    "mobile": ("2001-03-03", "person", {"phone": "+49 170 7654321"}),
    "standard": ("1980-05-05", "person", {}),
    "business": (None, "business", {"company": "Beispiel GmbH"}),
}
# Days from today to the due date: before the pre-due reminder, at each step, late imports past several
# steps, and (a third of them) far enough ahead that the final notice and its letter fall after the 120 days.
DUE_OFFSETS = [20, 80, 3, 75, 0, -7, 85, -21, -35, 72, -49, -60, 78, -100, 12]
ORDER = ["mobile", "standard", "business", "older", "mobile", "standard", "business"]  # fewer letter-first customers


def _sample(merchant, today: date) -> list[Invoice]:
    """50 invoices across every group, due dates reaching every step type, some without email (letters),
    and ten customers with two invoices each (reminded in one message)."""
    invoices = []
    for n in range(50):
        d = n // 2 if n < 20 else n - 10  # customers 0-9 have two invoices each
        group = ORDER[d % len(ORDER)]
        born, kind, extra = GROUPS[group]
        due = today + timedelta(days=DUE_OFFSETS[n % len(DUE_OFFSETS)])
        debtor = {"external_ref": f"K-{d:03d}", "kind": kind, "name": f"Kunde {d}", "language": "de" if d % 3 else "en",
                  "date_of_birth": born, "email": None if d % 7 == 3 else f"kunde{d}@example.de", **extra,
                  "address": {"street": "Hauptstraße 5", "postal_code": "70173", "city": "Stuttgart", "country": "DE"}}
        amount = f"{40 + n * 37}.{n % 100:02d}"
        invoices.append(make_invoice(merchant, f"RE-{n:03d}", issue_date=(due - timedelta(days=14)).isoformat(),
                                     due_date=due.isoformat(), amount=amount, debtor=debtor,
                                     lines=[{"description": "Gartenbank", "quantity": 1, "amount": amount}]))
    for inv in invoices:
        if inv.debtor.phone:
            inv.debtor.consent_sms = True
    db.session.commit()
    return invoices


def _counts() -> Counter:
    return Counter({t.name: db.session.execute(select(func.count()).select_from(t)).scalar_one()
                    for t in db.metadata.sorted_tables})


def _copy_database(url: str, tmp_path) -> str:
    db.session.remove()
    db.engine.dispose()
    if url.startswith("sqlite"):
        source = url.removeprefix("sqlite:///")
        target = tmp_path / "copy.sqlite3"
        shutil.copyfile(source, target)
        return f"sqlite:///{target}"
    base, name = url.rsplit("/", 1)
    copy = f"{name}_simcopy"
    admin = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{copy}"'))
        conn.execute(text(f'CREATE DATABASE "{copy}" TEMPLATE "{name}"'))
    admin.dispose()
    return f"{base}/{copy}"


def _drop_copy(url: str) -> None:
    if url.startswith("postgresql"):
        base, name = url.rsplit("/", 1)
        admin = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def _real_outcome(tz_name: str, numbers: set[str]) -> dict[str, dict]:
    """The same shape as Timeline.comparable(), read from what the real commands wrote."""
    zone = ZoneInfo(tz_name)
    invoices = {inv.id: inv for inv in db.session.execute(select(Invoice)).scalars() if inv.number in numbers}
    out = {inv.number: {"messages": [], "charges": [], "default_on": inv.default_on, "default_rule": inv.default_rule,
                        "handover_on": inv.closed_on if inv.status == "handed_over" else None,
                        "open_minor": inv.open_minor} for inv in invoices.values()}
    rows = db.session.execute(
        select(Message.sent_at, Message.channel, MessageInvoice.invoice_id, MessageInvoice.step)
        .join(MessageInvoice, MessageInvoice.message_id == Message.id)
        .where(Message.purpose == "dunning", Message.status == "sent").order_by(Message.id, MessageInvoice.id)
    ).all()
    for sent_at, channel, invoice_id, step in rows:
        if invoice_id in invoices:
            out[invoices[invoice_id].number]["messages"].append((sent_at.astimezone(zone).date(), channel, step))
    for entry in db.session.execute(
        select(LedgerEntry).where(LedgerEntry.kind.in_(("fee", "interest"))).order_by(LedgerEntry.id)
    ).scalars():
        if entry.invoice_id in invoices:
            out[invoices[entry.invoice_id].number]["charges"].append((entry.booked_on, entry.kind, entry.amount_minor))
    return out


@pytest.fixture
def smtp(app):
    inbox, controller = start_smtp(app)
    yield inbox
    controller.stop()


def test_fifty_invoices_simulated_equal_the_real_run_and_worker_day_by_day(app, smtp, database_url, tmp_path):
    app.config.update(SMS_PROVIDER="file", SMS_FILE_DIR=str(tmp_path / "sms"))
    merchant = make_merchant(support_email="buchhaltung@shop.example")
    merchant_id, tz_name = merchant.id, merchant.timezone
    today = today_for(tz_name)  # the merchant's day: after 23:00 UTC Berlin is a day ahead
    invoices = _sample(merchant, today)
    numbers = {inv.number for inv in invoices}
    debtor_of = {inv.number: inv.debtor_id for inv in invoices}  # the run sends one message per customer and day
    ids = [inv.id for inv in invoices]
    policies = db.session.execute(select(Policy.id).where(Policy.merchant_id == merchant_id)).scalars().all()
    before = _counts()
    db.session.commit()  # the simulations run on their own connection; end this read first

    # Each customer group simulated as a whole (every sample invoice belongs to exactly one group),
    # and one invoice on its own: it tells the same story as within its group.
    simulated = {}
    for policy_id in policies:
        simulated.update(simulator.simulate(merchant_id, policy_id=policy_id, start=today).comparable())
    single = simulator.simulate(merchant_id, invoice_ids=[ids[5]], start=today).comparable()

    assert _counts() == before  # nothing written
    db.session.commit()
    assert smtp.raw == [] and not (tmp_path / "sms").exists()  # nothing sent
    assert not (tmp_path / "storage" / "letters").exists()

    assert set(simulated) == numbers
    single_number = invoices[5].number  # shares its customer with RE-004: both are simulated together
    assert single[single_number] == simulated[single_number] and set(single) == {"RE-004", "RE-005"}

    # The sample reaches every step type, every channel, fees, default and handover.
    steps = {step for o in simulated.values() for _, _, step in o["messages"]}
    assert steps >= {"pre_due", "reminder", "notice_1", "notice_2", "final", "handover"}
    assert {channel for o in simulated.values() for _, channel, _ in o["messages"]} == {"email", "sms", "letter"}
    assert any(o["charges"] for o in simulated.values())
    assert sum(1 for o in simulated.values() if o["handover_on"]) >= 5

    # The real commands, day by day, on a copy of the database.
    copy_url = _copy_database(database_url, tmp_path)
    real_app = create_app(conftest.test_settings(copy_url, STORAGE_DIR=str(tmp_path / "real-storage"),
                                        SMS_PROVIDER="file", SMS_FILE_DIR=str(tmp_path / "real-sms")))
    try:
        with real_app.app_context():
            inbox, controller = start_smtp(real_app)
            runner = real_app.test_cli_runner()
            try:
                for offset in range(simulator.DAYS):
                    day = today + timedelta(days=offset)
                    result = runner.invoke(args=["dunning", "run", "--today", day.isoformat()])
                    assert result.exit_code == 0, result.output
                    now = simulator.worker_time(day, tz_name)
                    result = runner.invoke(args=["worker", "--once", "--now", now.isoformat()])
                    assert result.exit_code == 0, result.output
                real = _real_outcome(tz_name, numbers)
            finally:
                controller.stop()
                db.session.remove()
                db.engine.dispose()
    finally:
        _drop_copy(copy_url)

    for number in sorted(numbers):
        assert simulated[number] == real[number], number
    to_debtors = [m for m in inbox.messages if "buchhaltung@" not in str(m["To"])]
    emails = {(debtor_of[n], day) for n, o in simulated.items() for day, channel, _ in o["messages"] if channel == "email"}
    assert len(to_debtors) == len(emails) > 0
    assert any(len({n for n in simulated if debtor_of[n] == d}) == 2 for d, _ in emails)  # a message for two invoices


def test_worker_now_sends_only_what_is_due_at_that_moment(app, smtp, runner):
    merchant = make_merchant()
    today = shop_today()
    due = today - timedelta(days=10)
    make_invoice(merchant, "RE-1", issue_date=(due - timedelta(days=14)).isoformat(), due_date=due.isoformat(),
                 debtor={"external_ref": "K-1", "kind": "person", "name": "Erika Beispiel", "email": "erika@example.de"})
    assert runner.invoke(args=["dunning", "run", "--today", today.isoformat()]).exit_code == 0
    past = runner.invoke(args=["worker", "--once", "--now", (today - timedelta(days=1)).isoformat() + "T12:00"])
    assert past.exit_code == 0 and past.output.startswith("0 sent") and smtp.raw == []
    evening = simulator.worker_time(today, merchant.timezone).isoformat()
    sent = runner.invoke(args=["worker", "--once", "--now", evening])
    assert sent.output.startswith("1 sent") and len(smtp.raw) == 1
    assert "only together with --once" in runner.invoke(args=["worker", "--now", evening]).output
    assert "use YYYY-MM-DD" in runner.invoke(args=["worker", "--once", "--now", "tomorrow"]).output
