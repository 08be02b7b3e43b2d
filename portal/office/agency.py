"""The collection agency (admins only, audited): who it is, how to reach it, the basis of the data
transfer, and where customers pay after handover. The handover notice, the portal and the export
read it (portal/dunning/handover.py)."""
from __future__ import annotations

from flask import flash, g, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, RadioField, SelectField, StringField, URLField
from wtforms.validators import URL, AnyOf, DataRequired, Length, Optional, Regexp

from sqlalchemy import select

from portal.clock import today_for
from portal.dunning import escalation
from portal.extensions import db
from portal.models import CollectionAgency, Invoice
from portal.models.handover import LEGAL_BASES, PAYEES
from portal.office import audit, bp, require_admin

FIELDS = ("name", "street", "postal_code", "city", "country", "contact_person", "email", "phone", "registration",
          "privacy_url", "legal_basis", "payee")
LEGAL_BASIS_LABELS = {
    "art6_1_f": _l("Art. 6 (1) (f) GDPR: our legitimate interest in collecting the claim"),
    "art6_1_b_f": _l("Art. 6 (1) (b) and (f) GDPR: performing the contract and our legitimate interest in collecting the claim"),
}
PAYEE_LABELS = {
    "agency": _l("The agency: customers pay it; the portal shows the claim but offers no payment"),
    "shop": _l("Your shop: customers keep paying you, also through the portal; you pass on to the agency what arrives"),
}


class AgencyForm(FlaskForm):
    name = StringField(_l("Name of the collection agency"), validators=[DataRequired(), Length(max=200)])
    street = StringField(_l("Street and number"), validators=[DataRequired(), Length(max=200)])
    postal_code = StringField(_l("Postal code"), validators=[DataRequired(), Length(max=20)])
    city = StringField(_l("City"), validators=[DataRequired(), Length(max=100)])
    country = StringField(_l("Country (ISO code, e.g. DE)"), default="DE",
                          validators=[DataRequired(), Regexp(r"^[A-Za-z]{2}$", message=_l("Two letters, e.g. DE."))])
    contact_person = StringField(_l("Contact person at the agency"), validators=[Optional(), Length(max=120)])
    email = EmailField(_l("Email address for customers"), validators=[Optional(), Length(max=254), Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message=_l("Please enter an email address such as name@example.de."))])
    phone = StringField(_l("Phone number for customers"), validators=[Optional(), Length(max=40)])
    registration = StringField(_l("Registration under § 10 RDG (legal services register)"), validators=[Optional(), Length(max=200)])
    privacy_url = URLField(_l("The agency's privacy notice (URL)"), validators=[Optional(), URL(require_tld=True), Length(max=500)])
    legal_basis = SelectField(_l("Legal basis of the data transfer"), choices=[], validators=[AnyOf(LEGAL_BASES)])
    payee = RadioField(_l("Where customers pay after handover"), choices=[], validators=[AnyOf(PAYEES)])


@bp.route("/settings/collection-agency", methods=["GET", "POST"])
def agency_settings():
    require_admin()
    agency = db.session.get(CollectionAgency, g.merchant.id)
    form = AgencyForm(obj=agency)
    form.legal_basis.choices = [(k, str(v)) for k, v in LEGAL_BASIS_LABELS.items()]
    form.payee.choices = [(k, str(v)) for k, v in PAYEE_LABELS.items()]
    if not form.is_submitted() and agency is None:
        form.legal_basis.data, form.payee.data = "art6_1_f", "agency"
    if form.validate_on_submit():
        if agency is None:
            agency = CollectionAgency(merchant_id=g.merchant.id)
            db.session.add(agency)
        changed = []
        for field in FIELDS:
            value = getattr(form, field).data
            value = value.strip() if isinstance(value, str) else value
            value = value.upper() if field == "country" else value
            value = value if value != "" else None
            if getattr(agency, field) != value:
                setattr(agency, field, value)
                changed.append(field)
        held = _resume_held(actor=f"user:{g.user.id}")
        audit("settings.agency", {"changed": changed, "payee": agency.payee, "resumed": len(held)})
        db.session.commit()
        flash(_("The collection agency's details are saved."), "success")
        if held:
            flash(ngettext("%(num)s claim waited for these details; the next dunning run hands it over.",
                           "%(num)s claims waited for these details; the next dunning run hands them over.", len(held)),
                  "info")
        return redirect(url_for("office.agency_settings"), code=303)
    status = 422 if form.is_submitted() else 200
    return render_template("office/agency.html", form=form, agency=agency), status


def _resume_held(*, actor: str) -> list[Invoice]:
    """Claims the dunning run held at the handover step because no agency was configured: planned again now."""
    held = db.session.execute(
        select(Invoice).where(Invoice.merchant_id == g.merchant.id, Invoice.paused_reason == "agency")
    ).scalars().all()
    today = today_for(g.merchant.timezone)
    for invoice in held:
        escalation.resume(invoice, today=today, actor=actor)
    return held
