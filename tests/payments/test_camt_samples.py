"""Every real-world sample statement in tests/samples/camt (from ../shared/samples) is imported or rejected, with the outcome asserted."""
from __future__ import annotations

import io
import zipfile
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal.domain.camt import CamtError
from portal.extensions import db
from portal.models import BankEntry, BankStatementFile, Invoice, LedgerEntry
from portal.payments.reconcile import import_statements
from tests.factories import make_invoice, make_merchant

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "camt"  # copied from ../shared/samples (MIT, see README there)
TODAY = date(2026, 1, 20)

# file: (message type, entries, booked, unmatched, returns, not payments)
EXPECTED = {
    "camt053-dt-and-dttm.xml": ("camt.053.001.02", 0, 0, 0, 0, 0),
    "camt053-v02-batch.xml": ("camt.053.001.02", 3, 1, 1, 0, 1),
    "camt053-v02-five-decimals.xml": ("camt.053.001.02", 1, 0, 1, 0, 0),
    "camt053-v02-multi-statement.xml": ("camt.053.001.02", 2, 0, 1, 0, 1),
    "camt053-v08-scor.xml": ("camt.053.001.08", 1, 0, 1, 0, 0),
    "camt054-v02.xml": ("camt.054.001.04", 5, 1, 4, 0, 0),
    "camt054-v08.xml": ("camt.054.001.08", 1, 0, 0, 0, 1),
    "ch-ubs-camt053-v08.xml": ("camt.053.001.08", 3, 2, 0, 0, 1),
    "de-vrbank-camt053-v02.xml": ("camt.053.001.02", 5, 0, 1, 0, 4),
}


@pytest.fixture
def merchant(app):
    merchant = make_merchant("garden")
    # Invoices some sample entries pay: by invoice number, by RF reference, by amount and payer name.
    make_invoice(merchant, "R77561", currency="CHF", amount="474.40", lines=[], debtor={"external_ref": "K-UBS", "name": "Jon Doe"})
    rf_invoice = make_invoice(merchant, "CH-RF-1", currency="CHF", amount="88.85", lines=[], debtor={"external_ref": "K-FIN", "name": "Finanz AG"})
    rf_invoice.rf_reference = "RF38000000000000000000552"
    make_invoice(merchant, "NL-5000", amount="5000.00", lines=[], debtor={"external_ref": "K-BV", "name": "Bedrijf BV", "kind": "business", "company": "Bedrijf BV"})
    make_invoice(merchant, "CH-DD-1", currency="CHF", amount="56.56", lines=[], debtor={"external_ref": "K-MB", "name": "Maria Bernasconi"})
    db.session.commit()
    return merchant


def open_of(number: str) -> int:
    return db.session.execute(select(Invoice.open_minor).where(Invoice.number == number)).scalar_one()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_is_imported_with_the_expected_outcome(merchant, name):
    result = import_statements(merchant, (SAMPLES / name).read_bytes(), name, actor="test", today=TODAY)
    db.session.commit()
    [f] = result.files
    assert (f.message_type, f.entries, f.booked, f.unmatched, f.reversed, f.skipped) == EXPECTED[name]
    assert db.session.execute(select(func.count(BankEntry.id)).where(BankEntry.state == "unmatched")).scalar_one() == f.unmatched


def test_matched_samples_pay_the_right_invoices(merchant):
    for name in ("ch-ubs-camt053-v08.xml", "camt053-v02-batch.xml", "camt054-v02.xml"):
        import_statements(merchant, (SAMPLES / name).read_bytes(), name, actor="test", today=TODAY)
    db.session.commit()
    assert open_of("R77561") == 0  # "INVOICE R77561" in the text
    assert open_of("CH-RF-1") == 0  # structured RF reference
    assert open_of("NL-5000") == 0  # amount and payer name
    assert open_of("CH-DD-1") == 0  # amount and payer name, words in another order
    methods = dict(db.session.execute(select(BankEntry.amount_minor, BankEntry.match_method).where(BankEntry.state == "booked")).all())
    assert methods == {47440: "number", 8885: "rf", 500000: "amount", 5656: "amount"}


def test_the_malformed_sample_is_rejected_with_a_clear_error_and_books_nothing(merchant):
    with pytest.raises(CamtError, match="contains no statement"):
        import_statements(merchant, (SAMPLES / "camt053-v02-wrong.xml").read_bytes(), "camt053-v02-wrong.xml",
                          actor="test", today=TODAY)
    db.session.rollback()
    assert db.session.execute(select(func.count(BankStatementFile.id))).scalar_one() == 0


def test_a_zip_of_every_valid_sample_imports_once_and_a_second_time_books_nothing(merchant):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(EXPECTED):
            archive.writestr(f"statements/{name}", (SAMPLES / name).read_bytes())
    data = buffer.getvalue()
    first = import_statements(merchant, data, "all.zip", actor="test", today=TODAY)
    db.session.commit()
    assert len(first.files) == len(EXPECTED)
    assert first.total("booked") == 4
    ledger_before = db.session.execute(select(func.count(LedgerEntry.id))).scalar_one()

    again = import_statements(merchant, data, "all.zip", actor="test", today=TODAY)
    db.session.commit()
    assert all(f.already_imported for f in again.files) and again.total("booked") == 0
    # The same statements again under other bytes (a re-export): every entry is recognised.
    one = (SAMPLES / "ch-ubs-camt053-v08.xml").read_bytes().replace(b"<?xml", b"<?xml", 1) + b"\n"
    overlap = import_statements(merchant, one, "re-export.xml", actor="test", today=TODAY)
    db.session.commit()
    assert (overlap.total("booked"), overlap.total("duplicates")) == (0, 2)
    assert db.session.execute(select(func.count(LedgerEntry.id))).scalar_one() == ledger_before


def test_cli_imports_a_sample_and_rejects_the_malformed_one(runner, merchant):
    ok = runner.invoke(args=["payments", "import-camt", str(SAMPLES / "ch-ubs-camt053-v08.xml"), "--merchant", "garden"])
    assert ok.exit_code == 0, ok.output
    assert "2 payment(s) booked" in ok.output
    bad = runner.invoke(args=["payments", "import-camt", str(SAMPLES / "camt053-v02-wrong.xml"), "--merchant", "garden"])
    assert bad.exit_code == 1
    assert "Rejected, nothing booked" in bad.output and "contains no statement" in bad.output
