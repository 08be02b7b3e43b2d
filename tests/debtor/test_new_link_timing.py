""""Send me a new link" does the same work in the request whether or not the address is known:
the same row kind, the same SQL statements, no lookup; the worker looks up and sends."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import event, func, select

from portal.extensions import db
from portal.messaging import link_requests, worker
from portal.models import Event, LinkRequest, Message
from tests.debtor.conftest import csrf_from
from tests.dunning.helpers import start_smtp


def _ask(client, contact: str):
    token = csrf_from(client.get("/portal/link").get_data(as_text=True))
    return client.post("/portal/link", data={"contact": contact, "csrf_token": token})


class Statements:
    """Every SQL statement the request sends (parameters apart), to compare two requests' work."""

    def __init__(self, engine):
        self.engine, self.seen = engine, []

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._record)

    def _record(self, conn, cursor, statement, parameters, context, executemany):
        self.seen.append(re.sub(r"\s+", " ", statement))


def _counts():
    return {model.__name__: db.session.scalar(select(func.count()).select_from(model)) for model in (LinkRequest, Message, Event)}


@pytest.mark.parametrize("known, unknown", [("max@example.de", "nobody@example.org"), ("0170 1234567", "0170 7654321")])
def test_known_and_unknown_contacts_do_the_same_work_and_write_the_same_row(app, client, debtor, known, unknown):
    _ask(client, "warm-up@example.org")  # the first request of a client also sets up its session
    before = _counts()
    with Statements(db.engine) as for_known:
        assert _ask(client, known).status_code == 200
    after_known = _counts()
    with Statements(db.engine) as for_unknown:
        assert _ask(client, unknown).status_code == 200
    after_unknown = _counts()

    assert for_known.seen == for_unknown.seen  # statement by statement: no lookup, nothing that depends on it
    assert not any("FROM debtor" in s for s in for_known.seen)
    # One link_request row each, and nothing else: no message, no event yet.
    assert after_known == {**before, "LinkRequest": before["LinkRequest"] + 1}
    assert after_unknown == {**after_known, "LinkRequest": after_known["LinkRequest"] + 1}
    rows = db.session.scalars(select(LinkRequest).order_by(LinkRequest.id.desc()).limit(2)).all()
    assert {type(r) for r in rows} == {LinkRequest} and all(r.processed_at is None for r in rows)


def test_the_worker_sends_the_link_to_the_known_contact_and_erases_every_contact(app, client, debtor):
    inbox, controller = start_smtp(app)
    try:
        _ask(client, debtor.email)
        _ask(client, "nobody@example.org")
        result = worker.drain()
    finally:
        controller.stop()
    assert result.sent == 1
    assert [m["To"] for m in inbox.messages] == [debtor.email]
    assert "/p/" in inbox.messages[0].get_body(("plain",)).get_content()
    rows = db.session.scalars(select(LinkRequest).order_by(LinkRequest.id)).all()
    assert [(r.matched, r.contact) for r in rows] == [(1, None), (0, None)]
    assert all(r.processed_at is not None for r in rows)
    kinds = db.session.scalars(select(Event.kind).where(Event.debtor_id == debtor.id)).all()
    assert kinds.count("link.requested") == 1
    assert link_requests.process_pending() == 0  # nothing left, nothing twice
