"""A merchant's own words for a message kind and language: versioned, validated, previewed.

Every save is a new `MessageText` version (who, when); restoring an earlier version or going
back to the default is a new version too, so nothing is ever lost. Validation (`problems`)
refuses, with a message the admin can act on: anything outside the placeholder language
(unknown placeholders, attribute access, other tags or loops), an SMS without the link or, for
reminders, without the amount, an SMS that no longer fits one GSM-7 segment with a real link
and the shop's name (refused, not warned), and a legally required statement removed (the
default notice of the first notice, the handover announcement of the final notice, the
§ 286 (3) BGB notice of the pre-due reminder). See docs/messages.md.
"""
from __future__ import annotations

from datetime import timedelta

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import func, select

from portal.clock import today_for
from portal.domain.money import Money
from portal.extensions import db
from portal.messaging import gsm7, wording
from portal.models import Debtor, Merchant, Message, MessageText

# What a legal statement must still say, per language (checked on the rendered email text).
LEGAL_TERMS = {
    "default": {"de": ("verzug",), "en": ("default",)},
    "handover": {"de": ("inkasso",), "en": ("collection",)},
    "notice_286": {"de": ("286", "30"), "en": ("286", "30")},
    "privacy": {"de": ("dsgvo",), "en": ("gdpr",)},
}


def current(merchant_id: int, kind: str, language: str) -> MessageText | None:
    return db.session.execute(
        select(MessageText).where(MessageText.merchant_id == merchant_id, MessageText.kind == kind,
                                  MessageText.language == language).order_by(MessageText.version.desc()).limit(1)
    ).scalar_one_or_none()


def current_texts(merchant_id: int, kind: str, language: str) -> dict[str, str] | None:
    """The slot texts in force, or None for the shipped default."""
    row = current(merchant_id, kind, language)
    return dict(row.texts) if row is not None and row.texts else None


def history(merchant_id: int, kind: str, language: str) -> list[MessageText]:
    return db.session.execute(
        select(MessageText).where(MessageText.merchant_id == merchant_id, MessageText.kind == kind,
                                  MessageText.language == language).order_by(MessageText.version.desc())
    ).scalars().all()


def changed_kinds(merchant_id: int) -> set[tuple[str, str]]:
    """(kind, language) pairs whose version in force is the merchant's own words."""
    latest = select(MessageText.kind, MessageText.language, func.max(MessageText.version).label("v")).where(
        MessageText.merchant_id == merchant_id).group_by(MessageText.kind, MessageText.language).subquery()
    rows = db.session.execute(
        select(MessageText.kind, MessageText.language, MessageText.texts).join(
            latest, (MessageText.kind == latest.c.kind) & (MessageText.language == latest.c.language)
            & (MessageText.version == latest.c.v)).where(MessageText.merchant_id == merchant_id)
    ).all()
    return {(k, lang) for k, lang, texts in rows if texts}


def only_changes(kind: str, language: str, texts: dict[str, str]) -> dict[str, str]:
    """The slots that differ from the default (line ends normalised); the rest follows future default updates."""
    defaults = wording.default_slots(kind, language)
    out = {}
    for slot in wording.SLOTS:
        if slot not in texts:
            continue
        text = (texts[slot] or "").replace("\r\n", "\n").strip()
        if text != defaults[slot].strip():
            out[slot] = text
    return out


def _new_version(merchant: Merchant, kind: str, language: str, texts: dict, *, by: str, action: str,
                 restored_from: int | None = None) -> MessageText:
    last = current(merchant.id, kind, language)
    row = MessageText(merchant_id=merchant.id, kind=kind, language=language, version=(last.version + 1) if last else 1,
                      texts=texts, action=action, restored_from=restored_from, created_by=by)
    db.session.add(row)
    return row


def save(merchant: Merchant, kind: str, language: str, texts: dict[str, str], *, by: str) -> MessageText:
    """A new version with the merchant's words (call `problems` first; the caller commits)."""
    return _new_version(merchant, kind, language, only_changes(kind, language, texts), by=by, action="save")


def restore(merchant: Merchant, version: MessageText, *, by: str) -> MessageText:
    return _new_version(merchant, version.kind, version.language, dict(version.texts), by=by, action="restore",
                        restored_from=version.version)


def reset(merchant: Merchant, kind: str, language: str, *, by: str) -> MessageText:
    return _new_version(merchant, kind, language, {}, by=by, action="default")


# -- validation and preview ---------------------------------------------------------------

