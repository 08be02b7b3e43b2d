from sqlalchemy import select

from portal.extensions import db
from portal.models import Event
from tests.office.conftest import csrf_from, sign_in


def test_the_back_office_sends_strangers_to_the_login_page(client):
    response = client.get("/office/invoices")
    assert response.status_code == 302
    assert response.location.startswith("/office/login")


def test_staff_sign_in_with_the_right_password_and_land_on_the_overview(client, staff_a):
    response = sign_in(client, staff_a.email)
    assert response.status_code == 303
    assert response.location.endswith("/office/")
    page = client.get("/office/")
    assert page.status_code == 200
    assert "Alpha Shop" in page.get_data(as_text=True)
    kinds = db.session.execute(select(Event.kind).where(Event.merchant_id == staff_a.merchant_id)).scalars().all()
    assert "staff.login" in kinds


def test_a_wrong_password_is_refused_with_the_same_message_as_an_unknown_email(client, staff_a):
    wrong = sign_in(client, staff_a.email, "not the password")
    unknown = sign_in(client, "nobody@example.com", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert "nicht korrekt" in wrong.get_data(as_text=True)
    assert wrong.get_data(as_text=True).count("nicht korrekt") == unknown.get_data(as_text=True).count("nicht korrekt") == 1
    assert client.get("/office/").status_code == 302


def test_passwords_are_stored_hashed(staff_a):
    assert "correct horse" not in staff_a.password_hash
    assert staff_a.password_hash.startswith(("scrypt:", "pbkdf2:"))


def test_login_attempts_are_rate_limited(client, staff_a):
    statuses = [sign_in(client, staff_a.email, f"guess {i}").status_code for i in range(12)]
    assert statuses[:10] == [401] * 10
    assert statuses[-1] == 429
    # Even the right password waits until the window has passed.
    assert sign_in(client, staff_a.email).status_code == 429


def test_the_login_form_needs_its_csrf_token(client, staff_a):
    response = client.post("/office/login", data={"email": staff_a.email, "password": "correct horse battery"})
    assert response.status_code == 400
    assert client.get("/office/").status_code == 302


def test_an_open_redirect_after_login_is_not_followed(client, staff_a):
    token = csrf_from(client.get("/office/login").get_data(as_text=True))
    response = client.post(
        "/office/login?next=https://evil.example/office",
        data={"email": staff_a.email, "password": "correct horse battery", "csrf_token": token},
    )
    assert response.status_code == 303
    assert response.location == "/office/"


def test_signing_out_ends_the_session(signed_in):
    page = signed_in.get("/office/").get_data(as_text=True)
    response = signed_in.post("/office/logout", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 303
    assert signed_in.get("/office/").status_code == 302


def test_an_inactive_user_cannot_sign_in(client, staff_a):
    staff_a.active = False
    db.session.commit()
    assert sign_in(client, staff_a.email).status_code == 401


def test_a_signed_in_user_opening_the_login_page_sees_it_without_error(signed_in):
    response = signed_in.get("/office/login")
    assert response.status_code == 200
    assert "Alpha Shop" in response.get_data(as_text=True)
