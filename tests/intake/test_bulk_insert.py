"""Bulk inserts store exactly what the ORM would, and refuse to leave a defaulted column empty."""
from datetime import date

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.intake.bulk import BulkInsert
from portal.models import Event
from portal.models.types import utcnow
from tests.factories import make_invoice, make_merchant


def test_rows_written_in_bulk_read_back_like_orm_rows(app):
    merchant = make_merchant()
    invoice = make_invoice(merchant)
    now = utcnow()
    BulkInsert(Event.__table__, ("merchant_id", "invoice_id", "debtor_id", "kind", "actor", "occurred_at", "data")).run(
        [
            (merchant.id, invoice.id, invoice.debtor_id, "test.bulk", "test", now, {"due_date": date(2026, 1, 2).isoformat(), "ü": [1]}),
            (merchant.id, None, None, "test.bulk", "test", now, None),
        ]
    )
    db.session.commit()
    events = db.session.execute(select(Event).where(Event.kind == "test.bulk").order_by(Event.id)).scalars().all()
    assert events[0].data == {"due_date": "2026-01-02", "ü": [1]}
    assert events[0].occurred_at.replace(tzinfo=None) == now.replace(tzinfo=None)
    assert events[1].data is None and events[1].invoice_id is None
    assert db.session.scalar(select(Event.id).where(Event.kind == "test.bulk", Event.data.is_(None))) == events[1].id


def test_a_column_with_a_python_default_must_be_supplied(app):
    with pytest.raises(ValueError, match="occurred_at"):
        BulkInsert(Event.__table__, ("merchant_id", "kind", "actor"))


def test_json_written_as_text_reads_back_as_the_same_value(app):
    from portal.intake.bulk import JSONText

    merchant = make_merchant()
    BulkInsert(Event.__table__, ("merchant_id", "invoice_id", "debtor_id", "kind", "actor", "occurred_at", "data")).run(
        [(merchant.id, None, None, "test.text", "test", utcnow(), JSONText('{"amount_minor": 11900, "currency": "EUR"}'))]
    )
    db.session.commit()
    event = db.session.execute(select(Event).where(Event.kind == "test.text")).scalar_one()
    assert event.data == {"amount_minor": 11900, "currency": "EUR"}


def test_imported_and_api_invoices_carry_the_same_creation_event_data(app):
    from portal.intake.csv_import import import_csv
    from tests.intake.csv_files import GERMAN_ROWS, german_excel

    merchant = make_merchant()
    api_invoice = make_invoice(merchant, "RE-API", amount="1234.56", issue_date="2025-12-01", due_date="2025-12-15")
    import_csv(german_excel(GERMAN_ROWS[:1]), merchant, today=date(2026, 1, 20), actor="import:x")
    db.session.commit()
    data = dict(db.session.execute(select(Event.invoice_id, Event.data).where(Event.kind == "invoice.created")).all())
    imported = db.session.execute(select(Event.data).where(Event.kind == "invoice.created", Event.invoice_id != api_invoice.id)).scalar_one()
    assert imported == data[api_invoice.id] == {"amount_minor": 123456, "currency": "EUR", "due_date": "2025-12-15"}
