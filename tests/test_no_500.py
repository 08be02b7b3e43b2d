"""No input ends in a 500 (#12 pt4): the cases an outside probe found, then Hypothesis over the API's
and the portal's text and amount fields.

The test app propagates exceptions (TESTING), so any crash in a view fails here with its traceback
instead of hiding behind a 500 page. Every answer must be one a client can act on: a 2xx/3xx, or a
400/422 that says what was wrong.
"""
from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from portal.extensions import db, limiter
from portal.links import token_for
from portal.models import Invoice
from tests.api.openapi_contract import ContractClient
from tests.factories import invoice_payload, make_api_key, make_invoice, make_merchant, shop_today
from tests.office.conftest import csrf_from

NUL = "Max\x00Mustermann"
SURROGATE = "Max \ud800 Mustermann"
HUGE = "9" * 5000

# --- the probe's findings, one by one ---------------------------------------------------------------


@pytest.fixture
def api(client):
    return ContractClient(client, make_api_key(make_merchant()))


@pytest.mark.parametrize("field, value, path", [
    ("name", NUL, "debtor.name"),
    ("name", SURROGATE, "debtor.name"),
    ("city", NUL, "debtor.address.city"),
])
def test_text_with_nul_or_a_lone_surrogate_answers_422_naming_the_field(api, field, value, path):
    payload = invoice_payload("RE-1")
    if field == "city":
        payload["debtor"]["address"]["city"] = value
    else:
        payload["debtor"][field] = value
    response = api.post("/api/v1/invoices", json=payload)
    assert response.status_code == 422
    assert path in response.get_json()["fields"]
    assert db.session.scalar(select(func.count()).select_from(Invoice)) == 0


def test_a_nul_in_the_invoice_number_of_the_path_answers_422(api):
    response = api.get("/api/v1/invoices/RE%001")
    assert response.status_code == 422
    assert response.get_json()["fields"] == {"path": ["must not contain NUL bytes"]}


@pytest.mark.parametrize("amount, message", [
    (HUGE, "is too large"),
    ("1" * 16 + ".00", "is too large"),
    ("١٢٣.٠٠", 'must be a decimal string such as "49.90"'),  # Arabic-Indic digits: only ASCII digits are amounts
    ("１２３", 'must be a decimal string such as "49.90"'),  # full-width digits
    ("1e5", 'must be a decimal string such as "49.90"'),
    ("NaN", 'must be a decimal string such as "49.90"'),
    ("Infinity", 'must be a decimal string such as "49.90"'),
])
def test_amounts_that_are_no_amounts_answer_422(api, amount, message):
    make_invoice(_merchant_of(api), "RE-1")
    response = api.post("/api/v1/invoices/RE-1/payments", json={"amount": amount, "reference": "P-1"})
    assert response.status_code == 422
    assert response.get_json()["fields"] == {"amount": [message]}


def _merchant_of(api=None):
    """The merchant of the (only) API key of the test."""
    from portal.models import ApiKey

    return db.session.execute(select(ApiKey)).scalars().first().merchant


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_json_nan_and_infinity_are_not_json(api, literal):
    response = api.post("/api/v1/invoices", data=json.dumps(invoice_payload("RE-1"))[:-1] + f', "x": {literal}}}',
                        content_type="application/json")
    assert response.status_code == 422
    assert response.get_json()["fields"] == {"": ["the body must be JSON (Content-Type: application/json)"]}


@pytest.mark.parametrize("depth", [40, 100_000])
def test_deeply_nested_json_answers_422(api, depth):
    response = api.post("/api/v1/invoices", data="[" * depth + "]" * depth, content_type="application/json")
    assert response.status_code == 422
    fields = response.get_json()["fields"]
    assert any("nested too deeply" in message for messages in fields.values() for message in messages)


@pytest.mark.parametrize("currency", ["XXX", "XAU", "XTS", "ZZZ"])
def test_currencies_that_are_no_money_answer_422(api, currency):
    response = api.post("/api/v1/invoices", json=invoice_payload("RE-1", currency=currency))
    assert response.status_code == 422
    assert response.get_json()["fields"] == {"currency": ["must be an ISO 4217 currency code such as EUR"]}


