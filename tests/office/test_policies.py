"""The policy editor (admins): customer groups and steps as forms, refusals that keep dunning lawful,
versions that apply only to invoices entering a group afterwards, moving an invoice (audited),
and previews of every step for a sample debtor in German and English."""
from __future__ import annotations

import html as html_module
import re
import subprocess
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.clock import today_for
from portal.domain import default as law_default
from portal.domain.calendar import legal_calendar
from portal.dunning.run import run
from portal.extensions import db
from portal.models import Event, Invoice, Message, Policy
from portal.policies import service
from tests.dunning.helpers import DUE, make_debtor_invoice
from tests.factories import make_user
from tests.office.conftest import PASSWORD, csrf_from, sign_in


@pytest.fixture
def admin(client, merchant_a):
    user = make_user(merchant_a, "admin@alpha.example", role="admin", password=PASSWORD)
    user.language = "en"
    db.session.commit()
    assert sign_in(client, user.email).status_code == 303
    return client


def group(merchant, name="Standard") -> Policy:
    return db.session.execute(select(Policy).where(Policy.merchant_id == merchant.id, Policy.name == name,
                                                   Policy.superseded_at.is_(None))).scalar_one()


def form_of(policy: Policy, token: str, **changes) -> dict:
    """The editor's fields as the page fills them for `policy`, with `changes` (field name → value)."""
    d = service.draft_of(policy)
    data = {"csrf_token": token, "name": d.name, "priority": str(d.priority), "active": "1",
            "match_kind": d.match_kind or "", "match_age_min": "" if d.match_age_min is None else str(d.match_age_min),
            "match_age_max": "" if d.match_age_max is None else str(d.match_age_max), "match_amount_min": "",
            "match_amount_max": "", "match_language": "", "match_preferred_channel": "", "match_customer": "",
            "step_count": str(len(d.steps) + 1)}
    for i, s in enumerate(d.steps):
        p = f"step-{i}-"
        data.update({p + "key": s.key, p + "offset": str(s.offset_days), p + "from": s.offset_from, p + "legal": s.legal,
                     p + "template": s.template, p + "fee-letter": service.money_text(s.fee_minor),
                     p + "fee-email": service.money_text(s.fee_email_minor), p + "fee-sms": service.money_text(s.fee_sms_minor),
                     p + "days": str(s.payment_days)})
        for n, channel in enumerate(s.channels, start=1):
            data[f"{p}channel-{n}"] = channel
        if s.notice_286:
            data[p + "notice286"] = "1"
    data.update(changes)
    return data


def _text(response) -> str:
    return " ".join(html_module.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))).split())


def edit_page(client, policy):
    return client.get(f"/office/policies/{policy.group_id}")


def post_form(client, policy, action="save", **changes):
    token = csrf_from(edit_page(client, policy).get_data(as_text=True))
    return client.post(f"/office/policies/{policy.group_id}", data={**form_of(policy, token, **changes), "action": action})


def test_admins_see_every_group_with_its_rules_and_steps_support_staff_may_not(admin, merchant_a):
    page = _text(admin.get("/office/policies"))
    assert "Ältere Kundschaft (ab 70 Jahren)" in page and "Private customers only · aged 70 and over" in page
    assert "Mobile first (bis 29 Jahre)" in page and "SMS → Email → Letter" in page
    assert "21 days after the due date" in page and "Notice that puts the customer in default" in page
    assert "notice_1" not in page and "default_notice" not in page  # no internal keys


def test_support_staff_cannot_open_the_editor(client, merchant_a, staff_a):
    sign_in(client, staff_a.email)
    assert client.get("/office/policies").status_code == 403


