"""Bank transfer details shown in the portal and on letters."""
from __future__ import annotations

from stdnum import iso11649

from portal.extensions import db
from portal.models import PaymentReference
from portal.payments.transfer import transfer_for
from tests.factories import make_invoice, make_merchant


def test_one_invoice_is_paid_with_its_own_reference_and_a_matching_qr_code(app):
    merchant = make_merchant("garden", account_holder="Gärtnerei Sonnenberg GmbH")
    invoice = make_invoice(merchant, "RE-1", amount="119.00")
    details = transfer_for(invoice.debtor, [invoice])
    assert details.reference == invoice.rf_reference
    assert details.iban_grouped == "DE89 3704 0044 0532 0130 00"
    assert str(details.amount) == "119.00 EUR"
    assert details.payload.split("\n") == [
        "BCD", "002", "1", "SCT", "COBADEFFXXX", "Gärtnerei Sonnenberg GmbH", "DE89370400440532013000",
        "EUR119.00", "", invoice.rf_reference,
    ]
    assert details.qr_svg.startswith("<svg") and "style=" not in details.qr_svg


def test_several_invoices_share_one_stable_valid_reference(app):
    merchant = make_merchant("garden")
    a = make_invoice(merchant, "RE-1", amount="100.00")
    b = make_invoice(merchant, "RE-2", amount="20.50")
    first = transfer_for(a.debtor, [b, a])
    db.session.commit()
    again = transfer_for(a.debtor, [a, b])
    assert first.reference == again.reference
    assert iso11649.is_valid(first.reference)
    assert first.reference not in (a.rf_reference, b.rf_reference)
    assert first.amount.minor == 12050
    row = db.session.query(PaymentReference).one()
    assert {inv.number for inv in row.invoices} == {"RE-1", "RE-2"}


def test_a_swiss_franc_invoice_gets_copyable_details_but_no_girocode(app):
    merchant = make_merchant("swiss")
    invoice = make_invoice(merchant, "RE-1", currency="CHF", amount="50.00",
                           lines=[{"description": "x", "quantity": 1, "amount": "50.00"}])
    details = transfer_for(invoice.debtor, [invoice])
    assert details.payload is None and details.qr_svg is None
    assert details.reference == invoice.rf_reference
