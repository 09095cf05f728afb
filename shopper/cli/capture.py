"""Commands of the capture area: watch the mailbox, show a test's timeline, work the unmatched queue."""

from __future__ import annotations

import asyncio
import json

import click

from shopper.cli import Context, pass_context
from shopper.errors import ShopperError


def _local(iso: str | None, tz) -> str:
    if not iso:
        return "-"
    from shopper.clock import from_iso

    return from_iso(iso).astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


@click.command()
@click.option("--once", is_flag=True, help="Read what is new, raise passed deadlines, and exit.")
@click.option("--host", help="IMAP host (default: [mailbox] host in the config).")
@click.option("--port", type=int, help="IMAP port.")
@click.option("--user", help="IMAP user.")
@click.option("--tls/--plain", default=None, help="Implicit TLS (imaps) or plain IMAP (loopback only).")
@click.option("--folder", help="Folder to watch (default INBOX).")
@click.option("--no-idle", is_flag=True, help="Poll even if the server has IDLE.")
@click.option("--poll", "poll_interval", type=float, help="Seconds between polls without IDLE.")
@click.option("--status-pages/--no-status-pages", default=False,
              help="Also poll the agencies' status pages (needs Chromium).")
@pass_context
def watch(ctx: Context, once, host, port, user, tls, folder, no_idle, poll_interval, status_pages) -> None:
    """Watch the mailbox (IMAP IDLE) and record every acknowledgement and reply.

    The password comes from SHOPPER_IMAP_PASSWORD or the secrets file, never the command line."""
    from shopper.mailbox import MailboxSettings, MailboxWatcher

    settings = MailboxSettings.from_config(
        ctx.config, host=host, port=port, user=user, tls=tls, folder=folder,
        use_idle=False if no_idle else None, poll_interval=poll_interval,
    )

    def shown(row: dict) -> None:
        test = row.get("test_id") or "unmatched"
        click.echo(f"{row['received_at']}  {test:12} {row.get('matched_by') or '-':14} {row.get('subject') or ''}")

    watcher = MailboxWatcher(ctx.db, settings, config=ctx.config, on_message=shown)
    if once:
        count = asyncio.run(watcher.run(once=True))
        if status_pages:
            from shopper.poller import poll_due

            asyncio.run(poll_due(ctx.db, ctx.config, force=True))
        click.echo(f"{count} new message(s) from {settings.name}")
        return
    click.echo(f"watching {settings.name}; Ctrl-C stops")

    async def main():
        tasks = [asyncio.create_task(watcher.run())]
        if status_pages:
            from shopper.poller import StatusPoller

            tasks.append(asyncio.create_task(StatusPoller(ctx.db, ctx.config).run()))
        await asyncio.gather(*tasks)

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        click.echo("stopped")


@click.command()
@click.argument("test_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
def status(ctx: Context, test_id: str, as_json: bool) -> None:
    """Show one test: its state, every event with its time window, and its pending deadlines."""
    from shopper.calendar import zone
    from shopper.clock import get_clock, to_iso
    from shopper.timeline import due_deadlines, timeline

    db = ctx.db
    row = db.execute("SELECT * FROM tests WHERE id = ?", [test_id]).fetchone()
    if row is None:
        raise ShopperError(f"no test {test_id!r}; test ids look like t-3f9a1c2b")
    columns = [c[0] for c in db.execute("SELECT * FROM tests LIMIT 0").description]
    test = dict(zip(columns, row))
    agency = db.execute("SELECT name, timezone FROM agencies WHERE id = ?", [test["agency_id"]]).fetchone()
    tz = zone((agency[1] if agency else None) or ctx.config.timezone)
    events = timeline(db, test_id)
    pending = [d for d in due_deadlines(db, get_clock().now()) if d["test_id"] == test_id]
    if as_json:
        click.echo(json.dumps({"test": test, "events": events,
                               "pending": [{**d, "deadline": to_iso(d["deadline"])} for d in pending]},
                              ensure_ascii=False, indent=2, default=str))
        return
    click.echo(f"{test_id}  {agency[0] if agency else test['agency_id']}  {test.get('kind') or ''}"
               f"{' (important)' if test.get('important') else ''}  state {test['state']}")
    if test.get("reference_number"):
        click.echo(f"reference {test['reference_number']}")
    click.echo(f"times in {tz.key}")
    for e in events:
        window = ""
        if e["window_start"] and e["window_end"] and e["window_start"] != e["window_end"]:
            window = f"  (between {_local(e['window_start'], tz)} and {_local(e['window_end'], tz)})"
        detail = e["detail"] or {}
        what = detail.get("rule") or detail.get("status") or detail.get("subject") or ""
        click.echo(f"  {_local(e['at'], tz)}  {e['kind']:16} {e['source']:12} {what}{window}")
    for d in pending:
        click.echo(f"  due {_local(to_iso(d['deadline']), tz)}  {d['rule']} ({d['basis']})")


@click.command()
@click.option("--limit", type=int, default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
def unmatched(ctx: Context, limit: int, as_json: bool) -> None:
    """Messages that match no test: assign them with `shopper assign MESSAGE TEST`."""
    from shopper.matching import unmatched as queue

    rows = queue(ctx.db, limit)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("no unmatched messages")
    for r in rows:
        flag = "  [not fully decoded]" if r.get("decode_error") else ""
        click.echo(f"{r['id']:6}  {r['received_at']}  {r['from_addr'] or '-':32} {r['subject'] or ''}{flag}")


@click.command()
@click.argument("message_id", type=int)
@click.argument("test_id")
@pass_context
def assign(ctx: Context, message_id: int, test_id: str) -> None:
    """Tie an unmatched message to its test by hand (records the event and grades it)."""
    from shopper.ingest import assign as assign_message

    event = assign_message(ctx.db, message_id, test_id, ctx.config)
    if event is None:
        click.echo(f"message {message_id} already belongs to {test_id}")
    else:
        click.echo(f"message {message_id} -> {test_id}")


commands = [watch, status, unmatched, assign]
