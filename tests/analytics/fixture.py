"""Three months of one shop (January to March 2026): invoices, messages, link opens, payments,
cases. Every figure of the dashboard for this fixture is computed by hand in test_queries.py."""
from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import select

from portal import ledger
from portal.extensions import db
from portal.models import Case, CaseInvoice, CaseNote, Event, Message, MessageInvoice, Policy
from tests.factories import make_invoice, make_merchant

START, END, TODAY = date(2026, 1, 1), date(2026, 3, 31), date(2026, 4, 10)


def at(month, day, hour=9, minute=0):
    return datetime(2026, month, day, hour, minute, tzinfo=timezone.utc)


def d(month, day, year=2026):
    return date(year, month, day)


def _invoice(merchant, number, amount, issue, due, *, group=None, step=None, currency="EUR"):
    inv = make_invoice(merchant, number, amount=amount, currency=currency, lines=[], issue_date=issue.isoformat(),
                       due_date=due.isoformat(),
                       debtor={"external_ref": f"K-{number}", "name": f"Kundin {number}", "email": f"{number.lower()}@example.de"})
    inv.dunning_policy_id = group.id if group else None
    inv.dunning_step = step
    db.session.commit()
    return inv


def _message(inv, template, channel, step, created, *, sent=None, status="sent"):
    msg = Message(merchant_id=inv.merchant_id, debtor_id=inv.debtor_id, purpose="dunning", template=template, channel=channel,
                  fallbacks=[], language="de", recipient="x", context={}, dedupe_key=f"fx:{inv.number}:{step}",
                  status=status, created_at=created, sent_at=sent, attempts=1)
    msg.invoices.append(MessageInvoice(invoice_id=inv.id, step=step))
    db.session.add(msg)
    db.session.commit()
    return msg


def _event(inv, kind, when, actor="debtor", with_invoice=True):
    db.session.add(Event(merchant_id=inv.merchant_id, invoice_id=inv.id if with_invoice else None, debtor_id=inv.debtor_id,
                         kind=kind, actor=actor, occurred_at=when))
    db.session.commit()


def _pay(inv, minor, on, source="bank", ref=None, kind="payment"):
    ledger.book(inv, kind=kind, amount_minor=minor, source=source, external_ref=ref or f"{inv.number}:{on}:{minor}",
                booked_on=on, actor=source)
    db.session.commit()


def _case(inv, kind, created, sla_due, status, answered=None):
    case = Case(merchant_id=inv.merchant_id, debtor_id=inv.debtor_id, kind=kind, status=status, created_at=created,
                sla_due_at=sla_due)
    db.session.add(case)
    db.session.flush()
    db.session.add(CaseInvoice(case_id=case.id, invoice_id=inv.id))
    if answered:
        db.session.add(CaseNote(case_id=case.id, author="staff", body="Antwort", created_at=answered))
        db.session.add(CaseNote(case_id=case.id, author="staff", body="intern", internal=True, created_at=answered.replace(hour=1)))
    db.session.commit()
    return case


def build():
    merchant = make_merchant()
    policies = {p.name: p for p in db.session.execute(select(Policy).where(Policy.merchant_id == merchant.id)).scalars()}
    standard, older = policies["Standard"], policies["Ältere Kundschaft (ab 70 Jahren)"]

    a = _invoice(merchant, "A", "100.00", d(12, 20, 2025), d(1, 5), group=standard, step="reminder")
    _message(a, "payment_reminder", "email", "reminder", at(1, 12, 8), sent=at(1, 12, 8, 5))
    _event(a, "link.opened", at(1, 13, 10), with_invoice=False)
    _event(a, "payment.started", at(1, 13, 10, 2))
    _pay(a, 10000, d(1, 13), source="stripe")

    b = _invoice(merchant, "B", "200.00", d(1, 1), d(1, 15), group=standard, step="notice_1")
    _message(b, "payment_reminder", "email", "reminder", at(1, 22), sent=at(1, 22))
    _case(b, "dispute", at(1, 25, 8), at(1, 27, 8), "rejected", answered=at(1, 29, 8))
    _event(b, "case.reply", at(1, 29, 8), actor="user:1")
    _message(b, "first_notice", "letter", "notice_1", at(2, 5), sent=at(2, 5))
    ledger.book(b, kind="fee", amount_minor=500, source="dunning", external_ref="B:fee", booked_on=d(2, 5), actor="system")
    _pay(b, 10000, d(2, 10))
    _pay(b, 10500, d(2, 20))

    c = _invoice(merchant, "C", "300.00", d(1, 10), d(2, 1), group=older, step="reminder")
    _message(c, "payment_reminder", "letter", "reminder", at(2, 8), sent=at(2, 8))
    _case(c, "dispute", at(2, 10, 9), at(2, 12, 17), "open", answered=at(2, 11, 9))
    ledger.book(c, kind="interest", amount_minor=120, source="dunning", external_ref="C:int", booked_on=d(3, 15), actor="system")
    _event(c, "link.opened", at(3, 20), with_invoice=False)  # weeks after the letter: not its doing

    dd = _invoice(merchant, "D", "400.00", d(2, 1), d(2, 15), group=standard)
    _pay(dd, 5000, d(3, 1))
    dd.status, dd.closed_on = "handed_over", d(3, 20)
    db.session.commit()

    e = _invoice(merchant, "E", "50.00", d(2, 15), d(3, 1), group=standard, step="reminder")
    _message(e, "payment_reminder", "sms", "reminder", at(3, 8), status="dead")
    _case(e, "promise", at(3, 9, 10), at(3, 11, 17), "completed")
    _pay(e, 5000, d(3, 12))

    f = _invoice(merchant, "F", "80.00", d(3, 1), d(3, 25), group=standard)
    _case(f, "plan", at(3, 28, 12), at(3, 31, 17), "open")
    _invoice(merchant, "G", "60.00", d(3, 10), d(4, 15), group=standard)
    h = _invoice(merchant, "H", "70.00", d(1, 5), d(1, 20), group=standard)
    ledger.cancel(h, on=d(1, 25), actor="api")
    db.session.commit()
    i = _invoice(merchant, "I", "90.00", d(1, 2), d(1, 16), group=standard)
    _event(i, "staff.invoice.note", at(1, 20), actor="user:1")
    _pay(i, 9000, d(1, 30))

    _invoice(merchant, "X", "500.00", d(1, 10), d(2, 1), currency="CHF")  # another currency: never added to euros
    other = make_merchant()
    _invoice(other, "Y", "999.00", d(1, 10), d(2, 1))  # another shop: never seen
    return merchant, {"standard": standard, "older": older}
