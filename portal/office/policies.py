"""Dunning policies (admins): customer groups with their rules and steps, edited as plain forms.

Saving makes a new version of the group (portal/policies/service.py); invoices already under a
version keep it, and staff can move an invoice to another group (audited, on its timeline).
"Preview" shows every step of the unsaved form for a sample debtor of the group, in German and
English: the SMS with its length, the email in a sandboxed frame and the letter as a PDF, both from
URLs that carry the signed draft (portal/policies/preview.py).
"""
from __future__ import annotations

from flask import Response, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm

from portal.clock import today_for
from portal.domain import dunning as rules
from portal.extensions import db
from portal.messaging import gsm7
from portal.messaging.channels.letter import pdf_from_html
from portal.models import Invoice, Policy
from portal.office import audit, bp, register_nav, require_admin, scoped_get
from portal.office.texts import KIND_LABELS
from portal.policies import preview as previews
from portal.policies import service
from portal.policies.service import Draft, StepDraft

register_nav("office.policies", _l("Dunning policies"), admin_only=True)

LEGAL_LABELS = {
    rules.REMINDER: _l("Reminder (no legal effect)"),
    rules.DEFAULT_NOTICE: _l("Notice that puts the customer in default"),
    rules.FINAL_NOTICE: _l("Final notice announcing the handover"),
    rules.HANDOVER: _l("Handover to a collection agency"),
}
CHANNEL_LABELS = {"email": _l("Email"), "sms": _l("SMS"), "letter": _l("Letter")}
KIND_RULE_LABELS = {"": _l("Private and business customers"), "person": _l("Private customers only"),
                    "business": _l("Business customers only")}
CUSTOMER_LABELS = {"": _l("First and returning customers"), "first": _l("First-time customers only"),
                   "returning": _l("Returning customers only")}
LANGUAGE_RULE_LABELS = {"": _l("Any language"), "de": _l("German-speaking customers"), "en": _l("English-speaking customers")}
PREVIEW_LANGUAGES = {"de": _l("German"), "en": _l("English")}


class PolicyForm(FlaskForm):
    """CSRF only: the editor's fields are read by name (a row of fields per step)."""


def _labels() -> dict:
    return {"legal": LEGAL_LABELS, "channels": CHANNEL_LABELS, "kinds": KIND_RULE_LABELS, "customers": CUSTOMER_LABELS,
            "languages": LANGUAGE_RULE_LABELS, "templates": {k: KIND_LABELS[k] for k in service.TEMPLATES}}


def rule_summary(policy) -> str:
    """The group's rules in one line a person reads ("Private customers only · age 70 and over")."""
    parts = []
    if policy.match_kind:
        parts.append(str(KIND_RULE_LABELS[policy.match_kind]))
    lo, hi = policy.match_age_min, policy.match_age_max
    if lo is not None and hi is not None:
        parts.append(_("aged %(low)s to %(high)s", low=lo, high=hi))
    elif lo is not None:
        parts.append(_("aged %(low)s and over", low=lo))
    elif hi is not None:
        parts.append(_("aged up to %(high)s", high=hi))
    amin, amax = policy.match_amount_min_minor, policy.match_amount_max_minor
    if amin is not None:
        parts.append(_("invoices from %(amount)s", amount=service._money_label(amin)))
    if amax is not None:
        parts.append(_("invoices up to %(amount)s", amount=service._money_label(amax)))
    if policy.match_language:
        parts.append(str(LANGUAGE_RULE_LABELS[policy.match_language]))
    if policy.match_preferred_channel:
        parts.append(_("who chose %(channel)s", channel=CHANNEL_LABELS[policy.match_preferred_channel]))
    if policy.match_customer:
        parts.append(str(CUSTOMER_LABELS[policy.match_customer]))
    return " · ".join(parts) or _("Everyone not matched by a group above")


def _secret() -> str:
    return current_app.config["SECRET_KEY"]


@bp.get("/policies")
def policies():
    require_admin()
    groups = service.current_groups(g.merchant.id)
    return render_template("office/policies.html", groups=groups, rule_summary=rule_summary, labels=_labels(),
                           offsets={p.id: service.days_from_due(service.draft_of(p)) for p in groups},
                           money=service.money_text)


def _editor(draft: Draft, *, base: Policy | None, errors: dict, shown=None, token: str | None = None, status: int = 200):
    rows = list(draft.steps) + [StepDraft(key="", offset_days=0, channels=[])]  # one empty row adds a step
    return render_template(
        "office/policy_edit.html", form=PolicyForm(), draft=draft, rows=rows, base=base, errors=errors, labels=_labels(),
        money=service.money_text, previews=shown, token=token, preview_languages=PREVIEW_LANGUAGES,
        history=service.versions(g.merchant.id, base.group_id) if base is not None else [],
        offsets=service.days_from_due(draft) if not errors else None, letter_cost=g.merchant.letter_cost_minor,
        min_handover=service.HANDOVER_MIN_DAYS,
    ), status


