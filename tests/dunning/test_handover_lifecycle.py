"""Handover to a collection agency as a lifecycle (issue 9 point 5): the agency named in the notice with
the data-protection information, payments after handover booked once, staff told, reported in the next
export once; the export's columns to the cent."""
from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from portal import ledger
from portal.dunning import handover
from portal.dunning.run import run
from portal.extensions import db
from portal.messaging import render, worker
from portal.models import CollectionAgency, Event, Invoice, LedgerEntry, Message
from tests.dunning.helpers import DUE, make_debtor_invoice
from tests.messaging.test_wording import folded
from tests.factories import make_api_key, make_invoice, make_merchant, make_user
from tests.office.conftest import sign_in
from tests.payments.camt_builder import entry, statement
from tests.payments.stripe_helpers import WEBHOOK_SECRET, deliver, event

HANDOVER_DAY = DUE + timedelta(days=63)  # Sunday 3 August 2025
STEP_DAYS = (-3, 7, 21, 35, 49, 63)


def soon() -> datetime:
    return datetime.now(timezone.utc) + timedelta(minutes=1)


def agency_for(merchant, **fields) -> CollectionAgency:
    values = dict(name="Inkasso Süd GmbH", street="Königstraße 1", postal_code="70173", city="Stuttgart",
                  contact_person="Frau Weber", email="forderungen@inkasso-sued.example", phone="+49 711 123456",
                  registration="Rechtsdienstleistungsregister, AG Stuttgart, Az. 371E-1234",
                  privacy_url="https://inkasso-sued.example/datenschutz", legal_basis="art6_1_f", payee="agency")
    values.update(fields)
    agency = CollectionAgency(merchant_id=merchant.id, **values)
    agency = db.session.merge(agency)  # replaces the factory's default agency
    db.session.commit()
    return agency


def hand_over(invoice, *, send=True):
    """Every step of the standard policy on its day, messages sent; the claim is handed over on day 63."""
    for offset in STEP_DAYS:
        run(today=DUE + timedelta(days=offset))
        if send:
            worker.drain(now=soon())
    db.session.expire_all()
    claim = db.session.get(Invoice, invoice.id)
    assert claim.status == "handed_over" and claim.closed_on == HANDOVER_DAY
    return claim


def export_now(merchant) -> tuple[dict, dict[str, list[dict]], list[str]]:
    result = handover.export(merchant, actor="test")
    db.session.commit()
    archive = zipfile.ZipFile(io.BytesIO(result.data))
    tables = {name: list(csv.DictReader(io.StringIO(archive.read(name).decode("utf-8-sig")), delimiter=";"))
              for name in archive.namelist() if name.endswith(".csv")}
    return json.loads(archive.read("claims.json")), tables, archive.namelist()


def staff_notices() -> list[Message]:
    return db.session.execute(select(Message).where(Message.template == handover.STAFF_TEMPLATE)).scalars().all()


def assert_reported_once(merchant, invoice_number: str, amount: str):
    """The next export carries the payment after handover as a change; the one after carries nothing new."""
    doc, tables, _ = export_now(merchant)
    assert doc["claims"] == []
    [change] = doc["supplements"]
    assert (change["invoice_number"], change["kind"], change["amount"]) == (invoice_number, "payment", amount)
    assert change["after_handover"] is True and change["supplement"] is True
    [row] = tables["entries.csv"]
    assert (row["invoice_number"], row["kind"], row["amount"], row["after_handover"], row["supplement"]) == (
        invoice_number, "payment", amount, "yes", "yes")
    doc, tables, _ = export_now(merchant)
    assert doc["supplements"] == [] and tables["entries.csv"] == []


@pytest.fixture
def shop(app):
    merchant = make_merchant("garden", name="Gartenhaus", stripe_secret_key="sk_test_x", stripe_webhook_secret=WEBHOOK_SECRET)
    agency_for(merchant)
    return merchant


