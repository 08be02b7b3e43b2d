"""Contact preferences: how and in which language the debtor wants to hear from the shop.

Saving updates the Debtor and records a `debtor.preferences_changed` Event with what
changed and the consent wording version shown, as proof of consent.
"""
from __future__ import annotations

from flask import flash, redirect, render_template, url_for

from portal.debtor import bp, events
from portal.debtor import session as portal_session
from portal.debtor.forms import PreferencesForm
from portal.extensions import db

CONSENT_VERSION = "2026-01"  # bump when the consent wording in the template changes


@bp.route("/portal/preferences", methods=["GET", "POST"])
def preferences():
    debtor = portal_session.current_debtor()
    has_address = bool(debtor.street and debtor.postal_code and debtor.city)
    form = PreferencesForm(country=debtor.country, has_address=has_address)
    if not form.is_submitted():
        form.email.data = debtor.email
        form.phone.data = debtor.phone
        form.preferred_channel.data = debtor.preferred_channel or ("email" if debtor.email else "sms" if debtor.phone else "letter")
        form.language.data = debtor.language or debtor.merchant.default_language
        form.consent_email.data = debtor.consent_email
        form.consent_sms.data = debtor.consent_sms
    elif form.validate():
        new = {
            "email": form.email_normalized,
            "phone": form.phone_normalized,
            "preferred_channel": form.preferred_channel.data,
            "language": form.language.data,
            "consent_email": bool(form.consent_email.data),
            "consent_sms": bool(form.consent_sms.data),
        }
        changed = sorted(k for k, v in new.items() if getattr(debtor, k) != v)
        if changed:
            for key in changed:
                setattr(debtor, key, new[key])
            events.record(
                debtor, "debtor.preferences_changed",
                data={"changed": changed, "consent_version": CONSENT_VERSION,
                      **{k: new[k] for k in changed if k in ("preferred_channel", "language", "consent_email", "consent_sms")}},
            )
            db.session.commit()
        portal_session.choose_language(new["language"])
        flash("preferences_saved", "success")
        return redirect(url_for("debtor.preferences"), 303)
    status = 422 if form.is_submitted() else 200
    return render_template("debtor/preferences.html", form=form, has_address=has_address), status
