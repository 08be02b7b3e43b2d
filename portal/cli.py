"""Command line: `flask --app wsgi <group> <command>`; the same functions the web uses."""
from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import select

from portal.clock import today_for
from portal.domain.iban import BankAccountError, validate_bank_account
from portal.extensions import db
from portal.models import ApiKey, Debtor, Merchant, User


def merchant_by_slug(slug: str) -> Merchant:
    merchant = db.session.execute(select(Merchant).where(Merchant.slug == slug)).scalar_one_or_none()
    if merchant is None:
        raise click.ClickException(f"no merchant with slug {slug!r}")
    return merchant


merchants = AppGroup("merchants", help="Merchants (tenants).")


@merchants.command("einvoice-settings")
@click.argument("slug")
@click.option("--payment-term-days", type=click.IntRange(0, 365),
              help="E-invoices without a due date (BT-9) or net term: due this many days after the issue date.")
@click.option("--customer-ref", type=click.Choice(["BT-46", "BT-10"]),
              help="Customer number from BT-46 (buyer identifier) or BT-10 (buyer reference); the other is the fallback.")
def merchants_einvoice_settings(slug, payment_term_days, customer_ref):
    """How e-invoices map onto this merchant's invoices and customers."""
    merchant = merchant_by_slug(slug)
    if payment_term_days is not None:
        merchant.payment_term_days = payment_term_days
    if customer_ref is not None:
        merchant.einvoice_customer_ref = customer_ref
    db.session.commit()
    click.echo(f"{slug}: default term {merchant.payment_term_days} days; customer number from {merchant.einvoice_customer_ref}.")


@merchants.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="Shop name shown to debtors.")
@click.option("--legal-name", help="Registered company name (defaults to --name).")
@click.option("--iban", required=True)
@click.option("--bic")
@click.option("--account-holder", help="Defaults to the legal name.")
@click.option("--support-email")
@click.option("--stripe-secret-key")
@click.option("--stripe-webhook-secret")
@click.option("--timezone", default="Europe/Berlin", show_default=True)
@click.option("--language", default="de", type=click.Choice(["de", "en"]), show_default=True)
def merchants_create(slug, name, legal_name, iban, bic, account_holder, support_email,
                     stripe_secret_key, stripe_webhook_secret, timezone, language):
    """Create merchant SLUG."""
    import re

    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{1,39}", slug):
        raise click.ClickException("the slug is 2–40 lower-case letters, digits and dashes")
    if db.session.execute(select(Merchant.id).where(Merchant.slug == slug)).first():
        raise click.ClickException(f"merchant {slug!r} exists already")
    try:
        account = validate_bank_account(iban, bic)
    except BankAccountError as exc:
        raise click.ClickException(str(exc)) from None
    merchant = Merchant(
        slug=slug, name=name, legal_name=legal_name or name, iban=account.iban, bic=account.bic,
        account_holder=account_holder or legal_name or name, support_email=support_email,
        stripe_secret_key=stripe_secret_key, stripe_webhook_secret=stripe_webhook_secret,
        timezone=timezone, default_language=language,
    )
    db.session.add(merchant)
    db.session.commit()
    click.echo(f"Created merchant {slug} (id {merchant.id}).")


api_keys = AppGroup("api-keys", help="API keys for shops.")


@api_keys.command("create")
@click.option("--merchant", "slug", required=True)
@click.option("--name", help="What the key is for.")
def api_keys_create(slug, name):
    """Create a key; the key itself is printed once, as the last line."""
    merchant = merchant_by_slug(slug)
    key, secret = ApiKey.generate(merchant, name)
    db.session.add(key)
    db.session.commit()
    click.echo(f"API key {key.prefix} for {slug} (shown once, store it now):", err=True)
    click.echo(secret)


users = AppGroup("users", help="Back-office users.")


@users.command("create")
@click.option("--merchant", "slug", required=True)
@click.option("--email", required=True)
@click.option("--role", type=click.Choice(["admin", "support"]), default="support", show_default=True)
@click.option("--name")
@click.password_option(help="Prompted for when not given.")
def users_create(slug, email, role, name, password):
    merchant = merchant_by_slug(slug)
    email = email.strip().lower()
    if db.session.execute(select(User.id).where(User.email == email)).first():
        raise click.ClickException(f"a user {email} exists already")
    if len(password) < 10:
        raise click.ClickException("the password needs at least 10 characters")
    user = User(merchant_id=merchant.id, email=email, role=role, name=name)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    click.echo(f"Created {role} {email} for {slug}.")


