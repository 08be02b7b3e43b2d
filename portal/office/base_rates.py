"""The statutory base rate (§ 247 BGB) in the back office: the table, entering a half-year's rate (admins),
and the banner every staff page shows from 14 days before a half-year whose rate is not entered.

The table is the same for every merchant (the Bundesbank's rate); entering it goes through
`portal.dunning.base_rates.set_rate`, the function `flask base-rates set` uses too, which also
charges the interest the missing rate held back.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from portal.clock import today_for
from portal.domain.base_rate import RATE_MAX, RATE_MIN, InvalidBaseRate, next_half_year, parse_rate
from portal.domain.charges import MARGIN_BUSINESS, MARGIN_CONSUMER
from portal.dunning import base_rates
from portal.extensions import db
from portal.i18n import format_day, format_interest_rate, format_percent_number
from portal.office import audit, bp, register_nav, require_admin

register_nav("office.base_rates_page", _l("Base rate"), admin_only=True)


def rate_texts(base: Decimal | None) -> dict[str, str] | None:
    """What a consumer and a business owe on that base rate, worded with its make-up."""
    if base is None:
        return None
    return {"consumer": format_interest_rate(base + MARGIN_CONSUMER, base),
            "business": format_interest_rate(base + MARGIN_BUSINESS, base)}


def _errors_for(exc: InvalidBaseRate) -> dict[str, str]:
    if exc.reason == "not_half_year":
        return {"valid_from": _("A base rate always applies from 1 January or 1 July. Please choose one of these days.")}
    if exc.reason == "begun":
        return {"valid_from": _("This half-year has already begun and interest may have been charged at its rate, "
                                "so the rate cannot be changed any more.")}
    if exc.reason == "precision":
        return {"rate": _("Please enter the rate with at most two decimal places, as the Bundesbank publishes it.")}
    if exc.reason == "range":
        return {"rate": _("A base rate between %(low)s %% and %(high)s %% is expected. Please check the figure.",
                          low=format_percent_number(RATE_MIN, 0), high=format_percent_number(RATE_MAX, 0))}
    return {"rate": _("Please enter the rate as a number, e.g. 1.27 or −0.88.")}


def _parse_day(text: str) -> date | None:
    text = (text or "").strip()
    for fmt in ("%Y-%m-%d", "%d.%m.%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def _page(status: int = 200, errors: dict | None = None, form: dict | None = None):
    today = today_for(g.merchant.timezone)
    table = base_rates.current_table()
    rows = base_rates.rows(table, today)
    for row in rows:
        row["texts"] = rate_texts(row["rate"])
    current = next((r for r in rows if r["current"]), None)
    suggested = next((r["valid_from"] for r in sorted(rows, key=lambda r: r["valid_from"]) if r["rate"] is None),
                     next_half_year(today))
    return render_template(
        "office/base_rates.html", rows=rows, current=current, errors=errors or {},
        form=form or {"valid_from": suggested.isoformat(), "rate": ""}, low=RATE_MIN, high=RATE_MAX,
    ), status


@bp.get("/base-rates")
def base_rates_page():
    require_admin()
    return _page()


@bp.post("/base-rates")
def base_rate_set():
    require_admin()
    form = {"valid_from": (request.form.get("valid_from") or "").strip()[:20], "rate": (request.form.get("rate") or "").strip()[:20]}
    day = _parse_day(form["valid_from"])
    if day is None:
        return _page(422, {"valid_from": _("Please enter the first day of the half-year, e.g. 01.07.2026.")}, form)
    today = today_for(g.merchant.timezone)
    try:
        result = base_rates.set_rate(day, parse_rate(form["rate"]), actor=f"user:{g.user.id}", actor_email=g.user.email,
                                     merchant_id=g.merchant.id, today=today)
    except InvalidBaseRate as exc:
        db.session.rollback()
        return _page(422, _errors_for(exc), form)
    if not result.changed:
        flash(_("The base rate for the half-year from %(day)s is already %(rate)s %%; nothing was changed.",
                day=format_day(day), rate=format_percent_number(result.rate)), "success")
        return redirect(url_for("office.base_rates_page"), code=303)
    audit("base_rate.set", {"valid_from": day.isoformat(), "rate": str(result.rate),
                            "previous": str(result.previous) if result.previous is not None else None,
                            "invoices_charged": result.invoices, "supplements_after_handover": result.after_handover})
    db.session.commit()
    flash(_("Base rate for the half-year from %(day)s saved: %(rate)s %%.", day=format_day(day),
            rate=format_percent_number(result.rate)), "success")
    if result.invoices:
        flash(_("Default interest held back until now was charged on %(count)s invoice(s); %(handed)s of them are already "
                "with the collection agency and appear in the next handover export as a supplement.",
                count=result.invoices, handed=result.after_handover), "success")
    return redirect(url_for("office.base_rates_page"), code=303)


@bp.context_processor
def inject_base_rate_banner():
    """The banner of every back-office page while a half-year's rate is missing (or about to be)."""
    if not current_user.is_authenticated or getattr(g, "merchant", None) is None:
        return {}
    pending = base_rates.pending_half_year(today_for(g.merchant.timezone))
    if pending is None:
        return {"base_rate_banner": None}
    day, begun = pending
    if begun:
        text = _("The base rate (§ 247 BGB) for the half-year from %(day)s has not been entered. Default interest for "
                 "this half-year is held back until it is entered.", day=format_day(day))
    else:
        text = _("The base rate (§ 247 BGB) for the half-year from %(day)s has not been entered yet. The Deutsche "
                 "Bundesbank publishes it at the end of the month before.", day=format_day(day))
    return {"base_rate_banner": {"text": text, "begun": begun, "link": g.user.role == "admin"}}
