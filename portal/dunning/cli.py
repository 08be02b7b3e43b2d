"""Command line of the dunning feature: the run, the worker, print batches, handover exports."""
from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import click
from flask.cli import AppGroup

from portal.cli import merchant_by_slug
from portal.clock import today_for
from portal.extensions import db

dunning = AppGroup("dunning", help="Dunning runs and handover exports.")
letters = AppGroup("letters", help="Letters: daily print batches.")
base_rates_cli = AppGroup("base-rates", help="The base rate of § 247 BGB by half-year.")


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


def _login() -> str:
    import getpass

    try:
        return getpass.getuser()[:60]
    except (KeyError, OSError):  # no passwd entry (containers)
        return "unknown"


@base_rates_cli.command("set", context_settings={"ignore_unknown_options": True})  # a negative RATE is no option
@click.argument("valid_from")
@click.argument("rate")
@click.option("--today", help="Act as of this day (YYYY-MM-DD); default: today in Germany (the base rate's calendar).")
def base_rates_set(valid_from, rate, today):
    """Enter RATE (percent, e.g. 1.27 or -0.88) for the half-year starting VALID_FROM (YYYY-01-01 or YYYY-07-01).

    Interest held back while the rate was missing is charged at once, also for claims already handed
    over to collection (as supplements for the agency). Recorded with your login name in every
    merchant's audit log.
    """
    from portal.domain.base_rate import InvalidBaseRate, parse_rate
    from portal.dunning import base_rates
    from portal.models import Event, Merchant

    day = _day(valid_from)
    # The base rate is the Bundesbank's: its half-years begin at midnight in Germany, not at midnight UTC.
    as_of = _day(today) or today_for("Europe/Berlin")
    actor = f"cli:{_login()}"
    try:
        result = base_rates.set_rate(day, parse_rate(rate), actor=actor, today=as_of)
    except InvalidBaseRate as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    if not result.changed:
        click.echo(f"{day.isoformat()}: {result.rate} % is already in force; nothing changed.")
        return
    from sqlalchemy import select

    for merchant_id in db.session.execute(select(Merchant.id)).scalars():
        db.session.add(Event(merchant_id=merchant_id, kind="staff.base_rate.set", actor=actor, data={
            "valid_from": day.isoformat(), "rate": str(result.rate),
            "previous": str(result.previous) if result.previous is not None else None}))
    db.session.commit()
    was = f" (was {result.previous} %)" if result.previous is not None else ""
    click.echo(f"{day.isoformat()}: base rate {result.rate} %{was}. Interest held back charged on {result.invoices} "
               f"invoice(s); {result.after_handover} of them already with the collection agency (supplements).")


@base_rates_cli.command("list")
def base_rates_list():
    """The table in force: half-year, rate, and where it comes from."""
    from portal.dunning import base_rates

    table = base_rates.current_table()
    entered = base_rates.entered_rates()
    for day in sorted(table.rates, reverse=True):
        rate = table.rates[day]
        source = "entered" if day in entered else "shipped"
        click.echo(f"{day.isoformat()}  {'not entered' if rate is None else f'{rate:>6} %'}  {source if rate is not None else ''}".rstrip())


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
@click.option("--now", "now_text", help="With --once: send what is due at this moment (ISO date and time, UTC "
              "unless it names its offset), as when replaying days after `dunning run --today`.")
def worker_command(once, poll, now_text):
    """Send due outbox messages and webhooks, import uploaded files; without --once also run the daily dunning pass, until stopped."""
    from portal.messaging import worker

    now = None
    if now_text:
        if not once:
            raise click.BadParameter("only together with --once", param_hint="--now")
        try:
            now = datetime.fromisoformat(now_text)
        except ValueError:
            raise click.BadParameter("use YYYY-MM-DDTHH:MM[:SS][+HH:MM]", param_hint="--now") from None
        now = now.astimezone(timezone.utc) if now.tzinfo else now.replace(tzinfo=timezone.utc)
    if once:
        from portal.shop_webhooks import delivery as shop_webhooks

        result = worker.drain(now=now)
        click.echo(f"{result.sent} sent, {result.retried} to retry, {result.fell_back} on the next channel, "
                   f"{result.dead} dead, {result.cancelled} cancelled"
                   + (f", {result.in_doubt} in doubt (not sent again; staff notified)." if result.in_doubt else "."))
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
    app.cli.add_command(base_rates_cli)
    app.cli.add_command(worker_command)
