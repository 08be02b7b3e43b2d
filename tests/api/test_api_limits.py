"""The API limiter counts failed keys per client address: made-up keys do not each get a fresh budget."""
from __future__ import annotations

from tests.api.openapi_contract import ContractClient
from tests.factories import make_api_key, make_merchant


def _client_from(app, address: str, key: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return ContractClient(client, key)


def test_an_address_trying_many_made_up_keys_is_answered_429(app):
    app.config["API_AUTH_FAILURE_LIMIT"] = "5/minute"
    statuses = [_client_from(app, "198.51.100.1", f"stl_madeup{n:04d}_xxxxxxxxxxxxxxxxxxxx").get("/api/v1/invoices/RE-1").status_code
                for n in range(7)]
    assert statuses[:5] == [401] * 5
    assert statuses[5:] == [429, 429]


def test_a_shop_with_a_valid_key_from_another_address_is_not_affected(app):
    app.config["API_AUTH_FAILURE_LIMIT"] = "5/minute"
    key = make_api_key(make_merchant())
    for n in range(7):
        _client_from(app, "198.51.100.1", f"stl_madeup{n:04d}_xxxxxxxxxxxxxxxxxxxx").get("/api/v1/invoices/RE-1")
    assert _client_from(app, "203.0.113.5", key).get("/api/v1/invoices/RE-1").status_code == 404


def test_valid_requests_do_not_use_up_the_failure_budget(app):
    app.config["API_AUTH_FAILURE_LIMIT"] = "5/minute"
    key = make_api_key(make_merchant())
    shop = _client_from(app, "203.0.113.5", key)
    assert [shop.get("/api/v1/invoices/RE-1").status_code for _ in range(10)] == [404] * 10
