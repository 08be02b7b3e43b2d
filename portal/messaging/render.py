"""Rendering an outbox message for its channel, in the message's language.

Dunning steps and case messages have ONE wording per kind and language
(`portal/messaging/wording.py`, words in `portal/messaging/texts/<lang>.toml`, or the
merchant's own texts): its slots are rendered in the sandbox from the placeholder values
below and placed by the channel layouts `templates/messages/email.html|.txt` and
`templates/messages/letter.html`; the SMS is the `sms` slot. Other messages (the new-link
email, staff notices) keep their file templates `templates/email/<t>.txt|.html` and
`templates/sms/<t>.txt`. Layouts receive `message`, `debtor`, `merchant`, `link`, `invoices`
(the message's invoices still live), every key of `message.context`, `words` (the rendered
slots) and for dunning messages `items` (invoice lines still live, Money and date values) and `total`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, true

from portal.domain.money import Money
from portal.extensions import db
from portal.messaging import gsm7, wording
from portal.messaging.channels import ChannelError
from portal.models import Debtor, Invoice, Merchant, Message, MessageInvoice, MessageStatus


@dataclass(frozen=True)
class Email:
    subject: str
    text: str
    html: str


def _day(value):
    return date.fromisoformat(value) if isinstance(value, str) else value


@dataclass
class Prefetch:
    """What rendering a batch of messages reads from the database, read for the whole batch in a few set
    queries (the worker's batch) instead of per message: the messages' invoices with their steps, the
    merchants' texts in force, the dunning messages sent before for those invoices (`reminder_sent`), the
    debtors and merchants (then in the session's identity map). Read once, right after the batch is claimed:
    what a message says is as of that moment (the batch takes well under a second)."""

    invoices: dict[int, list[tuple[Invoice, str]]] = field(default_factory=dict)  # message id → (invoice, step)
    texts: dict[tuple[int, str, str], dict | None] = field(default_factory=dict)  # (merchant, kind, language)
    sent_before: dict[int, list[tuple[int, str | None]]] = field(default_factory=dict)  # invoice → (message id, day)
    company: dict[tuple[int, str], list[str]] = field(default_factory=dict)  # (merchant, language) → footer lines
    rows: list = field(default_factory=list)  # the debtors and merchants read (the session's identity map is weak)
    catalogues: dict[str, dict] = field(default_factory=dict)  # language → the layouts' gettext, bound once

    @classmethod
    def load(cls, messages: list[Message]) -> "Prefetch":
        from portal.models import MessageText
        from sqlalchemy import func, tuple_

        out = cls()
        if not messages:
            return out
        ids = [m.id for m in messages]
        out.invoices = {i: [] for i in ids}
        rows = db.session.execute(
            select(MessageInvoice.message_id, Invoice, MessageInvoice.step)
            .join(MessageInvoice, MessageInvoice.invoice_id == Invoice.id)
            .where(MessageInvoice.message_id.in_(ids)).order_by(Invoice.due_date, Invoice.id)
        ).all()
        for message_id, invoice, step in rows:
            out.invoices[message_id].append((invoice, step))
        debtor_ids = {m.debtor_id for m in messages if m.debtor_id}
        if debtor_ids:
            out.rows += db.session.execute(select(Debtor).where(Debtor.id.in_(debtor_ids))).scalars().all()
        out.rows += db.session.execute(
            select(Merchant).where(Merchant.id.in_({m.merchant_id for m in messages}))).scalars().all()
        keys = {(m.merchant_id, m.template, m.language) for m in messages if is_worded(m.template)}
        out.texts = dict.fromkeys(keys)
        if keys:
            latest = select(MessageText.merchant_id, MessageText.kind, MessageText.language,
                            func.max(MessageText.version).label("version")).where(
                tuple_(MessageText.merchant_id, MessageText.kind, MessageText.language).in_(list(keys))
            ).group_by(MessageText.merchant_id, MessageText.kind, MessageText.language).subquery()
            for merchant_id, kind, language, texts in db.session.execute(
                select(MessageText.merchant_id, MessageText.kind, MessageText.language, MessageText.texts).join(
                    latest, (MessageText.merchant_id == latest.c.merchant_id) & (MessageText.kind == latest.c.kind)
                    & (MessageText.language == latest.c.language) & (MessageText.version == latest.c.version))
            ):
                out.texts[(merchant_id, kind, language)] = dict(texts) if texts else None
        invoice_ids = {inv.id for pairs in out.invoices.values() for inv, _step in pairs}
        out.sent_before = {i: [] for i in invoice_ids}
        if invoice_ids:
            for invoice_id, message_id, context in db.session.execute(
                select(MessageInvoice.invoice_id, Message.id, Message.context)
                .join(Message, Message.id == MessageInvoice.message_id).where(
                    MessageInvoice.invoice_id.in_(invoice_ids), Message.purpose == "dunning",
                    Message.status == MessageStatus.SENT.value)
            ):
                out.sent_before[invoice_id].append((message_id, (context or {}).get("today")))
        return out

    def record_sent(self, message: Message) -> None:
        """A message of this batch went out: later ones about the same invoices know it (`reminder_sent`)."""
        if message.purpose == "dunning":
            for invoice, _step in self.invoices.get(message.id, []):
                self.sent_before.setdefault(invoice.id, []).append((message.id, (message.context or {}).get("today")))

    def gettext(self) -> dict:
        """The current language's gettext for the layouts' `_()` and `{% trans %}`, looked up once per batch
        rather than per string (Flask-Babel finds the request's catalogue again on every call)."""
        from flask_babel import get_locale, get_translations
        from jinja2.ext import _make_new_gettext, _make_new_ngettext

        language = str(get_locale())
        if language not in self.catalogues:
            catalogue = get_translations()
            self.catalogues[language] = {"gettext": _make_new_gettext(catalogue.ugettext),
                                         "ngettext": _make_new_ngettext(catalogue.ungettext)}
        return self.catalogues[language]

    def footer(self, merchant: Merchant) -> list[str]:
        from flask_babel import get_locale

        key = (merchant.id, str(get_locale()))
        if key not in self.company:
            self.company[key] = company_lines(merchant)
        return self.company[key]


def live_invoices(message: Message, *, as_sent: bool = False, prefetch: Prefetch | None = None) -> list[Invoice]:
    """The message's invoices still concerned (all of them `as_sent`: a copy of the message as it went out)."""
    from portal.dunning.escalation import invoice_is_live

    if prefetch is not None and message.id in prefetch.invoices:
        rows = prefetch.invoices[message.id]
    else:
        rows = db.session.execute(
            select(Invoice, MessageInvoice.step).join(MessageInvoice, MessageInvoice.invoice_id == Invoice.id)
            .where(MessageInvoice.message_id == message.id).order_by(Invoice.due_date, Invoice.id)
        ).all()
    return [inv for inv, step in rows if as_sent or invoice_is_live(inv.status, inv.paused_reason, step)]


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


def context_for(message: Message, *, link: str | None = None, as_sent: bool = False,
                prefetch: Prefetch | None = None) -> dict:
    merchant = db.session.get(Merchant, message.merchant_id)
    debtor = db.session.get(Debtor, message.debtor_id) if message.debtor_id else None
    invoices = live_invoices(message, as_sent=as_sent, prefetch=prefetch) if message.debtor_id else []
    if link is None and debtor is not None:
        from portal.links import url_for_debtor

        # The link knows its message: the portal preselects exactly the invoices this message asks for.
        link = url_for_debtor(debtor, message_id=message.id)
    ctx = dict(message.context or {})
    ctx.update(message=message, merchant=merchant, link=link, invoices=invoices,
               company_lines=prefetch.footer(merchant) if prefetch is not None else company_lines(merchant),
               prefetch=prefetch)
    if debtor is not None or "debtor" not in ctx:
        ctx["debtor"] = debtor  # a staff notice names the customer in its own context ("debtor": their name)
    if prefetch is not None:
        ctx.update(prefetch.gettext())
    if message.template == "handover_notice":
        from portal.dunning.handover import agency_collects

        ctx["agency_collects"] = agency_collects(merchant.id)  # then no payment is offered, only the details
    if "items" in ctx:
        items = _items(message.context, {inv.id for inv in invoices})
        currency = ctx.get("currency", "EUR")
        ctx["items"] = items
        ctx["total"] = Money(sum(i["open_minor"] for i in items), currency)
        for key in ("deadline", "today"):
            if key in ctx:
                ctx[key] = _day(ctx[key])
    return ctx


def company_lines(merchant: Merchant) -> list[str]:
    """The merchant's mandatory company details (§ 37a HGB, § 35a GmbHG, § 80 AktG) for letter and email footers."""
    from portal.domain.company import details

    d = details(merchant)
    parts = []
    if d.registered_office:
        parts.append(_("Registered office: %(office)s", office=d.registered_office))
    if d.register:
        parts.append(_("Register court: %(register)s", register=d.register))
    if d.general_partner:
        parts.append(_("Personally liable partner: %(partner)s", partner=d.general_partner))
    if d.people:
        parts.append(_("Management board: %(names)s", names=d.people) if d.people_is_board
                     else _("Managing directors: %(names)s", names=d.people))
    if d.supervisory_chair:
        parts.append(_("Chair of the supervisory board: %(name)s", name=d.supervisory_chair))
    if d.vat_id:
        parts.append(_("VAT ID: %(vat_id)s", vat_id=d.vat_id))
    return parts


def _render(name: str, ctx: dict) -> tuple[str, str | None]:
    template = current_app.jinja_env.get_template(name)
    subject = None
    if "subject" in template.blocks:
        subject = " ".join("".join(template.blocks["subject"](template.new_context(ctx))).split())
    return template.render(ctx), subject


def _reminder_sent(message: Message, invoices: list[Invoice], prefetch: Prefetch | None = None) -> bool:
    """A payment reminder (a dunning message sent after the due date) went out before this one, for every invoice."""
    if not invoices:
        return False
    due = {inv.id: inv.due_date for inv in invoices}
    if prefetch is not None and all(i in prefetch.sent_before for i in due):
        reminded = {invoice_id for invoice_id in due for message_id, sent_on in prefetch.sent_before[invoice_id]
                    if (not message.id or message_id < message.id) and sent_on
                    and date.fromisoformat(sent_on) > due[invoice_id]}
        return reminded == set(due)
    rows = db.session.execute(
        select(MessageInvoice.invoice_id, Message.context).join(Message, Message.id == MessageInvoice.message_id).where(
            MessageInvoice.invoice_id.in_([inv.id for inv in invoices]), Message.purpose == "dunning",
            Message.status == MessageStatus.SENT.value, Message.id < message.id if message.id else true(),
        )
    ).all()
    reminded = set()
    for invoice_id, context in rows:
        sent_on = (context or {}).get("today")
        if sent_on and date.fromisoformat(sent_on) > due[invoice_id]:
            reminded.add(invoice_id)
    return reminded == set(due)


# How a payment arrived, as the receipt's sentence says it ("we received 50,00 € by bank transfer").
RECEIPT_METHODS = {"card": _l("by card"), "bank": _l("by bank transfer"), "shop": _l("through the shop")}


def placeholder_values(message: Message, ctx: dict, *, sms: bool = False) -> dict:
    """The values of the documented placeholders (docs/messages.md), formatted for the channel."""
    from portal.i18n import format_day, format_minor, format_money

    def day(value):
        return format_day(value, "short" if sms else "medium") if value else ""

    debtor, merchant = ctx["debtor"], ctx["merchant"]
    business = bool(debtor is not None and debtor.kind == "business")
    person = (debtor.name or "").strip() if debtor is not None else ""
    company = (debtor.company or "").strip() if debtor is not None and business else ""
    anonymous = business and (not person or person.casefold() == company.casefold())
    values = {
        "customer_name": (company if anonymous else person) or company, "company": company, "anonymous": anonymous,
        "business": business, "shop": merchant.name, "link": ctx.get("link") or "",
        "invoices": wording.InvoiceList(inv.number for inv in ctx.get("invoices", [])),
        "today": day(ctx.get("today")), "support_email": merchant.support_email or "",
        "support_phone": merchant.support_phone or "",
    }
    kind = wording.KINDS.get(message.template)
    if kind is not None and kind.family == "dunning":
        items = ctx.get("items", [])
        values.update(
            total=format_money(ctx["total"]) if "total" in ctx else "", deadline=day(ctx.get("deadline")),
            due_date=day(min((i["due_date"] for i in items), default=None)),
            notice_286=bool(ctx.get("notice_286")),
            reminder_sent=_reminder_sent(message, ctx.get("invoices", []), ctx.get("prefetch")),
        )
        if message.template == "handover_notice":
            from portal.dunning.handover import notice_values

            values.update(notice_values(merchant, sms=sms))
    elif kind is not None and kind.family == "receipt":
        currency = ctx.get("currency", "EUR")
        values.update(
            invoices=wording.InvoiceList(ctx.get("numbers") or []),
            paid_amount=format_minor(ctx["amount_minor"], currency), paid_on=day(ctx.get("paid_on")),
            method=str(RECEIPT_METHODS.get(ctx.get("method"), "")),
            remaining=format_minor(ctx["remaining_minor"], currency) if ctx.get("remaining_minor", 0) > 0 else "",
            credit=format_minor(ctx["credit_minor"], currency) if ctx.get("credit_minor", 0) > 0 else "",
            credit_refund=merchant.credit_handling == "refund",  # what the merchant does with an overpayment
        )
    elif kind is not None:
        currency = ctx.get("currency", "EUR")
        rates = ctx.get("rates") or []
        lines = [_("Installment %(number)s: %(amount)s by %(day)s, reference %(ref)s", number=r["number"],
                   amount=format_minor(r["amount_minor"], currency), day=day(r["due_on"]), ref=r["reference"]) for r in rates]
        amount = ctx.get("amount_minor", rates[0]["amount_minor"] if rates else None)
        values.update(
            rates="\n".join(lines), rates_count=ctx.get("rates_count", ""), first_due=day(ctx.get("first_due")),
            rate_number=ctx.get("rate_number", ""), amount=format_minor(amount, currency) if amount is not None else "",
            due_on=day(ctx.get("due_on") or (rates[0]["due_on"] if rates else None)), reference=ctx.get("reference", ""),
            missed_rate=ctx.get("missed_rate", ""), grace_days=merchant.plan_grace_days,
            promised_on=day(ctx.get("promised_on")), pay_by=day(ctx.get("pay_by")), full=bool(ctx.get("full")),
            note=ctx.get("note") or "", reply=ctx.get("body") or "",
        )
    return values


def _texts_in_force(message: Message, ctx: dict) -> dict | None:
    prefetch = ctx.get("prefetch")
    key = (message.merchant_id, message.template, message.language)
    if prefetch is not None and key in prefetch.texts:
        return prefetch.texts[key]
    from portal.messaging.overrides import current_texts

    return current_texts(*key)


def _slots(message: Message, ctx: dict, *, html: bool, sms: bool = False, texts: dict | None = None,
           values: dict | None = None) -> wording.Rendered:
    if texts is None:
        texts = _texts_in_force(message, ctx)
    if values is None:
        values = placeholder_values(message, ctx, sms=sms)
    return wording.render(message.template, message.language, values, html=html, overrides=texts,
                          slots=wording.SMS_SLOTS if sms else wording.LETTER_SLOTS)


def is_worded(template: str) -> bool:
    """Dunning steps and case messages have one wording (portal/messaging/texts); others keep file templates."""
    return template in wording.KINDS


def render_email(message: Message, *, link: str | None = None, texts: dict | None = None, as_sent: bool = False,
                 prefetch: Prefetch | None = None) -> Email:
    """Subject, text and HTML part; `texts` are unsaved slot texts to preview instead of the stored ones;
    `as_sent`: with every invoice it named, also those settled or handed over since (a copy for the file);
    `prefetch`: what the worker read for the whole batch."""
    with force_locale(message.language):
        ctx = context_for(message, link=link, as_sent=as_sent, prefetch=prefetch)
        if not is_worded(message.template):
            text, subject = _render(f"email/{message.template}.txt", ctx)
            html, _subject = _render(f"email/{message.template}.html", ctx)
            return Email(subject or "", text, html)
        return email_from(message, ctx, texts)


def email_from(message: Message, ctx: dict, texts: dict | None = None) -> Email:
    if texts is None:
        texts = _texts_in_force(message, ctx)
    values = placeholder_values(message, ctx)  # once for both parts
    plain, rich = wording.render_both(message.template, message.language, values, overrides=texts,
                                      slots=wording.EMAIL_SLOTS)
    family = wording.KINDS[message.template].family
    text = current_app.jinja_env.get_template("messages/email.txt").render(ctx, words=plain, family=family)
    html = current_app.jinja_env.get_template("messages/email.html").render(ctx, words=rich, family=family)
    return Email(plain.subject, _tidy(text), html)


def _tidy(text: str) -> str:
    """No runs of blank lines where a slot is empty."""
    lines, blank = [], 0
    for line in text.strip().splitlines():
        blank = blank + 1 if not line.strip() else 0
        if blank < 2:
            lines.append(line.rstrip())
    return "\n".join(lines) + "\n"


def render_sms(message: Message, *, link: str | None = None, texts: dict | None = None, as_sent: bool = False,
               prefetch: Prefetch | None = None) -> str:
    """One GSM-7 SMS of at most 160 characters, link included; ChannelError (permanent) otherwise."""
    with force_locale(message.language):
        ctx = context_for(message, link=link, as_sent=as_sent, prefetch=prefetch)
        if is_worded(message.template):
            body = sms_text(message, ctx, texts)
        else:
            body, _subject = _render(f"sms/{message.template}.txt", ctx)
    body = gsm7.to_gsm7(" ".join(body.split()))
    length = gsm7.septets(body)
    if length is None or length > gsm7.SINGLE_SMS:
        raise ChannelError(f"SMS text is {length} GSM-7 characters, more than {gsm7.SINGLE_SMS}", permanent=True)
    return body


def sms_text(message: Message, ctx: dict, texts: dict | None = None) -> str:
    return _slots(message, ctx, html=False, sms=True, texts=texts).sms


def render_letter_html(message: Message, *, link: str | None = None, texts: dict | None = None,
                       prefetch: Prefetch | None = None) -> str:
    with force_locale(message.language):
        ctx = context_for(message, link=link, prefetch=prefetch)
        ctx["transfer"] = _transfer(ctx)
        if "today" not in ctx:  # the letter's date: the day it is produced, in the merchant's calendar
            from portal.clock import today_for

            ctx["today"] = today_for(ctx["merchant"].timezone)
        return letter_from(message, ctx, texts)


def letter_from(message: Message, ctx: dict, texts: dict | None = None) -> str:
    ctx["country_line"] = country_line(ctx["debtor"], ctx["merchant"])
    ctx["claim_notes"] = claim_notes(ctx.get("items", []))
    words = _slots(message, ctx, html=True, texts=texts)
    return current_app.jinja_env.get_template("messages/letter.html").render(
        ctx, words=words, family=wording.KINDS[message.template].family)


def claim_notes(items: list[dict]) -> list[str]:
    """Below the letter's claim table: the interest periods by rate, and which kinds of costs it contains."""
    from portal.i18n import format_day, format_segment_rate

    periods: dict[str, list] = {}
    costs = []
    for item in items:
        if item.get("interest_refused"):
            costs.append(_("Default interest accrues from the day after default and will be charged separately."))
        for charge in item["charges"]:
            if charge["label"] == "interest":
                for s in charge["segments"]:
                    span = periods.setdefault((str(s["rate"]), s.get("base_rate")), [s["from"], s["to"]])
                    span[0], span[1] = min(span[0], s["from"]), max(span[1], s["to"])
            else:
                label = _("Late-payment flat fee (section 288 (5) BGB)") if charge["label"] == "fee_flat" else _("Dunning fee")
                if label not in costs:
                    costs.append(label)
    notes = []
    if periods:
        spans = [_("%(rate)s from %(start)s to %(end)s", rate=format_segment_rate({"rate": rate, "base_rate": base}),
                   start=format_day(a), end=format_day(b)) for (rate, base), (a, b) in sorted(periods.items(), key=lambda p: p[1][0])]
        notes.append(_("Default interest (§ 288 BGB): %(periods)s, on the open invoice amount.", periods="; ".join(spans)))
    fees = [c for c in costs if c != _("Default interest accrues from the day after default and will be charged separately.")]
    if fees:
        notes.append(_("Costs: %(labels)s.", labels=", ".join(fees)))
    notes += [c for c in costs if c not in fees]
    return notes


def country_line(debtor: Debtor | None, merchant: Merchant) -> str | None:
    """The last line of a foreign address: the country's name in capitals, in the sender's language (DIN 5008, UPU)."""
    if debtor is None or not debtor.country or debtor.country.upper() == (merchant.country or "DE").upper():
        return None
    from babel import Locale

    locale = Locale("de") if (merchant.country or "DE").upper() in ("DE", "AT", "CH") else Locale("en")
    return locale.territories.get(debtor.country.upper(), debtor.country).upper()


def _transfer(ctx: dict):
    """Bank transfer details with the EPC QR code for the letter's payment box (payments feature)."""
    from portal.payments.transfer import TransferUnavailable, transfer_for

    payable = ("open",) if ctx.get("agency_collects", True) else ("open", "handed_over")
    debtor, invoices = ctx["debtor"], [inv for inv in ctx["invoices"] if inv.status in payable]
    if debtor is None or not invoices:
        return None
    try:
        return transfer_for(debtor, invoices)
    except TransferUnavailable:
        return None

