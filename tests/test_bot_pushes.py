"""Pushes from the outbox, the daily digest, the captcha relay, restarts, webhook mode, the token."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from click.testing import CliRunner
from PIL import Image

from bot.relay import RelayTimeout
from bot.run import RedactToken
from shopper import notify
from tests.fixtures.bot import SUPERVISOR, SUPERVISOR_EN, VIEWER

pytestmark = pytest.mark.usefixtures("sim_clock")  # Monday 2026-11-30 10:00 in Shanghai


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (90, 30), "white").save(out, "PNG")
    return out.getvalue()


async def until(predicate, timeout=5.0):
    for _ in range(int(timeout / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


async def test_a_queued_push_arrives_at_the_right_chat(start_bot, botapi, bot_data):
    bot = await start_bot()
    # The test was started by the English supervisor: only they hear about it, in English.
    nid = notify.push(bot_data, "acknowledged", "受理回执：来信已收悉，15个工作日内答复。", test_id="t-0000aaaa")
    call = await botapi.wait_for("sendMessage", SUPERVISOR_EN, contains="Acknowledged t-0000aaaa")
    assert "15个工作日内答复" in call.text and "/status t-0000aaaa" in call.text
    await until(lambda: bot_data["notifications"].get(nid)["sent_at"] == "2026-11-30T02:00:00+00:00")
    # Started from the CLI: every supervisor hears, the viewer does not.
    notify.push(bot_data, "deadline_passed", "答复期限已过。", test_id="t-0000bbbb")
    zh = await botapi.wait_for("sendMessage", SUPERVISOR, contains="超期未答 t-0000bbbb")
    assert "详情：/status t-0000bbbb" in zh.text
    await botapi.wait_for("sendMessage", SUPERVISOR_EN, contains="Deadline passed t-0000bbbb")
    # A test of a campaign started by nobody in particular goes to the campaign's owner.
    bot_data["tests"].insert({"id": "t-0000cccc", "agency_id": "bot-a", "state": "submitted",
                              "campaign_id": "c-1", "started_by": "scheduler"})
    notify.push(bot_data, "submitted", "已提交。", test_id="t-0000cccc")
    await botapi.wait_for("sendMessage", SUPERVISOR, contains="已提交 t-0000cccc")
    # An explicit chat wins.
    notify.push(bot_data, "failed", "for the viewer", chat_id=str(VIEWER))
    await botapi.wait_for("sendMessage", VIEWER, contains="for the viewer")
    await botapi.settle()
    assert not botapi.sent(chat_id=VIEWER)[1:]
    assert not [c for c in botapi.sent(chat_id=SUPERVISOR_EN) if "t-0000cccc" in c.text]
    assert not notify.pending(bot_data)
    await bot.stop()


async def test_pushes_wait_while_telegram_is_unreachable(start_bot, botapi, bot_data):
    bot = await start_bot()
    botapi.down = True
    nid = notify.push(bot_data, "replied", "答复已到。", test_id="t-0000aaaa")
    await asyncio.sleep(0.6)  # several rounds of the push loop
    assert bot_data["notifications"].get(nid)["sent_at"] is None
    botapi.down = False
    await botapi.wait_for("sendMessage", SUPERVISOR_EN, contains="答复已到")
    await until(lambda: bot_data["notifications"].get(nid)["sent_at"] is not None)
    await bot.stop()


async def test_a_restart_loses_no_push(start_bot, botapi, bot_data):
    bot = await start_bot()
    notify.push(bot_data, "submitted", "before the restart", test_id="t-0000aaaa")
    await botapi.wait_for("sendMessage", SUPERVISOR_EN, contains="before the restart")
    await bot.stop()
    # Queued while the bot is down ...
    ids = [notify.push(bot_data, "acknowledged", f"while down {i}", test_id="t-0000aaaa") for i in range(3)]
    await asyncio.sleep(0.3)
    assert len(notify.pending(bot_data)) == 3
    # ... sent, once each and in order, when it is back.
    since = botapi.mark()
    bot = await start_bot()
    await until(lambda: not notify.pending(bot_data))
    texts = [c.text for c in botapi.sent("sendMessage", SUPERVISOR_EN, since=since)]
    assert [t.splitlines()[1] for t in texts] == ["while down 0", "while down 1", "while down 2"]
    assert all(bot_data["notifications"].get(i)["sent_at"] for i in ids)
    await bot.stop()


async def test_daily_digest_at_the_configured_hour(start_bot, botapi, bot_data, sim_clock):
    bot = await start_bot()
    await asyncio.sleep(0.3)  # 10:00 in Shanghai: no digest yet
    assert not botapi.sent("sendMessage")
    bot_data["events"].insert({"test_id": "t-0000bbbb", "kind": "replied", "at": "2026-11-30T09:00:00+00:00"})
    sim_clock.advance(timedelta(hours=8))  # 18:00 in Shanghai
    en = await botapi.wait_for("sendMessage", SUPERVISOR_EN, contains="Daily digest 2026-11-30")
    # The tests and findings are days old; the reply came today.
    assert "0 new tests, 0 acknowledgements, 1 replies, 0 deadlines passed, 0 failed findings" in en.text
    await botapi.wait_for("sendMessage", SUPERVISOR, contains="每日汇总 2026-11-30")
    await botapi.wait_for("sendMessage", VIEWER, contains="Daily digest 2026-11-30")
    sim_clock.advance(timedelta(hours=3))  # later the same evening: no second digest
    await asyncio.sleep(0.4)
    assert len([c for c in botapi.sent() if "2026-11-30" in c.text]) == 3
    sim_clock.advance(timedelta(hours=21))  # next day 18:00
    await botapi.wait_for("sendMessage", SUPERVISOR, contains="每日汇总 2026-12-01")
    await bot.stop()


async def test_captcha_relay_round_trip(start_bot, botapi, bot_data):
    bot = await start_bot()
    image = png()
    solving = asyncio.create_task(bot.solver.captcha(image, test_id="t-0000aaaa", agency_id="bot-a"))
    photo = await botapi.wait_for("sendPhoto", SUPERVISOR_EN)  # the one who started the test
    assert photo.files["photo"][1] == image
    assert "Test t-0000aaaa (bot-a) hit a captcha" in photo.text
    assert not solving.done()
    since = botapi.mark()
    botapi.message(SUPERVISOR_EN, " x7Kp ", reply_to=photo.message_id)
    assert await asyncio.wait_for(solving, 5) == "x7Kp"
    await botapi.wait_for("sendMessage", SUPERVISOR_EN, since=since, contains="Got it")

    # An SMS code, answered without replying to the question.
    solving = asyncio.create_task(bot.solver.sms_code("13800138000", test_id="t-0000bbbb", agency_id="bot-b"))
    asks = await botapi.wait_for("sendMessage", SUPERVISOR, contains="13800138000")  # started from the CLI:
    await botapi.wait_for("sendMessage", SUPERVISOR_EN, contains="13800138000")  # every supervisor is asked
    assert "短信验证码" in asks.text
    botapi.message(SUPERVISOR, "482913")
    assert await asyncio.wait_for(solving, 5) == "482913"
    # A late answer is told so, not taken for anything else.
    since = botapi.mark()
    botapi.message(SUPERVISOR_EN, "999999", reply_to=asks.message_id)
    await botapi.wait_for("sendMessage", SUPERVISOR_EN, since=since, contains="already timed out or been answered")
    await bot.stop()


async def test_captcha_relay_times_out_instead_of_hanging(start_bot, botapi, bot_data):
    bot = await start_bot(relay_timeout=0.5)
    with pytest.raises(RelayTimeout, match="nobody typed the captcha for test t-0000aaaa within 0.5 s"):
        await asyncio.wait_for(bot.solver.captcha(png(), test_id="t-0000aaaa", agency_id="bot-a"), 5)
    await botapi.wait_for("sendPhoto", SUPERVISOR_EN)
    # The engine's steps turn a ShopperError from the solver into a failed step with this reason.
    from shopper.errors import ShopperError

    assert issubclass(RelayTimeout, ShopperError)
    await bot.stop()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, payload: dict, secret: str) -> int:
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                     headers={"Content-Type": "application/json",
                                              "X-Telegram-Bot-Api-Secret-Token": secret})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


async def test_webhook_mode(start_bot, botapi, bot_data):
    port = _free_port()
    url = f"http://127.0.0.1:{port}/telegram/hook"
    bot = await start_bot(webhook_url=url, port=port, secret="s3cret-token")
    assert botapi.webhook == {"url": url, "secret_token": "s3cret-token"}
    update = botapi.message_update(SUPERVISOR_EN, "/agencies")
    update["update_id"] = 777
    assert await asyncio.to_thread(_post, url, update, "wrong") == 403
    assert await asyncio.to_thread(_post, url, update, "s3cret-token") == 200
    reply = await botapi.wait_for("sendMessage", SUPERVISOR_EN)
    assert "bot-a — District A Transport" in reply.text
    assert len(botapi.sent("sendMessage")) == 1  # the forged one was not handled
    assert not botapi.sent("getUpdates")
    await bot.stop()


async def test_the_token_never_reaches_the_logs(start_bot, botapi, bot_data, caplog):
    caplog.set_level(logging.DEBUG)
    try:
        bot = await start_bot()  # serve() protects the token itself, also when embedded elsewhere
        logging.getLogger("httpx").setLevel(logging.DEBUG)  # even if someone turns httpx up again
        botapi.message(SUPERVISOR, "/help")
        await botapi.wait_for("sendMessage", SUPERVISOR)
        await bot.stop()
        text = caplog.text
        assert botapi.base_url.split("/bot")[0] in text  # the API's URLs were logged ...
        assert botapi.token not in text  # ... without the token
        assert "<token>" in text
    finally:
        logging.getLogger("httpx").setLevel(logging.WARNING)
        for handler in [*logging.getLogger().handlers, logging.lastResort]:
            handler.removeFilter(RedactToken(botapi.token))


def test_cli_needs_a_token(monkeypatch, tmp_path):
    from shopper.cli import main

    monkeypatch.delenv("SHOPPER_BOT_TOKEN", raising=False)
    result = CliRunner().invoke(main, ["--db", str(tmp_path / "x.db"), "bot"])
    assert result.exit_code == 2 and "no bot token" in result.output
    result = CliRunner().invoke(main, ["--db", str(tmp_path / "x.db"), "bot", "--webhook", "http://example.invalid/x"])
    assert result.exit_code == 2 and "must be an https:// URL" in result.output