def test_a_quantity_of_thousands_of_digits_answers_422(api):
    payload = invoice_payload("RE-1", lines=[{"description": "x", "quantity": HUGE, "amount": "119.00"}])
    response = api.post("/api/v1/invoices", json=payload)
    assert response.status_code == 422
    assert "lines[0].quantity" in response.get_json()["fields"]


def test_a_csv_cell_with_a_nul_byte_is_a_bad_line_not_a_crash(app, runner, tmp_path):
    make_merchant("garden")
    header = "number;issue_date;due_date;amount;currency;debtor_ref;kind;name;email\n"
    line = "RE-1;01.12.2025;15.12.2025;119,00;EUR;K-1;person;Max\x00Mustermann;max@example.de\n"
    path = tmp_path / "nul.csv"
    path.write_bytes((header + line).encode())
    result = runner.invoke(args=["invoices", "import", str(path), "--merchant", "garden"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)  # a clear error, no traceback
    assert "must not contain NUL bytes" in result.output
    assert db.session.scalar(select(func.count()).select_from(Invoice)) == 0


def test_a_nul_in_a_portal_form_answers_400(client):
    merchant = make_merchant()
    make_invoice(merchant, "RE-1")
    page = client.get("/portal/link")
    response = client.post("/portal/link", data={"contact": "max\x00@example.de", "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert response.status_code == 400


def test_a_nul_in_an_office_form_answers_400(client):
    page = client.get("/office/login")
    response = client.post("/office/login", data={"email": "a\x00@example.de", "password": "x",
                                                  "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert response.status_code == 400


# --- Hypothesis: generated text and amounts in every field -------------------------------------------

ODD = ["", " ", "\x00", "\ud800", "\udfff", "\u202e", "\ufeff", "NaN", "Infinity", "-0", "1e309", "0x10", "١٢٣",
       "１２３", "¹²³", "9" * 400, "9" * 5000, "1,234", "1.234,56", "-1", "+5", "=1+1", "../../x", "XXX", "\t\r\n"]
# JSON can carry lone surrogates ("\ud800" escaped); a form cannot (browsers send UTF-8, Werkzeug replaces).
json_text = st.one_of(st.sampled_from(ODD), st.text(max_size=80),
                      st.from_regex(r"\A[0-9٠-٩.,eE+\-]{1,60}\Z", fullmatch=True))
form_text = json_text.map(lambda s: s.encode("utf-8", "replace").decode("utf-8"))
json_value = st.one_of(json_text, st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                       st.lists(json_text, max_size=3), st.dictionaries(json_text, json_text, max_size=2))

INVOICE_FIELDS = ["number", "issue_date", "due_date", "amount", "currency", "order_ref", "debtor.external_ref",
                  "debtor.kind", "debtor.name", "debtor.company", "debtor.email", "debtor.phone", "debtor.language",
                  "debtor.date_of_birth", "debtor.address.street", "debtor.address.postal_code", "debtor.address.city",
                  "debtor.address.country", "lines.0.description", "lines.0.quantity", "lines.0.amount"]
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _set(payload: dict, dotted: str, value) -> dict:
    *parents, last = dotted.split(".")
    node = payload
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[int(last) if last.isdigit() else last] = value
    return payload


@pytest.fixture
def unlimited(monkeypatch):
    monkeypatch.setattr(limiter, "enabled", False)


@FUZZ
@given(field=st.sampled_from(INVOICE_FIELDS), value=json_value, number=st.integers(0, 10**6))
def test_no_value_in_any_invoice_field_answers_500(app, unlimited, field, value, number):
    api = ContractClient(app.test_client(), _key(app))  # every answer is also checked against the OpenAPI document
    payload = _set(invoice_payload(f"RE-H{number}"), field, value)
    response = api.post("/api/v1/invoices", json=payload)
    assert response.status_code in (200, 201, 409, 422)


@FUZZ
@given(amount=json_value, reference=json_value, received_on=json_value, number=json_text)
def test_no_value_in_any_payment_field_answers_500(app, unlimited, amount, reference, received_on, number):
    api = ContractClient(app.test_client(), _key(app))
    if db.session.scalar(select(func.count()).select_from(Invoice).where(Invoice.number == "RE-P")) == 0:
        make_invoice(_merchant_of(api), "RE-P")
    body = {"amount": amount, "reference": reference, "received_on": received_on}
    response = api.post("/api/v1/invoices/RE-P/payments", json=body)
    assert response.status_code in (200, 201, 409, 422)
    path_number = number.encode("utf-8", "replace").decode("utf-8").replace("/", "_").replace("?", "_").replace("#", "_")
    # The plain client: the contract checker's path templates do not match line breaks, the API must.
    response = app.test_client().get(f"/api/v1/invoices/{path_number or 'x'}", headers={"Authorization": f"Bearer {_key(app)}"})
    assert response.status_code in (200, 404, 422)


_keys: dict[int, str] = {}


def _key(app) -> str:
    """One merchant and key per test (the app fixture wipes the database between tests)."""
    from portal.models import ApiKey

    if db.session.scalar(select(func.count()).select_from(ApiKey)) == 0:
        _keys.clear()
        _keys[0] = make_api_key(make_merchant())
    return _keys[0]


PORTAL_FORMS = [
    ("/portal/link", {"contact": None}),
    ("/portal/verify", {"answer": None}),
    ("/portal/preferences", {"email": None, "phone": None, "preferred_channel": "email", "language": "de"}),
    ("/portal/requests/plan", {"invoices": "INV", "installments": None, "first_due": None, "note": None}),
    ("/portal/requests/promise", {"invoices": "INV", "pay_by": None, "note": None}),
    ("/portal/requests/dispute", {"invoices": "INV", "reason": None, "details": None}),
    ("/portal/pay", {"invoice": None, "method": None}),
]


@pytest.fixture
def portal_debtor(app):
    merchant = make_merchant("garden", name="Gartenhaus")
    invoice = make_invoice(merchant, "RE-1", due_date=(shop_today() - timedelta(days=20)).isoformat())
    return invoice


@FUZZ
@given(form=st.sampled_from(range(len(PORTAL_FORMS))), values=st.lists(form_text, min_size=4, max_size=4))
@example(form=6, values=["¹²³", "", "", ""])  # str.isdigit() accepts superscript digits that int() refuses (found by the fuzzer)
@example(form=3, values=["²", "", "", ""])
def test_no_value_in_any_portal_form_field_answers_500(app, unlimited, portal_debtor, form, values):
    client = app.test_client()
    assert client.get(f"/p/{token_for(portal_debtor.debtor)}").status_code == 303
    path, fields = PORTAL_FORMS[form]
    page = client.get("/portal/preferences")  # the CSRF token belongs to the session, any form of it carries it
    data = {"csrf_token": csrf_from(page.get_data(as_text=True))}
    generated = iter(values)
    for name, fixed in fields.items():
        data[name] = str(portal_debtor.id) if fixed == "INV" else (fixed if fixed is not None else next(generated))
    response = client.post(path, data=data)
    assert response.status_code < 500
    assert response.status_code in (200, 303, 400, 413, 422, 429) or response.status_code == 302


OFFICE_FORMS = [
    ("/office/invoices/{id}/payment", ("amount", "reference", "received_on")),
    ("/office/invoices/{id}/pause", ("until", "reason", "note")),
    ("/office/invoices/{id}/write-off", ("amount", "reason", "note")),
]


@FUZZ
@given(form=st.sampled_from(range(len(OFFICE_FORMS))), values=st.lists(form_text, min_size=3, max_size=3))
def test_no_value_in_the_office_money_forms_answers_500(app, unlimited, portal_debtor, form, values):
    from portal.models import User
    from tests.factories import make_user
    from tests.office.conftest import sign_in

    client = app.test_client()
    if db.session.scalar(select(func.count()).select_from(User)) == 0:
        make_user(portal_debtor.merchant, "admin@garden.example", role="admin")
    assert sign_in(client, "admin@garden.example").status_code == 303
    token = csrf_from(client.get(f"/office/invoices/{portal_debtor.id}").get_data(as_text=True))
    path, names = OFFICE_FORMS[form]
    response = client.post(path.format(id=portal_debtor.id), data={"csrf_token": token, **dict(zip(names, values))})
    assert response.status_code in (200, 303, 400, 422)
