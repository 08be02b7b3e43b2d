"""One booking per credit: a transfer reported in the intraday camt.054 and again in the day's camt.053
is booked once, whichever level (entry or transaction) carries the bank's references, in either order;
payments count from their value date (ValDt)."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import BankEntry, Invoice, LedgerEntry
from portal.payments.reconcile import import_statements
from tests.factories import make_invoice, make_merchant
from tests.payments.camt_builder import batch, entry, notification, statement

TODAY = date(2026, 1, 16)


@pytest.fixture
def merchant(app):
    return make_merchant("garden")


@pytest.fixture
def invoice(merchant):
    return make_invoice(merchant, "RE-1", amount="200.00")


def run(merchant, data: bytes, name: str):
    result = import_statements(merchant, data, name, actor="test", today=TODAY)
    db.session.commit()
    return result


def payments(invoice) -> list[tuple[int, date]]:
    return [(-amount, on) for amount, on in db.session.execute(
        select(LedgerEntry.amount_minor, LedgerEntry.booked_on)
        .where(LedgerEntry.invoice_id == invoice.id, LedgerEntry.kind == "payment").order_by(LedgerEntry.id)).all()]


def open_minor(invoice) -> int:
    db.session.expire_all()
    return db.session.get(Invoice, invoice.id).open_minor


# (camt.054 entry, camt.053 entry) of the same 50.00 EUR credit, the references at different levels.
def same_credit_pairs(rf: str) -> dict[str, tuple[str, str]]:
    return {
        "entry ref in the 054, transaction ref in the 053": (
            entry("50.00", ref="BANK-4711", rf=rf),
            entry("50.00", ref="STMT-0001", tx_ref="BANK-4711", rf=rf)),
        "transaction ref in the 054, entry ref in the 053": (
            entry("50.00", tx_ref="BANK-4711", rf=rf),
            entry("50.00", ref="BANK-4711", rf=rf)),
        "only the EndToEndId in the 054": (
            entry("50.00", e2e="SHOP-ORDER-99", rf=rf, text="intraday"),
            entry("50.00", ref="STMT-0001", e2e="SHOP-ORDER-99", rf=rf, text="Gutschrift RE-1")),
        "only the structured reference in the 054": (
            entry("50.00", rf=rf, text="Eingang vorab"),
            entry("50.00", ref="STMT-0001", tx_ref="TX-9", rf=rf, name="Erika Muster")),
    }


CASES = ["entry ref in the 054, transaction ref in the 053", "transaction ref in the 054, entry ref in the 053",
         "only the EndToEndId in the 054", "only the structured reference in the 054"]


@pytest.mark.parametrize("case", CASES)
def test_a_credit_in_the_camt054_and_again_in_the_camt053_is_booked_once(merchant, invoice, case):
    early, late = same_credit_pairs(invoice.rf_reference)[case]
    first = run(merchant, notification(early), "intraday.xml")
    second = run(merchant, statement(late), "day.xml")
    assert (first.total("booked"), second.total("booked"), second.total("duplicates")) == (1, 0, 1)
    assert payments(invoice) == [(5000, date(2026, 1, 15))]
    assert open_minor(invoice) == 15000  # 200.00 − 50.00, once
    assert db.session.execute(select(func.count(BankEntry.id))).scalar_one() == 1


@pytest.mark.parametrize("case", CASES)
def test_the_reverse_order_camt053_first_then_the_camt054_also_books_once(merchant, invoice, case):
    early, late = same_credit_pairs(invoice.rf_reference)[case]
    run(merchant, statement(late), "day.xml")
    again = run(merchant, notification(early), "intraday.xml")
    assert (again.total("booked"), again.total("duplicates")) == (0, 1)
    assert payments(invoice) == [(5000, date(2026, 1, 15))]
    assert open_minor(invoice) == 15000


def test_a_054_then_a_053_then_a_re_export_of_the_053_books_once(merchant, invoice):
    early, late = same_credit_pairs(invoice.rf_reference)["only the structured reference in the 054"]
    run(merchant, notification(early), "intraday.xml")
    run(merchant, statement(late), "day.xml")
    reexport = run(merchant, statement(late, stmt_id="STMT-1-COPY"), "day-again.xml")
    assert reexport.total("duplicates") == 1 and open_minor(invoice) == 15000


def test_a_053_batch_entry_repeats_two_single_054_credits_by_their_transaction_refs(merchant):
    a = make_invoice(merchant, "RE-A", amount="30.00")
    b = make_invoice(merchant, "RE-B", amount="40.00")
    run(merchant, notification(entry("30.00", ref="T-1", rf=a.rf_reference), entry("40.00", ref="T-2", rf=b.rf_reference)),
        "intraday.xml")
    day = run(merchant, statement(batch("70.00", [{"amount": "30.00", "tx_ref": "T-1", "rf": a.rf_reference},
                                                  {"amount": "40.00", "tx_ref": "T-2", "rf": b.rf_reference}],
                                        ref="SAMMLER-1")), "day.xml")
    assert (day.total("booked"), day.total("duplicates")) == (0, 2)
    assert (open_minor(a), open_minor(b)) == (0, 0)
    assert len(payments(a)) == len(payments(b)) == 1


def test_two_equal_transfers_on_one_day_stay_two_in_both_files(merchant, invoice):
    rf = invoice.rf_reference
    run(merchant, notification(entry("50.00", rf=rf), entry("50.00", rf=rf)), "intraday.xml")
    day = run(merchant, statement(entry("50.00", ref="S-1", rf=rf), entry("50.00", ref="S-2", rf=rf)), "day.xml")
    assert (day.total("booked"), day.total("duplicates")) == (0, 2)
    assert [a for a, _ in payments(invoice)] == [5000, 5000] and open_minor(invoice) == 10000


def test_a_different_end_to_end_id_is_another_credit_even_with_the_same_reference_and_amount(merchant, invoice):
    rf = invoice.rf_reference
    run(merchant, notification(entry("50.00", e2e="E2E-1", rf=rf)), "intraday.xml")
    day = run(merchant, statement(entry("50.00", ref="S-1", e2e="E2E-2", rf=rf)), "day.xml")
    assert day.total("booked") == 1 and open_minor(invoice) == 10000


def test_a_payment_counts_from_its_value_date_not_its_booking_date(merchant, invoice):
    run(merchant, statement(entry("200.00", ref="V-1", rf=invoice.rf_reference, booked="2026-01-15", value="2026-01-13")),
        "day.xml")
    assert payments(invoice) == [(20000, date(2026, 1, 13))]
    db.session.expire_all()
    assert db.session.get(Invoice, invoice.id).closed_on == date(2026, 1, 13)


def test_payments_of_one_file_are_allocated_in_value_date_order(merchant):
    """The earlier money pays the older invoice first, whatever order the bank lists the entries in."""
    older = make_invoice(merchant, "RE-2001", amount="60.00", issue_date="2025-12-01", due_date="2026-01-01")
    newer = make_invoice(merchant, "RE-2002", amount="60.00", issue_date="2025-12-01", due_date="2026-01-10",
                         debtor={"external_ref": older.debtor.external_ref})
    text = "RE-2001 RE-2002"
    run(merchant, statement(entry("60.00", ref="LATE", text=text, value="2026-01-15"),
                            entry("30.00", ref="EARLY", text=text, value="2026-01-12")), "day.xml")
    rows = db.session.execute(select(LedgerEntry.invoice_id, LedgerEntry.amount_minor, LedgerEntry.booked_on)
                              .where(LedgerEntry.kind == "payment").order_by(LedgerEntry.id)).all()
    assert [(r.invoice_id, -r.amount_minor, r.booked_on) for r in rows] == [
        (older.id, 3000, date(2026, 1, 12)),  # the 30.00 of the 12th first
        (older.id, 3000, date(2026, 1, 15)), (newer.id, 3000, date(2026, 1, 15)),
    ]
