"""Message texts (admins): the merchant's own words for every dunning step and case message, per
language, with a preview of email, SMS and letter before saving, version history, restore and
back-to-default. Validation and storage: portal/messaging/overrides.py; docs/messages.md."""
from __future__ import annotations

from flask import Response, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select

from portal.extensions import db
from portal.messaging import overrides, wording
from portal.messaging.channels.letter import pdf_from_html
from portal.models import MessageText
from portal.office import audit, bp, register_nav, require_admin

register_nav("office.texts", _l("Message texts"), admin_only=True)

KIND_LABELS = {
    "pre_due_reminder": _l("Reminder before the due date"),
    "payment_reminder": _l("Payment reminder"),
    "first_notice": _l("First notice (puts the customer in default)"),
    "second_notice": _l("Second notice"),
    "final_notice": _l("Final notice (announces the handover)"),
    "handover_notice": _l("Handover to a collection agency"),
    "plan_received": _l("Installment request received"),
    "plan_confirmed": _l("Installment plan set up"),
    "plan_countered": _l("Installment plan: counter-proposal"),
    "plan_rejected": _l("Installment request declined"),
    "plan_rate_reminder": _l("Installment due soon"),
    "plan_broken": _l("Installment plan ended"),
    "promise_confirmed": _l("Promise to pay confirmed"),
    "promise_reminder": _l("Promised payment due tomorrow"),
    "promise_broken": _l("Promised payment missing"),
    "dispute_received": _l("Objection received"),
    "dispute_resolved": _l("Objection resolved"),
    "dispute_rejected": _l("Objection rejected"),
    "case_reply": _l("Reply to a request"),
}
SLOT_LABELS = {
    "subject": _l("Subject (email subject and letter heading)"),
    "greeting": _l("Greeting"),
    "intro": _l("Opening (after the greeting, before the invoices)"),
    "body": _l("After the invoices and the link"),
    "notice": _l("Legal notice"),
    "closing": _l("Closing"),
    "sms": _l("SMS (one message of 160 characters with the link)"),
}
SLOT_SHORT = {"subject": _l("subject"), "greeting": _l("greeting"), "intro": _l("opening"), "body": _l("after the invoices"),
              "notice": _l("legal notice"), "closing": _l("closing"), "sms": _l("SMS")}
LANGUAGE_LABELS = {"de": _l("German"), "en": _l("English")}


class TextsForm(FlaskForm):
    """CSRF only: the slot fields are read by name (one textarea per slot)."""


def _kind_or_404(kind: str, language: str) -> None:
    if kind not in wording.KINDS or language not in wording.LANGUAGES:
        abort(404)


def _submitted() -> dict[str, str]:
    return {slot: request.form.get(slot, "") for slot in wording.SLOTS if slot in request.form}


@bp.get("/texts")
def texts():
    require_admin()
    changed = overrides.changed_kinds(g.merchant.id)
    return render_template("office/texts.html", kinds=KIND_LABELS, languages=LANGUAGE_LABELS, changed=changed,
                           families={k: v.family for k, v in wording.KINDS.items()})


@bp.route("/texts/<kind>/<language>", methods=["GET", "POST"])
def text_edit(kind: str, language: str):
    _kind_or_404(kind, language)
    require_admin()
    form = TextsForm()
    defaults = wording.default_slots(kind, language)
    stored = overrides.current_texts(g.merchant.id, kind, language) or {}
    values = {**defaults, **stored}
    errors: dict[str, str] = {}
    shown = None
    status = 200
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        submitted = _submitted()
        values.update(submitted)
        errors = overrides.problems(g.merchant, kind, language, submitted)
        if request.form.get("action") == "save" and not errors:
            row = overrides.save(g.merchant, kind, language, submitted, by=g.user.email)
            audit("texts.update", {"kind": kind, "language": language, "version": row.version, "action": "save"})
            db.session.commit()
            flash(_("Saved as version %(version)s. New messages use these words from now on.", version=row.version), "success")
            return redirect(url_for("office.text_edit", kind=kind, language=language), code=303)
        if errors:
            status = 422
        else:
            shown = overrides.preview(g.merchant, kind, language, submitted)
    return render_template(
        "office/text_edit.html", form=form, kind=kind, language=language, kind_label=KIND_LABELS[kind],
        language_label=LANGUAGE_LABELS[language], slots=wording.SLOTS, slot_labels=SLOT_LABELS, values=values,
        defaults=defaults, errors=errors, preview=shown, history=overrides.history(g.merchant.id, kind, language),
        placeholders={p: wording.PLACEHOLDERS[p] for p in sorted(wording.allowed_placeholders(kind))},
        legal=wording.KINDS[kind].legal, own=bool(stored), slot_short=SLOT_SHORT,
    ), status


def _draft_or_stored(kind: str, language: str) -> dict[str, str]:
    if request.method == "POST":
        if not TextsForm().validate_on_submit():
            abort(400)
        submitted = _submitted()
        if overrides.problems(g.merchant, kind, language, submitted):
            return overrides.current_texts(g.merchant.id, kind, language) or {}
        return submitted
    return overrides.current_texts(g.merchant.id, kind, language) or {}


@bp.route("/texts/<kind>/<language>/preview.html", methods=["GET", "POST"])
def text_preview_email(kind: str, language: str):
    """The HTML email of the sample customer, as a mail program shows it: runs nothing, loads nothing."""
    _kind_or_404(kind, language)
    require_admin()
    shown = overrides.preview(g.merchant, kind, language, _draft_or_stored(kind, language))
    response = Response(shown.email.html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'; sandbox"
    )
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


@bp.route("/texts/<kind>/<language>/preview.pdf", methods=["GET", "POST"])
def text_preview_letter(kind: str, language: str):
    _kind_or_404(kind, language)
    require_admin()
    shown = overrides.preview(g.merchant, kind, language, _draft_or_stored(kind, language))
    response = Response(pdf_from_html(shown.letter_html), mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="{kind}-{language}.pdf"'
    return response


@bp.post("/texts/<kind>/<language>/restore/<int:version>")
def text_restore(kind: str, language: str, version: int):
    _kind_or_404(kind, language)
    require_admin()
    if not TextsForm().validate_on_submit():
        abort(400)
    old = db.session.execute(select(MessageText).where(
        MessageText.merchant_id == g.merchant.id, MessageText.kind == kind, MessageText.language == language,
        MessageText.version == version)).scalar_one_or_none()
    if old is None:
        abort(404)
    row = overrides.restore(g.merchant, old, by=g.user.email)
    audit("texts.update", {"kind": kind, "language": language, "version": row.version, "action": "restore",
                           "restored_from": version})
    db.session.commit()
    flash(_("Version %(old)s restored as version %(new)s.", old=version, new=row.version), "success")
    return redirect(url_for("office.text_edit", kind=kind, language=language), code=303)


@bp.post("/texts/<kind>/<language>/default")
def text_default(kind: str, language: str):
    _kind_or_404(kind, language)
    require_admin()
    if not TextsForm().validate_on_submit():
        abort(400)
    row = overrides.reset(g.merchant, kind, language, by=g.user.email)
    audit("texts.update", {"kind": kind, "language": language, "version": row.version, "action": "default"})
    db.session.commit()
    flash(_("Back to Settle's default words (version %(version)s).", version=row.version), "success")
    return redirect(url_for("office.text_edit", kind=kind, language=language), code=303)
