"""Back-office forms (Flask-WTF: CSRF on every one)."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, IntegerField, PasswordField, SelectField, StringField, URLField
from wtforms.validators import URL, AnyOf, DataRequired, InputRequired, Length, NumberRange, Optional, Regexp


class LoginForm(FlaskForm):
    email = EmailField(_l("Email address"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])


class SettingsForm(FlaskForm):
    """The merchant's settings; secrets are write-only (an empty field keeps the stored value)."""

    name = StringField(_l("Shop name shown to customers"), validators=[DataRequired(), Length(max=120)])
    legal_name = StringField(_l("Registered company name"), validators=[DataRequired(), Length(max=200)])
    street = StringField(_l("Street and number"), validators=[Optional(), Length(max=200)])
    postal_code = StringField(_l("Postal code"), validators=[Optional(), Length(max=20)])
    city = StringField(_l("City"), validators=[Optional(), Length(max=100)])
    support_email = EmailField(_l("Support email"), validators=[Optional(), Length(max=254)])
    legal_form = SelectField(_l("Legal form"), choices=[], validate_choice=False, validators=[Optional()])
    registered_office = StringField(_l("Registered office (Sitz)"), validators=[Optional(), Length(max=100)])
    register_court = StringField(_l("Register court"), validators=[Optional(), Length(max=100)])
    register_number = StringField(_l("Register number"), validators=[Optional(), Length(max=40)])
    managing_directors = StringField(_l("Managing directors (AG: management board), all of them"), validators=[Optional(), Length(max=300)])
    general_partner = StringField(_l("Personally liable partner (GmbH & Co. KG): name, registered office, register, managing directors"), validators=[Optional(), Length(max=300)])
    supervisory_chair = StringField(_l("Chair of the supervisory board (AG)"), validators=[Optional(), Length(max=120)])
    vat_id = StringField(_l("VAT ID (USt-IdNr.)"), validators=[Optional(), Length(max=30)])
    support_phone = StringField(_l("Support phone"), validators=[Optional(), Length(max=40)])
    support_hours = StringField(_l("Support hours"), validators=[Optional(), Length(max=200)])
    iban = StringField(_l("IBAN"), validators=[DataRequired(), Length(max=42)])
    bic = StringField(_l("BIC"), validators=[Optional(), Length(max=11)])
    account_holder = StringField(_l("Account holder"), validators=[DataRequired(), Length(max=70)])
    logo_url = StringField(_l("Logo (path on this server, e.g. /static/img/logo.svg)"), validators=[Optional(), Length(max=500)])
    primary_color = StringField(_l("Brand colour"), validators=[DataRequired(), Regexp(r"^#[0-9a-fA-F]{6}$")])
    accent_color = StringField(_l("Background colour"), validators=[DataRequired(), Regexp(r"^#[0-9a-fA-F]{6}$")])
    imprint_url = URLField(_l("Imprint (Impressum) URL"), validators=[Optional(), URL(require_tld=True), Length(max=500)])
    privacy_url = URLField(_l("Privacy notice URL"), validators=[Optional(), URL(require_tld=True), Length(max=500)])
    link_ttl_days = IntegerField(_l("Days a link in a message stays valid"), validators=[InputRequired(), NumberRange(1, 365)])
    link_step_up = BooleanField(_l("Ask for the postal code before showing invoice details"))
    dunning_fee_cap = StringField(_l("Highest dunning fee per notice"), validators=[InputRequired()])
    letter_cost = StringField(_l("Cost of one dunning letter (postage and print)"), validators=[InputRequired()])
    business_flat_fee = BooleanField(_l("Charge business customers the €40 flat fee (§ 288 (5) BGB)"))
    holiday_state = SelectField(_l("Public holidays for payment deadlines (§ 193 BGB)"), choices=[], coerce=lambda v: v or "",
                                validators=[Optional()])
    plan_max_rates = IntegerField(_l("Installments: most monthly rates without review"), validators=[InputRequired(), NumberRange(2, 36)])
    plan_min_rate = StringField(_l("Installments: smallest rate without review"), validators=[InputRequired()])
    plan_max_total = StringField(_l("Installments: largest total without review"), validators=[InputRequired()])
    plan_first_rate_days = IntegerField(_l("Installments: first rate at most this many days ahead"), validators=[InputRequired(), NumberRange(1, 92)])
    plan_include_charges = BooleanField(_l("Installments include fees and interest (otherwise they are waived)"))
    plan_grace_days = IntegerField(_l("Installments: days of grace before a late rate ends the plan"), validators=[InputRequired(), NumberRange(0, 60)])
    promise_max_days = IntegerField(_l("Promise to pay: latest date, in days from today"), validators=[InputRequired(), NumberRange(1, 90)])
    case_sla_business_days = IntegerField(_l("Answer requests within (business days)"), validators=[InputRequired(), NumberRange(1, 30)])
    remainder_tolerance = StringField(_l("Bank payments: remainder that is not dunned (e.g. bank charges)"), validators=[InputRequired()])
    remainder_action = SelectField(_l("Bank payments: such a remainder is"), choices=[])  # choices: office/settings.py
    credit_handling = SelectField(_l("Overpayments: the customer is told their credit will be"), choices=[])
    stripe_secret_key = PasswordField(_l("Stripe secret key (leave empty to keep)"), validators=[Optional(), Length(max=255)])
    stripe_webhook_secret = PasswordField(_l("Stripe webhook signing secret (leave empty to keep)"), validators=[Optional(), Length(max=255)])
    clear_stripe = BooleanField(_l("Remove the stored Stripe keys"))


class NewUserForm(FlaskForm):
    email = EmailField(_l("Email address"), validators=[DataRequired(), Length(max=254), Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")])
    name = StringField(_l("Name"), validators=[Optional(), Length(max=120)])
    # A plain field checked against the two roles (the template renders the <select>).
    role = StringField(_l("Role"), validators=[DataRequired(), AnyOf(["support", "admin"])], default="support")
    password = PasswordField(_l("Initial password (at least 12 characters)"), validators=[DataRequired(), Length(min=12, max=200)])


class PasswordForm(FlaskForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=200)])
    new = PasswordField(_l("New password (at least 12 characters)"), validators=[DataRequired(), Length(min=12, max=200)])
