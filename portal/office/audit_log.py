"""The audit log (admins): every staff action, filterable by person, action, invoice and time,
shown through the timeline presenter and exportable as CSV."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from flask import Response, g, render_template, request
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from portal import timeline as presenter
from portal.domain.spreadsheet import write_csv
from portal.extensions import db
from portal.i18n import format_when
from portal.models import Event, Invoice, User
from portal.office import audit, bp, register_nav, require_admin

register_nav("office.audit_log", _l("Audit log"), admin_only=True)
PAGE_SIZE = 100


def _day(name: str) -> date | None:
    try:
        return date.fromisoformat(request.args.get(name, ""))
    except ValueError:
        return None


def _filters() -> dict:
    user = request.args.get("user", "")
    return {"user": int(user) if user.isascii() and user.isdigit() and len(user) < 10 else None,
            "action": (request.args.get("action") or "").strip()[:60],
            "invoice": (request.args.get("invoice") or "").strip()[:64],
            "since": _day("since"), "until": _day("until")}


def _statement(f: dict):
    stmt = select(Event).where(Event.merchant_id == g.merchant.id, Event.kind.like("staff.%"))
    if f["user"] is not None:
        stmt = stmt.where(Event.actor == f"user:{f['user']}")
    if f["action"]:
        stmt = stmt.where(Event.kind == f["action"])
    if f["invoice"]:
        ids = select(Invoice.id).where(Invoice.merchant_id == g.merchant.id, Invoice.number == f["invoice"])
        stmt = stmt.where(Event.invoice_id.in_(ids))
    if f["since"]:
        stmt = stmt.where(Event.occurred_at >= datetime.combine(f["since"], time(), timezone.utc))
    if f["until"]:
        stmt = stmt.where(Event.occurred_at < datetime.combine(f["until"] + timedelta(days=1), time(), timezone.utc))
    return stmt.order_by(Event.id.desc())


def _entries(events) -> list:
    ctx = presenter.load_context(g.merchant.id, events)
    # The audit log lists every row on its own (no merging of echoes as on a timeline).
    return [presenter.Entry(at=e.occurred_at, kind=e.kind, sentence=presenter.sentence(e, ctx),
                            actor=presenter.present_actor(e.actor, ctx, e.data), details=presenter._details(e),
                            event_ids=[e.id], invoice_id=e.invoice_id) for e in events]


@bp.get("/audit")
def audit_log():
    require_admin()
    f = _filters()
    stmt = _statement(f)
    before = request.args.get("before", "")
    if before.isascii() and before.isdigit():
        stmt = stmt.where(Event.id < int(before))
    events = db.session.execute(stmt.limit(PAGE_SIZE + 1)).scalars().all()
    more = len(events) > PAGE_SIZE
    events = events[:PAGE_SIZE]
    users = db.session.execute(select(User).where(User.merchant_id == g.merchant.id).order_by(User.email)).scalars().all()
    actions = sorted(k for k in presenter.PRESENTERS if k.startswith("staff."))
    numbers = dict(db.session.execute(select(Invoice.id, Invoice.number).where(
        Invoice.id.in_({e.invoice_id for e in events if e.invoice_id}))).all()) if events else {}
    args = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in f.items() if v not in (None, "")}
    return render_template("office/audit.html", entries=_entries(events), users=users, actions=actions, filters=f,
                           args=args, next_before=events[-1].id if more else None, invoice_numbers=numbers)


@bp.get("/audit/export.csv")
def audit_log_export():
    require_admin()
    f = _filters()
    events = db.session.execute(_statement(f)).scalars().all()
    entries = _entries(events)
    numbers = dict(db.session.execute(select(Invoice.id, Invoice.number).where(
        Invoice.id.in_({e.invoice_id for e in events if e.invoice_id}))).all()) if events else {}
    rows = [{"when": format_when(e.at), "who": e.actor, "what": e.sentence, "invoice": numbers.get(e.invoice_id, ""),
             "action": e.kind} for e in entries]
    audit("audit_log.export", {"rows": len(rows)})
    db.session.commit()
    return Response(write_csv(rows, ("when", "who", "what", "invoice", "action")), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="audit-log.csv"'})
