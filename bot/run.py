"""Run the bot: long polling, or a webhook for deployments behind HTTPS.

`serve(application, ...)` drives the Application lifecycle by hand (initialize, start, polling or
webhook, then stop and shutdown) so the bot can also run inside `shopper serve` beside other
asyncio work; the push loop runs beside it. The token is never logged: httpx's request lines carry
it in the URL, so that logger is kept at WARNING, and a filter blanks it from every log record.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import signal
from urllib.parse import urlsplit

from telegram import Update

from bot.app import RedactToken, build_application, protect_token, set_menu  # noqa: F401 (re-exported)
from shopper.errors import ShopperError

log = logging.getLogger(__name__)


def bot_token(config) -> str:
    token = config.secret("bot_token")
    if not token:
        raise ShopperError("no bot token: set SHOPPER_BOT_TOKEN or bot_token in the secrets file named by "
                           "secrets_file in the config (get a token from @BotFather)")
    return token.strip()


def webhook_secret(config, token: str) -> str:
    """The secret Telegram sends back with each webhook call (set `webhook_secret` to choose one)."""
    return config.secret("webhook_secret") or hashlib.sha256(f"shopper-webhook:{token}".encode()).hexdigest()[:48]


async def _webhook_server(application, *, listen: str, port: int, path: str, secret: str) -> asyncio.AbstractServer:
    """A small HTTP endpoint that puts the updates Telegram posts into the application's queue.
    TLS is the reverse proxy's job, as usual for bots behind HTTPS."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        status = "400 Bad Request"
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = (lines[0].split(" ") + ["", "", ""])[:3]
            headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
            length = int(headers.get("content-length", "0") or 0)
            body = await asyncio.wait_for(reader.readexactly(length), 10) if 0 < length <= 10_000_000 else b""
            if method != "POST" or urlsplit(target).path.rstrip("/") != path.rstrip("/"):
                status = "404 Not Found"
            elif headers.get("x-telegram-bot-api-secret-token") != secret:
                status = "403 Forbidden"
            else:
                update = Update.de_json(json.loads(body), application.bot)
                await application.update_queue.put(update)
                status = "200 OK"
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError, UnicodeDecodeError) as err:
            log.info("bad webhook request: %s", err)
        try:
            writer.write(f"HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
        finally:
            writer.close()

    return await asyncio.start_server(handle, listen, port)


async def serve(application, *, stop: asyncio.Event, webhook_url: str | None = None, listen: str = "127.0.0.1",
                port: int = 8443, secret: str | None = None, poll_timeout: float = 10,
                ready: asyncio.Event | None = None) -> None:
    """Run `application` until `stop` is set: long polling, or a webhook at `webhook_url` whose
    HTTP side listens on `listen:port`. `ready` is set once updates are being received."""
    pusher = application.bot_data["pusher"]
    server = None
    protect_token(application.bot.token)
    await application.initialize()
    try:
        await set_menu(application)
        await application.start()
        if webhook_url:
            path = urlsplit(webhook_url).path or "/"
            server = await _webhook_server(application, listen=listen, port=port, path=path, secret=secret or "")
            await application.bot.set_webhook(url=webhook_url, secret_token=secret, allowed_updates=Update.ALL_TYPES)
            log.info("bot: webhook %s, listening on %s:%s", webhook_url, listen, port)
        else:
            await application.updater.start_polling(timeout=poll_timeout, allowed_updates=Update.ALL_TYPES)
            log.info("bot: long polling")
        pushes = asyncio.create_task(pusher.run(stop), name="pushes")
        if ready is not None:
            ready.set()
        try:
            await stop.wait()
        finally:
            stop.set()
            try:
                await asyncio.wait_for(pushes, 30)  # let the push being sent finish and be stamped
            except (asyncio.TimeoutError, asyncio.CancelledError):
                pushes.cancel()
    finally:
        if server is not None:
            server.close()
            await server.wait_closed()
        if application.updater and application.updater.running:
            await application.updater.stop()
        if application.running:
            await application.stop()
        await application.shutdown()


def application_from_config(db, config):
    """The bot as the config describes it (token from the secrets; `[bot] api_url`/`api_file_url`
    for a self-hosted Bot API server). For `shopper serve`: `await serve(app, stop=stop)`, and
    hand `app.bot_data["solver"]` (the TelegramSolver) to the engine that runs campaign tests."""
    token = bot_token(config)
    protect_token(token)  # before anything can log it
    application = build_application(db, config, token=token, base_url=config.get("bot", "api_url"),
                                    base_file_url=config.get("bot", "api_file_url"))
    if not application.bot_data["access"].users:
        log.warning("no [[bot.users]] in the config: the bot will refuse everyone")
    return application


def run(db, config, *, webhook_url: str | None = None, listen: str = "127.0.0.1", port: int = 8443) -> None:
    """`shopper bot`: run until Ctrl-C or SIGTERM."""
    application = application_from_config(db, config)
    token = application.bot.token

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):
                pass
        await serve(application, stop=stop, webhook_url=webhook_url, listen=listen, port=port,
                    secret=webhook_secret(config, token) if webhook_url else None)

    asyncio.run(main())
