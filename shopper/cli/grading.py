"""Commands of the grading area: `shopper grade`."""

from __future__ import annotations

import json
import sys
from datetime import datetime, time

import click

from shopper.cli import pass_context
from shopper.errors import ShopperError

KINDS = ("complaint", "consultation", "suggestion", "application", "application-status")
MAX_BYTES = 1_000_000 * 4  # beyond this a "reply" is not a reply


def read_reply(source: str) -> str:
    """The reply text from a file or stdin ("-"), decoded; a clear error for what is not text."""
    try:
        if source == "-":
            data = sys.stdin.buffer.read(MAX_BYTES + 1)
        else:
            with open(source, "rb") as handle:
                data = handle.read(MAX_BYTES + 1)
    except OSError as err:
        raise ShopperError(f"cannot read {source}: {err.strerror or err}") from err
    name = "standard input" if source == "-" else source
    if len(data) > MAX_BYTES:
        raise ShopperError(f"{name} is over {MAX_BYTES // 1_000_000} MB; a reply is a few pages of text, give just its body")
    if b"\x00" in data[:8192]:
        raise ShopperError(f"{name} looks binary, not text; give the reply's text (a .txt, or the body of the e-mail)")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ShopperError(f"{name} is neither UTF-8 nor GB18030 text; convert it to UTF-8 first")
    sample = text[:8192]
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\n\r\t\f") + sample.count("\ufffd")
    if sample and controls / len(sample) > 0.05:
        raise ShopperError(f"{name} looks binary, not text; give the reply's text (a .txt, or the body of the e-mail)")
    if not text.strip():
        raise ShopperError(f"{name} is empty; give the text of one reply (a file, or - and pipe it in)")
    return text


@click.command("grade")
@click.argument("source", required=False, metavar="[FILE|-]")
@click.option("--kind", type=click.Choice(KINDS), help="What the test was (helps read suggestions).")
@click.option("--lang", type=click.Choice(["zh", "en"]), help="Language of the reply (detected when left out).")
@click.option("--date", "reply_date", type=click.DateTime(["%Y-%m-%d"]),
              help="Day the reply was written, for dates without a year (default: today by the program clock).")
@click.option("--all", "grade_everything", is_flag=True, help="Grade every test and write its findings.")
@pass_context
def grade(ctx, source: str | None, kind: str | None, lang: str | None, reply_date: datetime | None,
          grade_everything: bool) -> None:
    """Grade one reply (print its JSON), or with --all write the findings of every test.

    \b
      shopper grade reply.txt --kind complaint
      cat reply.txt | shopper grade -
      shopper grade --all
    """
    if grade_everything:
        if source:
            raise ShopperError("give either a reply to grade or --all, not both")
        _grade_all(ctx)
        return
    if not source:
        if sys.stdin is None or sys.stdin.isatty():
            raise ShopperError("give a reply to grade: a file, or - to read standard input (or --all for every test)")
        source = "-"  # piped in: `cat reply.txt | shopper grade`
    from shopper.grading import MAX_CHARS, grade_text

    text = read_reply(source)
    if kind == "application":
        kind = "application-status"
    reference = None
    if reply_date is not None:
        from shopper.calendar import zone

        reference = datetime.combine(reply_date.date(), time(12, 0), tzinfo=zone(ctx.config.timezone))
    if len(text) > MAX_CHARS:
        click.echo(f"shopper: the text is long; graded its first {MAX_CHARS:,} characters", err=True)
    result = grade_text(text, kind=kind, lang=lang, reference=reference)
    click.echo(json.dumps(result, ensure_ascii=False, indent=2))


def _grade_all(ctx) -> None:
    from rich.progress import Progress

    from shopper.findings import grade_all

    with Progress(transient=True) as progress:
        task = progress.add_task("grading tests", total=None)

        def tick(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        counts = grade_all(ctx.db, ctx.config, progress=tick)
    click.echo(
        f"graded {counts['tests']} tests: {counts['findings']} findings "
        f"({counts['inserted']} new, {counts['updated']} changed, {counts['unchanged']} unchanged, "
        f"{counts['removed']} withdrawn)" + (f"; {counts['errors']} tests could not be graded (see the log)" if counts["errors"] else "")
    )


commands = [grade]
