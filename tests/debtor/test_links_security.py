"""Links are bearer credentials: only genuine, unexpired, unrevoked tokens open a session, and never stay in a URL."""
from __future__ import annotations

import base64
import os
import random
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from portal import links
from portal.domain import links as domain_links
from portal.domain.links import LinkError
from portal.extensions import db
from portal.messaging import link_requests
from portal.models import Event, Message
from tests.debtor.conftest import csrf_from, open_link
from tests.factories import make_invoice, shop_today

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def mutations(token: str, other_debtor_id: int, merchant_id: int, version: int, expires_on: date, n: int, seed: int = 7):
    """Bit flips, truncations, appended and replaced characters, and tokens re-signed with swapped ids."""
    rng = random.Random(seed)
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    key_forged = domain_links.derive_key("not-the-secret")
    produced = set()
    while len(produced) < n:
        kind = rng.randrange(6)
        if kind == 0:  # flip one bit of the decoded bytes
            b = bytearray(raw)
            i = rng.randrange(len(b) * 8)
            b[i // 8] ^= 1 << (i % 8)
            candidate = base64.urlsafe_b64encode(bytes(b)).rstrip(b"=").decode()
        elif kind == 1:  # truncate
            candidate = token[: rng.randrange(0, len(token))]
        elif kind == 2:  # append characters
            candidate = token + "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 4)))
        elif kind == 3:  # replace one character
            i = rng.randrange(len(token))
            candidate = token[:i] + rng.choice(ALPHABET.replace(token[i], "")) + token[i + 1:]
        elif kind == 4:  # swap in another debtor's id, keeping the old MAC
            body = b"".join(domain_links._varint(v) for v in (merchant_id, other_debtor_id, version, (expires_on - domain_links.EPOCH).days))
            candidate = base64.urlsafe_b64encode(body + raw[-domain_links.MAC_BYTES:]).rstrip(b"=").decode()
            candidate = candidate if rng.random() < 0.5 else domain_links.issue(key_forged, merchant_id, other_debtor_id, version, expires_on)
        else:  # a later expiry or higher version, signed with a wrong key
            candidate = domain_links.issue(key_forged, merchant_id, rng.randrange(1, 10_000), rng.randrange(1, 5), expires_on + timedelta(days=rng.randrange(1, 400)))
        if candidate != token:
            produced.add(candidate)
    return sorted(produced)


def test_ten_thousand_mutated_tokens_are_all_refused(app, debtor):
    other = make_invoice(debtor.merchant, "RE-X", debtor={"external_ref": "K-2", "email": "other@example.de"}).debtor
    token = links.token_for(debtor)
    claims = domain_links.verify(links._keys(), token, shop_today())
    tried = mutations(token, other.id, claims.merchant_id, claims.version, claims.expires_on, 10_000)
    assert len(tried) == 10_000
    accepted = []
    for candidate in tried:
        try:
            links.resolve(candidate)
        except LinkError:
            continue
        accepted.append(candidate)
    assert accepted == []
    assert links.resolve(token).id == debtor.id  # the genuine one still works


def test_a_sample_of_mutated_tokens_gets_the_friendly_page_over_http_and_no_session(app, client, debtor):
    app.config["PORTAL_LINK_RATE_LIMIT"] = "100000/minute"  # read per request
    token = links.token_for(debtor)
    claims = domain_links.verify(links._keys(), token, shop_today())
    for candidate in mutations(token, debtor.id + 1, claims.merchant_id, claims.version, claims.expires_on, 300, seed=11):
        response = client.get(f"/p/{candidate}")
        # A token cut down to nothing lands on the help page (200); everything else is "not valid" (404).
        assert response.status_code == (404 if candidate else 200), candidate
        assert "Neuen Link zusenden" in response.get_data(as_text=True)
        assert client.get("/portal/").status_code == 403


def test_an_expired_link_is_refused_with_410_in_the_debtors_language(app, client, debtor):
    old = links.token_for(debtor, today=shop_today() - timedelta(days=debtor.merchant.link_ttl_days + 1))
    response = client.get(f"/p/{old}")
    assert response.status_code == 410
    page = response.get_data(as_text=True)
    assert "Dieser Link ist abgelaufen" in page
    assert 'action="/portal/link"' in page
    assert client.get("/portal/").status_code == 403


def test_an_expired_link_speaks_english_to_an_english_debtor(app, client, shop):
    english = make_invoice(shop, "RE-EN", debtor={"external_ref": "K-EN", "language": "en", "email": "en@example.com"}).debtor
    old = links.token_for(english, today=shop_today() - timedelta(days=400))
    response = client.get(f"/p/{old}", headers={"Accept-Language": "de-DE"})
    assert response.status_code == 410
    assert "This link has expired" in response.get_data(as_text=True)


def test_revoking_links_refuses_old_ones_and_ends_open_sessions(app, client, debtor):
    token = links.token_for(debtor)
    assert open_link(client, debtor).status_code == 303
    assert client.get("/portal/").status_code == 200
    links.revoke_all(debtor)
    db.session.commit()
    assert client.get("/portal/").status_code == 403
    response = client.get(f"/p/{token}")
    assert response.status_code == 410
    assert "nicht mehr gültig" in response.get_data(as_text=True)
    assert open_link(client, debtor).status_code == 303  # a fresh link works again


def test_the_link_redirects_to_a_url_without_the_token_and_records_the_opening(app, client, debtor):
    token = links.token_for(debtor)
    response = client.get(f"/p/{token}")
    assert response.status_code == 303
    assert response.headers["Location"] == "/portal/"
    assert token not in response.headers["Location"]
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    final = client.get(response.headers["Location"], follow_redirects=True)
    assert final.status_code == 200
    assert token not in final.request.url
    assert token not in final.get_data(as_text=True)
    kinds = db.session.scalars(select(Event.kind).where(Event.debtor_id == debtor.id)).all()
    assert "link.opened" in kinds


def test_opening_a_link_replaces_whatever_session_the_browser_had(app, client, shop, debtor):
    other = make_invoice(shop, "RE-O", debtor={"external_ref": "K-O", "email": "o@example.de"}).debtor
    open_link(client, other)
    with client.session_transaction() as s:
        s["stale"] = "something from before"
    open_link(client, debtor)
    with client.session_transaction() as s:
        assert s["debtor_id"] == debtor.id and s["merchant_id"] == debtor.merchant_id
        assert "stale" not in s


def test_the_session_cookie_is_httponly_lax_and_secure_by_default(app, client, debtor):
    app.config["SESSION_COOKIE_SECURE"] = True
    cookie = open_link(client, debtor).headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie


def test_another_debtors_invoice_answers_404(app, portal, shop, debtor):
    foreign = make_invoice(shop, "RE-F", debtor={"external_ref": "K-F", "email": "f@example.de"})
    assert portal.get(f"/portal/invoices/{foreign.id}").status_code == 404
    assert portal.get(f"/portal/invoices/{foreign.id}/pdf").status_code == 404
    page = portal.get(f"/portal/pay?invoice={foreign.id}&chosen=1").get_data(as_text=True)
    assert "RE-F" not in page


def test_token_attempts_are_rate_limited_per_address(app, client):
    statuses = [client.get(f"/p/AAAAAAAAAAAAAAAAAAAAAA{i:05d}").status_code for i in range(21)]
    assert statuses[:20] == [404] * 20
    assert statuses[20] == 429


def _redis_running() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url("redis://127.0.0.1:6379", socket_connect_timeout=0.5).ping())
    except Exception:  # noqa: BLE001 — any failure means: no Redis to test against here
        return False


