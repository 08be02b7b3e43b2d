"""The overview is served from a page cache: it must never show anything stale, foreign or
in the wrong language, and its forms must keep working with this session's CSRF token."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from portal import ledger
from portal.debtor.pagecache import cache
from portal.extensions import db
from portal.models import Case
from portal.security import SessionCookies
from tests.debtor.conftest import csrf_from, html, open_link, text
from tests.factories import make_invoice, shop_today


def test_the_second_view_comes_from_the_cache_and_looks_the_same(portal, invoices):
    first = portal.get("/portal/")
    second = portal.get("/portal/")
    assert cache().hits >= 1
    assert text(first) == text(second)
    assert "169,00 €" in text(second)


def test_a_booked_payment_shows_at_once(portal, invoices):
    assert "169,00 €" in text(portal.get("/portal/"))
    portal.get("/portal/")  # now cached
    ledger.book(invoices[0], kind="payment", amount_minor=2000, source="api", external_ref="pay-1",
                booked_on=shop_today(), actor="test")
    db.session.commit()
    page = text(portal.get("/portal/"))
    assert "Bereits bezahlt -20,00 €" in page
    assert "Noch offen 99,00 €" in page
    assert "149,00 €" in page


def test_a_fee_booked_by_the_dunning_runs_bulk_path_shows_at_once(portal, invoices, debtor):
    portal.get("/portal/")
    portal.get("/portal/")
    ledger.book_charges([{
        "merchant_id": debtor.merchant_id, "invoice_id": invoices[1].id, "debtor_id": debtor.id, "kind": "fee",
        "amount_minor": 250, "currency": "EUR", "external_ref": "fee-bulk-1", "booked_on": shop_today(),
    }], actor="dunning")
    db.session.commit()
    page = text(portal.get("/portal/"))
    assert "Mahngebühren 2,50 €" in page
    assert "171,50 €" in page


def test_a_paid_invoice_leaves_the_overview_at_once(portal, invoices):
    portal.get("/portal/")
    ledger.book(invoices[1], kind="payment", amount_minor=5000, source="api", external_ref="pay-all",
                booked_on=shop_today(), actor="test")
    db.session.commit()
    page = text(portal.get("/portal/"))
    assert "Rechnung RE-2" not in page
    assert "Sie haben 1 offene Rechnung bei Gartenhaus Sonnenberg." in page
    assert "119,00 €" in page


def test_a_new_request_and_a_changed_shop_name_show_at_once(portal, shop, debtor):
    portal.get("/portal/")
    db.session.add(Case(merchant_id=shop.id, debtor_id=debtor.id, kind="promise", status="open"))
    shop.name = "Gartenhaus Sonnenberg & Söhne"
    db.session.commit()
    page = text(portal.get("/portal/"))
    assert "Ihre Anliegen" in page
    assert "bei Gartenhaus Sonnenberg & Söhne" in page


def test_tomorrow_the_overdue_days_count_on(portal, invoices, shop):
    assert text(portal.get("/portal/")).count("seit 16 Tagen überfällig") == 2
    for invoice in invoices:  # the same as a day passing: one day further past the due date
        invoice.due_date -= timedelta(days=1)
    db.session.commit()
    assert text(portal.get("/portal/")).count("seit 17 Tagen überfällig") == 2


def test_two_debtors_never_see_each_others_page(app, shop, invoices, debtor):
    other_invoice = make_invoice(shop, "RE-9", amount="119.00", debtor={
        "external_ref": "K-2002", "name": "Erika Musterfrau", "email": "erika@example.de"})
    make_invoice(shop, "RE-10", amount="50.00", lines=[], debtor={
        "external_ref": "K-2002", "name": "Erika Musterfrau", "email": "erika@example.de"})
    max_client, erika_client = app.test_client(), app.test_client()
    open_link(max_client, debtor)
    open_link(erika_client, other_invoice.debtor)
    for _ in range(2):  # the second round is served from the cache
        max_page, erika_page = text(max_client.get("/portal/")), text(erika_client.get("/portal/"))
        assert "Max Mustermann" in max_page and "Erika" not in max_page
        assert "Rechnung RE-1" in max_page and "RE-9" not in max_page
        assert "Erika Musterfrau" in erika_page and "Max" not in erika_page
        assert "Rechnung RE-9" in erika_page and "RE-1 " not in erika_page


def test_switching_language_shows_the_other_language(portal, invoices):
    assert "Ihre offenen Rechnungen" in text(portal.get("/portal/"))
    portal.get("/portal/")
    portal.get("/portal/language/en", query_string={"next": "/portal/"})
    english = text(portal.get("/portal/"))
    assert "Your open invoices" in english and "€169.00" in english
    portal.get("/portal/language/de", query_string={"next": "/portal/"})
    german = text(portal.get("/portal/"))
    assert "Ihre offenen Rechnungen" in german and "169,00 €" in german


def test_a_language_saved_in_the_preferences_shows_at_once(portal, debtor, invoices):
    portal.get("/portal/")
    debtor.language = "en"
    db.session.commit()
    assert "Your open invoices" in text(portal.get("/portal/"))


def test_the_leave_form_on_a_cached_page_carries_this_sessions_token(app, debtor, invoices):
    first, second = app.test_client(), app.test_client()
    open_link(first, debtor)
    open_link(second, debtor)
    first.get("/portal/")
    page = html(second.get("/portal/"))  # same debtor, same page: from the cache
    assert "csrf-placeholder" not in page
    token = csrf_from(page)
    assert second.post("/portal/leave", data={"csrf_token": token}).status_code == 303
    assert second.get("/portal/").status_code == 403
    assert first.get("/portal/").status_code == 200  # the other session is untouched


def test_a_flashed_notice_shows_on_a_cached_page_once(portal, invoices):
    portal.get("/portal/")
    portal.get("/portal/")
    with portal.session_transaction() as session:
        session["_flashes"] = [("error", "choose_invoice")]
    assert "Bitte wählen Sie mindestens eine Rechnung" in text(portal.get("/portal/"))
    assert "Bitte wählen Sie mindestens eine Rechnung" not in text(portal.get("/portal/"))


def test_the_cache_is_bounded(app, portal, invoices):
    app.config["PORTAL_PAGE_CACHE_SIZE"] = 2
    app.extensions.pop("settle_portal_pages", None)
    for lang in ("de", "en", "de", "en"):
        portal.get(f"/portal/language/{lang}", query_string={"next": "/portal/"})
        portal.get("/portal/")
    assert len(cache()) <= 2


# --- the session cookie is re-signed only when it changed or is getting old ---------------------

def _cookie(client) -> str | None:
    cookie = client.get_cookie("session")
    return cookie.value if cookie else None


def _signed_at(app, client, age: timedelta) -> None:
    """Re-sign the client's session cookie as if it had been issued `age` ago."""
    interface = app.session_interface
    data = interface.get_signing_serializer(app).loads(_cookie(client))

    class Past(TimestampSigner):
        def get_timestamp(self) -> int:
            return int((datetime.now(timezone.utc) - age).timestamp())

    old = URLSafeTimedSerializer(app.secret_key, salt=interface.salt, serializer=interface.serializer,
                                 signer=Past, signer_kwargs={"key_derivation": interface.key_derivation,
                                                             "digest_method": interface.digest_method})
    client.set_cookie("session", old.dumps(data))


def test_an_unchanged_session_is_not_resent_on_every_page(portal, invoices):
    portal.get("/portal/")
    response = portal.get("/portal/")
    assert "Set-Cookie" not in response.headers


def test_a_session_in_use_is_refreshed_after_a_few_minutes(app, portal, invoices):
    portal.get("/portal/")
    _signed_at(app, portal, timedelta(seconds=SessionCookies.REFRESH_AFTER + 5))
    response = portal.get("/portal/")
    assert response.status_code == 200
    assert "Set-Cookie" in response.headers  # the lifetime slides on from now


def test_a_session_past_its_lifetime_is_over(app, portal, invoices):
    portal.get("/portal/")
    _signed_at(app, portal, app.permanent_session_lifetime + timedelta(minutes=1))
    assert portal.get("/portal/").status_code == 403
