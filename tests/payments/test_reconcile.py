"""Bank reconciliation rules: matching order, splits, credits, returns, idempotency, refusal of bad files."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from portal.domain import rf
from portal.domain.camt import CamtError
from portal.extensions import db
from portal.models import BankEntry, BankStatementFile, Event, Invoice, LedgerEntry
from portal.payments.reconcile import AssignmentError, assign, import_statements, unmatched_entries
from portal.payments.transfer import transfer_for
from tests.factories import make_invoice, make_merchant
from tests.payments.camt_builder import entry, statement

TODAY = date(2026, 1, 20)


@pytest.fixture
def merchant(app):
    return make_merchant("garden")


def run(merchant, data: bytes, name="stmt.xml"):
    result = import_statements(merchant, data, name, actor="test", today=TODAY)
    db.session.commit()
    return result


def state(invoice):
    db.session.expire_all()
    inv = db.session.get(Invoice, invoice.id)
    return inv.status, inv.open_minor


def ledger_count():
    return db.session.execute(select(func.count(LedgerEntry.id))).scalar_one()


def test_rf_reference_in_free_text_matches_with_spaces_and_lower_case(merchant):
    invoice = make_invoice(merchant, "RE-1", amount="119.00")
    spaced = " ".join(invoice.rf_reference[i:i + 4] for i in range(0, len(invoice.rf_reference), 4)).lower()
    result = run(merchant, statement(entry("119.00", ref="A1", text=f"Zahlung {spaced} danke")))
    assert result.total("booked") == 1
    assert state(invoice) == ("paid", 0)


def test_an_rf_reference_with_wrong_check_digits_is_not_trusted(merchant):
    invoice = make_invoice(merchant, "RE-1", amount="119.00")
    wrong = invoice.rf_reference[:2] + ("00" if invoice.rf_reference[2:4] != "00" else "01") + invoice.rf_reference[4:]
    assert not rf.is_valid(wrong)
    result = run(merchant, statement(entry("119.00", ref="A1", rf=wrong, name="Somebody Else")))
    assert result.total("unmatched") == 1
    assert state(invoice) == ("open", 11900)


def test_invoice_number_in_the_text_matches_when_there_is_no_reference(merchant):
    invoice = make_invoice(merchant, "RE-2025-0042", amount="50.00")
    run(merchant, statement(entry("50.00", ref="A1", text="Rechnung re-2025-0042 vom 1.12.")))
    assert state(invoice) == ("paid", 0)
    assert db.session.execute(select(BankEntry.match_method)).scalar_one() == "number"


def test_amount_with_payer_name_matches_only_when_unambiguous(merchant):
    mine = make_invoice(merchant, "RE-1", amount="77.00", debtor={"external_ref": "K-1", "name": "Erika Musterfrau"})
    make_invoice(merchant, "RE-2", amount="77.00", debtor={"external_ref": "K-2", "name": "Hans Meier"})
    run(merchant, statement(entry("77.00", ref="A1", text="Danke", name="MUSTERFRAU, ERIKA", iban="DE02120300000000202051")))
    assert state(mine) == ("paid", 0)
    # The IBAN is remembered: the next transfer from it pays Erika's next invoice even without her name.
    later = make_invoice(merchant, "RE-3", amount="12.00", debtor={"external_ref": "K-1", "name": "Erika Musterfrau"})
    run(merchant, statement(entry("12.00", ref="A2", text="x", iban="DE02120300000000202051"), stmt_id="S2"), "s2.xml")
    assert state(later) == ("paid", 0)


def test_a_partial_payment_leaves_the_rest_open(merchant):
    invoice = make_invoice(merchant, "RE-1", amount="119.00")
    run(merchant, statement(entry("19.00", ref="A1", rf=invoice.rf_reference)))
    assert state(invoice) == ("open", 10000)


def test_one_transfer_with_a_combined_reference_is_split_oldest_first_and_the_excess_kept_as_credit(merchant):
    old = make_invoice(merchant, "RE-1", amount="100.00", due_date="2026-01-05", issue_date="2026-01-01")
    new = make_invoice(merchant, "RE-2", amount="40.00", due_date="2026-01-15", issue_date="2026-01-01")
    reference = transfer_for(old.debtor, [old, new]).reference
    db.session.commit()
    run(merchant, statement(entry("150.00", ref="A1", rf=reference)))
    assert state(old) == ("paid", 0)
    assert state(new) == ("paid", -1000)  # 10.00 credit
    assert db.session.execute(select(Event.data).where(Event.kind == "payment.overpaid")).scalar_one()["credit_minor"] == 1000


def test_a_combined_reference_paying_too_little_pays_the_oldest_first(merchant):
    old = make_invoice(merchant, "RE-1", amount="100.00", due_date="2026-01-05", issue_date="2026-01-01")
    new = make_invoice(merchant, "RE-2", amount="40.00", due_date="2026-01-15", issue_date="2026-01-01")
    reference = transfer_for(old.debtor, [new, old]).reference
    db.session.commit()
    run(merchant, statement(entry("120.00", ref="A1", rf=reference)))
    assert state(old) == ("paid", 0)
    assert state(new) == ("open", 2000)


def test_several_invoice_numbers_in_one_text_are_all_paid(merchant):
    a = make_invoice(merchant, "RE-10", amount="10.00", due_date="2026-01-05", issue_date="2026-01-01")
    b = make_invoice(merchant, "RE-11", amount="20.00", due_date="2026-01-06", issue_date="2026-01-01")
    run(merchant, statement(entry("30.00", ref="A1", text="RE-10 und RE-11")))
    assert state(a) == ("paid", 0) and state(b) == ("paid", 0)


def test_an_overlapping_statement_books_each_entry_once(merchant):
    a = make_invoice(merchant, "RE-1", amount="10.00")
    b = make_invoice(merchant, "RE-2", amount="20.00")
    run(merchant, statement(entry("10.00", ref="BANK-1", rf=a.rf_reference), stmt_id="S1"), "day1.xml")
    run(merchant, statement(entry("10.00", ref="BANK-1", rf=a.rf_reference),
                            entry("20.00", ref="BANK-2", rf=b.rf_reference), stmt_id="S2"), "week.xml")
    assert state(a) == ("paid", 0) and state(b) == ("paid", 0)
    assert ledger_count() == 2


def test_entries_without_a_bank_reference_are_told_apart_by_a_stable_hash(merchant):
    invoice = make_invoice(merchant, "RE-1", amount="30.00")
    twins = statement(entry("10.00", rf=invoice.rf_reference), entry("10.00", rf=invoice.rf_reference))
    run(merchant, twins, "a.xml")
    assert state(invoice) == ("open", 1000)  # two identical transfers are two payments
    run(merchant, twins.replace(b"STMT-1", b"STMT-1 "), "b.xml")  # same entries, other bytes
    assert state(invoice) == ("open", 1000)


def test_a_returned_transfer_reopens_the_invoice(merchant):
    invoice = make_invoice(merchant, "RE-1", amount="50.00")
    run(merchant, statement(entry("50.00", ref="IN-1", rf=invoice.rf_reference, e2e="E2E-77")), "in.xml")
    assert state(invoice) == ("paid", 0)
    run(merchant, statement(entry("50.00", ref="OUT-1", direction="DBIT", reversal=True, e2e="E2E-77",
                                  text="Rueckueberweisung"), stmt_id="S2"), "return.xml")
    assert state(invoice) == ("open", 5000)
    assert set(db.session.execute(select(BankEntry.state)).scalars()) == {"reversed", "booked"}


def test_debits_pending_entries_and_credit_reversals_are_not_payments(merchant):
    invoice = make_invoice(merchant, "RE-1", amount="50.00")
    result = run(merchant, statement(
        entry("50.00", ref="D1", direction="DBIT", rf=invoice.rf_reference),
        entry("50.00", ref="P1", status="PDNG", rf=invoice.rf_reference, version=8),
        entry("50.00", ref="R1", reversal=True, rf=invoice.rf_reference),
        version=8,
    ))
    assert result.total("skipped") == 3 and result.total("booked") == 0
    assert state(invoice) == ("open", 5000)


@pytest.mark.parametrize("version", [2, 3, 4, 5, 6, 7, 8])
def test_every_message_version_parses(merchant, version):
    invoice = make_invoice(merchant, f"RE-{version}", amount="10.00")
    result = run(merchant, statement(entry("10.00", ref="A", rf=invoice.rf_reference, name="Max", version=version), version=version))
    assert result.files[0].message_type == f"camt.053.001.{version:02d}"
    assert state(invoice) == ("paid", 0)


@pytest.mark.parametrize(
    "data, message",
    [
        (statement(entry("10.00", ref="A"), entry("ten", ref="B")), "'ten' is not an amount"),
        (statement(entry("10.005", ref="A")), "at most 2 decimal places"),
        (statement(entry("10.00", ref="A")).replace(b"</Document>", b""), "not well-formed XML"),
        (b'<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"/>', "not a camt.053 or camt.054"),
        (b"", "not well-formed XML"),
    ],
    ids=["bad-amount-late", "too-precise", "truncated", "other-message", "empty"],
)
def test_a_malformed_file_is_rejected_with_a_clear_error_and_books_nothing(merchant, data, message, monkeypatch):
    monkeypatch.setattr("portal.payments.reconcile.CHUNK", 1)  # book entry by entry: the rollback must undo them
    invoice = make_invoice(merchant, "RE-1", amount="10.00")
    # The good entry before the bad one pays RE-1 by its reference: it must not be booked either.
    data = data.replace(b"<BkTxCd/><NtryDtls><TxDtls></TxDtls>",
                        f"<BkTxCd/><NtryDtls><TxDtls><RmtInf><Ustrd>{invoice.rf_reference}</Ustrd></RmtInf></TxDtls>".encode(), 1)
    with pytest.raises(CamtError, match=message):
        import_statements(merchant, data, "bad.xml", actor="test", today=TODAY)
    db.session.rollback()
    assert state(invoice) == ("open", 1000)
    assert db.session.execute(select(func.count(BankStatementFile.id))).scalar_one() == 0
    assert ledger_count() == 0


def test_entity_expansion_is_refused(merchant):
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE Document [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
        b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>&c;</BkToCstmrStmt></Document>'
    )
    with pytest.raises(CamtError, match="DTD"):
        import_statements(merchant, bomb, "bomb.xml", actor="test", today=TODAY)


def test_staff_assign_an_unmatched_payment(merchant):
    invoice = make_invoice(merchant, "RE-1", amount="80.00")
    run(merchant, statement(entry("80.00", ref="A1", text="for my order", name="Someone")))
    [unmatched] = unmatched_entries(merchant)
    other = make_merchant("other")
    foreign = make_invoice(other, "RE-9")
    with pytest.raises(AssignmentError):
        assign(merchant, unmatched, [foreign], actor="user:1", today=TODAY)
    assign(merchant, unmatched, [invoice], actor="user:1", today=TODAY)
    db.session.commit()
    assert state(invoice) == ("paid", 0)
    assert unmatched_entries(merchant) == []
    assert db.session.execute(select(BankEntry.match_method)).scalar_one() == "manual"


def test_a_bank_payment_that_settles_the_invoice_cancels_its_pending_reminder(merchant):
    from portal.messaging.outbox import enqueue
    from portal.models import Message

    invoice = make_invoice(merchant, "RE-1", amount="50.00")
    message = enqueue(debtor=invoice.debtor, purpose="dunning", template="payment_reminder", channels=["email"],
                      dedupe_key="reminder-RE-1", invoices=[(invoice, "reminder_1")])
    db.session.commit()
    run(merchant, statement(entry("20.00", ref="A1", rf=invoice.rf_reference)), "part.xml")
    assert db.session.get(Message, message.id).status == "pending"  # partly paid: dunning continues
    run(merchant, statement(entry("30.00", ref="A2", rf=invoice.rf_reference), stmt_id="S2"), "rest.xml")
    db.session.expire_all()
    assert state(invoice) == ("paid", 0)
    assert db.session.get(Message, message.id).status == "cancelled"
