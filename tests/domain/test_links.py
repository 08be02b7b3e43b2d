"""Portal links: tamper-proof, expiring, revocable bearer tokens short enough for an SMS."""
from datetime import date, timedelta

import pytest

from portal import links as portal_links
from portal.domain import links
from portal.extensions import db
from tests.factories import make_invoice, make_merchant

KEY = links.derive_key("test-secret-key")
TODAY = date(2026, 1, 15)


def test_an_issued_token_verifies_to_the_same_claims():
    token = links.issue(KEY, 7, 123456, 3, TODAY + timedelta(days=60))
    claims = links.verify(KEY, token, TODAY)
    assert claims == links.LinkClaims(7, 123456, 3, TODAY + timedelta(days=60))


def test_a_token_is_valid_through_its_last_day_and_expired_after():
    token = links.issue(KEY, 1, 1, 1, TODAY)
    assert links.verify(KEY, token, TODAY).expires_on == TODAY
    with pytest.raises(links.LinkError) as exc:
        links.verify(KEY, token, TODAY + timedelta(days=1))
    assert exc.value.reason == "expired"


def test_a_token_made_with_another_key_is_forged():
    token = links.issue(links.derive_key("someone else"), 1, 1, 1, TODAY)
    with pytest.raises(links.LinkError) as exc:
        links.verify(KEY, token, TODAY)
    assert exc.value.reason == "forged"


def test_changing_any_character_of_a_token_breaks_it():
    token = links.issue(KEY, 1, 42, 1, TODAY)
    for i in range(len(token)):
        replacement = "A" if token[i] != "A" else "B"
        tampered = token[:i] + replacement + token[i + 1 :]
        with pytest.raises(links.LinkError):
            links.verify(KEY, tampered, TODAY)


def test_a_retired_key_still_verifies_links_already_sent():
    old = links.derive_key("old secret")
    token = links.issue(old, 1, 2, 1, TODAY)
    assert links.verify([KEY, old], token, TODAY).debtor_id == 2


@pytest.mark.parametrize("token", ["", "abc", "!!!!", "a" * 65, "ÄÖÜäöüßéèêëáàâ", "Zm9v", "=" * 20, "AAAA" * 8])
def test_garbage_is_malformed_or_forged_never_a_crash(token):
    with pytest.raises(links.LinkError) as exc:
        links.verify(KEY, token, TODAY)
    assert exc.value.reason in {"malformed", "forged"}


def test_a_truncated_token_is_refused():
    token = links.issue(KEY, 1, 2, 1, TODAY)
    for cut in range(1, len(token)):
        with pytest.raises(links.LinkError):
            links.verify(KEY, token[:cut], TODAY)


def test_a_portal_url_fits_an_sms_at_a_realistic_base_url(app):
    app.config["BASE_URL"] = "https://pay.example.de"
    merchant = make_merchant(link_ttl_days=365)
    invoice = make_invoice(merchant)
    # Large ids and a bumped version as after years of use.
    invoice.debtor.link_version = 200
    url = portal_links.url_for_debtor(invoice.debtor, TODAY)
    assert url.startswith("https://pay.example.de/p/")
    assert len(url) <= 60
    token = links.issue(KEY, 99_999, 9_999_999, 1000, date(2040, 12, 31))
    assert len("https://pay.example.de/p/" + token) <= 60


def test_resolve_returns_the_debtor_a_fresh_link_names(app):
    invoice = make_invoice(make_merchant())
    token = portal_links.token_for(invoice.debtor, TODAY)
    assert portal_links.resolve(token, TODAY) == invoice.debtor


def test_revoking_a_debtors_links_makes_old_ones_fail_and_new_ones_work(app):
    debtor = make_invoice(make_merchant()).debtor
    old = portal_links.token_for(debtor, TODAY)
    portal_links.revoke_all(debtor)
    db.session.commit()
    with pytest.raises(links.LinkError) as exc:
        portal_links.resolve(old, TODAY)
    assert exc.value.reason == "revoked"
    assert portal_links.resolve(portal_links.token_for(debtor, TODAY), TODAY) == debtor


def test_a_link_expires_after_the_merchants_ttl(app):
    debtor = make_invoice(make_merchant(link_ttl_days=10)).debtor
    token = portal_links.token_for(debtor, TODAY)
    assert portal_links.resolve(token, TODAY + timedelta(days=10)) == debtor
    with pytest.raises(links.LinkError) as exc:
        portal_links.resolve(token, TODAY + timedelta(days=11))
    assert exc.value.reason == "expired"


def test_a_link_claiming_another_merchants_debtor_is_unknown(app):
    debtor = make_invoice(make_merchant()).debtor
    other = make_merchant()
    token = links.issue(KEY, other.id, debtor.id, debtor.link_version, TODAY + timedelta(days=5))
    with pytest.raises(links.LinkError) as exc:
        portal_links.resolve(token, TODAY)
    assert exc.value.reason == "unknown"


def test_a_link_can_name_the_message_it_was_sent_in_and_older_links_without_one_stay_valid():
    with_message = links.issue(KEY, 7, 123456, 3, TODAY + timedelta(days=60), message_id=987654)
    without = links.issue(KEY, 7, 123456, 3, TODAY + timedelta(days=60))
    assert links.verify(KEY, with_message, TODAY).message_id == 987654
    assert links.verify(KEY, without, TODAY).message_id is None
    assert len(with_message) - len(without) <= 4  # still fits an SMS
