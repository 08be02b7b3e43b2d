"""Signing out ends the session on the server: a cookie kept from before opens nothing afterwards."""
from __future__ import annotations

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Event, StaffSession
from tests.office.conftest import PASSWORD, csrf_from, sign_in


def session_cookie(client) -> str:
    return client.get_cookie("session").value


def reuse(client, cookie: str) -> None:
    client.set_cookie("session", cookie)


def test_signing_out_then_reusing_the_old_cookie_is_refused(app, signed_in):
    kept = session_cookie(signed_in)
    assert signed_in.get("/office/").status_code == 200
    token = csrf_from(signed_in.get("/office/").get_data(as_text=True))
    assert signed_in.post("/office/logout", data={"csrf_token": token}).status_code == 303
    assert db.session.scalar(select(func.count()).select_from(StaffSession)) == 0
    reuse(signed_in, kept)  # e.g. a copied cookie, or a browser that kept it
    response = signed_in.get("/office/")
    assert response.status_code == 302 and response.location.startswith("/office/login")


def test_changing_the_password_ends_the_users_other_sessions_but_not_this_one(app, client, staff_a):
    other = app.test_client()
    assert sign_in(client, staff_a.email).status_code == 303
    assert sign_in(other, staff_a.email).status_code == 303
    assert other.get("/office/").status_code == 200
    token = csrf_from(client.get("/office/account/password").get_data(as_text=True))
    changed = client.post("/office/account/password",
                          data={"csrf_token": token, "current": PASSWORD, "new": "a brand new long password"})
    assert changed.status_code == 303
    assert client.get("/office/").status_code == 200
    assert other.get("/office/").status_code == 302
    event = db.session.execute(select(Event).where(Event.kind == "staff.user.password_changed")).scalar_one()
    assert event.data["sessions_ended"] == 1


def test_the_database_holds_only_a_hash_of_the_session_token(app, signed_in):
    with signed_in.session_transaction() as s:
        token = s["staff_session"]
    ids = db.session.scalars(select(StaffSession.id)).all()
    assert ids == [StaffSession.hash_token(token)] and token not in ids
