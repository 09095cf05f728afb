"""The bot's short texts, in Chinese and English, as data.

Each entry is a `str.format` template. `text(lang, key, **values)` picks the user's language and
falls back to Chinese, the office's working language.
"""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "zh": {
        "help": (
            "神秘访客机器人 — 命令：\n"
            "/agencies — 被测部门列表\n"
            "/scenarios — 测试场景列表\n"
            "/test 部门 场景 — 发起一次测试（不带参数时用按钮选择）\n"
            "/status [测试编号] — 最近测试或一次测试的时间线\n"
            "/findings [部门] [起始日期] — 测评发现\n"
            "/score [部门] — 最近一期得分\n"
            "/ranking — 最近一期排名\n"
            "/letter 部门 — 发送整改通知书（PDF）\n"
            "/campaign — 测试批次（list / status / start / pause / resume）\n"
            "/help — 本帮助\n"
            "验证码或短信验证码请求出现时，直接回复所看到的字符即可。"
        ),
        "refusal": "您好，这是一个内部工具，您的账号未获授权。如需使用，请联系网站监督处。\n"
        "Hello, this is an internal tool and your account is not authorised.",
        "viewer_only": "您是只读用户，不能执行 {command}。请联系监督处负责人。",
        "usage": "用法：{usage}",
        "not_available": "{what}功能尚未就绪，请稍后再试。",
        "campaigns_unavailable": "测试批次功能尚未就绪。",
        "no_agencies": "还没有登记任何部门。请先运行 shopper 导入部门。",
        "no_scenarios": "没有找到测试场景文件。",
        "unknown_agency": "没有编号为 {agency} 的部门。用 /agencies 查看。",
        "unknown_scenario": "没有名为 {scenario} 的场景。用 /scenarios 查看。",
        "unknown_test": "没有编号为 {test} 的测试。",
        "pick_agency": "请选择要测试的部门：",
        "pick_scenario": "部门 {agency}，请选择场景：",
        "test_started": "已开始测试：部门 {agency}，场景 {scenario}。提交后会通知您。",
        "test_done": "测试 {test} 已{state}。查看：/status {test}",
        "test_failed": "测试未能完成：{error}",
        "no_tests": "还没有测试。",
        "no_findings": "没有符合条件的测评发现。",
        "no_scores": "{period} 还没有得分。",
        "no_ranking": "{period} 还没有排名。",
        "letter_none": "没有为 {agency} 生成通知书（没有不合格的发现？）。",
        "letter_caption": "{agency} 整改通知书",
        "bad_date": "无法识别日期 {value}，请写成 2026-11-01 或 7d。",
        "error": "出错了，已记录。请稍后再试。",
        "captcha_ask": "测试 {test}（{agency}）遇到验证码，请回复图中字符（{minutes} 分钟内）。",
        "sms_ask": "测试 {test}（{agency}）需要发送到 {phone} 的短信验证码，请回复验证码（{minutes} 分钟内）。",
        "answer_thanks": "收到，已填入。",
        "answer_late": "这个验证码请求已经超时或已回答。",
        "digest_line": "过去24小时：新测试 {tests}，收到受理 {acks}，收到答复 {replies}，超期未答 {overdue}，不合格发现 {fails}。",
        "campaign_list_empty": "还没有测试批次。",
        "campaign_done": "批次 {name}：{action} 完成。",
        "push_submitted": "📨 已提交",
        "push_acknowledged": "📬 已受理",
        "push_replied": "✉️ 已答复",
        "push_deadline_passed": "⏰ 超期未答",
        "push_failed": "❌ 测试失败",
        "push_uncertain": "❓ 提交结果不确定",
        "push_captcha": "🔐 验证码",
        "push_digest": "📋 每日汇总",
        "push_see": "详情：/status {test}",
        "state_submitted": "提交",
        "state_failed": "失败",
        "state_uncertain": "提交（结果不确定）",
    },
    "en": {
        "help": (
            "Mystery-shopper bot — commands:\n"
            "/agencies — agencies under test\n"
            "/scenarios — test scenarios\n"
            "/test AGENCY SCENARIO — start a test (buttons when arguments are missing)\n"
            "/status [TEST] — recent tests, or one test's timeline\n"
            "/findings [AGENCY] [since] — findings\n"
            "/score [AGENCY] — scores of the latest period\n"
            "/ranking — ranking of the latest period\n"
            "/letter AGENCY — send the compliance letter (PDF)\n"
            "/campaign — campaigns (list / status / start / pause / resume)\n"
            "/help — this help\n"
            "When asked for a captcha or SMS code, just reply with the characters."
        ),
        "refusal": "您好，这是一个内部工具，您的账号未获授权。如需使用，请联系网站监督处。\n"
        "Hello, this is an internal tool and your account is not authorised.",
        "viewer_only": "You are a viewer and cannot run {command}. Ask a supervisor.",
        "usage": "Usage: {usage}",
        "not_available": "{what} is not available yet; try again later.",
        "campaigns_unavailable": "Campaigns are not available yet.",
        "no_agencies": "No agencies registered yet. Import agencies with shopper first.",
        "no_scenarios": "No scenario files found.",
        "unknown_agency": "No agency {agency}. See /agencies.",
        "unknown_scenario": "No scenario {scenario}. See /scenarios.",
        "unknown_test": "No test {test}.",
        "pick_agency": "Which agency should be tested?",
        "pick_scenario": "Agency {agency}: which scenario?",
        "test_started": "Test started: agency {agency}, scenario {scenario}. You will be told when it is submitted.",
        "test_done": "Test {test} {state}. See /status {test}",
        "test_failed": "The test could not be completed: {error}",
        "no_tests": "No tests yet.",
        "no_findings": "No findings match.",
        "no_scores": "No scores for {period} yet.",
        "no_ranking": "No ranking for {period} yet.",
        "letter_none": "No letter was written for {agency} (no failed findings?).",
        "letter_caption": "Compliance letter for {agency}",
        "bad_date": "Cannot read the date {value}; write 2026-11-01 or 7d.",
        "error": "Something went wrong; it has been logged. Please try again later.",
        "captcha_ask": "Test {test} ({agency}) hit a captcha: reply with the characters in the image (within {minutes} min).",
        "sms_ask": "Test {test} ({agency}) needs the SMS code sent to {phone}: reply with the code (within {minutes} min).",
        "answer_thanks": "Got it, filled in.",
        "answer_late": "That request has already timed out or been answered.",
        "digest_line": "Last 24 hours: {tests} new tests, {acks} acknowledgements, {replies} replies, {overdue} deadlines passed, {fails} failed findings.",
        "campaign_list_empty": "No campaigns yet.",
        "campaign_done": "Campaign {name}: {action} done.",
        "push_submitted": "📨 Submitted",
        "push_acknowledged": "📬 Acknowledged",
        "push_replied": "✉️ Replied",
        "push_deadline_passed": "⏰ Deadline passed",
        "push_failed": "❌ Test failed",
        "push_uncertain": "❓ Submission uncertain",
        "push_captcha": "🔐 Captcha",
        "push_digest": "📋 Daily digest",
        "push_see": "Details: /status {test}",
        "state_submitted": "submitted",
        "state_failed": "failed",
        "state_uncertain": "submitted (uncertain)",
    },
}

USAGE: dict[str, str] = {
    "test": "/test AGENCY SCENARIO",
    "status": "/status [TEST]",
    "findings": "/findings [AGENCY] [since: 2026-11-01 | 7d]",
    "score": "/score [AGENCY]",
    "ranking": "/ranking",
    "letter": "/letter AGENCY",
    "campaign": "/campaign [list | status NAME | start NAME | pause NAME | resume NAME]",
}

LANGS = tuple(TEXTS)


def text(lang: str | None, key: str, **values) -> str:
    table = TEXTS.get(lang or "zh", TEXTS["zh"])
    template = table.get(key) or TEXTS["zh"][key]
    return template.format(**values) if values else template


def usage(lang: str | None, command: str) -> str:
    return text(lang, "usage", usage=USAGE[command])