def sample_message(merchant: Merchant, kind: str, language: str) -> tuple[Message, dict]:
    """A message of this kind for a sample customer (nothing is stored), and its rendering context."""
    from portal.messaging.render import company_lines

    today = today_for(merchant.timezone)  # the shop's day, as a message sent now would show it
    debtor = Debtor(merchant_id=merchant.id, external_ref="K-10042", kind="person", name="Erika Mustermann",
                    street="Musterstraße 12", postal_code="70173", city="Stuttgart", country=merchant.country,
                    language=language)
    family = wording.KINDS[kind].family
    message = Message(merchant_id=merchant.id, purpose="preview", template=kind, language=language, channel="email",
                      context={})
    base = current_app.config["BASE_URL"].rstrip("/")
    link = f"{base}/p/{'x' * 28}"  # as long as a real link
    ctx = {"message": message, "debtor": debtor, "merchant": merchant, "link": link, "invoices": [],
           "company_lines": company_lines(merchant), "today": today, "transfer": None}
    if family == "dunning":
        principal, interest, fee = Money(124990, "EUR"), Money(1207, "EUR"), Money(250, "EUR")
        total = Money(principal.minor + interest.minor + fee.minor, "EUR")
        due = today - timedelta(days=35)
        segments = [{"rate": "6.27", "base_rate": "1.27", "from": due + timedelta(days=25), "to": today, "days": 10, "principal": principal}]
        ctx.update(
            deadline=today + timedelta(days=10), notice_286=True, currency="EUR", total=total,
            items=[{"invoice_id": 0, "number": "RE-2026-0042", "order_ref": None, "issue_date": due - timedelta(days=14),
                    "due_date": due, "principal": principal, "principal_minor": principal.minor, "paid_minor": 0,
                    "paid": Money(0, "EUR"), "interest_minor": interest.minor, "interest": interest,
                    "fees_minor": fee.minor, "fees": fee, "open": total, "open_minor": total.minor,
                    "interest_refused": None,
                    "charges": [{"label": "interest", "amount": interest, "segments": segments},
                                {"label": "fee", "amount": fee, "segments": []}]}],
        )
    else:
        ctx.update(
            currency="EUR", rates=[{"number": 1, "due_on": (today + timedelta(days=14)).isoformat(), "amount_minor": 10000,
                                    "reference": "RF18539007547034"}],
            rates_count=6, first_due=today + timedelta(days=14), rate_number=2, amount_minor=10000,
            due_on=today + timedelta(days=14), reference="RF18539007547034", missed_rate=2,
            promised_on=today + timedelta(days=7), pay_by=today + timedelta(days=14), full=False,
            note=_("A note from your staff."), body=_("The reply your staff wrote."),
        )
    return message, ctx


class Preview:
    def __init__(self, email, sms: str, sms_length: int | None, letter_html: str):
        self.email, self.sms, self.sms_length, self.letter_html = email, sms, sms_length, letter_html

    @property
    def sms_segments(self) -> int:
        if self.sms_length is None:
            return 0
        return 1 if self.sms_length <= gsm7.SINGLE_SMS else -(-self.sms_length // 153)


def preview(merchant: Merchant, kind: str, language: str, texts: dict[str, str] | None) -> Preview:
    """Email, SMS (with GSM-7 length) and letter HTML of the sample message with these (unsaved) texts."""
    from portal.messaging import render

    message, ctx = sample_message(merchant, kind, language)
    with force_locale(language):
        email = render.email_from(message, ctx, texts or {})
        sms = gsm7.to_gsm7(" ".join(render.sms_text(message, ctx, texts or {}).split()))
        letter = render.letter_from(message, dict(ctx), texts or {})
    return Preview(email, sms, gsm7.septets(sms), letter)


def problems(merchant: Merchant, kind: str, language: str, texts: dict[str, str]) -> dict[str, str]:
    """Slot → a translated reason it is refused; empty when the texts may be saved."""
    errors: dict[str, str] = {}
    allowed = wording.allowed_placeholders(kind)
    for slot in wording.SLOTS:
        text = texts.get(slot)
        if text is None:
            continue
        try:
            wording.check(text, allowed)
        except wording.UnknownPlaceholder as exc:
            errors[slot] = _("Unknown placeholder {{ %(name)s }}. Allowed here: %(allowed)s.", name=exc.name,
                             allowed=", ".join("{{ %s }}" % p for p in sorted(allowed)))
        except wording.WordingError:
            errors[slot] = _("Only placeholders such as {{ total }}, {% if … %} … {% endif %} and the loop "
                             "{% for invoice in invoices %} … {% endfor %} are allowed.")
    if errors:
        return errors
    merged = {**wording.default_slots(kind, language), **texts}
    if not merged["subject"].strip():
        errors["subject"] = _("The subject must not be empty.")
    if "{{ link }}" not in merged["sms"].replace("{{link}}", "{{ link }}"):
        errors["sms"] = _("The SMS must contain the link {{ link }}.")
    elif wording.KINDS[kind].family == "dunning" and "{{ total }}" not in merged["sms"].replace("{{total}}", "{{ total }}"):
        errors["sms"] = _("The SMS must state the amount {{ total }}.")
    if errors:
        return errors
    shown = preview(merchant, kind, language, texts)
    if shown.sms_length is None:
        errors["sms"] = _("The SMS contains characters an SMS cannot carry in one standard (GSM-7) message.")
    elif shown.sms_length > gsm7.SINGLE_SMS:
        errors["sms"] = _("With the link and your shop's name the SMS has %(n)s characters; one SMS holds %(max)s. "
                          "Please shorten it.", n=shown.sms_length, max=gsm7.SINGLE_SMS)
    from portal.messaging.render import placeholder_values

    message, ctx = sample_message(merchant, kind, language)
    with force_locale(language):
        words = wording.render(kind, language, placeholder_values(message, ctx), html=False, overrides=texts)
    text = " ".join((words.intro, words.notice, words.body)).casefold()
    for statement in wording.KINDS[kind].legal:
        terms = LEGAL_TERMS[statement][language if language in wording.LANGUAGES else "de"]
        if not all(term in text for term in terms):
            slot = "notice" if "notice" in texts else next(iter(texts), "notice")
            errors[slot] = {
                "default": _("The first notice must keep the default notice: by when payment is due and that the "
                             "customer is in default afterwards (§ 286 BGB)."),
                "handover": _("The final notice must keep announcing the handover to a collection agency."),
                "notice_286": _("The pre-due reminder must keep the § 286 (3) BGB notice for consumers (default 30 "
                                "days after due date and receipt of the invoice)."),
                "privacy": _("The handover notice must keep the data-protection information for the transfer to the "
                             "collection agency (Art. 13 and 14 GDPR)."),
            }[statement]
    return errors
