"""Language selection and locale-aware formatting of money and dates (Flask-Babel)."""
from __future__ import annotations

from datetime import date, datetime, timezone
from functools import lru_cache
from pathlib import Path

from flask import Flask, current_app, g, request
from flask_babel import format_date, format_datetime, get_locale
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext

from portal.domain.money import Money
from portal.extensions import babel


def select_locale() -> str:
    """The language of the page: an explicit choice, the debtor's record, then the browser."""
    supported = current_app.config["LANGUAGES"]
    chosen = getattr(g, "locale", None)
    if chosen in supported:
        return chosen
    return request.accept_languages.best_match(supported) or current_app.config["BABEL_DEFAULT_LOCALE"]


@lru_cache(maxsize=8192)
def _money_text(minor: int, currency: str, locale: str) -> str:
    # Babel formats a currency amount in ~40 µs (pattern lookup, Decimal quantising); pages show
    # the same few amounts over and over, and the result depends on nothing but these three.
    from babel.numbers import format_currency

    return format_currency(Money(minor, currency).decimal, currency, locale=locale)


def format_money(value: Money) -> str:
    """12,34 € in German, €12.34 in English."""
    return _money_text(value.minor, value.currency, str(get_locale() or "de"))


def format_minor(minor: int, currency: str) -> str:
    return format_money(Money(int(minor), currency))


def format_day(value: date | str, fmt: str = "medium") -> str:
    """A calendar date per locale; ISO strings (as stored in message context) are accepted too."""
    if isinstance(value, str):
        value = date.fromisoformat(value)
    if type(value) is date:  # a calendar day: nothing but the locale matters (a datetime is moved to the user's zone)
        return _day_text(value, fmt, str(get_locale() or "de"))
    return format_date(value, fmt)


@lru_cache(maxsize=8192)
def _day_text(value: date, fmt: str, locale: str) -> str:
    # Messages and pages show the same few days again and again; Babel takes ~50 µs for each.
    from babel.dates import format_date as babel_format_date

    return babel_format_date(value, fmt, locale=locale)


