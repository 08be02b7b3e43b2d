"""Merchant settings (admins only): shop details, bank account, branding, links, dunning charges,
installment and promise rules, service level, and Stripe keys that are never shown back in full."""
from __future__ import annotations

from flask import flash, g, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from portal.domain import company
from portal.domain.contrast import palette
from portal.domain.iban import BankAccountError, validate_bank_account
from portal.domain.money import MoneyError, minor_to_str, parse_minor
from portal.extensions import db
from portal.office import audit, bp, register_nav, require_admin
from portal.office.forms import SettingsForm
from portal.uploads import logo

register_nav("office.settings", _l("Settings"), admin_only=True)

PLAIN_FIELDS = (
    "name", "legal_name", "legal_form", "registered_office", "register_court", "register_number", "managing_directors",
    "general_partner", "supervisory_chair", "street", "postal_code", "city", "support_email", "support_phone", "support_hours",
    "account_holder", "logo_url", "primary_color", "accent_color", "imprint_url", "privacy_url", "link_ttl_days",
    "link_step_up", "business_flat_fee", "plan_max_rates", "plan_first_rate_days", "plan_include_charges",
    "plan_grace_days", "promise_max_days", "case_sla_business_days", "holiday_state", "remainder_action", "credit_handling",
)
MONEY_FIELDS = {"dunning_fee_cap": "dunning_fee_cap_minor", "letter_cost": "letter_cost_minor", "plan_min_rate": "plan_min_rate_minor",
                "plan_max_total": "plan_max_total_minor", "remainder_tolerance": "remainder_tolerance_minor"}
REMAINDER_ACTIONS = {"write_off": _l("written off at once"), "staff": _l("shown to staff, reminders paused")}
CREDIT_HANDLING = {"refund": _l("refunded to their account"), "offset": _l("set against an open or the next invoice")}
CURRENCY = "EUR"  # the merchant's rules are set in the currency of its home market

LEGAL_FORM_LABELS = {
    "": _l("Not stated"),
    "sole": _l("Sole trader, not registered (Einzelunternehmen)"),
    "gbr": _l("Civil-law partnership (GbR)"),
    "ek": _l("Registered merchant (e. K.)"),
    "ohg": _l("General partnership (OHG)"),
    "kg": _l("Limited partnership (KG)"),
    "gmbh_co_kg": _l("GmbH & Co. KG"),
    "gmbh": _l("Limited company (GmbH)"),
    "ug": _l("Entrepreneurial company (UG haftungsbeschränkt)"),
    "ag": _l("Stock corporation (AG)"),
    "other": _l("Other legal form"),
}
REQUIRED_MESSAGES = {
    "registered_office": _l("Your legal form must state its registered office on every letter and email."),
    "register_court": _l("Your legal form must state its register court on every letter and email."),
    "register_number": _l("Your legal form must state its register number on every letter and email."),
    "managing_directors": _l("Your legal form must name all managing directors (AG: the management board) on every letter and email."),
    "general_partner": _l("A GmbH & Co. KG must name its personally liable partner with its registered office, register and managing directors."),
    "supervisory_chair": _l("An AG must name the chair of its supervisory board on every letter and email."),
}


def _company_errors(form) -> dict[str, str]:
    """The company details the chosen legal form requires (§ 37a, § 125a HGB, § 35a GmbHG, § 80 AktG)."""
    errors = {}
    legal_form = form.legal_form.data or ""
    if legal_form not in LEGAL_FORM_LABELS:
        errors["legal_form"] = _("Please choose a legal form from the list.")
        return errors
    values = {f: getattr(form, f).data for f in company.FIELDS}
    for field in company.missing_fields(legal_form, values):
        errors[field] = str(REQUIRED_MESSAGES[field])
    try:
        form.vat_id.data = company.normal_vat_id(form.vat_id.data)
    except ValueError:
        errors["vat_id"] = _("This is not a valid VAT ID (for Germany: DE and 9 digits, e.g. DE123456789).")
    return errors


def bank_account_message(exc: BankAccountError) -> str:
    """What is wrong with the IBAN or BIC, in words a merchant can act on."""
    return {
        "checksum": lambda: _("The check digits of this IBAN do not match, probably a typing error. Please compare it with "
                              "your bank statement."),
        "length": lambda: _("This IBAN does not have the right length (in Germany 22 characters: DE and 20 digits)."),
        "country": lambda: _("This IBAN does not begin with a valid country code (such as DE)."),
        "format": lambda: _("This IBAN is not built the way IBANs of its country are. Please check it."),
        "bank_code": lambda: _("There is no bank with the sort code %(code)s given in this IBAN. Please check the IBAN.",
                               code=exc.bank_code),
        "bic": lambda: _("This BIC is not valid (8 or 11 characters, e.g. COBADEFFXXX). Leave the field empty and it is "
                         "found from the IBAN."),
    }.get(exc.reason, lambda: _("This IBAN is not built the way IBANs of its country are. Please check it."))()


