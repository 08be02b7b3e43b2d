"""Back-office errors a merchant can act on, in German: IBAN problems by kind, no permission (403),
an expired form (400) and a file above the upload limit (413), instead of "please try again later"."""
from __future__ import annotations

import io

import pytest

from tests.factories import make_user
from tests.office.conftest import sign_in
from tests.office.test_settings import _form


@pytest.fixture
def admin(client, merchant_a):
    make_user(merchant_a, "admin@alpha.example", role="admin", password="correct horse battery")
    assert sign_in(client, "admin@alpha.example").status_code == 303
    return client


@pytest.mark.parametrize("iban, bic, message", [
    ("DE89370400440532013001", "", "Die Prüfziffern dieser IBAN stimmen nicht, vermutlich ein Tippfehler."),
    ("DE8937040044053201300", "", "Diese IBAN hat nicht die richtige Länge"),
    ("XX89370400440532013000", "", "Diese IBAN beginnt nicht mit einem gültigen Ländercode"),
    # Checksum and national format right (DE02… had a wrong checksum and was refused before the register was
    # asked), but no bank has the sort code 99999999 in the Bundesbank register schwifty ships.
    ("DE23999999990000000000", "", "Eine Bank mit der Bankleitzahl 99999999 aus dieser IBAN gibt es nicht"),
    ("DE89370400440532013000", "COBAXXFF", "Diese BIC ist nicht gültig"),
])
def test_iban_and_bic_problems_are_named_in_german(admin, iban, bic, message):
    data = _form(admin)
    data.update(iban=iban, bic=bic)
    response = admin.post("/office/settings", data=data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html
    assert "invalid IBAN" not in html and "invalid BIC" not in html


def test_no_permission_says_so(signed_in):
    response = signed_in.get("/office/settings")
    assert response.status_code == 403
    html = response.get_data(as_text=True)
    assert "Sie haben keine Berechtigung für diese Seite" in html
    assert "später erneut" not in html


def test_an_expired_form_explains_what_happened(app, signed_in):
    app.config["WTF_CSRF_CHECK_DEFAULT"] = True
    response = signed_in.post("/office/uploads", data={"kind": "invoices", "csrf_token": "expired"})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Das Formular ist abgelaufen" in html and "es wurde nichts gespeichert" in html


def test_a_file_above_the_upload_limit_is_explained(app, signed_in):
    app.config["MAX_CONTENT_LENGTH"] = 100_000
    response = signed_in.post("/office/uploads", data={"kind": "invoices", "invoice_file": (io.BytesIO(b"x" * 200_000), "big.csv")},
                              content_type="multipart/form-data")
    assert response.status_code == 413
    html = response.get_data(as_text=True)
    assert "Die Datei ist zu groß" in html and "bis 100 kB" in html
