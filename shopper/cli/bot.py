"""`shopper bot`: run the Telegram bot (long polling, or a webhook behind HTTPS)."""

from __future__ import annotations

import click

from shopper.cli import Context, pass_context
from shopper.errors import ShopperError


@click.command()
@click.option("--webhook", "webhook_url", metavar="URL",
              help="Public HTTPS URL Telegram should post updates to (default: long polling).")
@click.option("--listen", default="127.0.0.1", show_default=True, help="Address the webhook endpoint listens on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8443, show_default=True,
              help="Port the webhook endpoint listens on (behind the HTTPS proxy).")
@pass_context
def bot(ctx: Context, webhook_url: str | None, listen: str, port: int) -> None:
    """Run the Telegram bot for supervisors. Token from SHOPPER_BOT_TOKEN or the secrets file."""
    if webhook_url and not webhook_url.startswith("https://"):
        raise ShopperError(f"--webhook must be an https:// URL (Telegram only posts to HTTPS), not {webhook_url!r}")
    if (listen != "127.0.0.1" or port != 8443) and not webhook_url:
        raise ShopperError("--listen and --port only apply with --webhook URL")
    from bot.run import run

    click.echo("bot: " + (f"webhook {webhook_url} on {listen}:{port}" if webhook_url else "long polling") + " (Ctrl-C stops)")
    run(ctx.db, ctx.config, webhook_url=webhook_url, listen=listen, port=port)


commands = [bot]