# CI machines run Redis on 6379 (and CI=true makes a missing Redis a failure, not a skip).
@pytest.mark.skipif(not _redis_running() and not os.environ.get("CI"), reason="no Redis on 127.0.0.1:6379")
def test_rate_limits_can_be_shared_through_redis(make_app):
    """Two app instances (two processes in production) count against one limit in Redis."""
    prefix = f"settle-test-{random.randrange(10**9)}"
    settings = dict(RATELIMIT_STORAGE_URI="redis://127.0.0.1:6379", RATELIMIT_KEY_PREFIX=prefix,
                    PORTAL_LINK_RATE_LIMIT="3/minute")
    first, second = make_app(**settings), make_app(**settings)
    codes = [first.test_client().get("/p/AAAAAAAAAAAAAAAAAAAAAAAAA1").status_code,
             second.test_client().get("/p/AAAAAAAAAAAAAAAAAAAAAAAAA2").status_code,
             first.test_client().get("/p/AAAAAAAAAAAAAAAAAAAAAAAAA3").status_code,
             second.test_client().get("/p/AAAAAAAAAAAAAAAAAAAAAAAAA4").status_code]
    assert codes == [404, 404, 404, 429]


def _new_link_answer(client, contact: str):
    token = csrf_from(client.get("/portal/link").get_data(as_text=True))
    return client.post("/portal/link", data={"contact": contact, "csrf_token": token})