def _submit(base: Policy | None):
    if not PolicyForm().validate_on_submit():
        abort(400)
    draft, errors = service.from_form(request.form)
    errors = {**service.problems(draft, g.merchant, group_id=base.group_id if base is not None else None), **errors}
    action = request.form.get("action")
    if action == "save" and not errors:
        before = service.draft_of(base) if base is not None else None
        policy = service.save(g.merchant, draft, by=g.user.email, base=base)
        audit("policy.saved", {"group": policy.name, "group_id": policy.group_id, "version": policy.version,
                               "previous_version": base.version if base is not None else None,
                               "changed": service.changes(before, draft)})
        db.session.commit()
        flash(_("Saved as version %(version)s. Invoices that enter this group from now on follow it; invoices already "
                "under an earlier version keep theirs.", version=policy.version), "success")
        return redirect(url_for("office.policy_edit", group_id=policy.group_id), code=303)
    if errors:
        return _editor(draft, base=base, errors=errors, status=422)
    shown = _all_previews(draft)
    return _editor(draft, base=base, errors={}, shown=shown, token=previews.sign(draft, _secret()))


def _all_previews(draft: Draft) -> list[list]:
    """Per step: one preview per language (the step's first channel; the other channels by URL)."""
    today = today_for(g.merchant.timezone)
    return [[previews.render_step(g.merchant, draft, i, lang, today=today) for lang in PREVIEW_LANGUAGES]
            for i in range(len(draft.steps))]


@bp.route("/policies/new", methods=["GET", "POST"])
def policy_new():
    require_admin()
    if request.method == "POST":
        return _submit(None)
    draft = service.draft_of(service.current_groups(g.merchant.id)[-1]) if service.current_groups(g.merchant.id) else Draft()
    draft.name, draft.priority = "", 50
    return _editor(draft, base=None, errors={})


@bp.route("/policies/<int:group_id>", methods=["GET", "POST"])
def policy_edit(group_id: int):
    base = service.current_version(g.merchant.id, group_id)
    if base is None:
        abort(404)  # another merchant's group answers 404, whoever asks
    require_admin()
    if request.method == "POST":
        return _submit(base)
    return _editor(service.draft_of(base), base=base, errors={})


def _draft_from_request() -> Draft:
    """The unsaved draft: from the signed URL parameter, or from the posted form (the "open in a new tab" buttons)."""
    if request.method == "POST":
        if not PolicyForm().validate_on_submit():
            abort(400)
        draft, errors = service.from_form(request.form)
        if errors or not draft.steps:
            abort(404)
        return draft
    draft = previews.unsign(request.args.get("draft", ""), _secret())
    if draft is None or not draft.steps:
        abort(404)
    return draft


def _step_preview(step: int, language: str):
    if language not in PREVIEW_LANGUAGES:
        abort(404)
    draft = _draft_from_request()
    if not 0 <= step < len(draft.steps):
        abort(404)
    channel = request.args.get("channel")
    channel = channel if channel in service.CHANNELS else None
    return previews.render_step(g.merchant, draft, step, language, channel, today=today_for(g.merchant.timezone))


@bp.route("/policies/preview/<int:step>/<language>/email.html", methods=["GET", "POST"])
def policy_preview_email(step: int, language: str):
    """The step's email as the customer's mail program shows it: a separate URL that runs and loads nothing."""
    shown = _step_preview(step, language)
    require_admin()
    response = Response(shown.preview.email.html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'; sandbox"
    )
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/policies/preview/<int:step>/<language>/letter.pdf", methods=["GET", "POST"])
def policy_preview_letter(step: int, language: str):
    shown = _step_preview(step, language)
    require_admin()
    response = Response(pdf_from_html(shown.preview.letter_html), mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="step-{step + 1}-{language}.pdf"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/invoices/<int:invoice_id>/policy")
def invoice_move_policy(invoice_id: int):
    """Staff move an invoice to another customer group's current policy (audited, on the timeline)."""
    invoice = scoped_get(Invoice, invoice_id)
    if not PolicyForm().validate_on_submit():
        abort(400)
    target = service.current_version(g.merchant.id, request.form.get("group_id", type=int) or 0)
    if target is None:
        abort(404)
    try:
        moved = service.move_invoice(invoice, target, today=today_for(g.merchant.timezone))
    except service.MoveRefused as exc:
        flash(str(exc), "error")
        return redirect(url_for("office.invoice_detail", invoice_id=invoice.id), code=303)
    audit("invoice.policy_moved", moved, invoice=invoice)
    db.session.commit()
    flash(_("The invoice now follows the policy “%(name)s” (version %(version)s).", name=target.name,
            version=target.version), "success")
    return redirect(url_for("office.invoice_detail", invoice_id=invoice.id), code=303)


def sms_segments(length: int | None) -> int:
    if length is None:
        return 0
    return 1 if length <= gsm7.SINGLE_SMS else -(-length // 153)
