"""The bulk reconciliation path (ledger.book_many) books exactly what booking entry by entry
through ledger.book books: same ledger, balances, statuses, bank entries, events and cancelled reminders."""
from __future__ import annotations

from datetime import date

from sqlalchemy import select

from portal.extensions import db
from portal.models import BankEntry, Event, Invoice, LedgerEntry, Message
from portal.payments import reconcile
from portal.payments.reconcile import import_statements
from portal.payments.transfer import transfer_for
from tests.conftest import _wipe
from tests.factories import make_invoice, make_merchant
from tests.payments.camt_builder import entry, statement

TODAY = date(2026, 1, 20)
BOOKING_EVENTS = ("ledger.payment", "ledger.reversal", "payment.overpaid", "message.cancelled", "dunning.resumed")


def spaced(reference: str) -> str:
    return " ".join(reference[i:i + 4] for i in range(0, len(reference), 4)).lower()


def scenario() -> tuple[object, list[bytes]]:
    """A merchant, invoices with pending reminders, and three statements touching every rule."""
    from portal.messaging.outbox import enqueue

    merchant = make_merchant("garden")
    inv = {}
    for k, (number, amount, due) in enumerate([
        ("RE-1", "100.00", "2026-01-05"), ("RE-2", "50.00", "2026-01-06"), ("RE-3", "80.00", "2026-01-07"),
        ("RE-4", "30.00", "2026-01-08"), ("RE-5", "10.00", "2026-01-09"), ("RE-6", "20.00", "2026-01-10"),
        ("RE-7", "60.00", "2026-01-11"), ("RE-8", "45.00", "2026-01-12"),
    ]):
        inv[number] = make_invoice(merchant, number, amount=amount, due_date=due, issue_date="2026-01-01", lines=[])
    inv["RE-9"] = make_invoice(merchant, "RE-9", amount="77.00", due_date="2026-01-12", issue_date="2026-01-01", lines=[],
                               debtor={"external_ref": "K-2", "name": "Erika Musterfrau"})
    combined = transfer_for(inv["RE-3"].debtor, [inv["RE-3"], inv["RE-4"]]).reference
    # Reminders: one per invoice for RE-1 and RE-2, one letter about RE-5 and RE-6 together.
    enqueue(debtor=inv["RE-1"].debtor, purpose="dunning", template="payment_reminder", channels=["email"],
            dedupe_key="r-1", invoices=[(inv["RE-1"], "reminder_1")])
    enqueue(debtor=inv["RE-2"].debtor, purpose="dunning", template="payment_reminder", channels=["email"],
            dedupe_key="r-2", invoices=[(inv["RE-2"], "reminder_1")])
    enqueue(debtor=inv["RE-5"].debtor, purpose="dunning", template="payment_reminder", channels=["email"],
            dedupe_key="r-56", invoices=[(inv["RE-5"], "reminder_1"), (inv["RE-6"], "reminder_1")])
    db.session.commit()
    rf = {n: i.rf_reference for n, i in inv.items()}
    first = statement(
        entry("40.00", ref="B1", rf=rf["RE-1"]),  # partial
        entry("20.00", ref="B2", text=f"Zahlung {spaced(rf['RE-2'])}"),  # RF in the text, partial
        entry("60.00", ref="B3", rf=rf["RE-1"]),  # the rest: RE-1 paid, its reminder cancelled
        entry("130.00", ref="B4", rf=combined, e2e="E2E-4"),  # split oldest first, 20.00 credit on RE-4
        entry("30.00", ref="B5", text="RE-5 und RE-6"),  # two numbers: both paid, the joint letter cancelled once
        entry("77.00", ref="B6", text="Danke", name="MUSTERFRAU, ERIKA", iban="DE02120300000000202051"),
        entry("130.00", ref="R1", direction="DBIT", reversal=True, e2e="E2E-4", text="Rueckueberweisung"),
        entry("45.00", ref="B7", rf=rf["RE-8"]),  # after the return
        entry("12.34", ref="B8", text="Spende", name="Someone"),  # unmatched
        entry("45.00", ref="B7", rf=rf["RE-8"]),  # the same bank reference again in the file
        entry("30.00", ref="B9", text="RE-2"),  # RE-2 paid by number
        entry("99.00", ref="B10", rf=rf["RE-7"]),  # overpaid: 39.00 credit
        entry("5.00", ref="B11", rf=rf["RE-7"]),  # on an invoice paid in this very run
    )
    second = statement(  # overlapping: B10 again, and new transfers
        entry("99.00", ref="B10", rf=rf["RE-7"]),
        entry("12.00", ref="B12", text="x", iban="DE02120300000000202051"),  # the IBAN paid RE-9 before
        entry("130.00", ref="B13", rf=combined),
        stmt_id="S2",
    )
    return merchant, [first, second, first]


