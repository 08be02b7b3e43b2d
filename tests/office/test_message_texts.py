"""Merchant message texts: an override changes email, SMS and letter of that kind and language only; every
refusal says why; versions restore; sandbox escapes render nothing dangerous and raise no server error."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.dunning.run import run
from portal.extensions import db
from portal.messaging import overrides
from portal.messaging.render import render_email, render_letter_html, render_sms
from portal.models import Event, MessageText
from tests.dunning.helpers import DUE, make_debtor_invoice, messages
from tests.factories import make_merchant
from tests.office.conftest import csrf_from
from tests.office.test_settings import _admin

INTRO = "wir vermissen Ihre Zahlung für {{ invoices }} über {{ total }}. Bitte zahlen Sie bis zum {{ deadline }}."
SMS = "{{ shop }}: Bitte zahlen Sie {{ total }} bis {{ deadline }}: {{ link }}"


def _post(client, path, **data):
    page = client.get("/office/texts/first_notice/de")
    return client.post(path, data={"csrf_token": csrf_from(page.get_data(as_text=True)), **data})


def _edit(client, kind="first_notice", language="de", **slots):
    return _post(client, f"/office/texts/{kind}/{language}", action=slots.pop("action", "save"), **slots)


def test_an_override_changes_email_sms_and_letter_of_that_step_and_language_only(client, merchant_a, app):
    _admin(client, merchant_a)
    assert _edit(client, intro=INTRO, sms=SMS).status_code == 303
    other = make_merchant(name="Anderer Shop")
    app.config["BASE_URL"] = "https://pay.example.de"
    make_debtor_invoice(merchant_a, "standard", "RE-1")
    make_debtor_invoice(merchant_a, "business", "RE-2", language="en", name="Petra Kaufmann")
    make_debtor_invoice(other, "standard", "RE-3")
    run(today=DUE + timedelta(days=7))
    run(today=DUE + timedelta(days=21))
    by = {(m.merchant_id, m.language, m.template): m for m in messages()}
    mine = by[(merchant_a.id, "de", "first_notice")]
    expected = "wir vermissen Ihre Zahlung für RE-1 über 1.000,00"
    assert expected in render_email(mine).text and expected in render_email(mine).html
    assert expected in render_letter_html(mine)
    assert render_sms(mine).startswith("Alpha Shop: Bitte zahlen Sie 1.000,00")
    for key in ((merchant_a.id, "en", "first_notice"), (other.id, "de", "first_notice"), (merchant_a.id, "de", "payment_reminder")):
        untouched = by[key]
        assert "vermissen" not in render_email(untouched).text + render_sms(untouched) + render_letter_html(untouched)
    audit = db.session.execute(select(Event).where(Event.kind == "staff.texts.update")).scalar_one()
    assert audit.data["version"] == 1 and audit.data["kind"] == "first_notice"


@pytest.mark.parametrize("slots,message", [
    ({"intro": "Hallo {{ kundennummer }}"}, "Unbekannter Platzhalter {{ kundennummer }}"),
    ({"intro": "{{ ''.__class__ }}"}, "Nur Platzhalter wie {{ total }}"),
    ({"intro": "{% import 'x' as y %}"}, "Nur Platzhalter wie {{ total }}"),
    ({"intro": "{% for i in range(100000000) %}x{% endfor %}"}, "Nur Platzhalter wie {{ total }}"),
    ({"intro": "{{ total|e }}"}, "Nur Platzhalter wie {{ total }}"),
    ({"sms": "{{ shop }}: {{ total }} offen."}, "Die SMS muss den Link {{ link }} enthalten."),
    ({"sms": "{{ shop }}: Bitte zahlen: {{ link }}"}, "Die SMS muss den Betrag {{ total }} nennen."),
    ({"sms": "{{ shop }}: " + "Bitte zahlen Sie umgehend. " * 5 + "{{ total }} {{ link }}"}, "eine SMS fasst 160"),
    ({"notice": "Bitte zahlen Sie bald."}, "muss die Verzugsankündigung behalten"),
])
def test_each_refusal_names_its_reason_and_saves_nothing(client, merchant_a, slots, message):
    _admin(client, merchant_a)
    response = _edit(client, **slots)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True).replace("&#39;", "'").replace("&lt;", "<")
    assert db.session.execute(select(MessageText)).first() is None


@pytest.mark.parametrize("kind,slots,message", [
    ("final_notice", {"notice": "Bitte zahlen Sie bald."}, "muss die Übergabe an ein Inkassounternehmen weiter ankündigen"),
    ("pre_due_reminder", {"notice": "Danke!"}, "muss den Hinweis nach § 286 Abs. 3 BGB"),
])
def test_legally_required_statements_cannot_be_removed(client, merchant_a, kind, slots, message):
    _admin(client, merchant_a)
    response = _edit(client, kind=kind, **slots)
    assert response.status_code == 422 and message in response.get_data(as_text=True)


def test_the_preview_shows_unsaved_texts_with_the_sms_length_and_saves_nothing(client, merchant_a):
    _admin(client, merchant_a)
    response = _edit(client, action="preview", intro=INTRO, sms=SMS)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "wir vermissen Ihre Zahlung für" in page and "1 SMS" in page
    assert db.session.execute(select(MessageText)).first() is None
    pdf = _post(client, "/office/texts/first_notice/de/preview.pdf", intro=INTRO, sms=SMS)
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    html = _post(client, "/office/texts/first_notice/de/preview.html", intro=INTRO, sms=SMS)
    assert "wir vermissen Ihre Zahlung" in html.get_data(as_text=True) and "sandbox" in html.headers["Content-Security-Policy"]


def test_a_previous_version_is_restored_and_default_comes_back(client, merchant_a):
    _admin(client, merchant_a)
    assert _edit(client, intro=INTRO).status_code == 303
    assert _edit(client, intro="leider ist {{ total }} offen. Bitte zahlen Sie bis zum {{ deadline }}.").status_code == 303
    assert _post(client, "/office/texts/first_notice/de/restore/1").status_code == 303
    assert overrides.current_texts(merchant_a.id, "first_notice", "de") == {"intro": INTRO}
    page = client.get("/office/texts/first_notice/de").get_data(as_text=True)
    assert "Version 1 wiederhergestellt" in page and "admin@alpha.example" in page
    assert _post(client, "/office/texts/first_notice/de/default").status_code == 303
    assert overrides.current_texts(merchant_a.id, "first_notice", "de") is None
    versions = [r.version for r in overrides.history(merchant_a.id, "first_notice", "de")]
    assert versions == [4, 3, 2, 1]


def test_a_stored_text_that_no_longer_passes_falls_back_to_the_default_instead_of_failing(client, merchant_a, app):
    db.session.add(MessageText(merchant_id=merchant_a.id, kind="first_notice", language="de", version=1,
                               texts={"intro": "{{ ''.__class__.__mro__ }}"}, action="save", created_by="x@example.de"))
    db.session.commit()
    app.config["BASE_URL"] = "https://pay.example.de"
    make_debtor_invoice(merchant_a, "standard", "RE-1")
    run(today=DUE - timedelta(days=3))  # the pre-due reminder; missed runs then lead straight to the 1st notice
    run(today=DUE + timedelta(days=21))
    text = render_email(messages()[-1]).text
    assert "class" not in text and "der folgende Betrag ist trotz Fälligkeit noch offen" in text


def test_support_staff_cannot_open_the_texts(signed_in):
    assert signed_in.get("/office/texts").status_code == 403
    assert signed_in.get("/office/texts/first_notice/de").status_code == 403


def test_unknown_kinds_answer_404(client, merchant_a):
    _admin(client, merchant_a)
    assert client.get("/office/texts/nope/de").status_code == 404
    assert client.get("/office/texts/first_notice/fr").status_code == 404


def test_the_preview_dates_the_sample_message_by_the_shops_calendar_not_the_servers(app):
    # Kiritimati (UTC+14) and Pago Pago (UTC−11) are always on different days; the server's (UTC) day is
    # another one of the two at every hour, so a preview dated by the server is wrong for at least one shop.
    from portal.clock import today_for
    from portal.i18n import format_day

    for zone in ("Pacific/Kiritimati", "Pacific/Pago_Pago"):
        merchant = make_merchant(timezone=zone)
        with app.test_request_context():
            shown = overrides.preview(merchant, "first_notice", "de", None)
            deadline = format_day(today_for(zone) + timedelta(days=10))
        assert deadline in shown.email.text and deadline in shown.letter_html, zone
