from sqlalchemy import select

from portal.extensions import db
from portal.models import Event, User
from tests.factories import make_user
from tests.office.conftest import csrf_from, sign_in


def _admin(client, merchant):
    admin = make_user(merchant, "admin@alpha.example", role="admin", password="correct horse battery")
    assert sign_in(client, admin.email).status_code == 303
    return admin


def test_an_admin_adds_a_colleague_who_can_then_sign_in(client, app, merchant_a):
    _admin(client, merchant_a)
    token = csrf_from(client.get("/office/users").get_data(as_text=True))
    response = client.post("/office/users", data={"csrf_token": token, "email": "New@Alpha.example", "name": "Nina",
                                                  "role": "support", "password": "a long enough password"})
    assert response.status_code == 303
    user = db.session.execute(select(User).where(User.email == "new@alpha.example")).scalar_one()
    assert user.merchant_id == merchant_a.id and user.role == "support"
    assert db.session.execute(select(Event).where(Event.kind == "staff.user.create")).scalar_one()
    other = app.test_client()
    assert sign_in(other, "new@alpha.example", "a long enough password").status_code == 303


def test_a_deactivated_colleague_is_signed_out_for_good(client, app, merchant_a, staff_a):
    _admin(client, merchant_a)
    colleague = app.test_client()
    assert sign_in(colleague, staff_a.email).status_code == 303
    token = csrf_from(client.get("/office/users").get_data(as_text=True))
    client.post(f"/office/users/{staff_a.id}", data={"csrf_token": token, "role": "support"})  # active unticked
    assert colleague.get("/office/").status_code == 302


def test_short_initial_passwords_are_refused(client, merchant_a):
    _admin(client, merchant_a)
    token = csrf_from(client.get("/office/users").get_data(as_text=True))
    response = client.post("/office/users", data={"csrf_token": token, "email": "x@alpha.example", "role": "support", "password": "short"})
    assert response.status_code == 422
    assert db.session.execute(select(User).where(User.email == "x@alpha.example")).first() is None


def test_staff_change_their_own_password(signed_in, staff_a):
    token = csrf_from(signed_in.get("/office/account/password").get_data(as_text=True))
    wrong = signed_in.post("/office/account/password", data={"csrf_token": token, "current": "nope", "new": "another long password"})
    assert wrong.status_code == 422
    right = signed_in.post("/office/account/password", data={"csrf_token": token, "current": "correct horse battery", "new": "another long password"})
    assert right.status_code == 303
    db.session.expire_all()
    assert staff_a.check_password("another long password")