def snapshot(result_counts: list[tuple]) -> dict:
    db.session.expire_all()
    number = dict(db.session.execute(select(Invoice.id, Invoice.number)).all())
    message_key = dict(db.session.execute(select(Message.id, Message.dedupe_key)).all())

    def ref(text: str) -> str:
        head, _, tail = text.rpartition(":")
        return f"{head}:{number[int(tail)]}" if tail.isdigit() and int(tail) in number else text

    def data(d: dict | None) -> dict | None:
        if not d:
            return d
        out = dict(d)
        if "external_ref" in out:
            out["external_ref"] = ref(out["external_ref"])
        if "message_id" in out:
            out["message_id"] = message_key[out["message_id"]]
        return out

    events: dict[str, list] = {}
    for invoice_id, kind, actor, payload in db.session.execute(
        select(Event.invoice_id, Event.kind, Event.actor, Event.data).where(Event.kind.in_(BOOKING_EVENTS)).order_by(Event.id)
    ):
        events.setdefault(number[invoice_id], []).append((kind, actor, data(payload)))
    return {
        "results": result_counts,
        "invoices": {
            inv.number: (inv.open_minor, inv.status, inv.closed_on, inv.next_action_on)
            for inv in db.session.execute(select(Invoice)).scalars()
        },
        "ledger": sorted(
            (number[e.invoice_id], e.kind, e.amount_minor, e.currency, e.source, ref(e.external_ref), e.booked_on, e.memo,
             repr(e.data))
            for e in db.session.execute(select(LedgerEntry)).scalars()
        ),
        "bank": sorted(
            (b.entry_ref, b.direction, b.state, b.match_method, b.amount_minor,
             repr([[number[i], a] for i, a in b.allocation]) if b.allocation is not None else None)
            for b in db.session.execute(select(BankEntry)).scalars()
        ),
        "events": events,
        "messages": {m.dedupe_key: (m.status, m.last_error) for m in db.session.execute(select(Message)).scalars()},
    }


def run_all(bulk: bool, monkeypatch) -> dict:
    monkeypatch.setattr(reconcile, "BULK", bulk)
    merchant, files = scenario()
    counts = []
    for k, data in enumerate(files):
        result = import_statements(merchant, data, f"s{k}.xml", actor="test", today=TODAY)
        db.session.commit()
        f = result.files[0]
        counts.append((f.already_imported, f.entries, f.booked, f.unmatched, f.reversed, f.duplicates, f.skipped))
    return snapshot(counts)


def test_bulk_and_one_by_one_booking_leave_identical_ledgers_and_balances(app, monkeypatch):
    monkeypatch.setattr(reconcile, "CHUNK", 4)  # several batches, and returns in the middle of one
    one_by_one = run_all(False, monkeypatch)
    _wipe()
    bulk = run_all(True, monkeypatch)

    assert bulk == one_by_one
    # And the scenario really covers what it claims.
    assert bulk["invoices"]["RE-1"][:2] == (0, "paid")
    assert bulk["invoices"]["RE-7"][:2] == (-4400, "paid")
    assert bulk["messages"]["r-1"][0] == bulk["messages"]["r-56"][0] == "cancelled"
    assert [kind for kind, _, _ in bulk["events"]["RE-6"]].count("message.cancelled") == 1
    assert bulk["results"][0][4] == 1 and bulk["results"][2][0] is True
    assert any(kind == "payment.overpaid" for kind, _, _ in bulk["events"]["RE-4"])
