"""Commands of the scoring area: score, import, report, letters."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from shopper.cli import Context, pass_context
from shopper.errors import ShopperError


def _period(ctx: Context, period: str | None):
    from shopper.scoring import Period, latest_period

    return Period.parse(period) if period else latest_period(ctx.db)


def _fmt(value) -> str:
    return "未评议" if value is None else f"{value:.1f}"


@click.command()
@click.argument("agency", required=False)
@click.option("--period", help="Quarter like 2026Q4 or month like 2026-11 (default: newest with findings).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--explain", is_flag=True, help="List every finding and weight behind AGENCY's score.")
@pass_context
def score(ctx: Context, agency: str | None, period: str | None, as_json: bool, explain: bool) -> None:
    """Score and rank the agencies (article 5–7, 11), or show one agency's score.

    \b
      shopper score                      ranking of the newest period, with movement
      shopper score --period 2026Q4 --json
      shopper score jtw --explain        every finding and weight behind jtw's score
    """
    from shopper.ranking import ranking
    from shopper.scoring import explain as explain_score
    from shopper.scoring import explain_text

    p = _period(ctx, period)
    if explain and agency is None:
        raise ShopperError("--explain needs an agency: shopper score AGENCY --explain")
    rows = ranking(ctx.db, p, ctx.config, recompute=True)
    if agency is not None:
        mine = [r for r in rows if r.agency_id == agency]
        if not mine:
            raise ShopperError(f"no agency {agency!r}; `shopper score` lists the agencies")
        row = mine[0]
        if explain:
            detail = explain_score(ctx.db, agency, p, ctx.config)
            detail.update(rank=row.rank, previous_rank=row.previous_rank, movement=row.movement)
            if as_json:
                click.echo(json.dumps(detail, ensure_ascii=False, indent=2))
            else:
                click.echo(explain_text(detail))
                click.echo(f"  rank {row.rank if row.rank is not None else '—'} ({row.movement_label})")
            return
        if as_json:
            click.echo(json.dumps(row.as_dict(), ensure_ascii=False, indent=2))
            return
        rows = mine
    if as_json:
        click.echo(json.dumps({"period": str(p), "ranking": [r.as_dict() for r in rows]}, ensure_ascii=False, indent=2))
        return
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from shopper.rules import parts
    from shopper.scoring import PART_IDS

    console = Console() if sys.stdout.isatty() else Console(width=160)
    wide = console.width >= 110  # narrow terminal: leave out the imported sources and the names
    table = Table(title=f"评议考核排名 {p}（未评议 = not assessed）", box=box.SIMPLE_HEAD, padding=(0, 1))
    headers = ["名次", "升降", "部门", "总分"] + [parts()[pid].zh[-2:] for pid in PART_IDS]
    headers += ["公众", "专家", "名称"] if wide else []
    for header in headers:
        if header == "名称":
            table.add_column(header, overflow="ellipsis", no_wrap=True, min_width=6)
        else:
            table.add_column(header, justify="left" if header == "部门" else "right", no_wrap=True)
    for r in rows:
        table.add_row(
            str(r.rank) if r.rank is not None else "—", r.movement_label, r.agency_id, _fmt(r.total),
            *[_fmt(r.score.parts[pid].value) for pid in PART_IDS],
            *([_fmt(r.score.sources["public"].value), _fmt(r.score.sources["experts"].value), r.name] if wide else []),
        )
    console.print(table)
    notes = [n for r in rows for n in r.score.notes] if agency else []
    for note in notes:
        click.echo(f"note: {note}")


@click.command(name="import")
@click.argument("source", type=click.Choice(["public", "experts"]))
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_context
def import_(ctx: Context, source: str, file: Path) -> None:
    """Import public-evaluation or experts' scores from CSV (agency_id,period,score).

    Bad rows are reported by line and skipped; good rows are kept. Importing the same file again
    changes nothing. Exit code 1 when some rows were skipped."""
    from shopper.imports import import_scores

    result = import_scores(ctx.db, source, file)
    for line, reason in result.errors:
        click.echo(f"{file}:{line}: skipped: {reason}", err=True)
    click.echo(result.summary())
    if result.errors:
        sys.exit(1)


@click.command()
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write the site into.")
@click.option("--period", help="Quarter like 2026Q4 or month like 2026-11 (default: newest with findings).")
@pass_context
def report(ctx: Context, out_dir: Path, period: str | None) -> None:
    """Write the static HTML report: ranking, a page per agency, charts, evidence."""
    from rich.progress import Progress

    from shopper.report import write_report

    p = _period(ctx, period)
    with Progress(transient=True) as progress:
        task = progress.add_task("agency pages", total=None)

        def step(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        index = write_report(ctx.db, out_dir, period=p, config=ctx.config, progress=step)
    click.echo(f"report    {index}")


@click.command()
@click.option("--agency", help="Only this agency.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write the letters into.")
@click.option("--pdf", is_flag=True, help="Also print each letter to PDF with Chromium.")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@click.option("--period", help="Quarter like 2026Q4 or month like 2026-11 (default: newest with findings).")
@pass_context
def letters(ctx: Context, agency: str | None, out_dir: Path, pdf: bool, lang: str, period: str | None) -> None:
    """Write a 整改通知 to every agency with failures (none for an agency with nothing to rectify)."""
    from shopper.letters import write_letters

    p = _period(ctx, period)
    written = write_letters(ctx.db, out_dir, agency=agency, pdf=pdf, lang=lang, period=p, config=ctx.config)
    if not written:
        who = f"agency {agency}" if agency else "any agency"
        click.echo(f"no letter: {who} has nothing to rectify in {p}")
    for path in written:
        click.echo(f"letter    {path}")


commands = [score, import_, report, letters]
