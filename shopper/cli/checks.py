"""`shopper check AGENCY`: the site checks (complaint column, links, online services, disclosure)."""

from __future__ import annotations

import json

import click

from shopper.cli import Context, pass_context

VERDICT_STYLE = {"pass": "green", "fail": "red", "undetermined": "yellow"}


@click.command("check")
@click.argument("agency")
@click.option("--depth", default=2, show_default=True, type=click.IntRange(0, 10), help="Link depth of the crawl.")
@click.option("--pages", default=50, show_default=True, type=click.IntRange(1, 10_000), help="Most pages to fetch.")
@click.option("--delay", default=0.2, show_default=True, type=click.FloatRange(0, 60),
              help="Seconds between two requests to the site.")
@click.option("--slow-after", default=15.0, show_default=True, type=click.FloatRange(0.1, 600),
              help="A page taking longer than this many seconds counts as slow.")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@pass_context
def check(ctx: Context, agency: str, depth: int, pages: int, delay: float, slow_after: float, as_json: bool) -> None:
    """Check AGENCY's site: 监督投诉 column, broken links, online services, 附件一 disclosure.

    Writes one finding per rule (subject check:AGENCY:RULE); running again updates them."""
    from rich.console import Console
    from rich.table import Table

    from shopper.checks import check_site
    from shopper.sites import load_site

    console = Console(stderr=True)
    site = load_site(agency, ctx.config.sites_dir)
    with console.status(f"checking {site.name} ({site.homepage})") as status:
        rows = check_site(ctx.db, ctx.config, site, depth=depth, pages=pages, delay=delay, slow_after=slow_after,
                          progress=lambda message: status.update(message))
    if as_json:
        click.echo(json.dumps([{**r, "evidence": json.loads(r.pop("evidence_json") or "{}")} for r in rows],
                              ensure_ascii=False, indent=2))
        return
    table = Table(title=f"{site.name} {site.homepage}")
    table.add_column("rule")
    table.add_column("verdict")
    table.add_column("detail")
    for row in rows:
        style = VERDICT_STYLE.get(row["verdict"], "")
        table.add_row(row["rule_id"], f"[{style}]{row['verdict']}[/]", row["detail"])
    Console().print(table)


commands = [check]
