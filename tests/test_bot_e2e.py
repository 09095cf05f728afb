"""End to end: a supervisor starts a test from Telegram, solves the demo site's captcha in the
chat, and hears that it was submitted. Real bot, real Chromium, the real demo world."""

from __future__ import annotations

import hashlib
import urllib.request

import pytest

from shopper import agencies
from shopper.config import PROJECT_ROOT, Config
from shopper.sites import load_sites
from tests.fixtures.bot import SUPERVISOR, VIEWER

pytestmark = pytest.mark.slow


def harness_answer(world, image: bytes) -> str:
    url = f"{world.base_url}/__harness/captcha?sha={hashlib.sha256(image).hexdigest()}"
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode().strip()


async def test_test_from_telegram_with_the_captcha_typed_in_the_chat(world, world_clock, start_bot, botapi, db, tmp_path):
    config = Config(tmp_path / "config.toml", {
        "paths": {"scenarios": str(PROJECT_ROOT / "scenarios"), "evidence": str(tmp_path / "evidence")},
        "bot": {"users": [{"id": SUPERVISOR, "role": "supervisor", "lang": "zh"},
                          {"id": VIEWER, "role": "viewer", "lang": "en"}]},
    })
    agencies.sync(db, load_sites(config.sites_dir))
    bot = await start_bot(config=config, relay_timeout=60)
    since = botapi.mark()
    botapi.message(SUPERVISOR, "/test jtw complaint-noise")
    started = await botapi.wait_for("sendMessage", SUPERVISOR, since=since)
    assert "已开始测试：部门 jtw，场景 complaint-noise" in started.text, started.text

    photo = await botapi.wait_for("sendPhoto", SUPERVISOR, since=since, timeout=60)
    assert "遇到验证码" in photo.text
    answer = harness_answer(world, photo.files["photo"][1])
    botapi.message(SUPERVISOR, answer, reply_to=photo.message_id)
    await botapi.wait_for("sendMessage", SUPERVISOR, since=since, contains="收到，已填入")

    pushed = await botapi.wait_for("sendMessage", SUPERVISOR, since=since, contains="📨 已提交", timeout=60)
    (test,) = db["tests"].rows
    assert test["started_by"] == str(SUPERVISOR) and test["state"] == "submitted" and test["reference_number"]
    assert test["id"] in pushed.text and f"/status {test['id']}" in pushed.text
    assert not botapi.sent(chat_id=VIEWER)  # the viewer did not start it
    (audit,) = db["audit"].rows
    assert (audit["user_id"], audit["action"]) == (str(SUPERVISOR), "test")
    await bot.stop()


async def test_an_unanswered_captcha_fails_the_test_with_a_clear_reason(world, world_clock, start_bot, botapi, db, tmp_path):
    config = Config(tmp_path / "config.toml", {
        "paths": {"scenarios": str(PROJECT_ROOT / "scenarios"), "evidence": str(tmp_path / "evidence")},
        "bot": {"users": [{"id": SUPERVISOR, "role": "supervisor", "lang": "zh"}]},
    })
    agencies.sync(db, load_sites(config.sites_dir))
    bot = await start_bot(config=config, relay_timeout=1.0)
    since = botapi.mark()
    botapi.message(SUPERVISOR, "/test jtw complaint-noise")
    await botapi.wait_for("sendPhoto", SUPERVISOR, since=since, timeout=60)
    failed = await botapi.wait_for("sendMessage", SUPERVISOR, since=since, contains="❌", timeout=60)
    assert "nobody typed the captcha" in failed.text, failed.text
    (test,) = db["tests"].rows
    assert test["state"] == "failed" and "nobody typed the captcha" in (test["error"] or "")
    # The supervisor's silence says nothing about the agency: no finding against its site.
    assert db["findings"].count_where("test_id = ?", [test["id"]]) == 0
    await bot.stop()
