"""What staff do to an invoice or a customer: record a payment received elsewhere, pause and resume
reminders, send the current step again (or on another channel), send a fresh portal link, revoke
links, write off the remainder, and look at the portal as the customer sees it.

Each action goes through the one function that owns the change (`portal.ledger` for money,
`portal.dunning.escalation` for the escalation state, `portal.links` for links, the outbox for
messages), writes its audit row in the same transaction, and answers 303 — or the page again
with the error and 422.
"""
from __future__ import annotations

from datetime import date, datetime, timezone

from flask import g, render_template, request, url_for
from flask import redirect as _redirect
from flask_babel import gettext as _
from flask_babel import pgettext
from markupsafe import Markup
from sqlalchemy import select

from portal import ledger, links
from portal.clock import today_for
from portal.domain.money import Money, MoneyError, parse_minor
from portal.dunning import escalation
from portal.extensions import db
from portal.i18n import format_money
from portal.messaging import outbox
from portal.models import Debtor, Invoice, Message, MessageInvoice
from portal.office import audit, bp, scoped_get

CHANNELS = ("email", "sms", "letter")


def _today() -> date:
    return today_for(g.merchant.timezone)


def _actor() -> str:
    return f"user:{g.user.id}"


def _done(target: str, text: str):
    from flask import flash

    flash(text, "success")
    return _redirect(target, code=303)


def _invoice_error(invoice: Invoice, text: str, *, payment_form: dict | None = None):
    from portal.office.views import invoice_page

    db.session.rollback()
    return invoice_page(db.session.get(Invoice, invoice.id), status=422, error=text, payment_form=payment_form)


def _debtor_error(debtor: Debtor, text: str):
    from portal.office.debtors import debtor_page

    db.session.rollback()
    return debtor_page(db.session.get(Debtor, debtor.id), status=422, error=text)


