"""Fixtures for the debtor portal: a shop, a debtor with open invoices, a client signed in by link."""
from __future__ import annotations

import re

import pytest

from portal.links import token_for
from tests.factories import make_invoice, make_merchant


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def text(response) -> str:
    """What a reader sees: tags dropped, any run of white space (no-break spaces too) as one space."""
    visible = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)).replace("&amp;", "&")
    return re.sub(r"\s+", " ", visible.replace("\u00a0", " ").replace("\u202f", " "))


def html(response) -> str:
    return response.get_data(as_text=True)


def open_link(client, debtor):
    """Follow the debtor's portal link like a browser would; returns the redirect response."""
    return client.get(f"/p/{token_for(debtor)}")


@pytest.fixture
def shop(app):
    return make_merchant(
        "garden", name="Gartenhaus Sonnenberg", support_phone="+49 711 123456-0", support_hours="Mo–Fr 9–17 Uhr",
        imprint_url="https://garden.example/impressum", privacy_url="https://garden.example/datenschutz",
    )


@pytest.fixture
def invoices(shop):
    """Two open invoices of Max Mustermann (German, postal code 70173), 16 days overdue."""
    return [make_invoice(shop, "RE-1"), make_invoice(shop, "RE-2", amount="50.00", lines=[])]


@pytest.fixture
def debtor(invoices):
    return invoices[0].debtor


@pytest.fixture
def portal(client, debtor):
    """A client whose session was started by the debtor's link."""
    response = open_link(client, debtor)
    assert response.status_code == 303
    return client
