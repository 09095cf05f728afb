"""The bot, for real: python-telegram-bot talking to a local Bot API stand-in."""

from __future__ import annotations

import pytest

from tests.fixtures.bot import STRANGER, SUPERVISOR, VIEWER

pytestmark = pytest.mark.usefixtures("sim_clock")  # Monday 2026-11-30 10:00 in Shanghai


async def test_help_in_each_users_language(start_bot, botapi):
    bot = await start_bot()
    botapi.message(SUPERVISOR, "/help")
    zh = await botapi.wait_for("sendMessage", SUPERVISOR)
    assert "/test 部门 场景" in zh.text
    botapi.message(VIEWER, "/help")
    en = await botapi.wait_for("sendMessage", VIEWER)
    assert "/test AGENCY SCENARIO" in en.text
    await bot.stop()


async def test_stranger_is_refused_once_and_logged(start_bot, botapi, db, caplog):
    bot = await start_bot()
    for text in ["/help", "/agencies", "hello", "/test jtw c1"]:
        botapi.message(STRANGER, text)
    await botapi.wait_for("sendMessage", STRANGER, contains="未获授权")
    await botapi.settle()
    assert len(botapi.sent(chat_id=STRANGER)) == 1
    rows = list(db["audit"].rows_where("user_id = ?", [str(STRANGER)]))
    assert [r["action"] for r in rows] == ["refused"]
    assert sum("refused Telegram user 6666" in r.getMessage() for r in caplog.records) == 4
    await bot.stop()
    # A restart does not earn the stranger a second refusal.
    bot = await start_bot()
    botapi.message(STRANGER, "/help")
    await botapi.settle()
    assert len(botapi.sent(chat_id=STRANGER)) == 1
    await bot.stop()
