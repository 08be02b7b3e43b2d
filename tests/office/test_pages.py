from portal import ledger
from portal.extensions import db
from tests.factories import make_invoice


def test_the_invoice_list_shows_only_this_merchants_invoices(signed_in, merchant_a, merchant_b):
    make_invoice(merchant_a, "RE-A-1")
    make_invoice(merchant_b, "RE-B-1")
    html = signed_in.get("/office/invoices").get_data(as_text=True)
    assert "RE-A-1" in html
    assert "RE-B-1" not in html
    assert "RE-B-1" not in signed_in.get("/office/invoices?q=RE-B").get_data(as_text=True)


def test_another_merchants_invoice_answers_404(signed_in, merchant_a, merchant_b):
    own = make_invoice(merchant_a, "RE-A-1")
    foreign = make_invoice(merchant_b, "RE-B-1")
    assert signed_in.get(f"/office/invoices/{own.id}").status_code == 200
    assert signed_in.get(f"/office/invoices/{foreign.id}").status_code == 404
    assert signed_in.get("/office/invoices/999999").status_code == 404


def test_the_invoice_page_shows_its_timeline_and_balance(signed_in, merchant_a):
    invoice = make_invoice(merchant_a, "RE-A-1")
    ledger.book(invoice, kind="payment", amount_minor=1900, source="api", external_ref="PP-1",
                booked_on=invoice.due_date, actor="api:test")
    db.session.commit()
    html = signed_in.get(f"/office/invoices/{invoice.id}").get_data(as_text=True)
    assert "invoice.created" in html
    assert "ledger.payment" in html
    assert "100,00" in html  # open balance, German formatting for a German-speaking user


def test_the_overview_shows_open_amounts_one_currency_at_a_time_and_offers_the_others(signed_in, merchant_a):
    make_invoice(merchant_a, "RE-A-1", amount="100.00", lines=[])
    make_invoice(merchant_a, "RE-A-2", amount="50.00", currency="CHF", lines=[])
    html = signed_in.get("/office/").get_data(as_text=True)
    assert "100,00\xa0€" in html
    assert '<option value="CHF"' in html
    assert "50,00\xa0CHF" not in html and "150" not in html
    html = signed_in.get("/office/?currency=CHF").get_data(as_text=True)
    assert "50,00\xa0CHF" in html
    assert "100,00\xa0€" not in html and "150" not in html
