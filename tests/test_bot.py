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
    await bot.stop()  # stopping waits for every fetched update to be handled
    assert len(botapi.sent(chat_id=STRANGER)) == 1
    rows = list(db["audit"].rows_where("user_id = ?", [str(STRANGER)]))
    assert [r["action"] for r in rows] == ["refused"]
    assert sum("refused Telegram user 6666" in r.getMessage() for r in caplog.records) == 4
    # A restart does not earn the stranger a second refusal.
    bot = await start_bot()
    botapi.message(STRANGER, "/help")
    await botapi.settle()
    assert len(botapi.sent(chat_id=STRANGER)) == 1
    await bot.stop()


async def test_a_failing_command_gets_a_short_apology_and_is_logged(start_bot, botapi, db, caplog):
    db["agencies"].insert({"id": "bot-a", "name": "甲"})
    db.execute("DROP TABLE scores")  # scoring cannot store: the handler raises
    bot = await start_bot()
    botapi.message(VIEWER, "/score")
    reply = await botapi.wait_for("sendMessage", VIEWER)
    assert reply.text == "Something went wrong; it has been logged. Please try again later."
    assert any(r.levelname == "ERROR" and "handling an update failed" in r.getMessage() for r in caplog.records)
    # The bot is still there for the next command.
    botapi.message(VIEWER, "/agencies")
    await botapi.wait_for("sendMessage", VIEWER, contains="bot-a")
    await bot.stop()


@pytest.mark.parametrize("users, message", [
    ([{"role": "viewer"}], "needs a numeric id"),
    ([{"id": "abc"}], "needs a numeric id"),
    ([{"id": 5, "role": "admin"}], "role must be one of supervisor, viewer"),
])
def test_a_bad_allowlist_is_refused_with_a_clear_message(users, message):
    from bot.access import Access
    from shopper.config import Config
    from shopper.errors import ShopperError

    with pytest.raises(ShopperError, match=message):
        Access.from_config(Config(None, {"bot": {"users": users}}))
