"""Command line of the dunning feature: the run, the worker, print batches, handover exports."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import click
from flask.cli import AppGroup

from portal.cli import merchant_by_slug
from portal.extensions import db

dunning = AppGroup("dunning", help="Dunning runs and handover exports.")
letters = AppGroup("letters", help="Letters: daily print batches.")


def _day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("use YYYY-MM-DD") from None


@dunning.command("run")
@click.option("--today", help="Run as of this day (YYYY-MM-DD); default: each merchant's today.")
@click.option("--merchant", "slug", help="Only this merchant.")
def dunning_run(today, slug):
    """One dunning pass: take every due step (safe to repeat)."""
    from portal.dunning.run import run

    merchant = merchant_by_slug(slug) if slug else None
    result = run(today=_day(today), merchant=merchant)
    click.echo(result.summary())


@dunning.command("handover-export")
@click.option("--merchant", "slug", required=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True, help="ZIP file to write.")
@click.option("--since", help="New claims: only those handed over on or after this day.")
@click.option("--until", help="New claims: only those handed over on or before this day.")
def handover_export(slug, output, since, until):
    """Write the collection agency's next ZIP: claims not exported before in full, and what changed on
    earlier ones (payments after handover, interest supplements), each once. The export is recorded."""
    from portal.dunning.handover import export
    from portal.models import Event

    merchant = merchant_by_slug(slug)
    result = export(merchant, actor="cli", since=_day(since), until=_day(until))
    output.write_bytes(result.data)
    db.session.add(Event(merchant_id=merchant.id, kind="handover.exported", actor="cli",
                         data={"export_id": result.export_id, "claims": result.claims, "supplements": result.supplements}))
    db.session.commit()
    click.echo(f"{output}: export {result.export_id}, {result.claims} claim(s), {result.supplements} change(s) since earlier exports.")


@letters.command("batch")
@click.option("--merchant", "slug", required=True)
@click.option("--date", "day", required=True, help="Print day (YYYY-MM-DD).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
def letters_batch(slug, day, output):
    """Write all letters produced on that day as one PDF for printing."""
    from portal.messaging.channels.letter import print_batch

    data, count = print_batch(merchant_by_slug(slug).id, _day(day))
    if count == 0:
        raise click.ClickException(f"no letters for {day}")
    output.write_bytes(data)
    click.echo(f"{output}: {count} letter(s).")


@click.command("worker")
@click.option("--once", is_flag=True, help="Send what is due now and import queued uploads, then stop (no dunning run).")
@click.option("--poll", default=5.0, show_default=True, help="Seconds between polls when idle.")
def worker_command(once, poll):
    """Send due outbox messages and webhooks, import uploaded files; without --once also run the daily dunning pass, until stopped."""
    from portal.messaging import worker

    if once:
        from portal.shop_webhooks import delivery as shop_webhooks

        result = worker.drain()
        click.echo(f"{result.sent} sent, {result.retried} to retry, {result.fell_back} on the next channel, "
                   f"{result.dead} dead, {result.cancelled} cancelled.")
        hooks = shop_webhooks.drain(worker=worker.worker_name())
        click.echo(f"Webhooks: {hooks.delivered} delivered, {hooks.retried} to retry, {hooks.failed} given up.")
        from portal.uploads import jobs as upload_jobs

        click.echo(f"Uploads: {upload_jobs.drain(worker.worker_name())} imported.")
        return
    worker.run_forever(poll_seconds=poll)
    db.session.remove()


def init_app(app) -> None:
    app.cli.add_command(dunning)
    app.cli.add_command(letters)
    app.cli.add_command(worker_command)
