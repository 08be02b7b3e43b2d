"""One wording per message kind and language: the same words in the email (text and HTML), the SMS and
the letter; and the texts say what German dunning law lets them say, politely."""
from __future__ import annotations

import html as htmllib
import re
from datetime import timedelta

import pytest

from portal.dunning.run import run
from portal.extensions import db
from portal.messaging import gsm7, wording, worker
from portal.messaging.outbox import enqueue
from portal.messaging.render import render_email, render_letter_html, render_sms
from tests.cases.test_messages import CASES
from tests.dunning.helpers import DUE, make_debtor_invoice, messages
from tests.factories import make_invoice, make_merchant

STEP_DAYS = {"pre_due_reminder": -3, "payment_reminder": 7, "first_notice": 21, "second_notice": 35,
             "final_notice": 49, "handover_notice": 63}


def visible(markup: str) -> str:
    """The text a reader sees in an HTML part: tags dropped, entities decoded, white space folded."""
    markup = re.sub(r"<(style|svg)\b.*?</\1>", " ", markup, flags=re.S)
    return " ".join(htmllib.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


def folded(text: str) -> str:
    return " ".join(text.split())


def dunning_messages(app, language: str, group: str = "standard", **debtor):
    app.config["BASE_URL"] = "https://pay.example.de"
    merchant = make_merchant(name="Gartenhaus")
    make_debtor_invoice(merchant, group, "RE-1", language=language, **debtor)
    for day in STEP_DAYS.values():
        run(today=DUE + timedelta(days=day))
    return {m.template: m for m in messages()}


def slot_text(kind: str, language: str, slot: str, message) -> str:
    from flask_babel import force_locale

    from portal.messaging.render import context_for, placeholder_values

    with force_locale(language):
        values = placeholder_values(message, context_for(message))
    return wording.render(kind, language, values, html=False).__dict__[slot]


@pytest.mark.parametrize("language", ["de", "en"])
def test_each_dunning_step_carries_the_same_words_in_email_text_html_sms_and_letter(app, language):
    by_kind = dunning_messages(app, language)
    assert set(by_kind) == set(STEP_DAYS)
    for kind, message in by_kind.items():
        email = render_email(message)
        letter = visible(render_letter_html(message))
        sms = render_sms(message)
        for slot in ("greeting", "intro", "notice", "body"):
            words = folded(slot_text(kind, language, slot, message))
            if not words:
                continue
            assert words in folded(email.text), (kind, slot)
            assert words in visible(email.html), (kind, slot)
            assert words in letter, (kind, slot)
        assert email.subject in letter and email.subject == visible(email.html.split("</title>")[0] + "</title>")
        assert "/p/" in sms and gsm7.septets(sms) <= gsm7.SINGLE_SMS
        assert "{" not in email.text + letter + sms


@pytest.mark.parametrize("language", ["de", "en"])
@pytest.mark.parametrize("kind", sorted(CASES))
def test_each_case_message_carries_the_same_words_in_email_sms_and_letter(app, kind, language):
    app.config["BASE_URL"] = "https://pay.example.de"
    merchant = make_merchant(name="Gartenhaus Sonnenberg")
    invoice = make_invoice(merchant, "RE-1", debtor={"language": language, "name": "Jürgen Weiß"})
    message = enqueue(debtor=invoice.debtor, purpose="case_test", template=kind, channels=["letter"],
                      dedupe_key=f"w:{kind}", context=CASES[kind], invoices=[(invoice, f"w:{kind}")])
    db.session.commit()
    intro = folded(slot_text(kind, language, "intro", message))
    email, letter = render_email(message), visible(render_letter_html(message))
    assert intro and intro in folded(email.text) and intro in visible(email.html) and intro in letter
    assert email.subject in letter and "RE-1" in letter
    assert "DE89 3704" not in letter  # no payment box on a letter about a request


def test_the_old_per_channel_copies_are_gone_and_every_kind_has_german_and_english_words(app):
    from portal import ROOT

    for kind in wording.KINDS:
        for path in (f"templates/email/{kind}.html", f"templates/email/{kind}.txt", f"templates/letter/{kind}.html",
                     f"templates/sms/{kind}.txt"):
            assert not (ROOT / path).exists(), path
        for language in wording.LANGUAGES:
            slots = wording.default_slots(kind, language)
            assert slots["subject"] and slots["intro"] and "{{ link }}" in slots["sms"], (kind, language)
            for text in slots.values():
                wording.check(text, wording.allowed_placeholders(kind))


def test_german_sentences_after_the_salutation_start_in_lower_case_unless_they_address_the_reader():
    for kind in wording.KINDS:
        first = wording.default_slots(kind, "de")["intro"].removeprefix("{% if reminder_sent %}").removeprefix("{% if full %}")
        word = first.split()[0]
        assert word[0].islower() or word in {"Sie", "Ihre", "Ihr"}, (kind, word)


def test_german_texts_say_unsere_forderung_and_never_threaten_considerable_costs():
    everything = " ".join(" ".join(wording.default_slots(k, "de").values()) for k in wording.KINDS)
    assert "Ihre Forderung" not in everything and "erhebliche" not in everything
    assert "unsere unten aufgeführte Forderung" in wording.default_slots("handover_notice", "de")["intro"]
    final = wording.default_slots("final_notice", "de")["notice"]
    assert "Die dadurch entstehenden Kosten können Ihnen als Verzugsschaden berechnet werden." in final


def test_first_notice_says_default_begins_when_the_deadline_has_passed(app):
    message = dunning_messages(app, "de")["first_notice"]
    text = folded(render_email(message).text)
    deadline = (DUE + timedelta(days=21 + 10)).strftime("%d.%m.%Y")
    assert f"Geht Ihre Zahlung nicht bis zum {deadline} bei uns ein, kommen Sie mit Ablauf dieses Tages in Zahlungsverzug" in text
    assert "Mit dieser Mahnung geraten Sie in Zahlungsverzug" not in text


def test_trotz_unserer_zahlungserinnerung_only_when_a_reminder_was_sent_for_the_invoice(app):
    app.config["BASE_URL"] = "https://pay.example.de"
    merchant = make_merchant(name="Gartenhaus")
    make_debtor_invoice(merchant, "standard", "RE-1")  # reminded: the reminder is sent before the notice
    run(today=DUE + timedelta(days=7))
    assert worker.drain().sent == 1
    # A late import gets a reminder first (§ 286 rules, docs/dunning.md); an invoice that had only the pre-due
    # reminder and whose runs were missed gets the notice as its first message after the due date.
    other = make_merchant(name="Gartenhaus Zwei")
    late = make_debtor_invoice(other, "standard", "RE-2", external_ref="K-LATE", email="late@example.de")
    run(today=DUE - timedelta(days=3), merchant=other)
    run(today=DUE + timedelta(days=21))
    notices = {m.invoices[0].invoice_id: m for m in messages() if m.template == "first_notice"}
    reminded = folded(render_email(next(m for i, m in notices.items() if i != late.id)).text)
    unreminded = folded(render_email(notices[late.id]).text)
    assert "trotz unserer Zahlungserinnerung ist der folgende Betrag noch offen" in reminded
    assert "Zahlungserinnerung" not in unreminded.split("Mit freundlichen")[0]
    assert "der folgende Betrag ist trotz Fälligkeit noch offen" in unreminded


@pytest.mark.parametrize("name,expected", [
    ("Petra Kaufmann", "Guten Tag Petra Kaufmann,"),  # the contact person
    ("Beispiel GmbH", "Sehr geehrte Damen und Herren,"),  # no person on file
])
def test_a_company_is_greeted_by_its_contact_person_or_sehr_geehrte_damen_und_herren(app, name, expected):
    message = dunning_messages(app, "de", group="business", name=name)["first_notice"]
    email = render_email(message)
    assert email.text.startswith(expected)
    assert expected in visible(email.html) and expected in visible(render_letter_html(message))


def test_the_286_3_notice_is_in_the_consumers_pre_due_email_and_letter_but_not_the_business_one(app):
    consumer = dunning_messages(app, "de")["pre_due_reminder"]
    for text in (render_email(consumer).text, visible(render_email(consumer).html), visible(render_letter_html(consumer))):
        assert "§ 286 Abs. 3 BGB" in text and "30 Tagen nach Fälligkeit und Zugang" in text
    db.session.rollback()


def test_the_286_3_notice_is_left_out_for_business_customers(app):
    business = dunning_messages(app, "de", group="business", name="Petra Kaufmann")["pre_due_reminder"]
    assert "§ 286 Abs. 3" not in render_email(business).text and "§ 286 Abs. 3" not in render_letter_html(business)


@pytest.mark.parametrize("language", ["de", "en"])
def test_the_html_slots_the_worker_derives_from_the_text_are_those_the_html_sandbox_renders(app, language):
    # Names and texts with characters HTML must escape, a merchant's override with markup-like words,
    # flags both ways: for every kind, rendering each slot once (worker) gives what two renders give.
    values = {name: f"<b>{name}</b> & \"{name}\"" for name in wording.PLACEHOLDERS}
    values.update(invoices=wording.InvoiceList(["RE-1 <x>", "RE-2 & 3"]), link="https://pay.example.de/p/a?b=1&c=2")
    overrides = {"intro": "Hallo <i>{{ customer_name }}</i>,\n\n{% for invoice in invoices %}{{ invoice }} & {% endfor %}\nZeile",
                 "body": "{% if business %}Firma {{ company }}{% else %}Privat{% endif %}\n\n\n'quoted' \"text\""}
    for kind in wording.KINDS:
        for flags in (True, False):
            values.update({flag: flags for flag in wording.FLAGS})
            for texts in (None, overrides):
                plain, rich = wording.render_both(kind, language, values, overrides=texts)
                assert plain == wording.render(kind, language, values, html=False, overrides=texts)
                assert rich == wording.render(kind, language, values, html=True, overrides=texts), (kind, flags, texts)


def test_a_slot_rendered_once_for_a_batch_still_shows_each_message_its_own_values(app):
    # Slots are remembered by their text and the values they name: a greeting never carries the last
    # customer's name, markup in a value is escaped by type (str) or kept (Markup), and a slot that names
    # nothing per message is the same for all.
    from markupsafe import Markup

    source = "Guten Tag {{ customer_name }},"
    allowed = wording._allowed("payment_reminder")
    first = wording.render_slot(source, {"customer_name": "Erika Muster", "shop": "A"}, html=True, allowed=allowed)
    second = wording.render_slot(source, {"customer_name": "Max Muster", "shop": "B"}, html=True, allowed=allowed)
    assert (first, second) == (Markup("<p>Guten Tag Erika Muster,</p>"), Markup("<p>Guten Tag Max Muster,</p>"))
    as_text = wording.render_slot(source, {"customer_name": "<b>Max</b>"}, html=True, allowed=allowed)
    as_markup = wording.render_slot(source, {"customer_name": Markup("<b>Max</b>")}, html=True, allowed=allowed)
    assert as_text == Markup("<p>Guten Tag &lt;b&gt;Max&lt;/b&gt;,</p>") and as_markup == Markup("<p>Guten Tag <b>Max</b>,</p>")
    loop = "{% for invoice in invoices %}{{ invoice }};{% endfor %}"
    assert wording.render_slot(loop, {"invoices": wording.InvoiceList(["RE-1"])}, html=False, allowed=allowed) == "RE-1;"
    assert wording.render_slot(loop, {"invoices": wording.InvoiceList(["RE-1", "RE-2"])}, html=False,
                               allowed=allowed) == "RE-1;RE-2;"
    flag = "{% if business %}Firma{% else %}Privat{% endif %}"
    assert [wording.render_slot(flag, {"business": b}, html=False, allowed=allowed) for b in (True, False, 1, 0)] == \
        ["Firma", "Privat", "Firma", "Privat"]


@pytest.mark.parametrize("language", ["de", "en"])
def test_each_channel_gets_the_same_words_when_only_its_own_slots_are_rendered(app, language):
    values = {name: f"{name} value" for name in wording.PLACEHOLDERS}
    values.update(invoices=wording.InvoiceList(["RE-1", "RE-2"]), link="https://pay.example.de/p/abc")
    for kind in wording.KINDS:
        whole = wording.render(kind, language, values, html=True)
        email = wording.render(kind, language, values, html=True, slots=wording.EMAIL_SLOTS)
        sms = wording.render(kind, language, values, html=False, slots=wording.SMS_SLOTS)
        assert sms.sms == wording.render(kind, language, values, html=False).sms and sms.sms and not sms.intro
        assert email.sms == "" and {s: getattr(email, s) for s in wording.EMAIL_SLOTS} == \
            {s: getattr(whole, s) for s in wording.EMAIL_SLOTS}, kind
