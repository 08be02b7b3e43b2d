"""Sign-in limits that stop guessing without locking the real user out (counted per email and address)."""
from __future__ import annotations

from tests.office.conftest import sign_in


def _client_from(app, address: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def test_guessing_a_users_password_from_many_addresses_does_not_lock_the_user_out(app, staff_a):
    # 30 wrong passwords for the same email, a few from each of ten addresses (under every per-address limit);
    # a per-email counter alone would have blocked the address after 20 and the real user with it.
    statuses = [sign_in(_client_from(app, f"198.51.100.{n % 10}"), staff_a.email, f"guess {n}").status_code
                for n in range(30)]
    assert statuses == [401] * 30
    assert sign_in(_client_from(app, "203.0.113.7"), staff_a.email).status_code == 303


def test_the_guessing_address_itself_is_stopped(app, staff_a):
    attacker = _client_from(app, "198.51.100.50")
    statuses = [sign_in(attacker, staff_a.email, f"guess {n}").status_code for n in range(11)]
    assert statuses[-1] == 429
    assert sign_in(_client_from(app, "203.0.113.7"), staff_a.email).status_code == 303