def test_a_payment_after_handover_by_bank_transfer_camt_is_booked_staff_are_told_and_the_next_export_reports_it_once(app, shop, runner, client, tmp_path):
    invoice = hand_over(make_debtor_invoice(shop, "standard", "RE-1"))
    doc, _, _ = export_now(shop)
    assert [c["claim"]["invoice_number"] for c in doc["claims"]] == ["RE-1"]
    assert staff_notices() == []

    camt = tmp_path / "statement.xml"
    camt.write_bytes(statement(entry("300.00", ref="BANK-1", rf=invoice.rf_reference, name="Test Standard",
                                     booked="2025-08-11")))
    result = runner.invoke(args=["payments", "import-camt", str(camt), "--merchant", shop.slug])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    claim = db.session.get(Invoice, invoice.id)
    # 1000.00 + interest 0.86 + 2.40 + 2.40 + the final letter's fee 1.25 (its default cost; the emails cost nothing)
    # = 1006.91 at handover; 300.00 paid → 706.91 open
    assert claim.status == "handed_over" and claim.open_minor == 70691
    [notice] = staff_notices()
    assert notice.recipient == shop.support_email and notice.context["invoice"] == "RE-1"
    assert notice.context["amount_minor"] == 30000 and notice.context["booked_on"] == "2025-08-11"
    [told] = db.session.execute(select(Event).where(Event.kind == handover.PAYMENT_EVENT)).scalars().all()
    assert told.invoice_id == invoice.id and told.data["source"] == "bank"
    assert [e.id for e, _ in handover.pending_after_handover(shop.id)] != []
    make_user(shop, "admin@garden.example", role="admin", password="correct horse battery")
    assert sign_in(client, "admin@garden.example", "correct horse battery").status_code == 303
    page = client.get("/office/handover").get_data(as_text=True)
    assert "Zahlungen nach der Übergabe, dem Inkassounternehmen noch nicht gemeldet" in page and "300,00" in page
    timeline = client.get(f"/office/invoices/{invoice.id}").get_data(as_text=True)
    assert "nach der Übergabe eingegangen: Das Team wurde informiert" in timeline

    # The same statement again books nothing and tells nobody twice.
    assert runner.invoke(args=["payments", "import-camt", str(camt), "--merchant", shop.slug]).exit_code == 0
    assert len(staff_notices()) == 1 and db.session.get(Invoice, invoice.id).open_minor == 70691

    assert_reported_once(shop, "RE-1", "300.00")
    assert handover.pending_after_handover(shop.id) == []


def test_a_payment_after_handover_by_card_stripe_webhook_is_booked_staff_are_told_and_the_next_export_reports_it_once(app, shop, client):
    invoice = hand_over(make_debtor_invoice(shop, "standard", "RE-1"))
    export_now(shop)
    intent = {"id": "pi_after_handover", "object": "payment_intent", "amount": 5000, "amount_received": 5000,
              "currency": "eur", "status": "succeeded", "metadata": {"settle_invoices": "RE-1"}}
    response = deliver(client, shop.slug, event("evt_after_handover", "payment_intent.succeeded", intent))
    assert response.status_code == 200
    assert deliver(client, shop.slug, event("evt_after_handover", "payment_intent.succeeded", intent)).status_code == 200
    db.session.expire_all()
    assert db.session.get(Invoice, invoice.id).open_minor == 100691 - 5000
    [notice] = staff_notices()
    assert notice.context["source"] == "stripe" and notice.context["amount_minor"] == 5000
    assert_reported_once(shop, "RE-1", "50.00")


