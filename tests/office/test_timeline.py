"""The invoice page's timeline: one readable sentence per thing that happened, who did it, links, details folded."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from portal import ledger
from portal.dunning.run import run
from portal.extensions import db
from portal.messaging import worker
from tests.dunning.helpers import DUE, make_debtor_invoice, start_smtp
from tests.office.conftest import csrf_from


@pytest.fixture
def smtp(app):
    inbox, controller = start_smtp(app)
    yield inbox
    controller.stop()


def _entries(html: str) -> list[str]:
    """The visible sentence of each timeline entry (technical details left out)."""
    items = re.findall(r'<span class="what">(.*?)</span>\s*<span class="muted who">(.*?)</span>', html, re.S)
    return [f"{what.strip()} | {who.strip()}" for what, who in items]


def test_a_reminder_sent_by_email_and_a_payment_read_as_sentences_once_each(app, smtp, signed_in, merchant_a, staff_a):
    invoice = make_debtor_invoice(merchant_a, "standard", "RE-T-1", amount="49.90")
    run(today=DUE + timedelta(days=21))
    db.session.commit()
    assert worker.drain(now=datetime.now(timezone.utc) + timedelta(minutes=1)).sent == 1
    ledger.book(invoice, kind="payment", amount_minor=4990, source="staff", external_ref="manual:1",
                booked_on=DUE + timedelta(days=25), actor=f"user:{staff_a.id}")
    db.session.commit()

    html = signed_in.get(f"/office/invoices/{invoice.id}").get_data(as_text=True)
    entries = _entries(html)
    assert entries[-1].startswith("Rechnung über 49,90\xa0€ angelegt, fällig am 01.06.2025")  # newest first
    # first seen on day 21: a late import gets its reminder first; the 1st notice follows 14 days later
    assert "Zahlungserinnerung per E-Mail versandt – nächster Schritt am 06.07.2025 | Settle" in entries
    assert ("Zahlung über 49,90\xa0€ auf anderem Weg erhalten, von Hand erfasst – die Rechnung ist damit bezahlt"
            f" | {staff_a.name}") in entries
    assert len(entries) == 3, entries  # created, reminder sent, paid: no system / system:worker pairs
    visible = re.sub(r"<details.*?</details>", "", html, flags=re.S)
    for raw in ("amount_minor", "system:worker", "system:dunning", "notice_1", "ledger.payment", "="):
        assert raw not in re.sub(r"<[^>]+>", "", visible), raw
    assert 'href="/office/messages/' in html  # the message as sent
    assert "<details" in html and "ledger.payment" in html  # the raw record, folded away


def test_the_same_timeline_reads_in_english_for_an_english_speaking_user(app, signed_in, merchant_a, staff_a):
    staff_a.language = "en"
    db.session.commit()
    invoice = make_debtor_invoice(merchant_a, "standard", "RE-T-2", amount="49.90")
    html = signed_in.get(f"/office/invoices/{invoice.id}").get_data(as_text=True)
    assert _entries(html)[-1].startswith("Invoice over €49.90 created, due on Jun 1, 2025")


def test_a_staff_decision_is_one_entry_not_an_audit_echo(app, signed_in, merchant_a, staff_a):
    invoice = make_debtor_invoice(merchant_a, "standard", "RE-T-3", amount="100.00")
    page = signed_in.get(f"/office/invoices/{invoice.id}").get_data(as_text=True)
    response = signed_in.post(f"/office/invoices/{invoice.id}/cancel",
                              data={"csrf_token": csrf_from(page), "reason": "Doppelt erfasst"})
    assert response.status_code == 303
    entries = _entries(signed_in.get(f"/office/invoices/{invoice.id}").get_data(as_text=True))
    cancelled = [e for e in entries if "storniert" in e]
    assert cancelled == [f"Rechnung storniert (Grund: Doppelt erfasst) | {staff_a.name}"], entries


def test_a_long_timeline_comes_in_pages_newest_first_with_every_entry_once_and_merged_across_the_edges(
        app, smtp, signed_in, merchant_a, staff_a):
    """113 events: a reminder sent (the step and, 200 minutes later, its message), a staff pause whose audit echo
    lands on the first page while the pause itself is the first entry of the second, and 108 portal visits. Walked
    page by page (htmx and plain links), the entries are those of the whole timeline, newest first, each once."""
    from sqlalchemy import select

    from portal import timeline as presenter
    from portal.models import Event

    invoice = make_debtor_invoice(merchant_a, "standard", "RE-T-9", amount="49.90")
    run(today=DUE + timedelta(days=21))
    db.session.commit()
    assert worker.drain(now=datetime.now(timezone.utc) + timedelta(minutes=1)).sent == 1
    base = datetime(2025, 6, 22, 8, 0, tzinfo=timezone.utc)
    minute = timedelta(minutes=1)
    events = db.session.execute(select(Event).where(Event.invoice_id == invoice.id)).scalars().all()
    assert sorted(e.kind for e in events) == ["dunning.step", "invoice.created", "message.sent"]
    for e in events:
        e.occurred_at = base + {"invoice.created": 0, "dunning.step": 1, "message.sent": 200}[e.kind] * minute
    visit = dict(merchant_id=merchant_a.id, invoice_id=invoice.id, debtor_id=invoice.debtor_id, kind="link.opened", actor="debtor")
    db.session.add_all([Event(**visit, occurred_at=base + n * minute) for n in [*range(90, 150), *range(152, 200)]])
    actor = f"user:{staff_a.id}"
    db.session.add(Event(merchant_id=merchant_a.id, invoice_id=invoice.id, debtor_id=invoice.debtor_id, kind="dunning.paused",
                         actor=actor, occurred_at=base + 150 * minute, data={"reason": "staff"}))
    db.session.add(Event(merchant_id=merchant_a.id, invoice_id=invoice.id, debtor_id=invoice.debtor_id, kind="staff.invoice.pause",
                         actor=actor, occurred_at=base + 150 * minute + timedelta(seconds=2),
                         data={"by": staff_a.email, "note": "Kunde ruft zurück"}))
    db.session.commit()

    with app.test_request_context():
        whole = [e.sentence for e in reversed(presenter.for_invoice(invoice))]
        paged, before = [], None
        while True:
            page = presenter.for_invoice_page(invoice, before)
            paged.append([e.sentence for e in page.entries])
            if page.earlier is None:
                break
            before = page.earlier
    assert [len(p) for p in paged] == [48, 50, 13]  # the message merged into its step, the echo into the pause
    assert sum(paged, []) == whole and len(whole) == 111
    assert whole[48] == "Mahnungen angehalten: Kunde ruft zurück"

    for htmx in (False, True):
        seen, url = [], f"/office/invoices/{invoice.id}"
        while url:
            html = signed_in.get(url, headers={"HX-Request": "true"} if htmx and seen else {}).get_data(as_text=True)
            seen += _entries(html)
            nxt = re.search(r'<a class="button" href="([^"]*before=[^"#]*)#timeline"\s+hx-get="([^"]+)"', html)
            url = (nxt.group(2) if htmx else nxt.group(1)).replace("&amp;", "&") if nxt else None
        assert len(seen) == 111 and len(set(s for s in seen if "angehalten" in s)) == 1
        assert [s for s in seen if "angehalten" in s] == [f"Mahnungen angehalten: Kunde ruft zurück | {staff_a.name}"]
        assert seen[-1].startswith("Rechnung über 49,90")
