"""Blueprint-wide rules: language, the session requirement, the step-up gate, and shared template data."""
from __future__ import annotations

from flask import current_app, g, redirect, render_template, request, url_for
from markupsafe import Markup
from flask_wtf.csrf import CSRFError

from portal.debtor import bp
from portal.debtor import session as portal_session
from portal.debtor.branding import brand_for
from portal.domain.money import Money
from portal.extensions import db
from portal.models import Merchant

# Pages anyone may open: the link entry, the "new link" form, the language switch, brand CSS.
PUBLIC = {"debtor.enter", "debtor.new_link", "debtor.link_help", "debtor.language", "debtor.brand_css", "debtor.favicon",
          "debtor.brand_logo"}
# Pages a debtor may open before passing the step-up check.
BEFORE_STEP_UP = {"debtor.verify", "debtor.contact", "debtor.leave"}


def set_locale(debtor=None, merchant=None) -> None:
    """Explicit choice in this session, then the debtor's record, then the browser, then the shop's default."""
    supported = current_app.config["LANGUAGES"]
    lang = portal_session.chosen_language()
    if lang is None and debtor is not None and debtor.language in supported:
        lang = debtor.language
    if lang is None:
        lang = request.accept_languages.best_match(supported)
    if lang is None and merchant is not None and merchant.default_language in supported:
        lang = merchant.default_language
    g.locale = lang


@bp.before_request
def guard():
    debtor = portal_session.load()
    set_locale(debtor, debtor.merchant if debtor else None)
    if request.endpoint in PUBLIC:
        return None
    debtor = portal_session.current_debtor()
    if request.endpoint not in BEFORE_STEP_UP and not portal_session.is_verified(debtor):
        return redirect(url_for("debtor.verify"), 303)
    return None


@bp.context_processor
def portal_context():
    debtor = g.get("debtor")
    merchant = g.get("portal_merchant") or (debtor.merchant if debtor else None)
    next_path = g.get("lang_next") or request.full_path.rstrip("?")
    return {
        "debtor": debtor,
        "merchant": merchant,
        "brand": brand_for(merchant) if merchant else None,
        "lang_next": next_path,
        "languages": current_app.config["LANGUAGES"],
        "money_of": Money,
        "verified": bool(debtor) and portal_session.is_verified(debtor),
    }


def merchant_for_page(merchant_id: int | None) -> Merchant | None:
    """Brand a page that has no session (an expired link still names its shop)."""
    merchant = db.session.get(Merchant, merchant_id) if merchant_id else None
    g.portal_merchant = merchant
    return merchant


def _locale_for_error_page() -> None:
    # CSRF and rate-limit checks run before `guard`, so the language is not chosen yet.
    debtor = portal_session.load()
    set_locale(debtor, debtor.merchant if debtor else None)


@bp.errorhandler(CSRFError)
def csrf_failed(error):
    _locale_for_error_page()
    return render_template("debtor/form_expired.html"), 400


@bp.errorhandler(429)
def too_many(error):
    _locale_for_error_page()
    return render_template("debtor/too_many.html"), 429


@bp.app_template_filter("nobreak")
def nobreak(value) -> Markup:
    """An invoice number (or reference) that a narrow screen must not break at its hyphens."""
    return Markup('<span class="nobr">%s</span>') % value


@bp.app_template_filter("moment")
def moment(value) -> str:
    """A point in time for debtors: the date with a four-digit year and the time ("16.12.2026, 09:00")."""
    from datetime import timezone as tz

    from flask_babel import format_date, format_time, get_timezone

    if value.tzinfo is None:
        value = value.replace(tzinfo=tz.utc)
    local = value.astimezone(get_timezone())
    return f"{format_date(local, 'medium')}, {format_time(local, 'short')}"


@bp.app_template_filter("phone")
def phone(value) -> str:
    from portal.domain.contact import readable_phone

    return readable_phone(value)


@bp.app_template_filter("plain_amount")
def plain_amount(value) -> str:
    """An amount as a banking app's amount field takes it: digits and the locale's decimal sign, no currency
    and no thousands separator ("1234,50" in German, "1234.50" in English)."""
    from flask_babel import format_decimal

    return format_decimal(value.decimal, format="0.00")
