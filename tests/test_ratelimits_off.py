"""Rate limits switched off (RATELIMIT_ENABLED=False, as the browser tests that sign in many times use): the app
still starts and answers, and counts nothing."""
from __future__ import annotations

from portal import create_app
from tests import conftest


def test_the_app_starts_and_serves_with_rate_limits_switched_off(database_url, _schema):
    app = create_app(conftest.test_settings(database_url, RATELIMIT_ENABLED=False))
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    for _ in range(30):  # far beyond the link-entry limit: nothing is counted
        assert client.get("/p/not-a-valid-token").status_code in (400, 404)
