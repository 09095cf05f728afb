"""Every command through the real python-telegram-bot and the local Bot API stand-in."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.bot import SUPERVISOR, SUPERVISOR_EN, VIEWER

pytestmark = pytest.mark.usefixtures("sim_clock")  # Monday 2026-11-30 10:00 in Shanghai


async def ask(botapi, user, text, *, method="sendMessage", contains=None, timeout=5.0):
    since = botapi.mark()
    botapi.message(user, text)
    return await botapi.wait_for(method, user, since=since, contains=contains, timeout=timeout)


async def test_read_only_commands(start_bot, botapi, bot_data):
    bot = await start_bot()
    agencies = await ask(botapi, VIEWER, "/agencies")
    assert "bot-a — District A Transport" in agencies.text and "bot-b" in agencies.text
    assert "bot-a — 甲区交通委" in (await ask(botapi, SUPERVISOR, "/agencies")).text

    scenarios = (await ask(botapi, VIEWER, "/scenarios")).text
    assert "complaint-safety-hazard — complaint ⚠" in scenarios and "consultation-residence-permit" in scenarios

    recent = (await ask(botapi, VIEWER, "/status")).text.splitlines()
    assert recent[0].startswith("t-0000bbbb bot-b") and recent[1].startswith("t-0000aaaa bot-a")

    one = (await ask(botapi, VIEWER, "/status t-0000aaaa")).text
    assert "acknowledged" in one and "TS-2026-0042" in one
    assert "11-27 10:00 submitted (engine)" in one  # shown in Shanghai time
    assert "✗ complaint.ack_24h" in one and "evidence: abababababab" in one
    assert "No test t-nope" in (await ask(botapi, VIEWER, "/status t-nope")).text

    findings = (await ask(botapi, VIEWER, "/findings")).text
    assert "✗ bot-a complaint.ack_24h" in findings and "consult.reply_in_time" in findings
    only_a = (await ask(botapi, VIEWER, "/findings bot-a")).text
    assert "bot-b" not in only_a and "complaint.ack_states_deadline" in only_a
    recent_only = (await ask(botapi, VIEWER, "/findings 7d")).text  # bot-b's was observed in October
    assert "bot-a" in recent_only and "bot-b" not in recent_only
    assert "consult.reply_in_time" in (await ask(botapi, VIEWER, "/findings bot-b 2026-10-01")).text
    assert "No findings" in (await ask(botapi, VIEWER, "/findings bot-b 2026-11-01")).text

    score = (await ask(botapi, VIEWER, "/score")).text
    assert score.startswith("2026Q4") and "bot-a" in score and "bot-b" in score
    assert "bot-b" not in (await ask(botapi, VIEWER, "/score bot-a")).text
    ranking = (await ask(botapi, VIEWER, "/ranking")).text.splitlines()
    assert ranking[0] == "2026Q4" and ranking[1].startswith("1. bot-b")  # bot-a failed a rule
    await bot.stop()


BAD_ARGUMENTS = [
    ("/status a b", "Usage: /status [TEST]"),
    ("/findings a b c", "Usage: /findings"),
    ("/findings 2026-13-45", "Cannot read the date 2026-13-45"),
    ("/findings nosuch", "No agency nosuch"),
    ("/score a b", "Usage: /score [AGENCY]"),
    ("/score nosuch", "No agency nosuch"),
    ("/ranking now", "Usage: /ranking"),
    ("/letter", "Usage: /letter AGENCY"),
    ("/letter a b", "Usage: /letter AGENCY"),
    ("/letter nosuch", "No agency nosuch"),
    ("/test a b c", "Usage: /test AGENCY SCENARIO"),
    ("/test nosuch", "No agency nosuch"),
    ("/test bot-a nosuch", "No scenario nosuch"),
    ("/campaign bogus", "Usage: /campaign"),
    ("/campaign pause nosuch", "no campaign named 'nosuch'"),
    ("/frobnicate", "/test AGENCY SCENARIO"),  # an unknown command gets the help
]


async def test_bad_arguments_get_a_usage_line(start_bot, botapi, bot_data):
    bot = await start_bot()
    for text, expected in BAD_ARGUMENTS:
        reply = await ask(botapi, SUPERVISOR_EN, text)
        assert expected in reply.text, (text, reply.text)
        assert len(reply.text) < 700, text
    assert not list(bot_data["audit"].rows)  # nothing was changed, so nothing is audited
    await bot.stop()


async def test_viewer_cannot_change_anything(start_bot, botapi, bot_data):
    bot = await start_bot()
    for command in ["/test bot-a complaint-noise", "/test", "/letter bot-a", "/campaign pause winter"]:
        assert "You are a viewer" in (await ask(botapi, VIEWER, command)).text
    since = botapi.mark()
    botapi.callback(VIEWER, "t|bot-a|complaint-noise")
    alert = await botapi.wait_for("answerCallbackQuery", since=since)
    assert alert.params["show_alert"] is True and "viewer" in alert.params["text"]
    await botapi.settle()
    assert not botapi.sent("editMessageText")
    assert not list(bot_data["audit"].rows)
    assert bot_data["campaigns"].get("c-1")["state"] == "running"
    # ... but may read a campaign.
    assert "winter · running" in (await ask(botapi, VIEWER, "/campaign")).text
    await bot.stop()


async def test_test_with_the_inline_keyboard(start_bot, botapi, bot_data):
    bot = await start_bot()
    pick = await ask(botapi, SUPERVISOR, "/test")
    buttons = [b for row in pick.params["reply_markup"]["inline_keyboard"] for b in row]
    assert pick.text == "请选择要测试的部门：" and {b["callback_data"] for b in buttons} == {"t|bot-a", "t|bot-b"}

    since = botapi.mark()
    botapi.callback(SUPERVISOR, "t|bot-a", message_id=pick.message_id)
    edit = await botapi.wait_for("editMessageText", SUPERVISOR, since=since)
    assert edit.params["message_id"] == pick.message_id and "部门 bot-a" in edit.text
    choices = [b["callback_data"] for row in edit.params["reply_markup"]["inline_keyboard"] for b in row]
    assert "t|bot-a|complaint-noise" in choices and len(choices) == 8

    since = botapi.mark()
    botapi.callback(SUPERVISOR, "t|bot-a|complaint-noise", message_id=pick.message_id)
    done = await botapi.wait_for("editMessageText", SUPERVISOR, since=since)
    # No site file for this agency: said at once, nothing started, nothing audited.
    assert "测试未能完成" in done.text and "unknown site 'bot-a'" in done.text
    assert not list(bot_data["audit"].rows)

    one_arg = await ask(botapi, SUPERVISOR, "/test bot-b")
    assert "t|bot-b|suggestion-bus-shelter" in json.dumps(one_arg.params["reply_markup"])
    await bot.stop()


async def test_campaign_steering_is_audited(start_bot, botapi, bot_data, sim_clock):
    bot = await start_bot()
    status = (await ask(botapi, SUPERVISOR_EN, "/campaign status winter")).text
    assert status.startswith("winter · running")
    assert "Campaign winter: pause done" in (await ask(botapi, SUPERVISOR_EN, "/campaign pause winter")).text
    assert bot_data["campaigns"].get("c-1")["state"] == "paused"
    assert "批次 winter：resume 完成" in (await ask(botapi, SUPERVISOR, "/campaign resume winter")).text
    assert bot_data["campaigns"].get("c-1")["state"] == "running"
    audit = [(r["user_id"], r["action"], json.loads(r["args"]), r["at"]) for r in bot_data["audit"].rows]
    assert audit == [
        (str(SUPERVISOR_EN), "campaign.pause", {"name": "winter"}, "2026-11-30T02:00:00+00:00"),
        (str(SUPERVISOR), "campaign.resume", {"name": "winter"}, "2026-11-30T02:00:00+00:00"),
    ]
    await bot.stop()


async def test_letter_sends_the_pdf(start_bot, botapi, bot_data):
    bot = await start_bot()
    since = botapi.mark()
    botapi.message(SUPERVISOR_EN, "/letter bot-a")
    doc = await botapi.wait_for("sendDocument", SUPERVISOR_EN, since=since, timeout=40)
    filename, data = doc.files["document"]
    assert filename.endswith(".pdf") and data.startswith(b"%PDF")
    assert "bot-a" in doc.text
    (row,) = bot_data["audit"].rows
    assert (row["user_id"], row["action"]) == (str(SUPERVISOR_EN), "letter")
    # bot-b passed everything: no letter to send, and it says so.
    assert "No letter was written for bot-b" in (await ask(botapi, SUPERVISOR_EN, "/letter bot-b", timeout=40)).text
    await bot.stop()
