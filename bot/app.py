"""Build the bot: the Telegram Application with its gate, handlers and error handler.

The gate runs before every handler (group -1): allowlisted users pass, a stranger gets one polite
refusal ever (see `bot.access`) and nothing else. Handlers find the database, config, allowlist
and captcha relay in `application.bot_data`.
"""

from __future__ import annotations

import logging

from telegram import BotCommand, Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot import commands
from bot.access import Access, record_stranger
from bot.messages import text
from bot.pushes import Pusher
from bot.relay import DEFAULT_TIMEOUT, TelegramSolver

log = logging.getLogger(__name__)

MENU = ["help", "agencies", "scenarios", "test", "status", "findings", "score", "ranking", "letter", "campaign"]


class RedactToken(logging.Filter):
    """Blank the bot token out of log messages and tracebacks."""

    def __init__(self, token: str):
        super().__init__()
        self.token = token

    def __eq__(self, other) -> bool:  # one filter per token, however often the bot starts
        return isinstance(other, RedactToken) and other.token == self.token

    def __hash__(self) -> int:
        return hash(self.token)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.token in message:
            record.msg, record.args = message.replace(self.token, "<token>"), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text and self.token in record.exc_text:
            record.exc_text = record.exc_text.replace(self.token, "<token>")
        return True


def protect_token(token: str) -> RedactToken:
    """Keep `token` out of the logs from here on."""
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    redact = RedactToken(token)
    for handler in [*logging.getLogger().handlers, logging.lastResort]:
        if handler is not None and redact not in handler.filters:
            handler.addFilter(redact)
    return redact


async def gate(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Let allowlisted users through; refuse a stranger once, log every attempt."""
    user = update.effective_user
    access: Access = context.application.bot_data["access"]
    if user is not None and access.get(user.id) is not None:
        return
    if user is None:  # channel posts and the like: nobody to answer
        raise ApplicationHandlerStop
    db = context.application.bot_data["db"]
    message = update.effective_message
    first = record_stranger(db, user.id, user.username or user.full_name, message.text if message else None)
    if update.callback_query is not None:
        await update.callback_query.answer()
    if first and update.effective_chat is not None:
        await context.bot.send_message(update.effective_chat.id, text("zh", "refusal"))
    raise ApplicationHandlerStop


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    log.error("handling an update failed: %s", context.error, exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat is not None:
        access: Access = context.application.bot_data["access"]
        user = access.get(update.effective_user.id) if update.effective_user else None
        try:
            await context.bot.send_message(update.effective_chat.id, text(user.lang if user else "zh", "error"))
        except Exception:  # the error reply is a courtesy; never loop on it
            log.debug("could not send the error reply", exc_info=True)


async def set_menu(application: Application) -> None:
    """The command menu Telegram shows beside the text field (called by `bot.run.serve`)."""
    try:
        await application.bot.set_my_commands([BotCommand(c, c) for c in MENU])
    except Exception as err:  # a menu is nice to have; the commands work without it
        log.info("could not set the command menu: %s", err)


def build_application(db, config, *, token: str, base_url: str | None = None, base_file_url: str | None = None,
                      relay_timeout: float | None = None, push_interval: float = 1.0) -> Application:
    """The bot, ready for `bot.run.serve`. `base_url`/`base_file_url` point it at another Bot API
    server (a local one, or the tests' stand-in)."""
    protect_token(token)  # the Bot logs its token-bearing URLs as soon as it is built
    access = Access.from_config(config)
    builder = ApplicationBuilder().token(token).concurrent_updates(True)
    if base_url:
        builder = builder.base_url(base_url)
    if base_file_url:
        builder = builder.base_file_url(base_file_url)
    application = builder.build()
    if relay_timeout is None:
        relay_timeout = float(config.get("bot", "relay_timeout", DEFAULT_TIMEOUT)) if config else DEFAULT_TIMEOUT
    solver = TelegramSolver(db, access, bot=application.bot, timeout=relay_timeout)
    application.bot_data.update(
        db=db, config=config, access=access, solver=solver,
        pusher=Pusher(db, config, access, application.bot, interval=push_interval),
    )
    application.add_handler(TypeHandler(Update, gate), group=-1)
    for name, callback in commands.COMMANDS.items():
        application.add_handler(CommandHandler(name, callback))
    application.add_handler(CallbackQueryHandler(commands.on_test_choice, pattern=rf"^{commands.CALLBACK_TEST}\|"))
    application.add_handler(MessageHandler(filters.COMMAND, commands.cmd_help))  # unknown commands
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, commands.on_text))
    application.add_error_handler(on_error)
    return application
