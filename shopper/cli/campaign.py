"""Campaigns, the daemon and the demo."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime, timedelta
from pathlib import Path

import click

from shopper.cli import Context, pass_context
from shopper.errors import ShopperError


def _when(text: str, zone: str, end_of_day: bool = False) -> datetime:
    """A date (2026-12-01) or a time with offset, read in the office's zone."""
    from zoneinfo import ZoneInfo

    try:
        moment = datetime.fromisoformat(text)
    except ValueError as err:
        raise ShopperError(f"cannot read {text!r}; write a date like 2026-12-01 or 2026-12-01T09:00+08:00") from err
    if moment.tzinfo is None:
        if len(text) <= 10 and end_of_day:
            moment = moment.replace(hour=23, minute=59, second=59)
        moment = moment.replace(tzinfo=ZoneInfo(zone))
    return moment


def _csv(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


@click.group()
def campaign() -> None:
    """Covert campaigns: many tests spread over weeks at believable times."""


@campaign.command("plan")
@click.argument("name")
@click.option("--agencies", help="Comma-separated agency ids (default: every site file).")
@click.option("--scenarios", "scenario_list", help="Comma-separated scenario ids (default: all).")
@click.option("--from", "start", required=True, help="First day (2026-12-01) or time with offset.")
@click.option("--to", "end", required=True, help="Last day or time with offset.")
@click.option("--gap", type=float, default=4.0, show_default=True, help="Hours between two tests at one agency.")
@click.option("--seed", type=int, help="Random seed, to plan the same campaign again.")
@pass_context
def plan_command(ctx: Context, name, agencies, scenario_list, start, end, gap, seed) -> None:
    """Plan a campaign and store it (it starts with `shopper campaign start NAME`)."""
    from shopper import agencies as agencies_mod
    from shopper import campaigns
    from shopper.scenarios import load_scenarios
    from shopper.sites import load_sites

    sites = load_sites(ctx.config.sites_dir)
    scenarios = load_scenarios(ctx.config.scenarios_dir)
    agencies_mod.sync(ctx.db, sites)
    zone = ctx.config.timezone
    planned = campaigns.plan(
        ctx.db, name, sites=sites, scenarios=scenarios,
        agencies=_csv(agencies) or sorted(sites), scenario_ids=_csv(scenario_list) or sorted(scenarios),
        start=_when(start, zone), end=_when(end, zone, end_of_day=True), gap=timedelta(hours=gap), seed=seed,
    )
    click.echo(f"campaign {name}: {len(planned)} tests planned from {min(p.planned_at for p in planned):%Y-%m-%d %H:%M} "
               f"to {max(p.planned_at for p in planned):%Y-%m-%d %H:%M}; start it with `shopper campaign start {name}`")


@campaign.command("start")
@click.argument("name")
@pass_context
def start_command(ctx: Context, name) -> None:
    """Let `shopper serve` send the campaign's tests when they are due."""
    from shopper import campaigns

    campaigns.set_state(ctx.db, name, "running")
    click.echo(f"campaign {name}: running (tests are sent by `shopper serve`)")


@campaign.command("pause")
@click.argument("name")
@pass_context
def pause_command(ctx: Context, name) -> None:
    """Hold the campaign's remaining tests until it is started again."""
    from shopper import campaigns

    campaigns.set_state(ctx.db, name, "paused")
    click.echo(f"campaign {name}: paused")


@campaign.command("status")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@pass_context
def status_command(ctx: Context, name, as_json) -> None:
    """How far the campaign is: tests per state and the next one due."""
    from shopper import campaigns

    st = campaigns.status(ctx.db, name)
    if as_json:
        click.echo(json.dumps(st, ensure_ascii=False, indent=2))
        return
    c = st["campaign"]
    click.echo(f"campaign {c['name']} ({c['state']}), {st['total']} tests")
    for state, n in sorted(st["counts"].items()):
        click.echo(f"  {state:12} {n}")
    if st["next_at"]:
        click.echo(f"  next due     {st['next_at']}")


@click.command()
@click.option("--no-bot", is_flag=True, help="Run without the Telegram bot.")
@click.option("--no-mailbox", is_flag=True, help="Run without the mailbox watcher.")
@pass_context
def serve(ctx: Context, no_bot, no_mailbox) -> None:
    """Run everything: scheduler, mailbox watcher, poller, deadline watch, grading and the bot.

    Stops gracefully on SIGTERM or Ctrl-C; a health line goes to the log every minute."""
    from shopper.serve import Daemon

    if not logging.getLogger().isEnabledFor(logging.INFO):
        logging.getLogger().setLevel(logging.INFO)
    daemon = Daemon(ctx.db, ctx.config, with_bot=not no_bot, with_mailbox=not no_mailbox)
    asyncio.run(daemon.run())


@click.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("demo-out"),
              show_default=True, help="Where the database, report and letters go.")
@click.option("--days", type=int, default=7, show_default=True, help="Simulated days.")
@click.option("--no-pdf", is_flag=True, help="Write the letters as HTML only.")
def demo(out_dir: Path, days: int, no_pdf: bool) -> None:
    """Run a simulated week against local demo agencies and write demo-out/."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from shopper.demo.run import DEMO_START, run_demo

    console = Console()
    total = days * 24 * 3600
    with Progress(TextColumn("[bold]simulated week[/]"), BarColumn(), TextColumn("{task.description}"),
                  TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("", total=total)

        def progress(now):
            bar.update(task, completed=(now - DEMO_START).total_seconds(),
                       description=now.astimezone(DEMO_START.tzinfo).strftime("%a %m-%d %H:%M"))

        result = run_demo(out_dir, days=days, pdf=not no_pdf, progress=progress)
    table = Table(title=f"Ranking {result.period}")
    for column in ("rank", "agency", "score"):
        table.add_column(column)
    for row in result.ranking:
        total_score = "not assessed" if row.total is None else f"{row.total:.1f}"
        table.add_row(str(row.rank or "-"), f"{row.name} ({row.agency_id})", total_score)
    console.print(table)
    console.print(f"tests: {result.tests}")
    console.print(f"report   {result.report}")
    console.print(f"letters  {result.out_dir / 'letters'} ({len(result.letters)})")
    console.print(f"database {result.db_path}  (open it with: datasette {result.db_path})")


commands = [campaign, serve, demo]
