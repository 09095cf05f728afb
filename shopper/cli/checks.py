"""`shopper check AGENCY`: the site checks (complaint column, links, online services, disclosure)."""

from __future__ import annotations

import json

import click

from shopper.cli import Context, pass_context

VERDICT_STYLE = {"pass": "green", "fail": "red", "undetermined": "yellow"}


@click.command("check")
@click.argument("agencies", nargs=-1)
@click.option("--all", "all_sites", is_flag=True, help="Check every site in the sites folder.")
@click.option("--depth", default=2, show_default=True, type=click.IntRange(0, 10), help="Link depth of the crawl.")
@click.option("--pages", default=50, show_default=True, type=click.IntRange(1, 10_000), help="Most pages to fetch.")
@click.option("--delay", default=0.2, show_default=True, type=click.FloatRange(0, 60),
              help="Seconds between two requests to the site.")
@click.option("--slow-after", default=15.0, show_default=True, type=click.FloatRange(0.1, 600),
              help="A page taking longer than this many seconds counts as slow.")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@pass_context
def check(ctx: Context, agencies: tuple[str, ...], all_sites: bool, depth: int, pages: int, delay: float,
          slow_after: float, as_json: bool) -> None:
    """Check the sites of AGENCIES: 监督投诉 column, broken links, online services, 附件一 disclosure.

    Writes one finding per agency and rule (subject check:AGENCY:RULE); running again updates them."""
    import asyncio

    from rich.console import Console
    from rich.table import Table

    from shopper.checks import require_http, run_checks_many
    from shopper.sites import load_site, load_sites

    if all_sites:
        sites = list(load_sites(ctx.config.sites_dir).values())
    elif agencies:
        sites = [load_site(agency, ctx.config.sites_dir) for agency in agencies]
    else:
        raise click.UsageError("name an agency (e.g. `shopper check jtw`) or pass --all")
    for site in sites:
        require_http(site)
    console = Console(stderr=True)
    with console.status(f"checking {len(sites)} site(s)") as status:
        results = asyncio.run(run_checks_many(ctx.db, ctx.config, sites, depth=depth, pages=pages, delay=delay,
                                              slow_after=slow_after, progress=lambda message: status.update(message)))
    if as_json:
        click.echo(json.dumps([{**r, "evidence": json.loads(r.pop("evidence_json") or "{}")}
                               for rows in results.values() for r in rows], ensure_ascii=False, indent=2))
        return
    out = Console()
    for site in sites:
        if site.id not in results:
            console.print(f"[yellow]{site.id}: not checked (see the log above)[/]")
            continue
        table = Table(title=f"{site.name} {site.homepage}")
        table.add_column("rule")
        table.add_column("verdict")
        table.add_column("detail")
        for row in results[site.id]:
            style = VERDICT_STYLE.get(row["verdict"], "")
            table.add_row(row["rule_id"], f"[{style}]{row['verdict']}[/]", row["detail"])
        out.print(table)


commands = [check]
