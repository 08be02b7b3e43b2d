"""Previews of a draft policy: every step for a sample debtor of its group, per language and channel.

The sample is built like a real message of that step (its words, the deadline its payment days give
on that channel, the fee that channel costs, interest once the debtor is in default, the § 286 (3)
notice where the step carries it) and rendered by the worker's own functions
(`portal.messaging.render.email_from`, `sms_text`, `letter_from`): there is no second renderer.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from flask_babel import force_locale
from itsdangerous import BadSignature, URLSafeSerializer

from portal.clock import today_for
from portal.domain import charges as law
from portal.domain import default as law_default
from portal.domain import dunning as rules
from portal.domain.calendar import legal_calendar
from portal.domain.money import Money
from portal.messaging import gsm7
from portal.messaging.overrides import Preview, sample_message
from portal.models import Debtor, Merchant
from portal.policies.service import Draft, days_from_due, sample_age

SALT = "policy-preview"


def sign(draft: Draft, secret: str) -> str:
    """The draft as a tamper-proof URL parameter: the preview URLs carry unsaved changes without storing them."""
    return URLSafeSerializer(secret, salt=SALT).dumps(draft.as_dict())


def unsign(token: str, secret: str) -> Draft | None:
    try:
        return Draft.from_dict(URLSafeSerializer(secret, salt=SALT).loads(token))
    except (BadSignature, TypeError, ValueError, KeyError):
        return None


@dataclass(frozen=True)
class SampleInvoice:
    """What the words need of an invoice ({{ invoices }} lists the numbers)."""

    number: str
    due_date: date
    status: str = "open"
    id: int = 0  # no invoice row: "a reminder was sent before" is not assumed


@dataclass(frozen=True)
class StepPreview:
    index: int
    language: str
    channel: str
    preview: Preview
    fee_minor: int  # what this step would charge the sample debtor on this channel

    @property
    def sms_length(self) -> int | None:
        return self.preview.sms_length


def sample_debtor(merchant: Merchant, draft: Draft, language: str, today: date) -> Debtor:
    business = draft.match_kind == "business"
    age = sample_age(draft)
    born = date(today.year - age, 6, 15) if age is not None else (None if business else date(today.year - 45, 6, 15))
    return Debtor(
        merchant_id=merchant.id, external_ref="K-10042", kind="business" if business else "person",
        name="Erika Mustermann", company="Musterfirma GmbH" if business else None,
        street="Musterstraße 12", postal_code="70173", city="Stuttgart", country=merchant.country or "DE",
        language=language, date_of_birth=born, email="erika@example.de", phone="+4915112345678",
        preferred_channel=draft.match_preferred_channel,
    )


def render_step(merchant: Merchant, draft: Draft, index: int, language: str, channel: str | None = None,
                today: date | None = None) -> StepPreview:
    """Email, SMS and letter of step `index` for the group's sample debtor, as the worker would render them."""
    from portal.messaging import render

    today = today or today_for(merchant.timezone)  # the shop's day, as the dunning run reckons it
    step = draft.steps[index]
    channel = channel or (step.channels[0] if step.channels else "email")
    message, ctx = sample_message(merchant, step.template, language)
    message.channel = channel
    debtor = sample_debtor(merchant, draft, language, today)
    business = debtor.kind == "business"
    offsets = days_from_due(draft)
    due = today - timedelta(days=offsets[index])
    default_at = next((i for i, s in enumerate(draft.steps) if s.legal == rules.DEFAULT_NOTICE), None)
    in_default = default_at is not None and index > default_at
    principal = Money(124990, "EUR")
    interest = Money(1207 if in_default else 0, "EUR")
    fees = law.fees_for_step(
        step_key=step.key, step_fee_minor=step.rule().fee_for(channel, merchant.letter_cost_minor),
        fee_cap_minor=merchant.dunning_fee_cap_minor, in_default=in_default, business=business,
        flat_fee_enabled=merchant.business_flat_fee, flat_fee_booked=False, currency="EUR", channel=channel,
    )
    fee = Money(sum(f.amount_minor for f in fees), "EUR")
    total = Money(principal.minor + interest.minor + fee.minor, "EUR")
    charges = []
    if interest.minor:
        rate = "10.27" if business else "6.27"
        charges.append({"label": "interest", "amount": interest, "amount_minor": interest.minor, "booked_on": None,
                        "segments": [{"rate": rate, "from": today - timedelta(days=10), "to": today, "days": 11,
                                      "principal": principal, "principal_minor": principal.minor}]})
    charges += [{"label": f.label, "amount": Money(f.amount_minor, "EUR"), "amount_minor": f.amount_minor,
                 "booked_on": None, "segments": []} for f in fees]
    calendar = legal_calendar(merchant.holiday_state)
    ctx.update(
        debtor=debtor, today=today, invoices=[SampleInvoice("RE-2026-0042", due)], currency="EUR", total=total,
        deadline=law_default.stated_deadline(today, channel, step.payment_days, calendar) or today,
        notice_286=step.notice_286 and merchant.consumer_default_notice and not business,
        items=[{"invoice_id": 0, "number": "RE-2026-0042", "order_ref": None, "issue_date": due - timedelta(days=14),
                "due_date": due, "principal": principal, "principal_minor": principal.minor, "paid_minor": 0,
                "paid": Money(0, "EUR"), "interest_minor": interest.minor, "interest": interest, "fees_minor": fee.minor,
                "fees": fee, "open": total, "open_minor": total.minor, "interest_refused": None, "charges": charges,
                "default_on": None}],
    )
    with force_locale(language):
        email = render.email_from(message, ctx)
        sms = gsm7.to_gsm7(" ".join(render.sms_text(message, ctx).split()))
        letter = render.letter_from(message, dict(ctx))
    return StepPreview(index, language, channel, Preview(email, sms, gsm7.septets(sms), letter), fee.minor)
