"""Outgoing webhooks in the back office (admins only): register endpoints (the signing secret is
shown once), see each endpoint's delivery log, resend a delivery, disable and enable an endpoint."""
from __future__ import annotations

from flask import abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import StringField
from wtforms.validators import DataRequired, Length, Optional

from portal.extensions import db
from portal.models.types import utcnow
from portal.models.webhook import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from portal.office import audit, bp, register_nav, require_admin, scoped_get
from portal.shop_webhooks import addresses, delivery, signing, types

register_nav("office.webhooks", _l("Webhooks"), admin_only=True)

LOG_SIZE = 100

DESCRIPTIONS = {
    "invoice.created": _l("An invoice arrived (API, CSV or e-invoice)."),
    "invoice.paid": _l("A payment settled the invoice in full."),
    "invoice.partially_paid": _l("A payment arrived and part of the invoice is still open."),
    "invoice.overpaid": _l("A payment exceeded what was open; the surplus is a credit."),
    "invoice.step_taken": _l("A dunning step was taken (reminder, notice, fee, interest)."),
    "invoice.paused": _l("Dunning paused (dispute, installment plan, promise, unreachable)."),
    "invoice.resumed": _l("Dunning resumed."),
    "invoice.handed_over": _l("The claim was handed over to the collection agency."),
    "invoice.cancelled": _l("The invoice was cancelled."),
    "dispute.opened": _l("The customer disputed the invoice."),
    "dispute.resolved": _l("Staff resolved or rejected a dispute."),
    "plan.created": _l("An installment plan was agreed."),
    "plan.broken": _l("An installment was missed; the plan ended."),
    "plan.completed": _l("The installment plan was paid in full."),
    "promise.made": _l("The customer promised to pay by a date."),
    "promise.broken": _l("The promised date passed without payment."),
}
STATUS = {"pending": _l("waiting"), "sending": _l("being sent"), "delivered": _l("delivered"), "failed": _l("given up")}


class EndpointForm(FlaskForm):
    url = StringField(_l("URL (https://…)"), validators=[DataRequired(), Length(max=2000)])
    description = StringField(_l("Description"), validators=[Optional(), Length(max=200)])


def _endpoints():
    return db.session.execute(
        select(WebhookEndpoint).where(WebhookEndpoint.merchant_id == g.merchant.id).order_by(WebhookEndpoint.id)
    ).scalars().all()


@bp.route("/webhooks", methods=["GET", "POST"])
def webhooks():
    require_admin()
    form = EndpointForm()
    chosen = [t for t in types.TYPES if t in request.form.getlist("events")] if form.is_submitted() else list(types.TYPES)
    status, secret, created, events_error = 200, None, None, None
    if form.validate_on_submit():
        url = form.url.data.strip()
        try:
            addresses.check(url, allow_private=bool(current_app.config.get("WEBHOOK_ALLOW_PRIVATE_ADDRESSES")))
        except addresses.AddressRefused:
            form.url.errors = [*form.url.errors, _("Please enter an http or https address on the internet; "
                                                   "private and local network addresses are not allowed.")]
            status = 422
        if not chosen:
            events_error = _("Choose at least one event.")
            status = 422
        if status == 200:
            secret = signing.new_secret()
            created = WebhookEndpoint(merchant_id=g.merchant.id, url=url, description=(form.description.data or "").strip() or None,
                                      events=chosen, secret=secret)
            db.session.add(created)
            db.session.flush()
            audit("webhook.create", {"endpoint_id": created.id, "url": url, "events": created.events})
            db.session.commit()
            form, chosen, status = EndpointForm(formdata=None), list(types.TYPES), 201
    elif form.is_submitted():
        status = 422
    return render_template("office/webhooks.html", form=form, endpoints=_endpoints(), secret=secret, created=created,
                           descriptions=DESCRIPTIONS, all_types=list(types.TYPES), chosen=chosen,
                           events_error=events_error), status


@bp.get("/webhooks/<int:endpoint_id>")
def webhook_endpoint(endpoint_id: int):
    endpoint = scoped_get(WebhookEndpoint, endpoint_id)
    require_admin()
    deliveries = db.session.execute(
        select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
        .order_by(WebhookDelivery.id.desc()).limit(LOG_SIZE)
    ).scalars().all()
    attempts: dict[int, list[WebhookAttempt]] = {}
    if deliveries:
        for attempt in db.session.execute(
            select(WebhookAttempt).where(WebhookAttempt.delivery_id.in_([d.id for d in deliveries])).order_by(WebhookAttempt.id)
        ).scalars():
            attempts.setdefault(attempt.delivery_id, []).append(attempt)
    return render_template("office/webhook.html", endpoint=endpoint, deliveries=deliveries, attempts=attempts,
                           status_labels=STATUS, descriptions=DESCRIPTIONS)


@bp.post("/webhooks/<int:endpoint_id>/deliveries/<int:delivery_id>/resend")
def webhook_resend(endpoint_id: int, delivery_id: int):
    endpoint = scoped_get(WebhookEndpoint, endpoint_id)
    require_admin()
    item = scoped_get(WebhookDelivery, delivery_id)
    if item.endpoint_id != endpoint.id:
        abort(404)
    if item.status != "sending":
        delivery.resend(item)
        audit("webhook.resend", {"endpoint_id": endpoint.id, "delivery_id": item.id, "webhook_id": item.webhook_id})
        db.session.commit()
        flash(_("The event will be sent again in a moment."), "success")
    return redirect(url_for("office.webhook_endpoint", endpoint_id=endpoint.id), code=303)


@bp.post("/webhooks/<int:endpoint_id>/state")
def webhook_state(endpoint_id: int):
    endpoint = scoped_get(WebhookEndpoint, endpoint_id)
    require_admin()
    enable = request.form.get("enabled") == "1"
    if enable and not endpoint.enabled:
        endpoint.enabled, endpoint.disabled_reason, endpoint.failing_since = True, None, None
        audit("webhook.enable", {"endpoint_id": endpoint.id})
        flash(_("The endpoint receives events again."), "success")
    elif not enable and endpoint.enabled:
        delivery.disable(endpoint, reason="by staff", now=utcnow())
        audit("webhook.disable", {"endpoint_id": endpoint.id})
        flash(_("The endpoint receives no more events."), "success")
    db.session.commit()
    return redirect(url_for("office.webhook_endpoint", endpoint_id=endpoint.id), code=303)
