from sqlalchemy import select

from portal.extensions import db
from portal.models import Event
from tests.factories import make_user
from tests.office.conftest import csrf_from, sign_in


def _form(client):
    html = client.get("/office/settings").get_data(as_text=True)
    import re

    values = dict(re.findall(r'name="(\w+)"[^>]*value="([^"]*)"', html))
    values.pop("clear_stripe", None)
    for box in ("link_step_up", "business_flat_fee", "plan_include_charges"):
        if f'id="{box}" name="{box}" type="checkbox" value="y" checked' not in html:
            values.pop(box, None)
    values["csrf_token"] = csrf_from(html)
    return values


def _admin(client, merchant):
    make_user(merchant, "admin@alpha.example", role="admin", password="correct horse battery")
    assert sign_in(client, "admin@alpha.example").status_code == 303


def test_support_staff_cannot_open_the_settings(signed_in):
    assert signed_in.get("/office/settings").status_code == 403


def test_stripe_keys_are_never_shown_back_in_full(client, merchant_a):
    merchant_a.stripe_secret_key = "sk_test_51Hx0ABCDEFGHIJKLMNOPQRSTUVWXYZ0123"
    db.session.commit()
    _admin(client, merchant_a)
    html = client.get("/office/settings").get_data(as_text=True)
    assert "sk_test_51Hx0ABCDEFGHIJKLMNOPQRSTUVWXYZ0123" not in html
    assert "sk_test_…0123" in html


def test_an_admin_saves_settings_and_the_change_is_audited_without_secrets(client, merchant_a):
    _admin(client, merchant_a)
    data = _form(client)
    data.update(name="Alpha Garten", dunning_fee_cap="1,50", stripe_secret_key="sk_test_new_secret_value_1234")
    response = client.post("/office/settings", data=data)
    assert response.status_code == 303
    db.session.expire_all()
    assert merchant_a.name == "Alpha Garten"
    assert merchant_a.dunning_fee_cap_minor == 150
    assert merchant_a.stripe_secret_key == "sk_test_new_secret_value_1234"
    audit = db.session.execute(select(Event).where(Event.kind == "staff.settings.update")).scalar_one()
    assert "stripe_secret_key" in audit.data["changed"]
    assert "sk_test_new" not in str(audit.data)


def test_an_invalid_iban_is_refused_and_nothing_changes(client, merchant_a):
    _admin(client, merchant_a)
    data = _form(client)
    data.update(iban="DE89370400440532013001", name="Changed")
    response = client.post("/office/settings", data=data)
    assert response.status_code == 422
    assert "IBAN" in response.get_data(as_text=True)
    db.session.expire_all()
    assert merchant_a.name == "Alpha Shop"


def test_an_admin_chooses_the_state_whose_holidays_move_deadlines(client, merchant_a):
    _admin(client, merchant_a)
    html = client.get("/office/settings").get_data(as_text=True)
    assert '<option value="BY">Bundesweit und Bayern</option>' in html
    form = _form(client)
    form["holiday_state"] = "BY"
    assert client.post("/office/settings", data=form).status_code == 303
    assert db.session.get(type(merchant_a), merchant_a.id).holiday_state == "BY"
    form = _form(client)
    form["holiday_state"] = "XX"
    assert client.post("/office/settings", data=form).status_code == 422
    form["holiday_state"] = ""
    assert client.post("/office/settings", data=form).status_code == 303
    assert db.session.get(type(merchant_a), merchant_a.id).holiday_state is None
