"""Rate limits switched off (RATELIMIT_ENABLED=False, as the browser tests that sign in many times use): the app
still starts and answers, and counts nothing."""
from __future__ import annotations



def test_the_app_starts_and_serves_with_rate_limits_switched_off(make_app):
    app = make_app(RATELIMIT_ENABLED=False)
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    for _ in range(30):  # far beyond the link-entry limit: nothing is counted
        assert client.get("/p/not-a-valid-token").status_code in (400, 404)
