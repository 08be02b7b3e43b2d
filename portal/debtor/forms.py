"""The portal's forms (Flask-WTF: every one carries a CSRF token)."""
from __future__ import annotations

from datetime import date, timedelta

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, MultipleFileField, RadioField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from portal.domain.contact import normalize_email
from portal.domain.intake import normalize_phone

PROMISE_MAX_DAYS = 60
INSTALLMENT_COUNTS = (2, 3, 4, 6, 9, 12)


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class NewLinkForm(FlaskForm):
    contact = StringField(_l("Email address or mobile number"), validators=[Length(max=254)])


class VerifyForm(FlaskForm):
    answer = StringField(_l("Postal code"), validators=[DataRequired(), Length(max=64)])


class InvoiceChoice(FlaskForm):
    """Base for forms that concern some of the debtor's open invoices (choices set by the view)."""

    invoices = MultiCheckboxField(_l("Invoices"), coerce=int, validators=[InputRequired(message=_l("Please choose at least one invoice."))])


class PlanRequestForm(InvoiceChoice):
    installments = SelectField(_l("Number of monthly payments"), coerce=int, choices=[SelectChoice(n, str(n)) for n in INSTALLMENT_COUNTS])
    first_due = DateField(_l("First payment on"), validators=[InputRequired(message=_l("Please enter a date."))])
    note = TextAreaField(_l("Anything the shop should know (optional)"), validators=[Optional(), Length(max=1000)])


class PromiseForm(InvoiceChoice):
    pay_by = DateField(_l("I will pay by"), validators=[InputRequired(message=_l("Please enter a date."))])
    note = TextAreaField(_l("Anything the shop should know (optional)"), validators=[Optional(), Length(max=1000)])

    def __init__(self, *args, today: date, max_days: int = PROMISE_MAX_DAYS, **kwargs):
        super().__init__(*args, **kwargs)
        self.today = today
        self.max_days = max_days

    def validate_pay_by(self, field):
        if field.data is None:
            return
        if field.data <= self.today:
            raise ValidationError(_l("Please choose a day after today."))
        if field.data > self.today + timedelta(days=self.max_days):
            raise ValidationError(_l("Please choose a day within the next %(days)d days.", days=self.max_days))


DISPUTE_REASONS = [
    SelectChoice("not_received", _l("I have not received the goods or service")),
    SelectChoice("damaged", _l("The goods are damaged or defective")),
    SelectChoice("returned", _l("I have returned the goods")),
    SelectChoice("already_paid", _l("I have already paid")),
    SelectChoice("wrong_amount", _l("The amount is wrong")),
    SelectChoice("other", _l("Something else")),
]


class DisputeForm(InvoiceChoice):
    reason = RadioField(_l("What is wrong?"), choices=DISPUTE_REASONS, validators=[InputRequired(message=_l("Please choose a reason."))])
    details = TextAreaField(
        _l("Please describe what happened"),
        validators=[DataRequired(message=_l("Please tell us what happened.")), Length(min=10, max=2000)],
    )
    files = MultipleFileField(_l("Photos or documents (optional)"))


class QuestionForm(FlaskForm):
    """A question for the shop's team; it may concern some invoices or none (choices set by the view)."""

    invoices = MultiCheckboxField(_l("Invoices"), coerce=int, validators=[Optional()])
    message = TextAreaField(
        _l("Your question"),
        validators=[DataRequired(message=_l("Please write your question.")), Length(max=5000)],
    )


CHANNELS = [SelectChoice("email", _l("Email")), SelectChoice("sms", _l("Text message (SMS)")), SelectChoice("letter", _l("Letter"))]
LANGUAGE_NAMES = {"de": "Deutsch", "en": "English"}


class PreferencesForm(FlaskForm):
    email = StringField(_l("Email address"), validators=[Optional(), Length(max=254)])
    phone = StringField(_l("Mobile number"), validators=[Optional(), Length(max=40)])
    preferred_channel = RadioField(_l("How should we contact you?"), choices=CHANNELS, validators=[InputRequired()])
    language = RadioField(_l("Language"), choices=[SelectChoice(code, name) for code, name in LANGUAGE_NAMES.items()], validators=[InputRequired()])
    consent_email = BooleanField(_l("Yes, I agree to receive payment reminders about my invoices by email."))
    consent_sms = BooleanField(_l("Yes, I agree to receive payment reminders about my invoices by text message (SMS) at the mobile number above."))

    def __init__(self, *args, country: str | None = None, has_address: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.country = country
        self.has_address = has_address
        self.email_normalized: str | None = None
        self.phone_normalized: str | None = None

    def validate_email(self, field):
        if field.data and field.data.strip():
            self.email_normalized = normalize_email(field.data)
            if self.email_normalized is None:
                raise ValidationError(_l("Please enter a valid email address, e.g. name@example.de."))

    def validate_phone(self, field):
        if field.data and field.data.strip():
            self.phone_normalized = normalize_phone(field.data, self.country)
            if self.phone_normalized is None:
                raise ValidationError(_l("Please enter a mobile number, e.g. 0170 1234567 or +49 170 1234567."))

    def validate_preferred_channel(self, field):
        if field.data == "email" and not (self.email.data or "").strip():
            raise ValidationError(_l("Please enter an email address to be contacted by email."))
        if field.data == "email" and not self.consent_email.data:
            raise ValidationError(_l("Please agree to reminders by email to be contacted by email."))
        if field.data == "sms" and not (self.phone.data or "").strip():
            raise ValidationError(_l("Please enter a mobile number to be contacted by text message."))
        if field.data == "sms" and not self.consent_sms.data:
            raise ValidationError(_l("Please agree to reminders by text message to be contacted that way."))
        if field.data == "letter" and not self.has_address:
            raise ValidationError(_l("We have no postal address for you; please choose email or text message."))

    def validate_consent_sms(self, field):
        if field.data and not (self.phone.data or "").strip():
            raise ValidationError(_l("Please enter a mobile number for text messages."))


