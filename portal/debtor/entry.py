"""Arriving in the portal: the signed link, the "send me a new link" form, language switch, leaving.

/p/<token> turns a genuine link into a session and redirects (303) to a URL without
the token, so the token stays out of history, later server logs and Referer headers.
Anything else gets a friendly page with a form that sends a fresh link to the contact on
file and answers the same, in the same time, whether or not anything matched (the lookup is
the worker's: portal.messaging.link_requests).
"""
from __future__ import annotations

from flask import current_app, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from portal import links
from portal.debtor import bp, events
from portal.debtor import session as portal_session
from portal.debtor.forms import NewLinkForm
from portal.debtor.guard import merchant_for_page, set_locale
from portal.domain.contact import parse_contact
from portal.domain.links import LinkError
from portal.extensions import db, limiter
from portal.messaging import link_requests
from portal.models import Debtor, Message, MessageInvoice

GONE = {"expired", "revoked"}  # the link was genuine once: 410; anything else: 404


def _link_limit() -> str:
    return current_app.config.get("PORTAL_LINK_RATE_LIMIT", "20/minute;200/day")


def _new_link_limit() -> str:
    return current_app.config.get("PORTAL_NEW_LINK_RATE_LIMIT", "5/minute;30/day")


@bp.route("/p/<token>")
@limiter.limit(_link_limit)
def enter(token: str):
    try:
        debtor, claims = links.resolve_claims(token)
    except LinkError as exc:
        return _invalid(token, exc.reason)
    portal_session.start(debtor, asked=_asked_in(debtor, claims.message_id))
    events.record(debtor, "link.opened")
    db.session.commit()
    return redirect(url_for("debtor.overview"), 303)


def _asked_in(debtor: Debtor, message_id: int | None) -> list[int] | None:
    """The invoices the message behind this link asked the debtor to pay (None: the link names no message)."""
    if message_id is None:
        return None
    rows = db.session.execute(
        select(MessageInvoice.invoice_id).join(Message, Message.id == MessageInvoice.message_id)
        .where(Message.id == message_id, Message.debtor_id == debtor.id, Message.merchant_id == debtor.merchant_id)
        .order_by(MessageInvoice.invoice_id).limit(portal_session.MAX_ASKED)
    ).scalars()
    return list(dict.fromkeys(rows))


def _invalid(token: str, reason: str):
    claims = links.peek(token) if reason in GONE else None
    if claims is not None:
        debtor = db.session.get(Debtor, claims.debtor_id)
        merchant = merchant_for_page(claims.merchant_id)
        if debtor is not None and debtor.merchant_id == claims.merchant_id:
            set_locale(debtor, merchant)
            if portal_session.chosen_language() is None and g.locale:
                # Keep the debtor's language for the new-link form and its answer, whatever the browser says.
                portal_session.choose_language(g.locale)
            # Scope a new-link request from this page to the shop the old link belonged to.
            session["link_merchant"] = claims.merchant_id
    # The language switch must not carry the token along.
    g.lang_next = url_for("debtor.link_help")
    status = 410 if reason in GONE else 404
    page_reason = reason if reason in GONE else "invalid"
    return render_template("debtor/link_invalid.html", reason=page_reason, form=NewLinkForm()), status


@bp.route("/p/")
@bp.route("/portal/link")
def link_help():
    merchant_for_page(session.get("link_merchant") or session.get("merchant_id"))
    return render_template("debtor/link_invalid.html", reason="help", form=NewLinkForm())


@bp.route("/portal/link", methods=["POST"])
@limiter.limit(_new_link_limit)
def new_link():
    scope = session.get("link_merchant") or session.get("merchant_id")
    merchant_for_page(scope)
    form = NewLinkForm()
    contact = parse_contact(form.contact.data) if form.validate_on_submit() else None
    if contact is None:
        form.contact.errors = list(form.contact.errors) + [
            _("Please enter the email address or mobile number the shop has for you.")
        ]
        return render_template("debtor/link_invalid.html", reason="help", form=form), 422
    # The same work, page and status whether or not anything matches (no way to probe for customers,
    # not even by the time the answer takes): the worker looks the contact up and sends the link.
    link_requests.queue(contact, scope)
    db.session.commit()
    return render_template("debtor/link_sent.html")


@bp.route("/portal/language/<lang>")
def language(lang: str):
    if lang not in current_app.config["LANGUAGES"]:
        return redirect(url_for("debtor.overview"), 303)
    portal_session.choose_language(lang)
    target = request.args.get("next", "")
    if not _local_path(target):
        target = url_for("debtor.overview")
    return redirect(target, 303)


def _local_path(target: str) -> bool:
    return (
        target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and not target.startswith("/p/")
        and all(ord(ch) > 31 for ch in target)
    )


@bp.route("/portal/leave", methods=["POST"])
def leave():
    lang = portal_session.chosen_language()
    portal_session.end()
    db.session.commit()
    if lang:
        portal_session.choose_language(lang)
    return redirect(url_for("debtor.link_help"), 303)
