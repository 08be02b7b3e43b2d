import re

import pytest

from tests.factories import make_merchant, make_user

PASSWORD = "correct horse battery"


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def sign_in(client, email: str, password: str = PASSWORD):
    token = csrf_from(client.get("/office/login").get_data(as_text=True))
    return client.post("/office/login", data={"email": email, "password": password, "csrf_token": token})


@pytest.fixture
def merchant_a(app):
    return make_merchant("alpha", name="Alpha Shop")


@pytest.fixture
def merchant_b(app):
    return make_merchant("beta", name="Beta Shop")


@pytest.fixture
def staff_a(merchant_a):
    return make_user(merchant_a, "support@alpha.example", role="support", password=PASSWORD)


@pytest.fixture
def signed_in(client, staff_a):
    response = sign_in(client, staff_a.email)
    assert response.status_code == 303
    return client
