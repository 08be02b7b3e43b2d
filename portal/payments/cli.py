"""`flask payments …`: bank statement import from the command line (same service as the back office)."""
from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import AppGroup

from portal.clock import today_for
from portal.extensions import db

payments = AppGroup("payments", help="Payments and bank reconciliation.")


@payments.command("import-camt")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--merchant", "slug", required=True)
def import_camt(file: Path, slug: str):
    """Import a camt.053/054 statement (or a ZIP of several): everything or, if the file is bad, nothing."""
    from portal.cli import merchant_by_slug
    from portal.domain.camt import CamtError
    from portal.payments.reconcile import import_statements

    merchant = merchant_by_slug(slug)
    show = sys.stderr.isatty()

    def progress(done: int) -> None:
        if show:
            click.echo(f"\r  {done} entries read …", nl=False, err=True)

    try:
        result = import_statements(
            merchant, file.read_bytes(), file.name, actor=f"import:{file.name}"[:80],
            today=today_for(merchant.timezone), progress=progress,
        )
    except CamtError as exc:
        db.session.rollback()
        if show:
            click.echo("", err=True)
        click.echo(f"Rejected, nothing booked: {exc}", err=True)
        sys.exit(1)
    db.session.commit()
    if show:
        click.echo("", err=True)
    for f in result.files:
        if f.already_imported:
            click.echo(f"{f.filename}: imported before, nothing booked again.")
        else:
            click.echo(
                f"{f.filename} ({f.message_type}): {f.entries} entries, {f.booked} booked, {f.unmatched} unmatched"
                f"{f' ({f.implausible} implausibly large, staff notified)' if f.implausible else ''}, "
                f"{f.reversed} returns, {f.duplicates} seen before, {f.skipped} not payments."
            )
    click.echo(result.summary())
