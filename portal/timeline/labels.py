"""Names of things a merchant reads in the back office, in the reader's language.

Escalation steps, legal meanings, pause reasons, booking sources, debtor fields and
message purposes are stored as keys; these dicts turn them into words. Invoice statuses,
ledger kinds, message statuses and channels live in `portal.i18n` (the portal uses them
too). `tests/timeline/test_labels.py` fails when a key the code can store has no label
or a label has no German translation.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

# The default policies' step keys (portal.dunning.defaults); a merchant's own keys are named by
# their legal meaning (LEGAL_LABELS) instead.
STEP_LABELS = {
    "pre_due": _l("Reminder before the due date"),
    "reminder": _l("Payment reminder"),
    "notice_1": _l("1st dunning notice"),
    "notice_2": _l("2nd dunning notice"),
    "final": _l("Final notice"),
    "handover": _l("Handover notice"),
}
LEGAL_LABELS = {
    "reminder": _l("Payment reminder"),
    "default_notice": _l("Dunning notice (puts the customer in default)"),
    "final_notice": _l("Final notice"),
    "handover": _l("Handover notice"),
}
PAUSE_REASONS = {
    "dispute": _l("the customer disputes the claim"),
    "plan": _l("installment plan"),
    "promise": _l("the customer promised to pay"),
    "unreachable": _l("the customer cannot be reached on any channel"),
    "staff": _l("paused by staff"),
    "agency": _l("due for handover, but no collection agency is configured"),
    "reopened": _l("the invoice is open again"),
}
# How a channel reads inside a sentence ("sent by email" / "per E-Mail versandt").
CHANNEL_BY = {"email": _l("by email"), "sms": _l("by text message"), "letter": _l("by letter")}
SOURCES = {
    "api": _l("reported by the shop"),
    "stripe": _l("by card (Stripe)"),
    "bank": _l("by bank transfer"),
    "staff": _l("recorded by staff"),
    "dunning": _l("by the dunning run"),
    "import": _l("from a file import"),
    "plan": _l("as an installment"),
}
DEBTOR_FIELDS = {
    "name": _l("name"),
    "company": _l("company"),
    "email": _l("email address"),
    "phone": _l("phone number"),
    "language": _l("language"),
    "street": _l("street"),
    "postal_code": _l("postcode"),
    "city": _l("city"),
    "country": _l("country"),
    "date_of_birth": _l("date of birth"),
    "kind": _l("customer type"),
    "preferred_channel": _l("preferred channel"),
    "consent_email": _l("consent to email"),
    "consent_sms": _l("consent to text messages"),
    "external_ref": _l("customer number"),
}
PAGES = {"overview": _l("overview"), "detail": _l("invoice"), "pay": _l("payment"), "einvoice": _l("e-invoice")}
PAY_METHODS = {"card": _l("by card"), "transfer": _l("by bank transfer")}
PURPOSES = {
    "dunning": _l("Dunning message"),
    "new_link": _l("New portal link"),
    "plan": _l("Installment plan message"),
    "promise": _l("Message about the promise to pay"),
    "dispute": _l("Message about the dispute"),
    "dispute_reply": _l("Reply to the dispute"),
    "case": _l("Message about the request"),
    "staff_notice": _l("Notice to staff"),
    "receipt": _l("Payment receipt"),
    "handover": _l("Handover notice"),
}


def step_label(key: str | None, legal: str | None = None) -> str:
    """The name of an escalation step: the default steps by key, a merchant's own by legal meaning."""
    if key and key.startswith("resend:"):  # a step sent again by staff: "resend:<step>:<when>"
        key = key.split(":")[1]
    if key in STEP_LABELS:
        return str(STEP_LABELS[key])
    if key and key.startswith("case:"):
        return str(PURPOSES["case"])
    if legal in LEGAL_LABELS:
        return str(LEGAL_LABELS[legal])
    from flask_babel import gettext as _

    return _("Dunning step “%(key)s”", key=key) if key else _("Dunning step")


def pause_reason(reason: str | None) -> str:
    from flask_babel import gettext as _

    return str(PAUSE_REASONS.get(reason or "", _("other reason")))


def channel_by(channel: str | None) -> str:
    from flask_babel import gettext as _

    return str(CHANNEL_BY.get(channel or "", _("on another channel")))


def field_list(fields) -> str:
    from flask_babel import gettext as _

    names = sorted({str(DEBTOR_FIELDS.get(f, _("other details"))) for f in fields or ()})
    return ", ".join(names)


def action_label(kind: str) -> str:
    """A staff action's name for the audit log's filter: its sentence without data ("Password changed")."""
    from portal import timeline
    from portal.models import Event

    return timeline.sentence(Event(kind=kind, actor="", data=None))