def format_when(value: datetime | str) -> str:
    """A moment in the app's time zone; naive values (SQLite) are UTC; ISO strings (message context) are accepted."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return format_datetime(value, "short")


def format_percent_number(value, places: int = 2) -> str:
    """1,27 in German, 1.27 in English; −0,88 with a proper minus sign."""
    from decimal import Decimal

    from babel.numbers import format_decimal

    text = format_decimal(Decimal(str(value)), "0." + "0" * places if places else "0", locale=str(get_locale() or "de"))
    return text.replace("-", "\u2212")


def format_interest_rate(rate, base_rate) -> str:
    """The default-interest rate as a person reads it, with its legal make-up (§ 288 BGB over § 247 BGB):
    "6,27 % p. a. (Basiszinssatz 1,27 % + 5 Prozentpunkte)" / "6.27 % p. a. (base rate 1.27 % + 5 percentage points)".
    `rate` and `base_rate` are percent (Decimal or str, as stored in interest segments)."""
    from decimal import Decimal

    from flask_babel import gettext

    points = Decimal(str(rate)) - Decimal(str(base_rate))
    return gettext("%(rate)s %% p. a. (base rate %(base)s %% + %(points)s percentage points)",
                   rate=format_percent_number(rate), base=format_percent_number(base_rate),
                   points=format_percent_number(points, 0 if points == points.to_integral() else 2))


def format_segment_rate(segment: dict) -> str:
    """The rate of one interest period (a segment as stored with the interest entry)."""
    if segment.get("base_rate") is None:  # written before segments carried their base rate
        return format_percent_number(segment["rate"]) + " % p. a."
    return format_interest_rate(segment["rate"], segment["base_rate"])


STATUS_LABELS = {
    "open": _l("open"),
    "paid": _l("paid"),
    "cancelled": _l("cancelled"),
    "written_off": _l("written off"),
    "handed_over": _l("handed over to collection"),
    "all": _l("all"),
}
LEDGER_LABELS = {
    "payment": _l("Payments"),
    "credit": _l("Credits"),
    "write_off": _l("Written off"),
    "fee": _l("Fees"),
    "flat_fee": _l("Late-payment flat fee (section 288 (5) BGB)"),
    "interest": _l("Interest"),
    "refund": _l("Refunds"),
    "chargeback": _l("Chargebacks"),
    "reversal": _l("Returned transfers"),
    "adjustment": _l("Corrections"),
}


MESSAGE_STATUS = {
    "pending": _l("waiting"),
    "sending": _l("being sent"),
    "sent": _l("sent"),
    "cancelled": _l("not sent (no longer needed)"),
    "dead": _l("failed"),
}
CHANNELS = {"email": _l("Email"), "sms": _l("SMS"), "letter": _l("Letter")}


# Stripe's dispute reasons (dispute.reason) as a staff notice says them.
DISPUTE_REASONS = {
    "bank_cannot_process": lazy_pgettext("stripe dispute reason", "the bank cannot process it"),
    "credit_not_processed": lazy_pgettext("stripe dispute reason", "a promised refund was not made"),
    "customer_initiated": lazy_pgettext("stripe dispute reason", "raised by the cardholder"),
    "debit_not_authorized": lazy_pgettext("stripe dispute reason", "debit not authorised"),
    "duplicate": lazy_pgettext("stripe dispute reason", "charged twice"),
    "fraudulent": lazy_pgettext("stripe dispute reason", "the cardholder did not authorise it (suspected fraud)"),
    "general": lazy_pgettext("stripe dispute reason", "no specific reason given"),
    "incorrect_account_details": lazy_pgettext("stripe dispute reason", "incorrect account details"),
    "insufficient_funds": lazy_pgettext("stripe dispute reason", "insufficient funds"),
    "product_not_received": lazy_pgettext("stripe dispute reason", "goods or service not received"),
    "product_unacceptable": lazy_pgettext("stripe dispute reason", "goods or service defective or not as described"),
    "subscription_canceled": lazy_pgettext("stripe dispute reason", "subscription cancelled"),
    "unrecognized": lazy_pgettext("stripe dispute reason", "the cardholder does not recognise the payment"),
}


def dispute_reason(reason: str | None) -> str:
    """A readable reason; one Stripe adds later shows as \"not stated\" rather than as its key."""
    return str(DISPUTE_REASONS.get(reason or "general", DISPUTE_REASONS["general"]))


def message_status(status: str) -> str:
    return str(MESSAGE_STATUS.get(status, status))


def channel_label(channel: str) -> str:
    return str(CHANNELS.get(channel, channel))


def status_label(status: str) -> str:
    return str(STATUS_LABELS.get(status, status))


def ledger_label(kind: str) -> str:
    return str(LEDGER_LABELS.get(kind, kind))


def translation_directories() -> str:
    """Every `translations` folder under portal/: each feature keeps its own German catalogue."""
    root = Path(__file__).resolve().parent
    dirs = sorted(str(p) for p in root.rglob("translations") if p.is_dir())
    return ";".join(dirs)


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale, default_translation_directories=translation_directories())
    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.filters["money"] = format_money
    app.jinja_env.filters["day"] = format_day
    app.jinja_env.filters["minor_money"] = format_minor
    app.jinja_env.filters["when"] = format_when
    app.jinja_env.filters["interest_rate"] = format_segment_rate
    app.jinja_env.filters["percent_number"] = format_percent_number
    app.jinja_env.globals["status_label"] = status_label
    app.jinja_env.globals["ledger_label"] = ledger_label
    app.jinja_env.globals["message_status"] = message_status
    app.jinja_env.globals["channel_label"] = channel_label
    app.jinja_env.globals["dispute_reason"] = dispute_reason

    from portal.timeline import labels as timeline_labels

    app.jinja_env.globals["step_label"] = timeline_labels.step_label
    app.jinja_env.globals["pause_reason"] = timeline_labels.pause_reason
    app.jinja_env.globals["action_label"] = timeline_labels.action_label

    from portal.cases import messages as case_messages
    from portal.dunning.labels import default_label

    app.jinja_env.globals["default_label"] = default_label

    app.jinja_env.globals["case_kind"] = lambda kind: str(case_messages.KINDS.get(kind, kind))
    app.jinja_env.globals["case_status"] = case_messages.debtor_status
