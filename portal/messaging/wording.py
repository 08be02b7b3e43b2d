"""One wording per message kind and language, rendered into every channel.

The words of every dunning step and case message live once, as data, in
`portal/messaging/texts/<language>.toml`: a section per kind with the slots

    subject   the email subject and the letter's heading
    greeting  the salutation (default: [common] greeting / greeting_anonymous)
    intro     the first paragraphs, after the salutation
    body      what follows the claim (the invoice table, the button)
    notice    the legal notice (default notice, § 286 (3) notice, handover announcement)
    closing   "Mit freundlichen Grüßen" (default: [common] closing)
    sms       the whole SMS (one GSM-7 segment with the link)

A slot a kind leaves out falls back to its family's section (`[dunning]`, `[case]`), then to
`[common]`. Each slot is a small template in the placeholder language merchants use for their
own texts (docs/messages.md): `{{ placeholder }}`, `{% if flag %}…{% else %}…{% endif %}` and
`{% for invoice in invoices %}…{% endfor %}` — nothing else. It is rendered in Jinja's
SandboxedEnvironment with every construct outside that set refused before rendering, so the
shipped defaults and a merchant's override go through exactly the same code.

The channel layouts (`templates/messages/email.html`, `email.txt`, `letter.html`) place the
rendered slots; the SMS is the `sms` slot alone.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from jinja2 import meta, nodes
from jinja2.exceptions import SecurityError, TemplateError, TemplateSyntaxError
from jinja2.ext import Extension
from jinja2.lexer import Token
from jinja2.sandbox import SandboxedEnvironment
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape

TEXTS = Path(__file__).with_name("texts")
LANGUAGES = ("de", "en")
SLOTS = ("subject", "greeting", "intro", "body", "notice", "closing", "sms")
MAX_SLOT_CHARS = 3000


@dataclass(frozen=True)
class Kind:
    name: str
    family: str  # "dunning" or "case"
    extras: tuple[str, ...] = ()  # placeholders beyond the common set
    legal: tuple[str, ...] = ()  # statements an override must keep: "default", "handover", "notice_286", "privacy"


COMMON_PLACEHOLDERS = {
    "customer_name": _l("Name of the customer (the contact person for a business customer; else the company)"),
    "company": _l("Company name of a business customer (empty for consumers)"),
    "shop": _l("Your shop's name"),
    "link": _l("The customer's personal payment page (required in every message)"),
    "invoices": _l("The invoice numbers, comma-separated; or loop: {% for invoice in invoices %}{{ invoice }}{% endfor %}"),
    "today": _l("The date of the message"),
    "support_email": _l("Your support email address"),
    "support_phone": _l("Your support phone number"),
    "business": _l("Flag: the customer is a business (use in {% if business %}…{% endif %})"),
    "anonymous": _l("Flag: there is no person to greet by name (a business customer without a contact person)"),
}
DUNNING_PLACEHOLDERS = {
    "total": _l("Total open amount of the message's invoices, with fees and interest (required in reminders)"),
    "deadline": _l("Payment deadline of this step"),
    "due_date": _l("Earliest due date of the message's invoices"),
    "reminder_sent": _l("Flag: a payment reminder was already sent for every invoice of the message"),
    "notice_286": _l("Flag: this message carries the § 286 (3) BGB notice (consumers, when the step and settings say so)"),
}
CASE_PLACEHOLDERS = {
    "rates": _l("The installment plan's rates, one per line"),
    "rates_count": _l("Number of monthly rates proposed"),
    "first_due": _l("Due date of the first proposed rate"),
    "rate_number": _l("Number of the rate concerned"),
    "amount": _l("Amount of the rate concerned"),
    "due_on": _l("Due date of the rate concerned"),
    "reference": _l("Transfer reference of the rate concerned"),
    "missed_rate": _l("Number of the rate that was missed"),
    "grace_days": _l("Days of grace before a late rate ends the plan"),
    "promised_on": _l("The date the customer promised to pay by"),
    "pay_by": _l("Date by which the remaining amount is to be paid"),
    "full": _l("Flag: the objection was accepted in full"),
    "note": _l("The note your staff wrote for this decision"),
    "reply": _l("Your staff's reply to the customer's request"),
}
RECEIPT_PLACEHOLDERS = {
    "paid_amount": _l("The amount received"),
    "paid_on": _l("The day the payment was booked"),
    "method": _l("How it was paid: by card, by bank transfer, through the shop"),
    "remaining": _l("What is still open on the invoices the payment concerns (empty when nothing is)"),
    "credit": _l("What was paid beyond the amount due (empty when nothing was)"),
    "credit_refund": _l("Flag: an overpayment is refunded (else it is set off against an open or the next invoice; "
                        "settings: overpayments)"),
}
HANDOVER_PLACEHOLDERS = {
    "agency_name": _l("Name of the collection agency (settings: collection agency)"),
    "agency_address": _l("The agency's postal address in one line"),
    "agency_contact": _l("How customers reach the agency: contact person, email, phone"),
    "agency_registration": _l("The agency's registration under § 10 RDG"),
    "agency_privacy_url": _l("The agency's privacy notice (URL)"),
    "pay_agency": _l("Flag: customers pay the agency from now on (else they keep paying you)"),
    "creditor": _l("Your registered name and address (the controller under the GDPR)"),
    "legal_basis": _l("The legal basis of the data transfer, e.g. Art. 6 (1) (f) GDPR"),
    "privacy_url": _l("Your privacy notice (URL)"),
}
PLACEHOLDERS = {**COMMON_PLACEHOLDERS, **DUNNING_PLACEHOLDERS, **CASE_PLACEHOLDERS, **RECEIPT_PLACEHOLDERS,
                **HANDOVER_PLACEHOLDERS}
FLAGS = {"business", "anonymous", "reminder_sent", "notice_286", "full", "pay_agency", "credit_refund"}

_D = tuple(DUNNING_PLACEHOLDERS)
KINDS = {k.name: k for k in (
    Kind("pre_due_reminder", "dunning", _D, ("notice_286",)),
    Kind("payment_reminder", "dunning", _D),
    Kind("first_notice", "dunning", _D, ("default",)),
    Kind("second_notice", "dunning", _D),
    Kind("final_notice", "dunning", _D, ("handover",)),
    Kind("handover_notice", "dunning", _D + tuple(HANDOVER_PLACEHOLDERS), ("privacy",)),
    Kind("plan_received", "case"),
    Kind("plan_confirmed", "case", ("rates", "grace_days", "amount", "due_on")),
    Kind("plan_countered", "case", ("rates_count", "first_due", "note")),
    Kind("plan_rejected", "case", ("note",)),
    Kind("plan_rate_reminder", "case", ("rate_number", "amount", "due_on", "reference")),
    Kind("plan_broken", "case", ("missed_rate", "due_on")),
    Kind("promise_confirmed", "case", ("promised_on",)),
    Kind("promise_reminder", "case", ("promised_on",)),
    Kind("promise_broken", "case", ("promised_on",)),
    Kind("dispute_received", "case"),
    Kind("dispute_resolved", "case", ("full", "note")),
    Kind("dispute_rejected", "case", ("note", "pay_by")),
    Kind("case_reply", "case", ("reply",)),
    Kind("payment_receipt", "receipt", tuple(RECEIPT_PLACEHOLDERS)),
)}


def allowed_placeholders(kind: str) -> set[str]:
    return set(_allowed(kind))


@lru_cache(maxsize=64)
def _allowed(kind: str) -> frozenset[str]:
    return frozenset(COMMON_PLACEHOLDERS) | frozenset(KINDS[kind].extras)


# -- the sandbox -----------------------------------------------------------------------------

class WordingError(ValueError):
    """A slot text uses something outside the placeholder language (or does not parse)."""


class _EscapeLiteralText(Extension):
    """For HTML channels: the text around the placeholders is escaped as well (autoescape covers values)."""

    def filter_stream(self, stream):
        for token in stream:
            if token.type == "data":
                yield Token(token.lineno, "data", str(escape(token.value)))
            else:
                yield token


def _environment(html: bool) -> SandboxedEnvironment:
    env = SandboxedEnvironment(autoescape=html, extensions=[_EscapeLiteralText] if html else [],
                               keep_trailing_newline=False, trim_blocks=True)
    env.globals.clear()  # no range(), lipsum(), dict(), cycler(), joiner(), namespace()
    env.filters.clear()
    env.tests.clear()
    return env


_TEXT_ENV = _environment(False)
_HTML_ENV = _environment(True)
_ALLOWED_NODES = (nodes.Template, nodes.Output, nodes.TemplateData, nodes.Name, nodes.If, nodes.For,
                  nodes.Not, nodes.And, nodes.Or)


def check(source: str, allowed: set[str]) -> None:
    """Refuse anything but placeholders, if/else on placeholders and the one loop over invoices."""
    _checked(source, frozenset(allowed))


@lru_cache(maxsize=4096)
def _checked(source: str, allowed: frozenset[str]) -> None:
    # A text that passed once passes again: the worker checks each slot of each message it sends,
    # and parsing is most of the cost. A refused text raises and is not remembered.
    if len(source) > MAX_SLOT_CHARS:
        raise WordingError(f"longer than {MAX_SLOT_CHARS} characters")
    try:
        tree = _TEXT_ENV.parse(source)
    except TemplateSyntaxError as exc:
        raise WordingError(f"syntax: {exc.message}") from exc
    _walk(tree, allowed, loop_vars=set(), depth=0)


def _walk(node: nodes.Node, allowed: set[str], loop_vars: set[str], depth: int) -> None:
    if not isinstance(node, _ALLOWED_NODES):
        raise WordingError(f"not allowed: {type(node).__name__}")
    if isinstance(node, nodes.For):
        if depth or node.recursive or node.test is not None or node.else_ or not isinstance(node.target, nodes.Name) \
                or not (isinstance(node.iter, nodes.Name) and node.iter.name == "invoices"):
            raise WordingError("only one loop is allowed: {% for invoice in invoices %}…{% endfor %}")
        for child in node.body:
            _walk(child, allowed, loop_vars | {node.target.name}, depth + 1)
        return
    if isinstance(node, nodes.Name):
        if node.ctx != "load":
            raise WordingError("not allowed: assignment")
        if node.name not in allowed and node.name not in loop_vars:
            raise UnknownPlaceholder(node.name)
        return
    for child in node.iter_child_nodes():
        _walk(child, allowed, loop_vars, depth)


class UnknownPlaceholder(WordingError):
    def __init__(self, name: str):
        super().__init__(f"unknown placeholder {name}")
        self.name = name


@lru_cache(maxsize=2048)
def _compiled(source: str, html: bool):
    return (_HTML_ENV if html else _TEXT_ENV).from_string(source)


class InvoiceList(list):
    """Invoice numbers: `{{ invoices }}` prints them comma-separated, the loop gives one at a time."""

    def __str__(self) -> str:
        return ", ".join(self)

    def __html__(self) -> str:
        return str(escape(str(self)))


def _paragraphs(out: str) -> Markup:
    paragraphs = [p.strip().replace("\n", "<br>") for p in out.split("\n\n") if p.strip()]
    return Markup("".join(f"<p>{p}</p>" for p in paragraphs))


def _plain_values(values: dict) -> bool:
    """No value carries its own markup: then a slot's HTML is exactly its text, escaped, in paragraphs
    (the HTML environment escapes the literal text and every value, the text one neither)."""
    return not any(hasattr(v, "__html__") and not isinstance(v, InvoiceList) for v in values.values())


def render_slot(source: str, values: dict, *, html: bool, allowed: set[str]) -> str:
    """One slot in the sandbox: plain text, or (html) escaped text with paragraphs and line breaks."""
    _checked(source, allowed if isinstance(allowed, frozenset) else frozenset(allowed))
    used = _frozen(values, _names(source))
    if used is None:
        return _render_slot(source, html, values)
    return _render_slot_of(source, html, used)


def _render_slot(source: str, html: bool, values: dict) -> str:
    try:
        out = _compiled(source, html).render(values).strip()
    except (SecurityError, TemplateError, TypeError, ValueError) as exc:
        raise WordingError(f"cannot render: {exc}") from exc
    if not html:
        return out
    return _paragraphs(out)


@lru_cache(maxsize=8192)
def _render_slot_of(source: str, html: bool, used: tuple) -> str:
    # A slot is a pure function of its text and the placeholders it names (the sandbox has no globals,
    # filters or tests): most slots of a batch ("Mit freundlichen Grüßen, {{ shop }}", the notice) name
    # nothing that differs between its messages and are rendered once, not once per message.
    return _render_slot(source, html, {name: _thawed(value) for name, value in used})


@lru_cache(maxsize=4096)
def _names(source: str) -> tuple[str, ...]:
    """The placeholders a slot text names (its loop variable is not one)."""
    return tuple(sorted(meta.find_undeclared_variables(_TEXT_ENV.parse(source))))


_SCALARS = (str, int, float, type(None))  # bool is an int; Markup a str: the type is part of the key


def _frozen(values: dict, names: tuple[str, ...]):
    """The named values as a hashable key, each with its type (Markup and str escape differently); None when
    a value is of a kind that is not known to be immutable, so the slot is rendered afresh."""
    out = []
    for name in names:
        value = values.get(name, _MISSING)
        if value is _MISSING:
            continue
        if isinstance(value, InvoiceList):
            out.append((name, (InvoiceList, tuple(value))))
        elif isinstance(value, _SCALARS):
            out.append((name, (type(value), value)))
        else:
            return None
    return tuple(out)


def _thawed(frozen: tuple):
    kind, value = frozen
    return InvoiceList(value) if kind is InvoiceList else value


_MISSING = object()


# -- the shipped defaults ---------------------------------------------------------------------

@lru_cache(maxsize=4)
def defaults(language: str) -> dict[str, dict[str, str]]:
    with (TEXTS / f"{language}.toml").open("rb") as fh:
        return tomllib.load(fh)


def default_slots(kind: str, language: str) -> dict[str, str]:
    """The shipped words of a kind: its own slots over its family's over [common]."""
    return dict(_default_slots(kind, language))


