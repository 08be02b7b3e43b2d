"""What a reader sees on every portal page, in both languages: no Germanisms in English ("rates",
German quotation marks, "Mo–Fr 9–17 Uhr"), four-digit years, no ISO dates, phone numbers grouped."""
from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from portal.cases import service
from portal.extensions import db
from tests.debtor.conftest import text
from tests.factories import make_invoice, shop_today, staff_actor


@pytest.fixture
def pages(portal, invoices, shop):
    """Every page a debtor with an active plan, a counter-proposal and an answered question can open."""
    shop.support_phone = "+4971112345600"
    today = shop_today()
    debtor = invoices[0].debtor
    extra = make_invoice(shop, "RE-3", amount="600.00", lines=[])
    active = service.request_plan(debtor, [invoices[0]], rates=2, first_due=today + timedelta(days=7), today=today)
    countered = service.request_plan(debtor, [extra], rates=12, first_due=today + timedelta(days=7), today=today)
    service.counter_plan(countered, actor=staff_actor(shop), today=today, rates=4, first_due=today + timedelta(days=14))
    question = service.ask_question(debtor, [invoices[1]], body="Frage?")
    service.reply(question, actor=staff_actor(shop), body="Antwort.")
    db.session.commit()
    return ["/portal/", f"/portal/invoices/{invoices[1].id}", "/portal/pay", f"/portal/pay/transfer?invoice={invoices[1].id}",
            "/portal/requests/plan", "/portal/requests/promise", "/portal/requests/dispute", "/portal/requests/question",
            "/portal/contact", "/portal/preferences", f"/portal/cases/{active.id}", f"/portal/cases/{countered.id}",
            f"/portal/cases/{question.id}", "/portal/no-such-page"]


def _read(portal, path) -> str:
    response = portal.get(path)
    assert response.status_code in (200, 404), path
    visible = text(response)
    # form values (dates in <input type=date>) are not text a person reads as such
    return visible


def test_english_pages_say_installments_and_use_english_punctuation(portal, pages):
    portal.get("/portal/language/en")
    for path in pages:
        page = _read(portal, path)
        assert not re.search(r"\brates?\b", re.sub(r"interest rate", "", page, flags=re.I), re.I), (path, page)
        for german in ("„", "Uhr", "Mo–Fr", "Ratenzahlung", "Rechnung ", "Verwendungszweck"):
            assert german not in page, (path, german)
        assert not re.search(r"\b\d{1,2}/\d{1,2}/\d{2}\b", page), path
        assert not re.search(r"\b\d{4}-\d{2}-\d{2}\b", page), path


@pytest.mark.parametrize("lang", ["de", "en"])
def test_dates_have_four_digit_years_on_every_page(portal, pages, lang):
    portal.get(f"/portal/language/{lang}")
    for path in pages:
        page = _read(portal, path)
        assert not re.search(r"\b\d{2}\.\d{2}\.\d{2}\b(?!\.?\d)", page), path
        assert not re.search(r"\b[A-Z][a-z]{2} \d{1,2}, \d{2}\b(?!\d)", page), path
        assert not re.search(r"\b\d{4}-\d{2}-\d{2}\b", page), path


def test_the_shops_phone_number_is_grouped_for_reading_and_dialled_as_one(portal, pages):
    html = portal.get("/portal/contact").get_data(as_text=True)
    assert "+49 711 12345600" in text(portal.get("/portal/contact"))
    assert 'href="tel:+4971112345600"' in html


def test_readable_phone_numbers():
    from portal.domain.contact import readable_phone

    assert readable_phone("+4971112345600") == "+49 711 12345600"
    assert readable_phone("+491701234567") == "+49 170 1234567"
    assert readable_phone("+49 711 123456-0") == "+49 711 123456-0"  # the shop's own grouping is kept
    assert readable_phone("0711 123456") == "0711 123456"
