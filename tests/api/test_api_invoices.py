"""The shop API: creating invoices, reporting payments, cancelling; every answer checked against the OpenAPI document."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from portal import links
from portal.domain import rf
from portal.extensions import db
from portal.models import ApiKey, Debtor, Event, Invoice, LedgerEntry
from portal.models.types import utcnow
from tests.api.openapi_contract import ContractClient
from tests.factories import invoice_payload, make_api_key, make_invoice, make_merchant, shop_today


@pytest.fixture
def merchant(app):
    return make_merchant()


@pytest.fixture
def api(client, merchant):
    return ContractClient(client, make_api_key(merchant))


def create(api, number="RE-2025-0001", **overrides):
    return api.post("/api/v1/invoices", json=invoice_payload(number, **overrides))


# --- creating -----------------------------------------------------------------------------------


def test_a_new_invoice_is_created_with_201_and_described_fully(api):
    response = create(api, amount="1234.56", lines=[{"description": "Terrasse", "quantity": 1, "amount": "1234.56"}])
    assert response.status_code == 201
    body = response.get_json()
    assert body["number"] == "RE-2025-0001"
    assert body["status"] == "open"
    assert body["amount"] == body["open_amount"] == "1234.56"
    assert body["paid_amount"] == body["fees"] == body["interest"] == "0.00"
    assert body["currency"] == "EUR"
    assert rf.is_valid(body["rf_reference"])
    assert body["debtor"] == {"external_ref": "K-1001", "name": "Max Mustermann"}
    assert body["escalation"]["paused"] is False
    invoice = db.session.execute(select(Invoice)).scalar_one()
    assert invoice.amount_minor == invoice.open_minor == 123456
    assert invoice.debtor.phone == "+491701234567"
    assert invoice.lines == [{"description": "Terrasse", "quantity": "1", "amount_minor": 123456}]


def test_creating_an_invoice_records_it_on_the_timeline(api):
    create(api)
    kinds = db.session.execute(select(Event.kind, Event.actor)).all()
    assert ("invoice.created", kinds[0][1]) in kinds
    assert all(actor.startswith("api:stl_") for _, actor in kinds)


def test_the_portal_url_resolves_to_the_invoices_debtor(api):
    body = create(api).get_json()
    token = body["portal_url"].rsplit("/p/", 1)[1]
    assert body["portal_url"].startswith("http://localhost/p/")
    debtor = links.resolve(token)
    assert debtor.external_ref == "K-1001"


def test_an_identical_repeat_answers_200_with_the_same_invoice(api):
    first = create(api).get_json()
    second = create(api)
    assert second.status_code == 200
    assert second.get_json()["rf_reference"] == first["rf_reference"]
    assert db.session.scalar(select(func.count(Invoice.id))) == 1


def test_a_repeat_with_new_contact_details_updates_the_debtor_and_is_not_a_conflict(api):
    create(api)
    response = create(api, debtor={"email": "max.neu@example.de", "address": {"street": "Neue Straße 1", "postal_code": "70174", "city": "Stuttgart", "country": "DE"}})
    assert response.status_code == 200
    debtor = db.session.execute(select(Debtor)).scalar_one()
    assert debtor.email == "max.neu@example.de"
    assert debtor.street == "Neue Straße 1"
    updated = db.session.execute(select(Event).where(Event.kind == "debtor.updated")).scalar_one()
    assert updated.data["changed"]["email"] == ["max@example.de", "max.neu@example.de"]


def test_blank_contact_fields_in_a_repeat_never_erase_what_is_known(api):
    create(api)
    assert create(api, debtor={"email": None, "phone": None}).status_code == 200
    debtor = db.session.execute(select(Debtor)).scalar_one()
    assert debtor.email == "max@example.de"
    assert debtor.phone == "+491701234567"


def test_the_same_number_with_different_content_answers_409_with_the_existing_invoice(api):
    create(api)
    response = create(api, amount="120.00")
    assert response.status_code == 409
    body = response.get_json()
    assert body["error"] == "conflict"
    assert body["invoice"]["amount"] == "119.00"
    assert db.session.scalar(select(Invoice.amount_minor)) == 11900


def test_a_second_invoice_for_the_same_debtor_reuses_the_debtor(api):
    create(api, "RE-1")
    create(api, "RE-2")
    assert db.session.scalar(select(func.count(Debtor.id))) == 1


def test_invoice_numbers_with_slashes_can_be_read_back(api):
    assert create(api, "RE/2025/17").status_code == 201
    response = api.get("/api/v1/invoices/RE/2025/17")
    assert response.status_code == 200
    assert response.get_json()["number"] == "RE/2025/17"
    assert api.post("/api/v1/invoices/RE/2025/17/payments", json={"amount": "19.00", "reference": "PP-1"}).status_code == 201


# --- validation ---------------------------------------------------------------------------------


def test_invalid_fields_answer_422_with_every_error_at_once(api):
    today = shop_today()
    response = create(
        api,
        amount="49.999",
        issue_date=today.isoformat(),
        due_date=(today - timedelta(days=1)).isoformat(),
        lines=[{"description": "Bank", "amount": "4,9.0"}],
        debtor={"kind": "business", "company": None, "email": "not-an-email", "phone": "call me"},
    )
    assert response.status_code == 422
    fields = response.get_json()["fields"]
    assert fields["amount"] == ["has more than 2 decimal places for EUR"]
    assert fields["due_date"] == ["must not be before issue_date"]
    assert fields["lines[0].amount"]
    assert fields["debtor.company"] == ["is required for business debtors"]
    assert fields["debtor.email"] == ["is not a valid email address"]
    assert "debtor.phone" in fields
    assert db.session.scalar(select(func.count(Invoice.id))) == 0
    assert db.session.scalar(select(func.count(Debtor.id))) == 0


def test_an_unknown_currency_answers_422(api):
    response = create(api, currency="EUX")
    assert response.status_code == 422
    assert response.get_json()["fields"]["currency"] == ["must be an ISO 4217 currency code such as EUR"]


def test_yen_amounts_have_no_decimals(api):
    ok = create(api, "RE-JPY-1", currency="JPY", amount="500", lines=[])
    assert ok.status_code == 201
    assert ok.get_json()["amount"] == "500"
    assert db.session.scalar(select(Invoice.amount_minor)) == 500
    bad = create(api, "RE-JPY-2", currency="JPY", amount="500.5", lines=[])
    assert bad.status_code == 422
    assert bad.get_json()["fields"]["amount"] == ["has more than 0 decimal places for JPY"]


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"amount": 119.0}, "amount"),  # a JSON number could be a float: amounts are strings
        ({"amount": "0.00"}, "amount"),
        ({"amount": "-5.00"}, "amount"),
        ({"amount": "99999999999999999.00"}, "amount"),
        ({"amount": "1.234,56"}, "amount"),  # spreadsheet notation is for CSV files, not the API
        ({"issue_date": "2025-02-30"}, "issue_date"),
        ({"due_date": "tomorrow"}, "due_date"),
        ({"debtor": {"external_ref": None}}, "debtor.external_ref"),
        ({"debtor": {"language": "fr"}}, "debtor.language"),
        # addresses no mail server could ever carry are refused here, not at the worker
        ({"debtor": {"email": "a\x00b@example.de"}}, "debtor.email"),
        ({"debtor": {"email": "<kunde@example.de>"}}, "debtor.email"),
        ({"debtor": {"email": "kunde@" + "b" * 64 + ".de"}}, "debtor.email"),  # a DNS label has at most 63
        ({"debtor": {"date_of_birth": "2999-01-01"}}, "debtor.date_of_birth"),
        ({"debtor": {"address": {"country": "Germany"}}}, "debtor.address.country"),
        ({"lines": "one"}, "lines"),
        ({"lines": [{"amount": "1.00"}]}, "lines[0].description"),
        ({"lines": [{"description": "x", "amount": "1.00", "quantity": 0}]}, "lines[0].quantity"),
    ],
)
def test_each_invalid_field_is_named(api, overrides, field):
    response = create(api, **overrides)
    assert response.status_code == 422
    assert field in response.get_json()["fields"]


@pytest.mark.parametrize("number", ["", "   ", None, "X" * 65])
def test_an_invoice_needs_a_number_of_at_most_64_characters(api, number):
    payload = invoice_payload("RE-1")
    payload["number"] = number
    response = api.post("/api/v1/invoices", json=payload)
    assert response.status_code == 422
    assert list(response.get_json()["fields"]) == ["number"]


def test_a_missing_debtor_is_reported(api):
    payload = invoice_payload("RE-1")
    del payload["debtor"]
    response = api.post("/api/v1/invoices", json=payload)
    assert response.status_code == 422
    assert response.get_json()["fields"] == {"debtor": ["is required"]}


def test_a_body_that_is_not_json_answers_422(api):
    response = api.post("/api/v1/invoices", data="number=1", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 422
    assert api.post("/api/v1/invoices", json=["not", "an", "object"]).status_code == 422


# --- authentication and tenancy -------------------------------------------------------------------


def test_a_request_without_a_key_answers_401(api):
    response = api.post("/api/v1/invoices", json=invoice_payload("RE-1"), key=None)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert api.get("/api/v1/invoices/RE-1", key=None).status_code == 401


def test_a_wrong_key_answers_401(api):
    assert create(api).status_code == 201
    response = api.get("/api/v1/invoices/RE-2025-0001", key="stl_00000000_not-a-real-key")
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"


def test_a_key_sent_with_another_scheme_answers_401(api):
    response = api.get("/api/v1/invoices/RE-1", key=None, headers={"Authorization": f"Basic {api.key}"})
    assert response.status_code == 401


def test_a_revoked_key_answers_401(api):
    key = db.session.execute(select(ApiKey)).scalar_one()
    key.revoked_at = utcnow()
    db.session.commit()
    assert create(api).status_code == 401
    assert db.session.scalar(select(func.count(Invoice.id))) == 0


def test_a_successful_call_records_when_the_key_was_last_used(api):
    create(api)
    api.get("/api/v1/invoices/RE-2025-0001")
    db.session.expire_all()
    assert db.session.execute(select(ApiKey)).scalar_one().last_used_at is not None


def test_another_merchants_invoice_answers_404_everywhere(api):
    other = make_merchant()
    make_invoice(other, "RE-OTHER")
    assert api.get("/api/v1/invoices/RE-OTHER").status_code == 404
    payment = api.post("/api/v1/invoices/RE-OTHER/payments", json={"amount": "10.00", "reference": "PP-1"})
    assert payment.status_code == 404
    assert api.post("/api/v1/invoices/RE-OTHER/cancel").status_code == 404
    invoice = db.session.execute(select(Invoice)).scalar_one()
    assert invoice.status == "open" and invoice.open_minor == 11900
    assert db.session.scalar(select(func.count(LedgerEntry.id))) == 0


def test_two_merchants_may_use_the_same_invoice_number(api, merchant):
    make_invoice(make_merchant(), "RE-2025-0001")
    assert create(api).status_code == 201
    assert api.get("/api/v1/invoices/RE-2025-0001").get_json()["amount"] == "119.00"


def test_an_unknown_invoice_answers_404(api):
    response = api.get("/api/v1/invoices/RE-NOPE")
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


# --- payments -------------------------------------------------------------------------------------


def pay(api, amount, reference, number="RE-2025-0001", **extra):
    return api.post(f"/api/v1/invoices/{number}/payments", json={"amount": amount, "reference": reference, **extra})


def test_a_partial_then_a_full_payment_marks_the_invoice_paid(api):
    create(api)
    first = pay(api, "50.00", "PP-1", received_on=(shop_today() - timedelta(days=2)).isoformat())
    assert first.status_code == 201
    body = first.get_json()
    assert body["payment"] == {"reference": "PP-1", "amount": "50.00", "received_on": (shop_today() - timedelta(days=2)).isoformat()}
    assert body["invoice"]["open_amount"] == "69.00"
    assert body["invoice"]["paid_amount"] == "50.00"
    assert body["invoice"]["status"] == "open"
    second = pay(api, "69.00", "PP-2").get_json()
    assert second["invoice"]["status"] == "paid"
    assert second["invoice"]["open_amount"] == "0.00"
    assert second["invoice"]["escalation"]["next_action_on"] is None
    assert api.get("/api/v1/invoices/RE-2025-0001").get_json()["status"] == "paid"


def test_a_repeated_payment_reference_is_booked_once_and_answers_200(api):
    create(api)
    assert pay(api, "50.00", "PP-1").status_code == 201
    repeat = pay(api, "50.00", "PP-1")
    assert repeat.status_code == 200
    assert repeat.get_json()["invoice"]["open_amount"] == "69.00"
    assert db.session.scalar(select(func.count(LedgerEntry.id))) == 1


def test_the_same_payment_reference_with_another_amount_answers_409(api):
    create(api)
    pay(api, "50.00", "PP-1")
    response = pay(api, "60.00", "PP-1")
    assert response.status_code == 409
    assert api.get("/api/v1/invoices/RE-2025-0001").get_json()["open_amount"] == "69.00"


def test_the_same_payment_reference_on_another_invoice_answers_409(api):
    create(api, "RE-1")
    create(api, "RE-2")
    pay(api, "50.00", "PP-1", number="RE-1")
    assert pay(api, "50.00", "PP-1", number="RE-2").status_code == 409


def test_an_overpayment_leaves_a_negative_open_amount(api):
    create(api)
    body = pay(api, "120.00", "PP-1").get_json()
    assert body["invoice"]["status"] == "paid"
    assert body["invoice"]["open_amount"] == "-1.00"


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"amount": "0.00", "reference": "PP-1"}, "amount"),
        ({"amount": "1.001", "reference": "PP-1"}, "amount"),
        ({"amount": "1.00"}, "reference"),
        ({"amount": "1.00", "reference": "PP-1", "received_on": "2999-01-01"}, "received_on"),
    ],
)
def test_an_invalid_payment_answers_422_and_books_nothing(api, payload, field):
    create(api)
    response = api.post("/api/v1/invoices/RE-2025-0001/payments", json=payload)
    assert response.status_code == 422
    assert field in response.get_json()["fields"]
    assert db.session.scalar(select(func.count(LedgerEntry.id))) == 0


def test_a_payment_is_recorded_on_the_timeline(api):
    create(api)
    pay(api, "119.00", "PP-1")
    event = db.session.execute(select(Event).where(Event.kind == "ledger.payment")).scalar_one()
    assert event.data["amount_minor"] == -11900
    assert event.data["status"] == "paid" and event.data["status_before"] == "open"


# --- cancelling -----------------------------------------------------------------------------------


def test_cancelling_credits_what_is_open_and_stops_escalation(api):
    create(api)
    pay(api, "19.00", "PP-1")
    response = api.post("/api/v1/invoices/RE-2025-0001/cancel", json={"reason": "Ware zurückgeschickt"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "cancelled"
    assert body["open_amount"] == "0.00"
    assert body["escalation"]["next_action_on"] is None
    credit = db.session.execute(select(LedgerEntry).where(LedgerEntry.kind == "credit")).scalar_one()
    assert credit.amount_minor == -10000
    assert db.session.execute(select(Event).where(Event.kind == "invoice.cancelled")).scalar_one().data == {
        "reason": "Ware zurückgeschickt"
    }


def test_cancelling_again_changes_nothing(api):
    create(api)
    api.post("/api/v1/invoices/RE-2025-0001/cancel")
    again = api.post("/api/v1/invoices/RE-2025-0001/cancel")
    assert again.status_code == 200
    assert again.get_json()["status"] == "cancelled"
    assert db.session.scalar(select(func.count(LedgerEntry.id))) == 1
    assert db.session.scalar(select(func.count(Event.id)).where(Event.kind == "invoice.cancelled")) == 1


def test_a_paid_invoice_cannot_be_cancelled(api):
    create(api)
    pay(api, "119.00", "PP-1")
    response = api.post("/api/v1/invoices/RE-2025-0001/cancel")
    assert response.status_code == 409
    assert response.get_json()["invoice"]["status"] == "paid"


def test_every_answer_in_these_tests_was_checked_against_the_document(api):
    create(api)
    create(api)
    create(api, amount="1.00")
    create(api, amount="x")
    api.get("/api/v1/invoices/nope")
    api.get("/api/v1/invoices/nope", key=None)
    assert [status for *_, status in api.checked] == [201, 200, 409, 422, 404, 401]


@pytest.mark.postgres_only
@pytest.mark.skipif(not __import__("tests.conftest", fromlist=["is_postgres"]).is_postgres(), reason="needs PostgreSQL")
def test_the_same_payment_reported_twice_at_once_is_booked_once(app, api):
    import threading

    create(api)
    barrier = threading.Barrier(2)
    statuses = []

    def report():
        with app.app_context():  # each thread: its own context, session and connection
            client = app.test_client()
            barrier.wait()
            response = client.post(
                "/api/v1/invoices/RE-2025-0001/payments",
                json={"amount": "50.00", "reference": "PP-RACE"},
                headers={"Authorization": f"Bearer {api.key}"},
            )
            statuses.append(response.status_code)
            db.session.remove()

    threads = [threading.Thread(target=report) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 201]
    db.session.expire_all()
    assert db.session.scalar(select(func.count(LedgerEntry.id))) == 1
    assert db.session.scalar(select(Invoice.open_minor)) == 6900


@pytest.mark.postgres_only
@pytest.mark.skipif(not __import__("tests.conftest", fromlist=["is_postgres"]).is_postgres(), reason="needs PostgreSQL")
@pytest.mark.parametrize("numbers", [("RE-A", "RE-B"), ("RE-A", "RE-A")], ids=["two invoices", "one invoice twice"])
def test_concurrent_first_submissions_for_a_new_customer_never_fail(app, api, numbers):
    import threading

    # A key used within the last minute is not written to again, so nothing else serialises the requests.
    db.session.execute(select(ApiKey)).scalar_one().last_used_at = utcnow()
    db.session.commit()
    barrier = threading.Barrier(len(numbers))
    statuses = []

    def submit(number):
        with app.app_context():
            client = app.test_client()
            barrier.wait()
            response = client.post(
                "/api/v1/invoices", json=invoice_payload(number), headers={"Authorization": f"Bearer {api.key}"}
            )
            statuses.append(response.status_code)
            db.session.remove()

    threads = [threading.Thread(target=submit, args=(n,)) for n in numbers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == ([201, 201] if numbers[0] != numbers[1] else [200, 201])
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Debtor.id))) == 1
    assert db.session.scalar(select(func.count(Invoice.id))) == len(set(numbers))


def test_amounts_beyond_32_bits_of_minor_units_are_stored_and_paid_exactly(api):
    """25 million euros are 2,500,000,000 cents, more than a 32-bit column holds (2,147,483,647): the
    BIGINT columns (migration 0002) keep amount, balance and ledger exact on PostgreSQL and SQLite alike."""
    body = invoice_payload("RE-BIG", amount="25000000.00",
                           lines=[{"description": "Windpark", "quantity": 1, "amount": "25000000.00"}])
    created = api.post("/api/v1/invoices", json=body)
    assert created.status_code == 201, created.get_json()
    assert (created.get_json()["amount"], created.get_json()["open_amount"]) == ("25000000.00", "25000000.00")
    paid = api.post("/api/v1/invoices/RE-BIG/payments", json={"amount": "22000000.01", "reference": "BIG-1"})
    assert paid.status_code == 201, paid.get_json()
    assert paid.get_json()["invoice"]["open_amount"] == "2999999.99"
    db.session.expire_all()
    invoice = db.session.execute(select(Invoice).where(Invoice.number == "RE-BIG")).scalar_one()
    assert (invoice.amount_minor, invoice.open_minor) == (2_500_000_000, 299_999_999)
    assert db.session.scalar(select(LedgerEntry.amount_minor).where(LedgerEntry.kind == "payment")) == -2_200_000_001
