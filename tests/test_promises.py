"""Reading promised time limits out of replies (shopper.promises)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from shopper.calendar import BusinessCalendar
from shopper.promises import chinese_number, find_promise, read_promise

SHANGHAI = timezone(timedelta(hours=8))
THU = datetime(2026, 12, 3, 10, 0, tzinfo=SHANGHAI)  # Thursday


@pytest.mark.parametrize("text, expected", [
    ("我们将在15个工作日内答复您。", {"n": 15, "unit": "workday"}),
    ("办理时限为十五个工作日。", {"n": 15, "unit": "workday"}),
    ("我们将于十五个工作日内回复。", {"n": 15, "unit": "workday"}),
    ("我们会在3日内与您联系。", {"n": 3, "unit": "day"}),
    ("将在48小时内电话联系您。", {"n": 48, "unit": "hour"}),
    ("二十个工作日内办结。", {"n": 20, "unit": "workday"}),
    ("我们将在两个工作日内答复。", {"n": 2, "unit": "workday"}),
    ("五天内给予答复。", {"n": 5, "unit": "day"}),
    ("将在两周内答复。", {"n": 14, "unit": "day"}),
    ("处理期限为一个月。", {"n": 30, "unit": "day"}),
    ("我们将在１０个工作日内答复。", {"n": 10, "unit": "workday"}),
    ("我们将于12月20日前答复。", {"date": "2026-12-20"}),
    ("我们将于12月20日之前回复您。", {"date": "2026-12-20"}),
    ("将于2026年12月20日前办结。", {"date": "2026-12-20"}),
    ("将于二〇二六年...", None),
    ("我单位将于次日下班前给予响应。", {"date": "2026-12-04"}),
    ("我们会在月底前把处理情况反馈给您。", {"date": "2026-12-31"}),
    ("We will reply within 10 working days.", {"n": 10, "unit": "workday"}),
    ("We will reply within ten business days.", {"n": 10, "unit": "workday"}),
    ("A response will be provided within 48 hours.", {"n": 48, "unit": "hour"}),
    ("We will reply by 20 December.", {"date": "2026-12-20"}),
    ("We will reply by December 18th.", {"date": "2026-12-18"}),
    ("We will write to you by 20 December 2026.", {"date": "2026-12-20"}),
    ("We will respond by close of business tomorrow.", {"date": "2026-12-04"}),
])
def test_deadline_forms(text, expected):
    assert find_promise(text, THU) == expected


@pytest.mark.parametrize("text", [
    "因涉及多个部门，目前暂无法确定办理时限，我们会尽快处理。",
    "我们会尽快答复您。",
    "我们无法保证在10个工作日内办结。",
    "如对本决定不服，可在六十日内申请行政复议。",
    "可在收到答复之日起30日内向上一级机关申请复查。",
    "本中心工作时间为周一至周五9:00-17:00。",
    "执法人员已责令该店在15日内整改。",
    "该问题已于3日内处理完毕。",
    "新生儿出生后三个月内办理参保登记的，自出生之日起享受待遇。",
    "We will respond as soon as possible.",
    "We will get back to you in due course.",
    "Our office hours are 9am to 5pm, Monday to Friday.",
    "You may apply for administrative reconsideration within 60 days.",
    "We are unable to give a timeframe for a reply at this stage.",
    "The decision is normally issued within 20 working days of acceptance.",
    "",
])
def test_no_promise(text):
    assert find_promise(text, THU) is None


def test_month_day_in_the_past_is_next_year():
    dec28 = datetime(2026, 12, 28, 10, 0, tzinfo=SHANGHAI)
    assert find_promise("您的投诉已受理，我们将于1月5日前答复您。", dec28) == {"date": "2027-01-05"}
    assert find_promise("Your complaint will be answered by 5 January.", dec28) == {"date": "2027-01-05"}
    # ...but a date later in the same year stays in it.
    assert find_promise("我们将于12月30日前答复。", dec28) == {"date": "2026-12-30"}


def test_reference_day_is_taken_in_the_agency_zone():
    # 23:30 UTC on 3 December is already 4 December in Shanghai: 次日 is the 7th (Monday).
    late = datetime(2026, 12, 3, 23, 30, tzinfo=timezone.utc)
    assert find_promise("将于次日下班前答复。", late) == {"date": "2026-12-07"}


def test_next_working_day_close_skips_the_weekend():
    friday = datetime(2026, 12, 4, 15, 0, tzinfo=SHANGHAI)
    promise = read_promise("来件已登记，将于次日下班前给予响应。", friday)
    assert promise.value == {"date": "2026-12-07"}
    assert promise.by_close is True
    assert "close of business" in promise.note


def test_next_working_day_follows_the_agency_calendar():
    # 1 October 2026 is National Day: from 30 September the next working day is after the holiday.
    cal = BusinessCalendar()
    sept30 = datetime(2026, 9, 30, 10, 0, tzinfo=SHANGHAI)
    day = date.fromisoformat(find_promise("将于明天下班前答复。", sept30, calendar=cal)["date"])
    assert day == cal.next_working_day(date(2026, 9, 30))
    assert day > date(2026, 10, 3)


def test_quoted_original_is_not_a_promise():
    text = "您的来信已收悉。\n\n-----原始邮件-----\n请在5个工作日内给我答复。"
    assert find_promise(text, THU) is None
    text = "We have received your complaint.\n> Please reply within 3 days."
    assert find_promise(text, THU) is None


def test_first_promise_wins_and_quote_is_its_sentence():
    promise = read_promise("您好！来信已收悉。我们将在10个工作日内答复，最迟不超过12月31日前。", THU)
    assert promise.value == {"n": 10, "unit": "workday"}
    assert "10个工作日" in promise.quote


def test_date_reference_and_naive_reference():
    assert find_promise("我们将于12月20日前答复。", date(2026, 12, 3)) == {"date": "2026-12-20"}
    assert find_promise("我们将于12月20日前答复。", datetime(2026, 12, 3, 10)) == {"date": "2026-12-20"}


def test_invalid_dates_and_absurd_limits_are_ignored():
    assert find_promise("我们将于2月30日前答复。", THU) is None
    assert find_promise("有效期为五年，将在3650日内完成。", THU) is None


@pytest.mark.parametrize("text, n", [
    ("15", 15), ("十五", 15), ("二十", 20), ("两", 2), ("十", 10), ("一百零五", 105), ("三十", 30),
    ("二十五", 25), ("１５", 15), ("半", None), ("", None),
])
def test_chinese_numerals(text, n):
    assert chinese_number(text) == n


def test_default_reference_is_the_program_clock(sim_clock):
    # The simulated clock stands at 2026-11-30 10:00 Shanghai.
    assert find_promise("我们将于1月5日前答复。") == {"date": "2027-01-05"}
    assert find_promise("我们将于12月5日前答复。") == {"date": "2026-12-05"}


@pytest.mark.parametrize("text, expected", [
    ("我们将于本周五前答复。", {"date": "2026-12-04"}),
    ("我们将于下周一前答复。", {"date": "2026-12-07"}),
    ("我们将于下星期五之前答复。", {"date": "2026-12-11"}),
    ("We will reply by Friday.", {"date": "2026-12-04"}),
    ("We will reply by next Monday.", {"date": "2026-12-07"}),
])
def test_weekday_deadlines(text, expected):
    assert find_promise(text, THU) == expected