invoices = AppGroup("invoices", help="Invoices.")


EINVOICE_SUFFIXES = (".xml", ".pdf", ".zip")


@invoices.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--merchant", "slug", required=True)
def invoices_import(file: Path, slug: str):
    """Import invoices from a CSV file, or e-invoices (.xml, .pdf, or a .zip of them):
    everything or, if anything is bad, nothing."""
    if file.suffix.lower() in EINVOICE_SUFFIXES:
        return _import_einvoices(file, slug)
    from portal.intake.csv_import import ImportRejected, import_csv

    merchant = merchant_by_slug(slug)
    show = sys.stderr.isatty() and file.stat().st_size >= 100_000  # about 700 lines

    def progress(items, length, label):
        """Progress bars on a terminal for big files; plain iteration otherwise."""
        if not show:
            yield from items
            return
        with click.progressbar(items, length=length, label=label, file=sys.stderr) as bar:
            yield from bar

    try:
        result = import_csv(file, merchant, today=today_for(merchant.timezone), actor=f"import:{file.name}", progress=progress)
    except ImportRejected as exc:
        db.session.rollback()
        click.echo(f"{file}: nothing imported, {len(exc.errors)} bad line(s):", err=True)
        for error in exc.errors:
            click.echo(f"  {error}", err=True)
        sys.exit(1)
    db.session.commit()
    click.echo(
        f"{file}: {result.created} invoice(s) created, {result.unchanged} already present; "
        f"{result.debtors_created} debtor(s) created, {result.debtors_updated} updated."
    )


def _import_einvoices(file: Path, slug: str):
    from flask import current_app

    from portal.domain.einvoice import MAX_BYTES
    from portal.domain.einvoice.archive import MAX_TOTAL_BYTES
    from portal.intake.einvoice_batch import BatchRejected, import_files

    merchant = merchant_by_slug(slug)
    limit = MAX_TOTAL_BYTES if file.suffix.lower() == ".zip" else MAX_BYTES
    if file.stat().st_size > limit:
        click.echo(f"{file}: nothing imported: the file is larger than {limit // 1_000_000} MB", err=True)
        sys.exit(1)
    try:
        result = import_files(
            [(file.name, file.read_bytes())], merchant, today=today_for(merchant.timezone),
            actor=f"import:{file.name}", storage_dir=current_app.config["STORAGE_DIR"],
        )
    except BatchRejected as exc:
        db.session.rollback()
        click.echo(f"{file}: nothing imported, {len(exc.errors)} bad file(s):", err=True)
        for error in exc.errors:
            click.echo(f"  {error}", err=True)
        sys.exit(1)
    db.session.commit()
    for name, term, message in result.warnings:
        click.echo(f"warning: {name}: {term}: {message}", err=True)
    click.echo(
        f"{file}: {result.files} e-invoice(s): {result.created} invoice(s) created, "
        f"{result.credited} credit note(s) booked, {result.unchanged} already present."
    )


links = AppGroup("links", help="Portal links.")


@links.command("issue")
@click.argument("debtor_ref")
@click.option("--merchant", "slug", required=True)
def links_issue(debtor_ref, slug):
    """Print a portal link for the debtor as the last line."""
    from portal.links import url_for_debtor

    merchant = merchant_by_slug(slug)
    debtor = db.session.execute(
        select(Debtor).where(Debtor.merchant_id == merchant.id, Debtor.external_ref == debtor_ref)
    ).scalar_one_or_none()
    if debtor is None:
        raise click.ClickException(f"no debtor {debtor_ref!r} at {slug}")
    click.echo(url_for_debtor(debtor))


@click.command("demo")
@click.option("--links/--no-links", "print_links", default=True, help="Print portal links of a few demo debtors.")
def demo_command(print_links):
    """Load the demo merchant, debtors and invoices (idempotent)."""
    from portal.demo import load_demo, demo_links

    created = load_demo()
    db.session.commit()
    click.echo("Demo data loaded." if created else "Demo data already present.")
    if print_links:
        for label, url in demo_links():
            click.echo(f"  {label}: {url}")


def init_app(app: Flask) -> None:
    for group in (merchants, api_keys, users, invoices, links):
        app.cli.add_command(group)
    app.cli.add_command(demo_command)
    from portal.dunning.cli import init_app as init_dunning_cli  # dunning run, worker, letters batch, handover export

    init_dunning_cli(app)
    from portal.payments.cli import payments

    app.cli.add_command(payments)