# (changes to the Standard group's form, the field with the message, the message)
REFUSALS = {
    "fee_before_default": (
        {"step-1-fee-letter": "1,00"}, "step-1-fee-letter",
        "Step 2: a fee is allowed only after the notice that puts the customer in default; that notice itself is free (§ 286 BGB)."),
    "fee_on_default_notice": (
        {"step-2-fee-letter": "1,00"}, "step-2-fee-letter",
        "Step 3: a fee is allowed only after the notice that puts the customer in default; that notice itself is free (§ 286 BGB)."),
    "handover_without_final": (
        {"step-4-legal": "reminder", "step-4-template": "second_notice"}, "step-5-legal",
        "Step 6: the handover to a collection agency needs a final notice before it that announces it."),
    "offsets_not_increasing": (
        {"step-3-offset": "20"}, "step-3-offset",
        "Step 4: the steps must follow one another; this one would be planned on or before the step before it."),
    "handover_too_soon": (
        {"step-5-offset": "55"}, "step-5-offset",
        "Step 6: between the final notice and the handover lie 6 days; at least 14 are needed (the final notice's "
        "payment period after receipt, at least 14 days)."),
    "letter_fee_above_costs": (
        {"step-3-fee-letter": "3,00"}, "step-3-fee-letter",
        "Step 4: a letter fee may be at most the actual cost of a letter, €1.25 (postage and print, see the settings)."),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_each_unlawful_change_is_refused_with_its_message_and_nothing_is_saved(admin, merchant_a, case):
    changes, field, message = REFUSALS[case]
    standard = group(merchant_a)
    response = post_form(admin, standard, **changes)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'id="err-{field}"' in html and f'aria-describedby="err-{field}"' in html
    assert message in _text(response)
    assert group(merchant_a).version == 1


def test_a_refusal_reads_in_german_for_a_german_speaking_admin(client, merchant_a):
    user = make_user(merchant_a, "admin-de@alpha.example", role="admin", password=PASSWORD)
    sign_in(client, user.email)
    response = post_form(client, group(merchant_a), **{"step-1-fee-letter": "1,00"})
    assert response.status_code == 422
    assert ("Schritt 2: Eine Gebühr ist erst nach der Mahnung erlaubt, die den Kunden in Verzug setzt; diese Mahnung "
            "selbst ist kostenlos (§ 286 BGB).") in _text(response)


def test_a_change_applies_to_invoices_entering_the_group_afterwards_the_others_keep_their_version(admin, merchant_a):
    earlier = make_debtor_invoice(merchant_a, "standard", "RE-1")
    run(today=DUE + timedelta(days=7), merchant=merchant_a)
    old = group(merchant_a)
    assert db.session.get(Invoice, earlier.id).dunning_policy_id == old.id
    response = post_form(admin, old, **{"step-2-offset": "24", "step-2-days": "14"})
    assert response.status_code == 303, _text(response)
    new = group(merchant_a)
    assert (new.version, new.lineage_id, new.changed_by) == (2, old.id, "admin@alpha.example")
    assert db.session.get(Policy, old.id).superseded_at is not None
    later = make_debtor_invoice(merchant_a, "standard", "RE-2", due=DUE + timedelta(days=7))
    run(today=DUE + timedelta(days=14), merchant=merchant_a)
    assert db.session.get(Invoice, later.id).dunning_policy_id == new.id
    # The earlier invoice follows version 1: its first notice on day 21, the new one's on day 24 after its due date.
    run(today=DUE + timedelta(days=21), merchant=merchant_a)
    assert db.session.get(Invoice, earlier.id).dunning_step == "notice_1"
    assert db.session.get(Invoice, later.id).next_action_on == DUE + timedelta(days=7 + 24)
    [saved] = db.session.scalars(select(Event).where(Event.kind == "staff.policy.saved")).all()
    assert saved.data["version"] == 2 and saved.data["changed"] == ["steps"]
    assert "Dunning policy “Standard” saved as version 2" in _text(admin.get("/office/audit"))


def test_staff_move_an_invoice_to_another_group_audited_and_on_its_timeline(admin, merchant_a):
    invoice = make_debtor_invoice(merchant_a, "standard", "RE-1")
    run(today=DUE + timedelta(days=21), merchant=merchant_a)  # reminder (first message), notice next
    older = group(merchant_a, "Ältere Kundschaft (ab 70 Jahren)")
    page = admin.get(f"/office/invoices/{invoice.id}").get_data(as_text=True)
    response = admin.post(f"/office/invoices/{invoice.id}/policy",
                          data={"csrf_token": csrf_from(page), "group_id": str(older.group_id)})
    assert response.status_code == 303
    invoice = db.session.get(Invoice, invoice.id)
    assert invoice.dunning_policy_id == older.id and invoice.dunning_step == "reminder" and invoice.dunning_level == 2
    [moved] = db.session.scalars(select(Event).where(Event.kind == "staff.invoice.policy_moved")).all()
    assert moved.invoice_id == invoice.id and moved.data["by"] == "admin@alpha.example"
    timeline = _text(admin.get(f"/office/invoices/{invoice.id}"))
    assert ("Moved from the dunning policy “Standard” (version 1) to “Ältere Kundschaft (ab 70 Jahren)” (version 1)"
            in timeline)
    # The next notice (14 days after the late reminder, as planned) goes by letter now, the older group's first channel.
    assert invoice.next_action_on == DUE + timedelta(days=35)
    run(today=DUE + timedelta(days=35), merchant=merchant_a)
    assert db.session.get(Invoice, invoice.id).dunning_step == "notice_1"
    notice = db.session.scalars(select(Message).where(Message.template == "first_notice")).one()
    assert notice.channel == "letter"


def _pdf_pages(data: bytes, tmp_path) -> int:
    path = tmp_path / "letter.pdf"
    path.write_bytes(data)
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"Pages:\s+(\d+)", info).group(1))