@lru_cache(maxsize=256)
def _default_slots(kind: str, language: str) -> dict[str, str]:
    if language not in LANGUAGES:
        language = LANGUAGES[0]
    data = defaults(language)
    merged = {slot: "" for slot in SLOTS}
    for section in ("common", KINDS[kind].family, kind):
        merged.update({k: v for k, v in data.get(section, {}).items() if k in merged})
    return merged


@dataclass
class Rendered:
    """The slots of one message, rendered for one channel family (text or html)."""

    subject: str
    greeting: str
    intro: str
    body: str
    notice: str
    closing: str
    sms: str = ""
    errors: dict[str, str] = field(default_factory=dict)


# What each channel shows of the slots (the others are left empty when a message is rendered for it).
EMAIL_SLOTS = LETTER_SLOTS = tuple(slot for slot in SLOTS if slot != "sms")
SMS_SLOTS = ("sms",)


def render_both(kind: str, language: str, values: dict, *, overrides: dict[str, str] | None = None,
                slots: tuple[str, ...] = SLOTS) -> tuple[Rendered, Rendered]:
    """`render(html=False)` and `render(html=True)` at once: each slot is rendered once, its HTML derived
    from its text when no value carries markup (the same result, for half the work)."""
    if not _plain_values(values):
        return (render(kind, language, values, html=False, overrides=overrides, slots=slots),
                render(kind, language, values, html=True, overrides=overrides, slots=slots))
    plain = render(kind, language, values, html=False, overrides=overrides, slots=slots)
    rich = {slot: getattr(plain, slot) if slot in ("subject", "sms") else _paragraphs(str(escape(getattr(plain, slot))))
            for slot in SLOTS}
    return plain, Rendered(**rich)


def render(kind: str, language: str, values: dict, *, html: bool, overrides: dict[str, str] | None = None,
           slots: tuple[str, ...] = SLOTS) -> Rendered:
    """Every slot of a kind (or those named in `slots`, the rest empty); a merchant's override replaces the
    default of the slots it names.

    Overrides are validated when saved; should one still not render (a placeholder retired since),
    the slot falls back to the shipped words rather than fail the message."""
    defaults_ = _default_slots(kind, language)
    allowed = _allowed(kind)
    out = dict.fromkeys(SLOTS, "")
    for slot in slots:
        as_html = html and slot not in ("subject", "sms")
        text = (overrides or {}).get(slot)
        if text is not None:
            try:
                out[slot] = render_slot(text, values, html=as_html, allowed=allowed)
                continue
            except WordingError:
                pass
        out[slot] = render_slot(defaults_[slot], values, html=as_html, allowed=allowed)
    out["subject"] = " ".join(out["subject"].split())
    out["sms"] = " ".join(out["sms"].split())
    return Rendered(**out)
