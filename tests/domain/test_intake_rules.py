"""The shared intake validator: what makes two submissions the same invoice, and how amounts and dates are read."""
import hashlib
import json
import random
from dataclasses import asdict
from datetime import date

import pytest

from portal.domain.intake import parse_date, validate_debtor, validate_invoice
from portal.domain.money import MoneyError, parse_decimal, to_minor
from tests.factories import invoice_payload


def valid(payload, **kwargs):
    data, errors = validate_invoice(payload, today=date(2026, 1, 20), **kwargs)
    assert not errors, errors
    return data


def canonical_fingerprint(data) -> str:
    content = {
        "number": data.number,
        "issue_date": data.issue_date.isoformat(),
        "due_date": data.due_date.isoformat(),
        "amount_minor": data.amount_minor,
        "currency": data.currency,
        "order_ref": data.order_ref,
        "lines": [asdict(line) for line in data.lines],
        "debtor": data.debtor.external_ref,
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"lines": []},
        {"order_ref": 'B-"7"\\ü\u0007€'},
        {"lines": [{"description": "Bank „Eiche“", "quantity": "1.5", "amount": "10.00"}]},
    ],
)
def test_the_fingerprint_is_the_hash_of_the_canonical_json(overrides):
    data = valid(invoice_payload("RE-1", **overrides))
    assert data.fingerprint() == canonical_fingerprint(data)


def test_debtor_contact_details_are_not_part_of_the_fingerprint():
    a = valid(invoice_payload("RE-1"))
    b = valid(invoice_payload("RE-1", debtor={"email": "other@example.de", "name": "Max M."}))
    c = valid(invoice_payload("RE-1", debtor={"external_ref": "K-2"}))
    d = valid(invoice_payload("RE-1", amount="119.01", lines=[]))
    assert a.fingerprint() == b.fingerprint()
    assert a.fingerprint() != c.fingerprint()
    assert a.fingerprint() != d.fingerprint()


def test_a_debtor_validated_beforehand_gives_the_same_result():
    payload = invoice_payload("RE-1", debtor={"kind": "business", "company": None, "email": "kaputt"})
    own = validate_invoice(payload, today=date(2026, 1, 20))
    shared = validate_invoice(payload, today=date(2026, 1, 20), debtor=validate_debtor(payload["debtor"], today=date(2026, 1, 20)))
    assert own == shared
    assert set(own[1]) == {"debtor.company", "debtor.email"}


def test_text_fields_are_trimmed_and_inner_whitespace_collapsed():
    data = valid(invoice_payload("  RE-1 ", debtor={"name": " Max\n  Mustermann\t", "address": {"city": "Bad\u00a0Cannstatt"}}))
    assert data.number == "RE-1"
    assert data.debtor.name == "Max Mustermann"
    assert data.debtor.city == "Bad Cannstatt"


@pytest.mark.parametrize("text, expected", [("2025-12-15", date(2025, 12, 15)), ("15.12.2025", date(2025, 12, 15)), ("1.2.2026", date(2026, 2, 1)), (" 15.12.2025 ", date(2025, 12, 15))])
def test_dates_are_read_in_iso_and_german_form(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize("text", ["15/12/2025", "2025-1-5", "١٥.١٢.٢٠٢٥", "", "15.12.25"])
def test_other_date_forms_are_refused(text):
    with pytest.raises(ValueError):
        parse_date(text)


def test_the_fast_amount_reading_agrees_with_the_general_one():
    rng = random.Random(7)
    samples = ["119.00", "119,00", "1.234,56", "1.234.567", "12,5", "0,05", "007,50", "500", "500.0", "1234,567"]
    for _ in range(3000):
        whole = rng.randint(0, 10 ** rng.randint(1, 9))
        decimals = "".join(rng.choice("0123456789") for _ in range(rng.randint(0, 4)))
        grouped = f"{whole:,}".replace(",", ".") if rng.random() < 0.4 else str(whole)
        samples.append(grouped + ("," + decimals if decimals else ""))
    for text in samples:
        for currency in ("EUR", "JPY", "KWD"):
            data, errors = validate_invoice(invoice_payload("RE-1", amount=text, currency=currency, lines=[]), lenient=True)
            try:
                expected = to_minor(parse_decimal(text), currency)
            except MoneyError:
                expected = None
            if "amount" in errors:
                assert expected is None or "is ambiguous" in errors["amount"][0] or expected > 2_000_000_000 or expected == 0, (text, currency, errors)
            else:
                assert data.amount_minor == expected, (text, currency)