def test_preview_shows_every_step_in_german_and_english_with_sms_length_email_frame_and_one_page_letter(
        admin, merchant_a, tmp_path):
    mobile = group(merchant_a, "Mobile first (bis 29 Jahre)")
    # Unsaved: the second notice gives 12 days to pay.
    response = post_form(admin, mobile, action="preview", **{"step-3-days": "12"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    page = _text(response)
    assert group(merchant_a, "Mobile first (bis 29 Jahre)").version == 1  # nothing saved
    assert page.count("German · SMS") == 4 and page.count("English · SMS") == 4  # the SMS-first steps
    assert "Zahlungserinnerung" in page and "Payment reminder" in page
    lengths = re.findall(r"(\d+) characters, (\d) SMS", page)
    assert len(lengths) == 12 and all(int(n) <= 160 and seg == "1" for n, seg in lengths)
    frames = re.findall(r'<iframe class="mail"[^>]*src="([^"]+)"[^>]*sandbox', html)
    assert len(frames) == 12
    email = admin.get(frames[6].replace("&amp;", "&"))  # step 4 (the second notice), German
    assert email.status_code == 200 and "sandbox" in email.headers["Content-Security-Policy"]
    assert "default-src 'none'" in email.headers["Content-Security-Policy"]
    body = email.get_data(as_text=True)
    assert "2. Mahnung" in body
    # The unsaved 12 days to pay are in the deadline the preview states (sent today by SMS, the step's first channel).
    today = today_for(merchant_a.timezone)
    deadline = law_default.stated_deadline(today, "sms", 12, legal_calendar(merchant_a.holiday_state))
    assert deadline.strftime("%d.%m.%Y") in body
    letters = re.findall(r'href="([^"]+letter\.pdf[^"]*)"', html)
    assert len(letters) == 12
    for url in (letters[6], letters[7]):  # the second notice, German and English
        pdf = admin.get(url.replace("&amp;", "&"))
        assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and len(pdf.data) > 5000
        assert _pdf_pages(pdf.data, tmp_path) == 1
    tampered = frames[0].replace("&amp;", "&").replace("draft=", "draft=x")
    assert admin.get(tampered).status_code == 404


def test_the_sms_preview_counts_segments_of_a_long_sms():
    from portal.office.policies import sms_segments

    assert (sms_segments(160), sms_segments(161), sms_segments(306), sms_segments(307)) == (1, 2, 2, 3)
