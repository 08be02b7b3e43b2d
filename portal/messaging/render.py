"""Rendering an outbox message for its channel, in the message's language.

Templates: email `templates/email/<t>.txt` + `.html` (both define `{% block subject %}`),
SMS `templates/sms/<t>.txt`, letter `templates/letter/<t>.html`. They receive `message`,
`debtor`, `merchant`, `link` (a fresh portal link), `invoices` (the message's invoices
that are still live), every key of `message.context`, and for dunning messages `items`
(the context's invoice lines still live, with Money and date values) and `total`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask import current_app
from flask_babel import force_locale
from sqlalchemy import select

from portal.domain.money import Money
from portal.extensions import db
from portal.messaging import gsm7
from portal.messaging.channels import ChannelError
from portal.models import Debtor, Invoice, Merchant, Message, MessageInvoice


@dataclass(frozen=True)
class Email:
    subject: str
    text: str
    html: str


def _day(value):
    return date.fromisoformat(value) if isinstance(value, str) else value


def live_invoices(message: Message) -> list[Invoice]:
    from portal.dunning.escalation import invoice_is_live

    rows = db.session.execute(
        select(Invoice, MessageInvoice.step).join(MessageInvoice, MessageInvoice.invoice_id == Invoice.id)
        .where(MessageInvoice.message_id == message.id).order_by(Invoice.due_date, Invoice.id)
    ).all()
    return [inv for inv, step in rows if invoice_is_live(inv.status, inv.paused_reason, step)]


def _items(context: dict, live_ids: set[int]) -> list[dict]:
    currency = context.get("currency", "EUR")
    out = []
    for item in context.get("items", []):
        if item["invoice_id"] not in live_ids:
            continue
        money = {k.removesuffix("_minor"): Money(v, currency) for k, v in item.items() if k.endswith("_minor")}
        charges = [
            {**c, "amount": Money(c["amount_minor"], currency), "booked_on": _day(c.get("booked_on")),
             "segments": [{**s, "from": _day(s["from"]), "to": _day(s["to"]),
                           "principal": Money(s["principal_minor"], currency)} for s in (c.get("segments") or [])]}
            for c in item.get("charges", [])
        ]
        out.append({**item, **money, "issue_date": _day(item["issue_date"]), "due_date": _day(item["due_date"]),
                    "default_on": _day(item.get("default_on")), "charges": charges})
    return out


def context_for(message: Message, *, link: str | None = None) -> dict:
    merchant = db.session.get(Merchant, message.merchant_id)
    debtor = db.session.get(Debtor, message.debtor_id) if message.debtor_id else None
    invoices = live_invoices(message) if message.debtor_id else []
    if link is None and debtor is not None:
        from portal.links import url_for_debtor

        link = url_for_debtor(debtor)
    ctx = dict(message.context or {})
    ctx.update(message=message, debtor=debtor, merchant=merchant, link=link, invoices=invoices)
    if "items" in ctx:
        items = _items(message.context, {inv.id for inv in invoices})
        currency = ctx.get("currency", "EUR")
        ctx["items"] = items
        ctx["total"] = Money(sum(i["open_minor"] for i in items), currency)
        for key in ("deadline", "today"):
            if key in ctx:
                ctx[key] = _day(ctx[key])
    return ctx


def _render(name: str, ctx: dict) -> tuple[str, str | None]:
    template = current_app.jinja_env.get_template(name)
    subject = None
    if "subject" in template.blocks:
        subject = " ".join("".join(template.blocks["subject"](template.new_context(ctx))).split())
    return template.render(ctx), subject


def render_email(message: Message, *, link: str | None = None) -> Email:
    with force_locale(message.language):
        ctx = context_for(message, link=link)
        text, subject = _render(f"email/{message.template}.txt", ctx)
        html, _ = _render(f"email/{message.template}.html", ctx)
    return Email(subject or "", text, html)


def render_sms(message: Message, *, link: str | None = None) -> str:
    """One GSM-7 SMS of at most 160 characters, link included; ChannelError (permanent) otherwise."""
    with force_locale(message.language):
        body, _ = _render(f"sms/{message.template}.txt", context_for(message, link=link))
    body = gsm7.to_gsm7(" ".join(body.split()))
    length = gsm7.septets(body)
    if length is None or length > gsm7.SINGLE_SMS:
        raise ChannelError(f"SMS text is {length} GSM-7 characters, more than {gsm7.SINGLE_SMS}", permanent=True)
    return body


def render_letter_html(message: Message, *, link: str | None = None) -> str:
    with force_locale(message.language):
        ctx = context_for(message, link=link)
        ctx["transfer"] = _transfer(ctx)
        if "today" not in ctx:  # the letter's date: the day it is produced, in the merchant's calendar
            from portal.clock import today_for

            ctx["today"] = today_for(ctx["merchant"].timezone)
        if message.purpose.startswith("case_"):
            # Case letters carry the email's words: rendered as text, escaped into the letter.
            ctx["case_text"], ctx["subject"] = _render(f"email/{message.template}.txt", ctx)
        html, _ = _render(f"letter/{message.template}.html", ctx)
    return html


def _transfer(ctx: dict):
    """Bank transfer details with the EPC QR code for the letter's payment box (payments feature)."""
    from portal.payments.transfer import TransferUnavailable, transfer_for

    debtor, invoices = ctx["debtor"], [inv for inv in ctx["invoices"] if inv.status == "open"]
    if debtor is None or not invoices:
        return None
    try:
        return transfer_for(debtor, invoices)
    except TransferUnavailable:
        return None