def test_a_payment_after_handover_reported_by_the_shop_api_is_booked_staff_are_told_and_the_next_export_reports_it_once(app, shop, client):
    invoice = hand_over(make_debtor_invoice(shop, "standard", "RE-1"))
    export_now(shop)
    key = make_api_key(shop)
    body = {"amount": "1006.91", "reference": "PP-77", "received_on": "2025-08-20"}
    response = client.post("/api/v1/invoices/RE-1/payments", json=body, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["invoice"]["status"] == "handed_over"  # the agency closes the file, not Settle
    db.session.expire_all()
    assert db.session.get(Invoice, invoice.id).open_minor == 0
    [notice] = staff_notices()
    assert notice.context["source"] == "api"
    worker.drain(now=soon())
    sent = db.session.get(Message, notice.id)
    assert sent.status == "sent" and "RE-1" in sent.subject and "Zahlung nach Übergabe" in sent.subject
    assert_reported_once(shop, "RE-1", "1006.91")


def test_interest_booked_after_the_first_export_is_reported_as_a_supplement_once_with_its_period(app, shop):
    invoice = hand_over(make_debtor_invoice(shop, "standard", "RE-1"), send=False)
    export_now(shop)
    # A rate entered late: interest for 4 August–31 December 2025 (150 days) on 1000.00 at 6.27 % = 25.77
    ledger.book(invoice, kind="interest", amount_minor=2577, source="dunning", external_ref=f"interest:{invoice.id}:late",
                booked_on=date(2026, 1, 20), actor="system", memo="Default interest (§ 288 BGB)",
                data={"label": "interest", "supplement": True, "segments": [
                    {"from": "2025-08-04", "to": "2025-12-31", "days": 150, "principal_minor": 100000,
                     "base_rate": "1.27", "rate": "6.27"}]})
    db.session.commit()
    assert staff_notices() == []  # interest is Settle's own booking: nobody needs telling, the export carries it
    doc, tables, _ = export_now(shop)
    [change] = doc["supplements"]
    assert (change["kind"], change["amount"], change["interest_supplement"]) == ("interest", "25.77", True)
    assert change["legal_basis"] == "§ 288 Abs. 1 und 2 BGB (Verzugszinsen)"
    [period] = tables["interest.csv"]
    assert (period["from"], period["to"], period["days"], period["rate"], period["principal"], period["interest"],
            period["supplement"]) == ("2025-08-04", "2025-12-31", "150", "6.27", "1000.00", "25.77", "yes")
    doc, tables, _ = export_now(shop)
    assert doc["supplements"] == [] and tables["interest.csv"] == []


def test_the_export_carries_every_column_an_agency_needs_with_hand_computed_values(app):
    merchant = make_merchant(
        business_flat_fee=True, legal_name="Gartenhaus Sonnenberg GmbH", legal_form="gmbh", street="Am Hang 3",
        postal_code="70597", city="Stuttgart", registered_office="Stuttgart", register_court="Amtsgericht Stuttgart",
        register_number="HRB 723456", managing_directors="Paula Sonnenberg", vat_id="DE123456789")
    agency_for(merchant)
    invoice = make_invoice(merchant, "RE-2025-0042", issue_date="2025-05-18", due_date=DUE.isoformat(), amount="1000.00",
                           order_ref="B-7781", lines=[{"description": "Gartenbank Eiche", "quantity": 1, "amount": "1000.00"}],
                           debtor={"external_ref": "G-1", "kind": "business", "name": "Frau Dr. Erika Mustermann",
                                   "company": "Beispiel GmbH", "email": "einkauf@beispiel.example", "language": "de"})
    hand_over(invoice)
    doc, tables, names = export_now(merchant)
    [row] = tables["claims.csv"]
    expected = {
        "creditor_name": "Gartenhaus Sonnenberg GmbH", "creditor_legal_form": "gmbh", "creditor_register_court": "Amtsgericht Stuttgart",
        "creditor_register_number": "HRB 723456", "creditor_managing_directors": "Paula Sonnenberg", "creditor_vat_id": "DE123456789",
        "debtor_kind": "business", "debtor_salutation": "Frau", "debtor_title": "Dr.", "debtor_first_name": "Erika",
        "debtor_last_name": "Mustermann", "debtor_company": "Beispiel GmbH",
        "invoice_number": "RE-2025-0042", "invoice_date": "2025-05-18", "due_date": "2025-06-01", "order_ref": "B-7781",
        "claim_subject": "1 × Gartenbank Eiche", "currency": "EUR", "principal": "1000.00",
        # business: 30 days after due date and receipt (§ 286 (3) BGB) → Tuesday 1 July 2025
        "default_on": "2025-07-01", "default_rule": "thirty_days", "handed_over_on": "2025-08-03",
        # 2–6 July (5 d), 7–20 July (14 d), 21 July–3 August (14 d) at 1.27 + 9 = 10.27 % on 1000.00:
        # 1.41 + 3.94 + 3.94 = 9.29; the 40.00 flat fee once, no dunning fees on top (§ 288 (5) sentence 3)
        "interest_total": "9.29", "fees_total": "40.00", "flat_fee": "40.00", "payments_before_handover": "0.00",
        "payments_after_handover": "0.00", "open_total": "1049.29",
        # from the day after handover: 10.27 % p. a. on 1000.00 = 1000 × 10.27 / 36500 = 0.2814 € a day
        "running_interest_from": "2025-08-04", "running_interest_base_rate": "1.27", "running_interest_rate": "10.27",
        "running_interest_principal": "1000.00", "running_interest_per_day": "0.2814",
        "payee_after_handover": "agency", "disputed": "no", "messages": "6",
    }
    assert {k: row[k] for k in expected} == expected
    assert "§ 288 Abs. 5 Satz 3 BGB" in row["flat_fee_credit_note"] and "Kosten der Rechtsverfolgung" in row["flat_fee_credit_note"]
    assert row["default_rule_text"].startswith("§ 286 Abs. 3 BGB")
    periods = [(p["from"], p["to"], p["days"], p["rate"], p["interest"]) for p in tables["interest.csv"]]
    assert periods == [("2025-07-02", "2025-07-06", "5", "10.27", "1.41"), ("2025-07-07", "2025-07-20", "14", "10.27", "3.94"),
                       ("2025-07-21", "2025-08-03", "14", "10.27", "3.94")]
    fees = [(r["kind"], r["amount"], r["legal_basis"]) for r in tables["entries.csv"] if r["kind"] == "fee"]
    assert fees == [("fee", "40.00", "§ 288 Abs. 5 BGB (Verzugspauschale)")]
    history = [(m["step"], m["channel"]) for m in tables["messages.csv"]]
    assert history == [("pre_due", "email"), ("reminder", "email"), ("notice_1", "email"), ("notice_2", "email"),
                       ("final", "letter"), ("handover", "letter")]
    for m in tables["messages.csv"]:
        assert m["copy"] in names and m["copy"].endswith(".pdf" if m["channel"] == "letter" else ".txt")
    archive = zipfile.ZipFile(io.BytesIO(handover.export(merchant, actor="test").data))  # nothing new: an empty export
    assert archive.read("claims.csv").decode("utf-8-sig").count("\n") == 1
    [claim] = doc["claims"]
    assert claim["debtor"]["contact_person"] == "Frau Dr. Erika Mustermann"
    assert claim["creditor"]["register_number"] == "HRB 723456"


def test_a_disputed_claim_and_the_email_copies_show_in_the_export(app, shop):
    invoice = hand_over(make_debtor_invoice(shop, "standard", "RE-1"))
    from portal.models import Case, CaseInvoice

    case = Case(merchant_id=shop.id, debtor_id=invoice.debtor_id, kind="dispute", status="rejected", reason="damaged",
                body="Die Bank war beschädigt.", resolution="rejected")
    db.session.add(case)
    db.session.flush()
    db.session.add(CaseInvoice(case_id=case.id, invoice_id=invoice.id))
    db.session.commit()
    result = handover.export(shop, actor="test")
    archive = zipfile.ZipFile(io.BytesIO(result.data))
    disputes = list(csv.DictReader(io.StringIO(archive.read("disputes.csv").decode("utf-8-sig")), delimiter=";"))
    assert [(d["reason"], d["status"], d["what_the_debtor_wrote"]) for d in disputes] == [
        ("damaged", "rejected", "Die Bank war beschädigt.")]
    doc = json.loads(archive.read("claims.json"))
    email_copy = next(m["copy"] for m in doc["claims"][0]["dunning_history"] if m["step"] == "notice_1")
    text = archive.read(email_copy).decode()
    # The copy as sent: the 1st notice with its claim table, though the invoice has been handed over since.
    assert "1. Mahnung" in text and "RE-1" in text and "1.000,00" in text and "https://…/p/…" in text
    assert "/p/" in text and "token" not in text


@pytest.mark.parametrize("number, folder", [("=1+1", "1_1"), ("../../x", "x")])
def test_an_invoice_number_that_is_a_formula_or_a_path_is_inert_in_the_csv_and_safe_in_zip_names(app, shop, number, folder):
    invoice = make_debtor_invoice(shop, "standard", number)
    hand_over(invoice)
    result = handover.export(shop, actor="test")
    archive = zipfile.ZipFile(io.BytesIO(result.data))
    for name in archive.namelist():
        assert not name.startswith("/") and ".." not in name.split("/") and "\\" not in name
    assert any(n.startswith(f"messages/{folder}/") for n in archive.namelist())
    raw = archive.read("claims.csv").decode("utf-8-sig")
    [row] = list(csv.DictReader(io.StringIO(raw), delimiter=";"))
    if number.startswith("="):
        assert row["invoice_number"] == "'=1+1"  # a spreadsheet shows the text, never computes it
    else:
        assert row["invoice_number"] == number


def test_the_handover_notice_names_the_agency_says_where_to_pay_and_carries_the_data_protection_information(app, shop):
    invoice = hand_over(make_debtor_invoice(shop, "standard", "RE-1"), send=False)
    notice = db.session.execute(select(Message).where(Message.template == "handover_notice")).scalar_one()
    assert notice.channel == "letter"
    html = render.render_letter_html(notice, link="https://portal.example/p/abc")
    text = " ".join(html.split())
    assert "an das Inkassounternehmen Inkasso Süd GmbH, Königstraße 1, 70173 Stuttgart, übergeben" in text
    assert "Bitte zahlen Sie ab sofort nicht mehr an uns, sondern ausschließlich an Inkasso Süd GmbH" in text
    assert "Fragen zur Forderung beantwortet Ihnen Inkasso Süd GmbH: Frau Weber, forderungen@inkasso-sued.example" in text
    assert "Hinweise zum Datenschutz (Art. 13 und 14 DSGVO)" in text
    assert "Rechtsgrundlage ist Art. 6 Abs. 1 lit. f DSGVO" in text and "Art. 77 DSGVO" in text
    assert "Az. 371E-1234" in text
    # The agency collects: no payment box, no "pay online" line
    assert "DE89 3704" not in text and "Pay online" not in text and "Online bezahlen" not in text
    assert "DE89370400440532013000" not in text  # nor the shop's account in the letter's footer
    assert "Die Einzelheiten unserer Forderung:" in text
    notice.channel = "email"
    email = render.render_email(notice, link="https://portal.example/p/abc")
    assert "Inkasso Süd GmbH" in email.subject
    assert "ausschließlich an Inkasso Süd GmbH" in email.text and "Art. 13 und 14 DSGVO" in email.text
    assert "Jetzt ansehen und bezahlen" not in email.html and "Einzelheiten unserer Forderung" in email.html
    notice.language = "en"
    email = render.render_email(notice, link="https://portal.example/p/abc")
    assert "please do not pay us but only Inkasso Süd GmbH" in email.text
    assert "Data protection (Art. 13 and 14 GDPR)" in email.text and "Art. 6 (1) (f) GDPR" in email.text
    notice.language, notice.channel = "de", "sms"
    sms = render.render_sms(notice, link="https://portal.example/p/abc")
    assert "Inkasso Süd GmbH" in sms and "Bitte nur dorthin zahlen" in sms
    db.session.rollback()
    assert invoice.id


def test_when_the_shop_still_collects_the_handover_notice_says_so_and_the_letter_keeps_the_payment_box(app):
    merchant = make_merchant()
    agency_for(merchant, payee="shop", legal_basis="art6_1_b_f")
    hand_over(make_debtor_invoice(merchant, "standard", "RE-1"), send=False)
    notice = db.session.execute(select(Message).where(Message.template == "handover_notice")).scalar_one()
    text = " ".join(render.render_letter_html(notice, link="https://portal.example/p/abc").split())
    assert "Bitte zahlen Sie den offenen Betrag weiterhin an uns" in text and "ausschließlich" not in text
    assert "Art. 6 Abs. 1 lit. b und f DSGVO" in text
    assert "DE89 3704 0044 0532 0130 00" in text  # the payment box with the shop's account


def test_a_merchant_text_for_the_handover_notice_must_keep_the_data_protection_information(app, shop):
    from portal.messaging.overrides import problems

    with app.test_request_context(headers={"Accept-Language": "de"}):
        errors = problems(shop, "handover_notice", "de", {"notice": "Wir haben übergeben."})
        assert errors == {"notice": "Die Übergabemitteilung muss die Datenschutzhinweise zur Übermittlung an das "
                                    "Inkassounternehmen behalten (Art. 13 und 14 DSGVO)."}
        assert problems(shop, "handover_notice", "de", {"notice": "Hinweise zum Datenschutz (DSGVO): {{ creditor }}"}) == {}


def test_a_base_rate_entered_after_the_first_export_reaches_the_agency_as_an_interest_supplement_in_the_next_export_once(app, runner):
    """§ 288 BGB interest is never lost: a claim handed over on Mon 3 August 2026 while the rate for the half-year
    from 1 July 2026 was unknown; 2.02 % is entered on 10 August. Consumer: 2 July–3 August, 33 days at 7.02 % on
    1,000.00 = 1000 × 33 × 7.02 / 36500 = 6.35 (portal/dunning/interest.py books it, marked supplement)."""
    merchant = make_merchant()
    agency_for(merchant)
    invoice = make_debtor_invoice(merchant, "standard", "RE-1", due=date(2026, 6, 1))
    for n in range(-5, 66):
        assert runner.invoke(args=["dunning", "run", "--today", (date(2026, 6, 1) + timedelta(days=n)).isoformat()]).exit_code == 0
    assert db.session.get(Invoice, invoice.id).closed_on == date(2026, 8, 3)
    doc, tables, _ = export_now(merchant)
    [row] = tables["claims.csv"]
    assert (row["interest_total"], row["running_interest_from"], row["running_interest_rate"]) == ("0.00", "2026-08-04", "")
    result = runner.invoke(args=["base-rates", "set", "2026-07-01", "2.02", "--today", "2026-08-10"])
    assert result.exit_code == 0, result.output
    doc, tables, _ = export_now(merchant)
    [change] = doc["supplements"]
    assert (change["invoice_number"], change["kind"], change["amount"], change["booked_on"]) == ("RE-1", "interest", "6.35", "2026-08-10")
    assert change["interest_supplement"] is True and change["supplement_reason"] == "after_handover"
    [period] = tables["interest.csv"]
    assert (period["from"], period["to"], period["days"], period["base_rate"], period["rate"], period["interest"]) == (
        "2026-07-02", "2026-08-03", "33", "2.02", "7.02", "6.35")
    doc, tables, _ = export_now(merchant)
    assert doc["supplements"] == [] and tables["interest.csv"] == []


def test_without_a_collection_agency_nothing_is_handed_over_the_claim_waits_staff_are_told_and_saving_the_agency_releases_it(app, client):
    """A handover notice must name the agency it hands over to: with none configured the run holds the claim at
    that step (no notice, no status change), tells staff once, and the next run after the agency is saved hands over."""
    merchant = make_merchant("alpha", agency=False)
    invoice = make_debtor_invoice(merchant, "standard", "RE-1")
    for offset in STEP_DAYS:
        run(today=DUE + timedelta(days=offset))
    db.session.expire_all()
    claim = db.session.get(Invoice, invoice.id)
    assert (claim.status, claim.paused_reason, claim.next_action_on) == ("open", "agency", None)
    assert db.session.execute(select(Message).where(Message.template == "handover_notice")).first() is None
    [notice] = db.session.execute(select(Message).where(Message.template == "staff_agency_missing")).scalars().all()
    email = render.render_email(notice)
    assert email.subject == "Forderungen vor der Übergabe: kein Inkassounternehmen hinterlegt"
    assert "Der Mahnlauf vom 03.08.2025 hätte diese Rechnungen an ein Inkassounternehmen übergeben" in folded(email.text)
    assert "- RE-1" in email.text
    run(today=HANDOVER_DAY + timedelta(days=1))  # held: a later run does not hand over either, nor tell staff again
    db.session.expire_all()
    assert db.session.get(Invoice, invoice.id).status == "open"

    make_user(merchant, "admin@alpha.example", role="admin", password="correct horse battery")
    assert sign_in(client, "admin@alpha.example").status_code == 303
    from tests.office.conftest import csrf_from
    from tests.office.test_agency import FORM

    token = csrf_from(client.get("/office/settings/collection-agency").get_data(as_text=True))
    saved = client.post("/office/settings/collection-agency", data={**FORM, "csrf_token": token}, follow_redirects=True)
    assert "1 Forderung wartete auf diese Angaben; der nächste Mahnlauf übergibt sie." in saved.get_data(as_text=True)
    db.session.expire_all()
    claim = db.session.get(Invoice, invoice.id)
    assert claim.paused_reason is None and claim.next_action_on is not None
    run(today=claim.next_action_on)
    db.session.expire_all()
    assert db.session.get(Invoice, invoice.id).status == "handed_over"
    handover_notice = db.session.execute(select(Message).where(Message.template == "handover_notice")).scalar_one()
    text = " ".join(render.render_letter_html(handover_notice, link="https://portal.example/p/abc").split())
    assert "an das Inkassounternehmen Inkasso Süd GmbH, Königstraße 1, 70173 Stuttgart, übergeben" in text
    assert "[" not in text  # no placeholder left
