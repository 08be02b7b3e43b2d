"""Factories with sensible defaults: each returns a committed object."""
from __future__ import annotations

import itertools
from datetime import date, timedelta

from portal.domain.intake import validate_invoice
from portal.extensions import db
from portal.intake.service import submit_invoice
from portal.models import ApiKey, CollectionAgency, Merchant, User

_seq = itertools.count(1)


def shop_today(tz_name: str = "Europe/Berlin"):
    """Today in a test shop's calendar (its time zone, Europe/Berlin unless set): the day Settle reckons with.
    Not `date.today()`, the machine's (UTC) day: between 23:00 and 24:00 UTC Berlin is a day ahead."""
    from portal.clock import today_for

    return today_for(tz_name)


def make_merchant(slug: str | None = None, *, agency: bool = True, **fields) -> Merchant:
    """A merchant set up as for production, including the collection agency its handover step needs
    (`agency=False`: none configured, so the dunning run holds claims before the handover)."""
    n = next(_seq)
    merchant = Merchant(
        slug=slug or f"shop-{n}",
        name=fields.pop("name", f"Shop {n}"),
        legal_name=fields.pop("legal_name", f"Shop {n} GmbH"),
        iban=fields.pop("iban", "DE89370400440532013000"),
        bic=fields.pop("bic", "COBADEFFXXX"),
        account_holder=fields.pop("account_holder", f"Shop {n} GmbH"),
        support_email=fields.pop("support_email", f"support@shop{n}.example"),
        **fields,
    )
    db.session.add(merchant)
    db.session.flush()
    if agency:
        db.session.add(CollectionAgency(
            merchant_id=merchant.id, name="Inkasso Nord GmbH", street="Hafenstraße 5", postal_code="20457", city="Hamburg",
            email="forderungen@inkasso-nord.example", legal_basis="art6_1_f", payee="agency"))
    db.session.commit()
    return merchant


def make_api_key(merchant: Merchant) -> str:
    key, secret = ApiKey.generate(merchant, "test")
    db.session.add(key)
    db.session.commit()
    return secret


def make_user(merchant: Merchant, email: str | None = None, role: str = "support", password: str = "correct horse battery") -> User:
    user = User(merchant_id=merchant.id, email=email or f"user{next(_seq)}@example.com", role=role, name="Test User")
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    return user


def invoice_payload(number: str | None = None, **overrides) -> dict:
    today = shop_today()
    debtor = {
        "external_ref": "K-1001",
        "kind": "person",
        "name": "Max Mustermann",
        "email": "max@example.de",
        "phone": "+49 170 1234567",
        "language": "de",
        "address": {"street": "Hauptstraße 5", "postal_code": "70173", "city": "Stuttgart", "country": "DE"},
    }
    debtor.update(overrides.pop("debtor", {}))
    payload = {
        "number": number or f"RE-{next(_seq):05d}",
        "issue_date": (today - timedelta(days=30)).isoformat(),
        "due_date": (today - timedelta(days=16)).isoformat(),
        "amount": "119.00",
        "currency": "EUR",
        "lines": [{"description": "Gartenbank", "quantity": 1, "amount": "119.00"}],
        "debtor": debtor,
    }
    payload.update(overrides)
    return payload


def make_invoice(merchant: Merchant, number: str | None = None, **overrides):
    data, errors = validate_invoice(invoice_payload(number, **overrides), today=shop_today())
    assert not errors, errors
    invoice = submit_invoice(merchant, data, actor="test").invoice
    db.session.commit()
    return invoice


def staff_actor(merchant: Merchant) -> str:
    """The actor string of a (new) support user of this merchant, for service calls made by staff."""
    return f"user:{make_user(merchant).id}"
