"""Settle: a self-hosted dunning and payment portal for online shops."""
from __future__ import annotations

from pathlib import Path

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent


def create_app(config: object | dict | None = None) -> Flask:
    """Build the application.

    `config` is a config object, a mapping, or None for `config.Config`; SETTLE_*
    environment variables are applied on top, except for a mapping given by tests,
    which wins over everything.
    """
    app = Flask(
        __name__,
        instance_path=str(ROOT / "instance"),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    import config as config_module

    from portal import deployment

    if config is None or isinstance(config, dict):
        app.config.from_object(config_module.Config)
    else:
        app.config.from_object(config)
    app.config.from_prefixed_env("SETTLE")
    if isinstance(config, dict):
        app.config.update(config)

    deployment.init_app(app)  # TRUSTED_PROXIES, and a warning when several workers count limits in memory

    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    from portal import i18n, inputs, ratelimits, security, transactions, web
    from portal.extensions import csrf, db, limiter, login, mail, migrate

    db.init_app(app)
    transactions.init_app(app)  # SQLite: requests that write take the write lock when they begin
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    mail.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    ratelimits.init_app(app, limiter)  # its hooks run only for requests that have limits
    login.init_app(app)
    login.login_view = "office.login"
    login.session_protection = "strong"
    i18n.init_app(app)
    security.init_app(app)
    web.init_app(app)
    inputs.init_app(app)  # NUL bytes, lone surrogates, NaN and runaway JSON: 400/422, never a 500

    from portal import models  # noqa: F401  (register every table with the metadata)
    from portal.api import bp as api_bp
    from portal.cli import init_app as init_cli
    from portal.debtor import bp as debtor_bp
    from portal.office import bp as office_bp
    from portal.webhooks import init_app as init_webhooks

    app.register_blueprint(debtor_bp)  # the portal debtors see
    app.register_blueprint(office_bp)  # merchant and support back office
    app.register_blueprint(api_bp)  # JSON API for shops (Bearer keys, no CSRF)
    csrf.exempt(api_bp)
    init_webhooks(app)  # Stripe (signature on the raw body, no CSRF, no session)
    init_cli(app)
    return app