def masked(secret: str | None) -> str | None:
    """Enough of a key to recognise it, never enough to use it."""
    if not secret:
        return None
    return f"{secret[:8]}…{secret[-4:]}" if len(secret) > 16 else "…" + secret[-2:]


def holiday_state_choices() -> list[tuple[str, str]]:
    from portal.domain.calendar import GERMAN_STATES

    return [("", str(_l("Nationwide holidays only")))] + [
        (code, str(_l("Nationwide and %(state)s", state=name))) for code, name in GERMAN_STATES.items()
    ]


@bp.route("/settings", methods=["GET", "POST"])
def settings():
    require_admin()
    merchant = g.merchant
    form = SettingsForm(obj=merchant)
    form.legal_form.choices = [(key, str(label)) for key, label in LEGAL_FORM_LABELS.items()]
    form.holiday_state.choices = holiday_state_choices()
    form.remainder_action.choices = [(k, str(v)) for k, v in REMAINDER_ACTIONS.items()]
    form.credit_handling.choices = [(k, str(v)) for k, v in CREDIT_HANDLING.items()]
    if not form.is_submitted():
        form.iban.data = merchant.iban
        for field, column in MONEY_FIELDS.items():
            getattr(form, field).data = minor_to_str(getattr(merchant, column), CURRENCY).replace(".", ",")
        form.stripe_secret_key.data = form.stripe_webhook_secret.data = ""
    status = 200
    if form.validate_on_submit():
        errors = _company_errors(form)
        if logo.is_external(form.logo_url.data):
            errors["logo_url"] = _("Logos from other websites are not shown, because the portal loads nothing from third "
                                   "parties. Please upload the image on the logo page instead.")
        try:
            account = validate_bank_account(form.iban.data, form.bic.data or None)
        except BankAccountError as exc:
            errors[exc.field] = bank_account_message(exc)
        money = {}
        for field, column in MONEY_FIELDS.items():
            try:
                money[column] = parse_minor(getattr(form, field).data, CURRENCY)
                if money[column] < 0:
                    raise MoneyError("negative")
            except MoneyError:
                errors[field] = _("Please enter an amount such as 2,50.")
        if errors:
            for field, message in errors.items():
                getattr(form, field).errors = [*getattr(form, field).errors, message]
            status = 422
        else:
            changed = []
            for field in PLAIN_FIELDS:
                value = getattr(form, field).data
                value = value.strip() if isinstance(value, str) else value
                value = value if value != "" else None
                if getattr(merchant, field) != value and not (value is None and field in ("name", "legal_name")):
                    setattr(merchant, field, value)
                    changed.append(field)
            if merchant.vat_id != form.vat_id.data:
                merchant.vat_id = form.vat_id.data
                changed.append("vat_id")
            if (merchant.iban, merchant.bic) != (account.iban, account.bic):
                merchant.iban, merchant.bic = account.iban, account.bic
                changed.append("bank_account")
            for column, value in money.items():
                if getattr(merchant, column) != value:
                    setattr(merchant, column, value)
                    changed.append(column)
            if form.clear_stripe.data:
                merchant.stripe_secret_key = merchant.stripe_webhook_secret = None
                changed.append("stripe_keys_removed")
            else:
                for field in ("stripe_secret_key", "stripe_webhook_secret"):
                    value = (getattr(form, field).data or "").strip()
                    if value:
                        setattr(merchant, field, value)
                        changed.append(field)
            audit("settings.update", {"changed": changed})  # which fields, never the secrets themselves
            db.session.commit()
            colours = palette(merchant.primary_color, merchant.accent_color)
            if colours.primary_adjusted or colours.accent_adjusted:
                flash(_("Saved. So that text stays readable, customers see your colours as %(primary)s and %(accent)s.",
                        primary=colours.primary, accent=colours.accent), "success")
            else:
                flash(_("Settings saved."), "success")
            return redirect(url_for("office.settings"), code=303)
    elif form.is_submitted():
        status = 422
    return render_template(
        "office/settings.html", form=form, company_missing=_company_missing(merchant), stripe_key=masked(merchant.stripe_secret_key),
        webhook_secret=masked(merchant.stripe_webhook_secret), colours=palette(merchant.primary_color, merchant.accent_color),
        webhook_url=url_for("office.dashboard", _external=True).replace("/office/", f"/webhooks/stripe/{merchant.slug}"),
    ), status


def _company_missing(merchant) -> bool:
    """No legal form stated although the registered name carries one: letters and emails lack the details."""
    import re

    return not merchant.legal_form and bool(re.search(r"\b(GmbH|AG|KG|OHG|UG|e\. ?K\.?)\b", merchant.legal_name or ""))
