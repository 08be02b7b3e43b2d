"""Language selection and locale-aware formatting of money and dates (Flask-Babel)."""
from __future__ import annotations

from datetime import date

from flask import Flask, current_app, g, request
from flask_babel import format_date, get_locale

from portal.domain.money import Money
from portal.extensions import babel


def select_locale() -> str:
    """The language of the page: an explicit choice, the debtor's record, then the browser."""
    supported = current_app.config["LANGUAGES"]
    chosen = getattr(g, "locale", None)
    if chosen in supported:
        return chosen
    return request.accept_languages.best_match(supported) or current_app.config["BABEL_DEFAULT_LOCALE"]


def format_money(value: Money) -> str:
    """12,34 € in German, €12.34 in English."""
    from babel.numbers import format_currency

    return format_currency(value.decimal, value.currency, locale=str(get_locale() or "de"))


def format_day(value: date, fmt: str = "medium") -> str:
    return format_date(value, fmt)


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale, default_translation_directories="translations")
    app.jinja_env.filters["money"] = format_money
    app.jinja_env.filters["day"] = format_day