def test_new_link_form_answers_identically_for_known_and_unknown_contacts(app, client, debtor):
    known = _new_link_answer(client, debtor.email)
    unknown = _new_link_answer(client, "nobody@example.org")
    known_phone = _new_link_answer(client, "0170 1234567")
    unknown_phone = _new_link_answer(client, "0170 7654321")
    assert known.status_code == unknown.status_code == known_phone.status_code == unknown_phone.status_code == 200
    assert known.data == unknown.data == known_phone.data == unknown_phone.data
    ignore = {"Date", "Set-Cookie", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After"}
    assert {k: v for k, v in known.headers if k not in ignore} == {k: v for k, v in unknown.headers if k not in ignore}
    link_requests.process_pending()  # the worker's part: the lookup and the message
    queued = db.session.scalars(select(Message).where(Message.purpose == "new_link")).all()
    assert [(m.debtor_id, m.channel, m.template) for m in queued] == [(debtor.id, "email", "new_link")]


def test_new_link_is_sent_at_most_once_an_hour_per_debtor(app, client, debtor):
    for _ in range(3):
        assert _new_link_answer(client, debtor.email.upper()).status_code == 200
    link_requests.process_pending()
    assert db.session.scalar(select(func.count()).select_from(Message).where(Message.purpose == "new_link")) == 1


def test_new_link_requests_are_rate_limited(app, client):
    codes = [_new_link_answer(client, f"x{i}@example.org").status_code for i in range(6)]
    assert codes == [200] * 5 + [429]


def test_new_link_form_rejects_what_is_neither_email_nor_phone(app, client):
    response = _new_link_answer(client, "hello")
    assert response.status_code == 422
    assert "E-Mail-Adresse oder Mobilnummer" in response.get_data(as_text=True)


FORMS = [
    ("/portal/link", {"contact": "max@example.de"}),
    ("/portal/pay", {"invoice": "1", "method": "transfer"}),
    ("/portal/preferences", {"email": "a@b.de", "preferred_channel": "email", "language": "de", "consent_email": "y"}),
    ("/portal/requests/plan", {"invoices": "1", "installments": "3"}),
    ("/portal/requests/promise", {"invoices": "1", "pay_by": "2099-01-01"}),
    ("/portal/requests/dispute", {"invoices": "1", "reason": "other", "details": "Something is wrong here."}),
    ("/portal/verify", {"answer": "70173"}),
    ("/portal/leave", {}),
]


@pytest.mark.parametrize("path,data", FORMS, ids=[p for p, _ in FORMS])
def test_every_form_refuses_a_post_without_a_valid_csrf_token(app, portal, path, data):
    assert app.config["WTF_CSRF_ENABLED"] is not False
    before = db.session.scalar(select(func.count()).select_from(Event))
    for extra in ({}, {"csrf_token": "forged"}):
        response = portal.post(path, data={**data, **extra})
        assert response.status_code == 400, path
        assert "Bitte versuchen Sie es noch einmal" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Event)) == before
    assert portal.get("/portal/").status_code == 200  # still signed in: the leave form did nothing


def test_leaving_the_portal_then_reusing_the_old_cookie_is_refused(app, portal, debtor):
    kept = portal.get_cookie("session").value
    assert portal.get("/portal/").status_code == 200
    token = csrf_from(portal.get("/portal/").get_data(as_text=True))
    assert portal.post("/portal/leave", data={"csrf_token": token}).status_code == 303
    portal.set_cookie("session", kept)
    assert portal.get("/portal/").status_code == 403
    assert open_link(portal, debtor).status_code == 303  # the debtor's links still work
    assert portal.get("/portal/").status_code == 200
