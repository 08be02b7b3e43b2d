"""The OpenAPI document is valid OpenAPI 3.1, and the contract checker really checks."""
import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from tests.api.openapi_contract import ContractViolation, check_response
from tests.factories import invoice_payload, make_api_key, make_merchant


def test_the_served_document_is_valid_openapi_3_1(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"].startswith("3.1")
    validate(document, cls=OpenAPIV31SpecValidator)


def test_the_document_is_public_and_needs_no_key(client):
    assert client.get("/api/v1/openapi.json").status_code == 200


def test_a_status_the_document_does_not_list_fails_the_check(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    with pytest.raises(ContractViolation, match="409, which is not documented"):
        check_response(spec, "GET", "/api/v1/invoices/RE-1", 409, {"error": "conflict", "message": "x"})
    with pytest.raises(ContractViolation, match="not documented"):
        check_response(spec, "DELETE", "/api/v1/invoices/RE-1", 204, None)


def test_a_body_that_does_not_match_its_schema_fails_the_check(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    with pytest.raises(ContractViolation, match="does not match"):
        check_response(spec, "GET", "/api/v1/invoices/RE-1", 200, {"number": "RE-1"})
    with pytest.raises(ContractViolation, match="does not match"):
        check_response(spec, "POST", "/api/v1/invoices", 422, {"error": "x", "message": "y", "fields": {"a": "not a list"}})


def test_the_most_specific_path_is_chosen(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    # 201 is documented for payments, not for GET of an invoice: matching /invoices/{number} would fail.
    with pytest.raises(ContractViolation, match="/invoices/{number}/payments 201 does not match"):
        check_response(spec, "POST", "/api/v1/invoices/RE-1/payments", 201, {})


def test_a_real_created_invoice_matches_the_document(client, app):
    merchant = make_merchant()
    key = make_api_key(merchant)
    spec = client.get("/api/v1/openapi.json").get_json()
    response = client.post("/api/v1/invoices", json=invoice_payload("RE-1"), headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 201
    check_response(spec, "POST", "/api/v1/invoices", 201, response.get_json())