def _form_day(name: str) -> date | None:
    raw = (request.form.get(name) or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValueError(name) from None


def _back_to(invoice: Invoice) -> str:
    return url_for("office.invoice_detail", invoice_id=invoice.id)


# -- money ---------------------------------------------------------------------------------------

@bp.post("/invoices/<int:invoice_id>/payment")
def invoice_payment(invoice_id: int):
    invoice = scoped_get(Invoice, invoice_id)
    reference = (request.form.get("reference") or "").strip()[:100]
    try:
        amount = parse_minor(request.form.get("amount", ""), invoice.currency)
        received_on = _form_day("received_on") or _today()
    except (MoneyError, ValueError):
        return _invoice_error(invoice, _("Please enter the amount received and the day it arrived."))
    if amount <= 0:
        return _invoice_error(invoice, _("Please enter an amount greater than zero."))
    if received_on > _today():
        return _invoice_error(invoice, _("The day of receipt cannot be in the future."))
    if not invoice.is_open:
        return _invoice_error(invoice, _("This invoice is closed; a payment can no longer be recorded here."))
    from portal.payments import plausibility
    from portal.payments.booking import book_shares

    stamp = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S%f")
    # A reference the staff member typed makes a repeat of the same form a no-op; without one, each entry counts.
    ref = f"staff:{reference}" if reference else f"staff:{g.user.id}:{stamp}"
    open_before = max(invoice.open_minor, 0)
    implausible = not plausibility.is_plausible(invoice, amount)
    if implausible and request.form.get("confirm_excess") != "1":
        # Far beyond what is open (a typo of cents as euros): booked only once the person confirms the amount.
        limit = format_money(Money(plausibility.most_accepted_minor(invoice), invoice.currency))
        return _invoice_error(
            invoice,
            _("%(amount)s is far more than is open on this invoice (up to %(limit)s is booked without a question). "
              "Please check the amount; if it is right, confirm it below and record the payment again.",
              amount=format_money(Money(amount, invoice.currency)), limit=limit),
            payment_form={"amount": request.form.get("amount", ""), "received_on": received_on.isoformat(),
                          "reference": reference, "confirm": True})
    try:
        book_shares([(invoice, amount)], kind="payment", source="staff", ref=ref, booked_on=received_on,
                    actor=_actor(), memo=reference or "Payment recorded by staff", data={"reference": reference or None})
    except ledger.LedgerError as exc:
        return _invoice_error(invoice, _("This payment was recorded already with other details (%(error)s).", error=str(exc)))
    if implausible:
        plausibility.flag(invoice, amount_minor=amount, source="staff", ref=reference or ref, actor=_actor(), booked=True,
                          open_minor=open_before)
    audit("payment.record", {"amount_minor": amount, "currency": invoice.currency, "received_on": received_on.isoformat(),
                             "reference": reference or None, "confirmed_beyond_limit": implausible}, invoice=invoice)
    db.session.commit()
    return _done(_back_to(invoice), _("The payment has been recorded."))


@bp.post("/invoices/<int:invoice_id>/write-off")
def invoice_write_off(invoice_id: int):
    invoice = scoped_get(Invoice, invoice_id)
    reason = (request.form.get("reason") or "").strip()[:200] or None
    remainder = invoice.open_minor
    try:
        changed = ledger.write_off(invoice, on=_today(), actor=_actor(), reason=reason)
    except ledger.InvoiceClosed:
        return _invoice_error(invoice, _("Only an open invoice with an amount still due can be written off."))
    if changed:
        audit("invoice.write_off", {"amount_minor": remainder, "currency": invoice.currency, "reason": reason}, invoice=invoice)
    db.session.commit()
    return _done(_back_to(invoice), _("The remaining amount has been written off."))


@bp.post("/invoices/<int:invoice_id>/credit/refund")
def invoice_credit_refund(invoice_id: int):
    from portal.payments import credits

    invoice = scoped_get(Invoice, invoice_id)
    note = (request.form.get("note") or "").strip()[:200] or None
    try:
        amount = credits.refund(invoice, on=_today(), actor=_actor(), note=note)
    except credits.CreditError:
        return _invoice_error(invoice, pgettext("office credit", "This invoice holds no credit any more."))
    audit("credit.refund", {"amount_minor": amount, "currency": invoice.currency, "note": note}, invoice=invoice)
    db.session.commit()
    return _done(_back_to(invoice), pgettext("office credit", "The refund of the credit has been recorded."))


@bp.post("/invoices/<int:invoice_id>/credit/apply")
def invoice_credit_apply(invoice_id: int):
    from portal.payments import credits

    invoice = scoped_get(Invoice, invoice_id)
    try:
        target = scoped_get(Invoice, int(request.form.get("target") or 0))
        amount = credits.apply(invoice, target, on=_today(), actor=_actor())
    except (ValueError, credits.CreditError):
        return _invoice_error(invoice, pgettext(
            "office credit", "The credit can only be set against another open invoice of the same customer in the same currency."))
    audit("credit.apply", {"amount_minor": amount, "currency": invoice.currency, "to_invoice": target.id,
                           "to_number": target.number}, invoice=invoice)
    db.session.commit()
    return _done(_back_to(invoice), pgettext("office credit", "The credit has been set against invoice %(number)s.",
                                             number=target.number))


# -- escalation ----------------------------------------------------------------------------------

def _pause(invoice: Invoice, until: date | None, note: str) -> bool:
    changed = escalation.pause(invoice, "staff", until, today=_today(), actor=_actor())
    if changed:
        audit("dunning.pause", {"until": until.isoformat() if until else None, "note": note or None}, invoice=invoice)
    return changed


def _pause_input():
    until = _form_day("until") if request.form.get("mode") != "indefinitely" else None
    note = (request.form.get("note") or "").strip()[:200]
    return until, note


@bp.post("/invoices/<int:invoice_id>/pause")
def invoice_pause(invoice_id: int):
    invoice = scoped_get(Invoice, invoice_id)
    try:
        until, note = _pause_input()
    except ValueError:
        return _invoice_error(invoice, _("Please enter a valid date."))
    if not note:
        return _invoice_error(invoice, _("Please say why the reminders are paused."))
    try:
        _pause(invoice, until, note)
    except escalation.EscalationError:
        return _invoice_error(invoice, _("Only an open invoice can be paused, and a pause ends after today."))
    db.session.commit()
    return _done(_back_to(invoice), _("Reminders for this invoice are paused."))


@bp.post("/invoices/<int:invoice_id>/resume")
def invoice_resume(invoice_id: int):
    invoice = scoped_get(Invoice, invoice_id)
    if escalation.resume(invoice, today=_today(), actor=_actor()):
        audit("dunning.resume", {"next_action_on": invoice.next_action_on.isoformat() if invoice.next_action_on else None},
              invoice=invoice)
    db.session.commit()
    return _done(_back_to(invoice), _("Reminders for this invoice are running again."))


@bp.post("/invoices/<int:invoice_id>/resend")
def invoice_resend(invoice_id: int):
    """The current step's message again, exactly as it was queued, on the chosen channel."""
    invoice = scoped_get(Invoice, invoice_id)
    channel = request.form.get("channel", "")
    if channel not in CHANNELS:
        return _invoice_error(invoice, _("Please choose a channel."))
    if not invoice.is_open or invoice.paused_reason:
        return _invoice_error(invoice, _("Reminders go out only for open invoices that are not paused."))
    last = db.session.execute(
        select(Message).join(MessageInvoice, MessageInvoice.message_id == Message.id)
        .where(Message.merchant_id == g.merchant.id, MessageInvoice.invoice_id == invoice.id,
               MessageInvoice.step == invoice.dunning_step, Message.purpose == "dunning")
        .order_by(Message.id.desc()).limit(1)
    ).scalar_one_or_none() if invoice.dunning_step else None
    if last is None:
        return _invoice_error(invoice, _("No reminder has been sent for this invoice yet."))
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S%f")
    message = outbox.enqueue(
        debtor=invoice.debtor, purpose="dunning", template=last.template, channels=[channel],
        dedupe_key=f"resend:{invoice.id}:{invoice.dunning_step}:{stamp}", context=dict(last.context or {}),
        invoices=[(invoice, f"resend:{invoice.dunning_step}:{stamp}")],
    )
    if message is None:
        return _invoice_error(invoice, _("The customer cannot be reached on this channel (no address or no consent)."))
    db.session.flush()
    audit("message.resend", {"message_id": message.id, "step": invoice.dunning_step, "channel": channel}, invoice=invoice)
    db.session.commit()
    return _done(_back_to(invoice), _("The reminder will be sent again."))


# -- links ---------------------------------------------------------------------------------------

def _send_link(debtor: Debtor, channel: str | None) -> Message | None:
    channels = [channel] if channel in CHANNELS else ["email", "sms", "letter"]
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S%f")
    return outbox.enqueue(debtor=debtor, purpose="new_link", template="new_link", channels=channels,
                          dedupe_key=f"new_link:staff:{debtor.id}:{stamp}")


def _link_action(debtor: Debtor, *, revoke: bool, send: bool, invoice: Invoice | None = None):
    channel = request.form.get("channel") or None
    if revoke:
        links.revoke_all(debtor)
    message = None
    if send:
        message = _send_link(debtor, channel)
        if message is None:
            text = _("The customer cannot be reached on this channel (no address or no consent).")
            return _invoice_error(invoice, text) if invoice is not None else _debtor_error(debtor, text)
        db.session.flush()
    data = {"debtor_id": debtor.id, **({"message_id": message.id, "channel": message.channel} if message else {})}
    if revoke:
        audit("links.revoke", {**data, "new_link_sent": send}, invoice=invoice, debtor=debtor)
    else:
        audit("links.send", data, invoice=invoice, debtor=debtor)
    db.session.commit()
    if revoke and send:
        text = _("All earlier links have been revoked; a new link is on its way.")
    elif revoke:
        text = _("All links of this customer have been revoked.")
    else:
        text = _("A new portal link is on its way.")
    target = _back_to(invoice) if invoice is not None else url_for("office.debtor_detail", debtor_id=debtor.id)
    return _done(target, text)


@bp.post("/invoices/<int:invoice_id>/link")
def invoice_link(invoice_id: int):
    invoice = scoped_get(Invoice, invoice_id)
    mode = request.form.get("mode", "send")
    return _link_action(invoice.debtor, revoke=mode in ("revoke", "revoke_send"), send=mode in ("send", "revoke_send"),
                        invoice=invoice)


@bp.post("/debtors/<int:debtor_id>/link")
def debtor_link(debtor_id: int):
    debtor = scoped_get(Debtor, debtor_id)
    mode = request.form.get("mode", "send")
    return _link_action(debtor, revoke=mode in ("revoke", "revoke_send"), send=mode in ("send", "revoke_send"))


# -- all open invoices of a customer at once -----------------------------------------------------

def _open_invoices(debtor: Debtor) -> list[Invoice]:
    return db.session.execute(
        select(Invoice).where(Invoice.merchant_id == g.merchant.id, Invoice.debtor_id == debtor.id,
                              Invoice.status == "open").order_by(Invoice.id)
    ).scalars().all()


@bp.post("/debtors/<int:debtor_id>/pause")
def debtor_pause(debtor_id: int):
    debtor = scoped_get(Debtor, debtor_id)
    try:
        until, note = _pause_input()
    except ValueError:
        return _debtor_error(debtor, _("Please enter a valid date."))
    if not note:
        return _debtor_error(debtor, _("Please say why the reminders are paused."))
    try:
        count = sum(_pause(inv, until, note) for inv in _open_invoices(debtor))
    except escalation.EscalationError:
        return _debtor_error(debtor, _("Only an open invoice can be paused, and a pause ends after today."))
    db.session.commit()
    return _done(url_for("office.debtor_detail", debtor_id=debtor.id),
                 _("Reminders paused for %(count)s open invoices.", count=count))


@bp.post("/debtors/<int:debtor_id>/resume")
def debtor_resume(debtor_id: int):
    debtor = scoped_get(Debtor, debtor_id)
    count = 0
    for inv in _open_invoices(debtor):
        if escalation.resume(inv, today=_today(), actor=_actor()):
            audit("dunning.resume", {"next_action_on": inv.next_action_on.isoformat() if inv.next_action_on else None},
                  invoice=inv)
            count += 1
    db.session.commit()
    return _done(url_for("office.debtor_detail", debtor_id=debtor.id),
                 _("Reminders running again for %(count)s open invoices.", count=count))


# -- the portal as the customer sees it ----------------------------------------------------------

@bp.get("/debtors/<int:debtor_id>/as-customer")
def debtor_as_customer(debtor_id: int):
    """The portal's overview for this customer, rendered here: no portal session, no debtor events."""
    debtor = scoped_get(Debtor, debtor_id)
    from flask import current_app

    from portal.debtor.branding import brand_for
    from portal.debtor.queries import case_headings, overview_invoices, total_of
    from portal.domain.money import Money

    views = overview_invoices(debtor, today_for(debtor.merchant.timezone))
    audit("debtor.view_as_customer", {"debtor_id": debtor.id}, debtor=debtor)
    db.session.commit()
    staff_locale = g.get("locale")
    if debtor.language in current_app.config["LANGUAGES"]:
        g.locale = debtor.language
    html = render_template(
        "debtor/overview.html", invoices=views, totals=tuple(total_of(views)), cases=case_headings(debtor),
        debtor=debtor, merchant=debtor.merchant, brand=brand_for(debtor.merchant), lang_next=request.path,
        languages=current_app.config["LANGUAGES"], money_of=Money, verified=True,
    )
    g.locale = staff_locale
    banner = render_template("office/partials/_as_customer_banner.html", debtor=debtor)
    # The banner goes first in <body>; the page is otherwise exactly the portal's.
    head, sep, rest = html.partition("<body")
    if sep:
        tag_end = rest.index(">") + 1
        html = head + sep + rest[:tag_end] + banner + rest[tag_end:]
    return Markup(html), 200, {"X-Robots-Tag": "noindex"}
