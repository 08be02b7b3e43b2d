from portal.models import Invoice
from tests.factories import make_invoice, make_merchant


def test_healthz_answers_ok_when_the_database_is_reachable(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok"}


def test_every_response_carries_the_security_headers(client):
    response = client.get("/healthz")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"


def test_a_new_invoice_is_open_for_its_full_amount(app):
    merchant = make_merchant()
    invoice = make_invoice(merchant, "RE-1")
    assert isinstance(invoice, Invoice)
    assert invoice.status == "open"
    assert invoice.open_minor == invoice.amount_minor == 11900
