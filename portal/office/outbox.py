"""Messages in the back office: the outbox with every message as the debtor sees it, the daily
print batches of letters, and the collection agency's handover export."""
from __future__ import annotations

from datetime import date

from flask import Response, abort, g, render_template, request, send_file
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from portal.clock import today_for
from portal.extensions import db
from portal.messaging import render
from portal.messaging.channels import letter as letter_channel
from portal.models import Debtor, HandoverExport, Invoice, Message, MessageInvoice
from portal.office import audit, bp, register_nav, require_admin, scoped_get

register_nav("office.outbox", _l("Messages"))
register_nav("office.handover", _l("Handover"), admin_only=True)

PAGE_SIZE = 50
STATUSES = ("pending", "sending", "sent", "cancelled", "dead")


@bp.get("/messages")
def outbox():
    status = request.args.get("status") or ""
    channel = request.args.get("channel") or ""
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    stmt = select(Message).where(Message.merchant_id == g.merchant.id).order_by(Message.id.desc())
    if status in STATUSES:
        stmt = stmt.where(Message.status == status)
    if channel in ("email", "sms", "letter"):
        stmt = stmt.where(Message.channel == channel)
    rows = db.session.execute(stmt.limit(PAGE_SIZE + 1).offset((page - 1) * PAGE_SIZE)).scalars().all()
    counts = dict(
        db.session.execute(
            select(Message.status, func.count()).where(Message.merchant_id == g.merchant.id).group_by(Message.status)
        ).all()
    )
    debtors = {d.id: d for d in db.session.execute(
        select(Debtor).where(Debtor.id.in_({m.debtor_id for m in rows if m.debtor_id}))
    ).scalars()}
    return render_template("office/outbox.html", messages=rows[:PAGE_SIZE], has_more=len(rows) > PAGE_SIZE,
                           page=page, status=status, channel=channel, counts=counts, debtors=debtors)


def _message(message_id: int) -> Message:
    return scoped_get(Message, message_id)


@bp.get("/messages/<int:message_id>")
def message_detail(message_id: int):
    message = _message(message_id)
    preview = {}
    try:
        if message.channel == "sms":
            preview["sms"] = render.render_sms(message, link=_preview_link())
        else:
            email = render.render_email(message, link=_preview_link())
            preview["subject"], preview["text"] = email.subject, email.text
    except Exception as exc:  # noqa: BLE001 — a preview problem is shown to staff, not hidden
        preview["error"] = f"{type(exc).__name__}: {exc}"
    invoices = db.session.execute(
        select(Invoice).join(MessageInvoice, MessageInvoice.invoice_id == Invoice.id).where(MessageInvoice.message_id == message.id)
    ).scalars().all()
    return render_template("office/message.html", message=message, preview=preview, invoices=invoices,
                           debtor=db.session.get(Debtor, message.debtor_id) if message.debtor_id else None,
                           letter=letter_channel.stored_pdf(message))


def _preview_link() -> str:
    # Never mint a working portal link into a staff preview.
    return "https://…/p/…"


@bp.get("/messages/<int:message_id>/preview.html")
def message_html(message_id: int):
    """The HTML email as the debtor's mail program shows it; framed by the detail page, sandboxed."""
    message = _message(message_id)
    if message.channel == "sms":
        abort(404)
    html = render.render_email(message, link=_preview_link()).html
    response = Response(html, mimetype="text/html")
    # Email HTML carries inline styles; it may be framed by our own page, run nothing, load nothing.
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'; sandbox"
    )
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


@bp.get("/messages/<int:message_id>/letter.pdf")
def message_letter(message_id: int):
    message = _message(message_id)
    path = letter_channel.stored_pdf(message)
    if path is None:
        abort(404)
    return send_file(path, mimetype="application/pdf", as_attachment=True, download_name=f"letter-{message.id}.pdf")


@bp.get("/letters")
def letters():
    days = db.session.execute(
        select(Message.provider_id, func.count())
        .where(Message.merchant_id == g.merchant.id, Message.channel == "letter", Message.status == "sent",
               Message.provider_id.like("print:%"))
        .group_by(Message.provider_id)
        .order_by(Message.provider_id.desc())
        .limit(90)
    ).all()
    return render_template("office/letters.html", days=[(p.removeprefix("print:"), n) for p, n in days])


@bp.get("/letters/<day>.pdf")
def letter_batch(day: str):
    try:
        print_day = date.fromisoformat(day)
    except ValueError:
        abort(404)
    data, count = letter_channel.print_batch(g.merchant.id, print_day)
    if count == 0:
        abort(404)
    audit("letters.batch_download", {"day": day, "letters": count})
    db.session.commit()
    return Response(data, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="letters-{g.merchant.slug}-{day}.pdf"'})


@bp.get("/handover")
def handover():
    require_admin()
    from portal.dunning.handover import agency_of, pending_after_handover

    invoices = db.session.execute(
        select(Invoice).where(Invoice.merchant_id == g.merchant.id, Invoice.status == "handed_over")
        .order_by(Invoice.closed_on.desc(), Invoice.id).limit(500)
    ).scalars().all()
    exports = db.session.execute(
        select(HandoverExport).where(HandoverExport.merchant_id == g.merchant.id).order_by(HandoverExport.id.desc()).limit(20)
    ).scalars().all()
    return render_template("office/handover.html", invoices=invoices, today=today_for(g.merchant.timezone),
                           agency=agency_of(g.merchant.id), exports=exports, pending=pending_after_handover(g.merchant.id))


@bp.post("/handover/export.zip")
def handover_export():
    """The agency's next export (new claims in full, changes on earlier ones once), recorded and audited."""
    require_admin()
    from portal.dunning.handover import export

    def day(name):
        raw = request.form.get(name) or ""
        try:
            return date.fromisoformat(raw) if raw else None
        except ValueError:
            abort(400)

    result = export(g.merchant, actor=f"user:{g.user.id}", since=day("since"), until=day("until"))
    audit("handover.export", {"export_id": result.export_id, "claims": result.claims, "supplements": result.supplements,
                              "since": request.form.get("since") or None, "until": request.form.get("until") or None})
    db.session.commit()
    return Response(result.data, mimetype="application/zip", headers={
        "Content-Disposition": f'attachment; filename="handover-{g.merchant.slug}-{result.export_id}.zip"'})
