"""Foundation commands: init, rules, deadline."""

from __future__ import annotations

import json
from datetime import datetime

import click

from shopper import deadlines
from shopper.calendar import BusinessCalendar, OfficeHours, load_overrides
from shopper.cli import Context, pass_context
from shopper.config import write_template
from shopper.db import SCHEMA_VERSION, open_database
from shopper.errors import ShopperError
from shopper.rules import all_rules, get_rule


@click.command()
@click.option("--force", is_flag=True, help="Overwrite an existing config file.")
@pass_context
def init(ctx: Context, force: bool) -> None:
    """Create the database and a commented config file."""
    open_database(ctx.db_path)
    click.echo(f"database  {ctx.db_path} (schema version {SCHEMA_VERSION})")
    config_path = ctx.config_path or ctx.config.path
    if write_template(config_path, force=force):
        click.echo(f"config    {config_path}")
    else:
        click.echo(f"config    {config_path} (kept; --force to overwrite)")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def rules(as_json: bool) -> None:
    """List the rules shopper checks, with their clauses."""
    found = all_rules()
    if as_json:
        click.echo(json.dumps({rid: r.__dict__ for rid, r in found.items()}, ensure_ascii=False, indent=2))
        return
    for rule in found.values():
        click.echo(f"{rule.id:32} {rule.clause:12} {rule.gloss}")


def _parse_time(text: str, cal: BusinessCalendar | None) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as err:
        raise ShopperError(f"cannot read the time {text!r}; write it like 2026-10-09T18:30+08:00") from err
    if moment.tzinfo is None:
        if cal is None:
            raise ShopperError(f"{text!r} has no UTC offset and no --site gives a time zone; add +08:00")
        moment = moment.replace(tzinfo=cal.tz)
    return moment


def _calendar(ctx: Context, site: str | None) -> BusinessCalendar | None:
    overrides = load_overrides(ctx.config.calendar_overrides)
    if site is None:
        return None
    from shopper.sites import load_site  # the site files belong to the submission engine

    spec = load_site(site, ctx.config.sites_dir)
    return BusinessCalendar(
        country=spec.calendar, timezone=spec.timezone, hours=OfficeHours.parse(spec.office_hours), overrides=overrides
    )


_RULE_DEADLINES = {"ack_24h": "ack_24h", "same_day": "same_day", "promised": "promised"}


@click.command()
@click.argument("rule")
@click.option("--received", help="When the complaint was received (ISO-8601 with offset).")
@click.option("--from", "start", help="Start of a promised time limit (ISO-8601 with offset).")
@click.option("--n", type=int, help="Promised time limit: how many units.")
@click.option("--unit", type=click.Choice(deadlines.UNITS), help="Promised time limit: its unit.")
@click.option("--site", help="Site file whose calendar, zone and office hours apply.")
@click.option("--json", "as_json", is_flag=True, help="Add the calendar used and whether it is confirmed.")
@pass_context
def deadline(ctx: Context, rule: str, received, start, n, unit, site, as_json) -> None:
    """Print the deadline a rule implies: ack_24h, same_day or promised.

    \b
      shopper deadline ack_24h  --received 2026-10-09T18:30+08:00
      shopper deadline same_day --received 2026-10-09T18:30+08:00 [--site jtw]
      shopper deadline promised --from 2026-09-28T10:00+08:00 --n 15 --unit workday
    """
    kind = _RULE_DEADLINES.get(rule) or _RULE_DEADLINES.get(get_rule(rule).deadline)
    if kind is None:
        raise ShopperError(f"rule {rule!r} has no deadline of its own; use ack_24h, same_day or promised")
    cal = _calendar(ctx, site)
    if cal is None:
        cal = BusinessCalendar(timezone=ctx.config.timezone, overrides=load_overrides(ctx.config.calendar_overrides))
    if kind == "promised":
        if start is None or n is None or unit is None:
            raise ShopperError("promised needs --from ISO --n N --unit workday|day|hour")
        result = deadlines.promised(_parse_time(start, cal if site else None), n, unit, cal)
    else:
        if received is None:
            raise ShopperError(f"{kind} needs --received ISO")
        moment = _parse_time(received, cal if site else None)
        result = getattr(deadlines, kind)(moment, cal)
    if not result.confirmed:
        click.echo(
            f"warning: no confirmed holiday schedule for {', '.join(map(str, result.unconfirmed_years))}; "
            f"add it to {ctx.config.calendar_overrides}",
            err=True,
        )
    if as_json:
        click.echo(json.dumps(result.as_dict(), ensure_ascii=False))
    else:
        click.echo(result.at.isoformat())


commands = [init, rules, deadline]
