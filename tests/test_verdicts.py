"""Timing verdicts (shopper.verdicts): every timed rule, pass / fail / undetermined / no finding."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from shopper.clock import from_iso
from shopper.sites import load_site_file
from shopper.timeline import timeline
from shopper.verdicts import TIMING_RULES, Observation, judge, timing_verdicts

SH = timezone(timedelta(hours=8))


def t(text: str) -> datetime:
    return datetime.fromisoformat(text)


def verdicts(bed, test_id: str, now: str, *, auto_ack_counts: bool = True, rules=TIMING_RULES) -> dict:
    site = load_site_file(bed.site_path)
    test = bed.db["tests"].get(test_id)
    messages = {}
    for row in bed.db.query("SELECT * FROM messages WHERE test_id = ?", [test_id]):
        import json

        row["message_type"] = json.loads(row["graded_json"])["message_type"]
        messages[row["id"]] = row
    found = timing_verdicts(test, timeline(bed.db, test_id), messages, site=site, cal=site.business_calendar(),
                            now=t(now), rules=set(rules), auto_ack_counts=auto_ack_counts)
    return {f.rule_id: f for f in found}


# ------------------------------------------------------------------------------ judge


def obs(start: str, end: str | None = None) -> Observation:
    return Observation("replied", t(end or start), t(start), t(end or start), "email")


@pytest.mark.parametrize("answers, now, expected", [
    ([obs("2026-12-03T12:00+08:00")], "2026-12-10T00:00+08:00", "pass"),
    ([obs("2026-12-05T12:00+08:00")], "2026-12-10T00:00+08:00", "fail"),
    ([obs("2026-12-04T08:00+08:00", "2026-12-04T12:00+08:00")], "2026-12-10T00:00+08:00", "undetermined"),
    ([obs("2026-12-04T10:00+08:00")], "2026-12-10T00:00+08:00", "pass"),  # exactly at the deadline
    ([], "2026-12-10T00:00+08:00", "fail"),  # unanswered, deadline passed
    ([], "2026-12-04T09:00+08:00", None),  # unanswered, deadline still ahead: no finding yet
    ([obs("2026-12-06T12:00+08:00"), obs("2026-12-03T12:00+08:00")], "2026-12-10T00:00+08:00", "pass"),
])
def test_judge(answers, now, expected):
    verdict, _ = judge(t("2026-12-04T10:00+08:00"), answers, t(now))
    assert verdict == expected


# ------------------------------------------------------------------------------ complaint.ack_24h


def test_ack_24h_pass_quotes_local_times(grading_bed):
    test_id = grading_bed.make_test("complaint", "2026-12-03T10:00+08:00")
    grading_bed.answer(test_id, "您好，您的投诉已受理，我们将在15个工作日内答复。", "2026-12-03T15:20+08:00")
    f = verdicts(grading_bed, test_id, "2026-12-05T00:00+08:00")["complaint.ack_24h"]
    assert f.verdict == "pass"
    assert f.deadline_at == t("2026-12-04T10:00+08:00")
    assert "2026-12-03 10:00 (Asia/Shanghai)" in f.detail and "2026-12-03 15:20" in f.detail
    assert f.times["deadline"] == "2026-12-04T10:00:00+08:00"
    assert f.message_id is not None


def test_ack_24h_late_is_fail(grading_bed):
    test_id = grading_bed.make_test("complaint", "2026-12-03T10:00+08:00")
    grading_bed.answer(test_id, "您的投诉已受理。", "2026-12-04T11:00+08:00")
    f = verdicts(grading_bed, test_id, "2026-12-05T00:00+08:00")["complaint.ack_24h"]
    assert f.verdict == "fail" and "逾期" in f.detail


def test_ack_24h_window_straddling_is_undetermined(grading_bed):
    test_id = grading_bed.make_test("complaint", "2026-12-03T10:00+08:00")
    # Seen on the status page at 11:00, not yet at 09:00: it came some time in between.
    grading_bed.answer(test_id, "您的投诉已受理。", "2026-12-04T11:00+08:00", window_start="2026-12-04T09:00+08:00",
                       source="status_page")
    f = verdicts(grading_bed, test_id, "2026-12-05T00:00+08:00")["complaint.ack_24h"]
    assert f.verdict == "undetermined"
    assert f.times["window_start"] == "2026-12-04T09:00:00+08:00"
    assert "无法判定" in f.detail


def test_unanswered_ack_fails_after_the_deadline_and_waits_before(grading_bed):
    test_id = grading_bed.make_test("complaint", "2026-12-03T10:00+08:00")
    assert "complaint.ack_24h" not in verdicts(grading_bed, test_id, "2026-12-04T09:59+08:00")
    f = verdicts(grading_bed, test_id, "2026-12-04T10:01+08:00")["complaint.ack_24h"]
    assert f.verdict == "fail" and "仍未收到" in f.detail and f.observed_at is None


def test_the_sites_own_success_page_is_no_acknowledgement(grading_bed):
    from shopper.timeline import record_event

    test_id = grading_bed.make_test("complaint", "2026-12-03T10:00+08:00")
    # Even recorded as "acknowledged", a confirmation seen by the engine at submission is not one.
    record_event(grading_bed.db, test_id, "acknowledged", at="2026-12-03T02:00:05+00:00", source="engine",
                 dedupe_key="success-page")
    assert verdicts(grading_bed, test_id, "2026-12-05T00:00+08:00")["complaint.ack_24h"].verdict == "fail"


def test_auto_notice_counts_as_receipt_only_by_policy(grading_bed):
    test_id = grading_bed.make_test("complaint", "2026-12-03T10:00+08:00")
    grading_bed.answer(test_id, "【系统通知】您提交的信件已成功接收。此邮件由系统自动发送，请勿直接回复。", "2026-12-03T10:01+08:00")
    assert verdicts(grading_bed, test_id, "2026-12-05T00:00+08:00")["complaint.ack_24h"].verdict == "pass"
    off = verdicts(grading_bed, test_id, "2026-12-05T00:00+08:00", auto_ack_counts=False)
    assert off["complaint.ack_24h"].verdict == "fail"


# ------------------------------------------------------------------------------ complaint.important_same_day


@pytest.mark.parametrize("submitted, answered, deadline, expected", [
    ("2026-12-03T10:00+08:00", "2026-12-03T16:30+08:00", "2026-12-03T17:00+08:00", "pass"),
    ("2026-12-03T10:00+08:00", "2026-12-03T17:30+08:00", "2026-12-03T17:00+08:00", "fail"),
    # after hours: the next working day's close
    ("2026-12-03T18:30+08:00", "2026-12-04T16:00+08:00", "2026-12-04T17:00+08:00", "pass"),
    # Saturday: Monday's close
    ("2026-12-05T11:00+08:00", "2026-12-07T16:59+08:00", "2026-12-07T17:00+08:00", "pass"),
    ("2026-12-05T11:00+08:00", "2026-12-07T17:01+08:00", "2026-12-07T17:00+08:00", "fail"),
    # before opening on a working day: that day's complaint
    ("2026-12-03T07:00+08:00", "2026-12-03T16:00+08:00", "2026-12-03T17:00+08:00", "pass"),
])
def test_important_same_day(grading_bed, submitted, answered, deadline, expected):
    test_id = grading_bed.make_test("complaint", submitted, important=True)
    grading_bed.answer(test_id, "您好，您反映的安全隐患已收到，已派员现场处置。", answered)
    f = verdicts(grading_bed, test_id, "2026-12-20T00:00+08:00")["complaint.important_same_day"]
    assert (f.verdict, f.deadline_at) == (expected, t(deadline))


def test_same_day_only_for_important_complaints(grading_bed):
    test_id = grading_bed.make_test("complaint", "2026-12-03T10:00+08:00", important=False)
    assert "complaint.important_same_day" not in verdicts(grading_bed, test_id, "2026-12-20T00:00+08:00")


def test_same_day_straddling_window_is_undetermined(grading_bed):
    test_id = grading_bed.make_test("complaint", "2026-12-03T10:00+08:00", important=True)
    grading_bed.answer(test_id, "已收到，已派员处置。", "2026-12-03T18:00+08:00", window_start="2026-12-03T16:00+08:00",
                       source="status_page")
    assert verdicts(grading_bed, test_id, "2026-12-20T00:00+08:00")["complaint.important_same_day"].verdict == "undetermined"


# ------------------------------------------------------------------------------ complaint.reply_by_deadline


@pytest.mark.parametrize("ack, deadline", [
    ("您的投诉已受理，我们将于12月10日前答复。", "2026-12-10T23:59:59+08:00"),
    ("您的投诉已受理，我们将于2026年12月10日前答复。", "2026-12-10T23:59:59+08:00"),
    ("您的投诉已受理，我们将在5个工作日内答复。", "2026-12-10T23:59:59+08:00"),
    ("您的投诉已受理，我们将在五个工作日内答复。", "2026-12-10T23:59:59+08:00"),
    ("您的投诉已受理，我们将在3日内答复。", "2026-12-06T23:59:59+08:00"),
    ("您的投诉已受理，我们将在48小时内答复。", "2026-12-05T10:00:00+08:00"),
    ("您的投诉已受理，我们将于次日下班前答复。", "2026-12-04T17:00:00+08:00"),
    ("Your complaint has been received. We will reply within 5 working days.", "2026-12-10T23:59:59+08:00"),
    ("Your complaint has been received. We will reply by 10 December.", "2026-12-10T23:59:59+08:00"),
])
def test_reply_deadline_is_the_one_stated(grading_bed, ack, deadline):
    test_id = grading_bed.make_test("complaint", "2026-12-03T10:00+08:00")
    grading_bed.answer(test_id, ack, "2026-12-03T12:00+08:00")
    f = verdicts(grading_bed, test_id, "2026-12-30T00:00+08:00")["complaint.reply_by_deadline"]
    assert f.deadline_at == t(deadline)
    assert f.verdict == "fail"  # never answered
    assert f.quote  # the promise is quoted


def test_reply_by_deadline_pass_and_fail_against_the_promise(grading_bed):
    on_time = grading_bed.make_test("complaint", "2026-12-03T10:00+08:00")
    grading_bed.answer(on_time, "您的投诉已受理，我们将于12月10日前答复。", "2026-12-03T12:00+08:00")
    grading_bed.answer(on_time, "经核查，您反映的问题已处理完毕，已责令整改。", "2026-12-09T15:00+08:00")
    late = grading_bed.make_test("complaint", "2026-12-03T10:00+08:00")
    grading_bed.answer(late, "您的投诉已受理，我们将于12月10日前答复。", "2026-12-03T12:00+08:00")
    grading_bed.answer(late, "经核查，您反映的问题已处理完毕，已责令整改。", "2026-12-11T09:00+08:00")
    assert verdicts(grading_bed, on_time, "2026-12-30T00:00+08:00")["complaint.reply_by_deadline"].verdict == "pass"
    f = verdicts(grading_bed, late, "2026-12-30T00:00+08:00")["complaint.reply_by_deadline"]
    assert f.verdict == "fail" and "承诺" in f.detail


def test_reply_by_close_of_business_promise(grading_bed):
    test_id = grading_bed.make_test("complaint", "2026-12-03T10:00+08:00")
    grading_bed.answer(test_id, "来件已登记，我们将于次日下班前给予答复。", "2026-12-03T11:00+08:00")
    grading_bed.answer(test_id, "经核查，问题已解决。", "2026-12-04T18:00+08:00")
    f = verdicts(grading_bed, test_id, "2026-12-30T00:00+08:00")["complaint.reply_by_deadline"]
    assert f.deadline_at == t("2026-12-04T17:00+08:00") and f.verdict == "fail"


def test_reply_deadline_falls_back_to_the_published_limit(grading_bed):
    # No limit stated: the site publishes 15 working days → Thursday 24 December, end of day.
    test_id = grading_bed.make_test("complaint", "2026-12-03T10:00+08:00")
    grading_bed.answer(test_id, "您的投诉已受理。", "2026-12-03T12:00+08:00")
    grading_bed.answer(test_id, "经核查，问题已解决。", "2026-12-24T20:00+08:00")
    f = verdicts(grading_bed, test_id, "2026-12-30T00:00+08:00")["complaint.reply_by_deadline"]
    assert f.deadline_at == t("2026-12-24T23:59:59+08:00")
    assert f.verdict == "pass" and "网站公布" in f.detail


def test_reply_deadline_not_yet_due_gives_no_finding(grading_bed):
    test_id = grading_bed.make_test("complaint", "2026-12-03T10:00+08:00")
    grading_bed.answer(test_id, "您的投诉已受理，我们将于12月10日前答复。", "2026-12-03T12:00+08:00")
    assert "complaint.reply_by_deadline" not in verdicts(grading_bed, test_id, "2026-12-08T00:00+08:00")


def test_reply_straddling_the_promised_deadline_is_undetermined(grading_bed):
    test_id = grading_bed.make_test("complaint", "2026-12-03T10:00+08:00")
    grading_bed.answer(test_id, "您的投诉已受理，我们将于12月10日前答复。", "2026-12-03T12:00+08:00")
    grading_bed.answer(test_id, "经核查，问题已解决。", "2026-12-11T09:00+08:00", window_start="2026-12-10T20:00+08:00",
                       source="status_page")
    f = verdicts(grading_bed, test_id, "2026-12-30T00:00+08:00")["complaint.reply_by_deadline"]
    assert f.verdict == "undetermined"


# ------------------------------------------------------------------------------ consult.reply_in_time


def test_consultation_reply_in_time_uses_the_published_limit(grading_bed):
    # 5 working days from Thursday 3 December: Thursday 10 December.
    quick = grading_bed.make_test("consultation", "2026-12-03T10:00+08:00")
    grading_bed.answer(quick, "您好！关于您咨询的问题，答复如下：可以申请，具体材料请登录一网通办查询。", "2026-12-10T16:00+08:00")
    slow = grading_bed.make_test("consultation", "2026-12-03T10:00+08:00")
    # A promise of a longer limit does not extend the published one.
    grading_bed.answer(slow, "您好，来信已收悉，我们将在20个工作日内答复。", "2026-12-03T12:00+08:00")
    grading_bed.answer(slow, "您好！答复如下：可以申请。", "2026-12-11T09:00+08:00")
    rules = ("consult.reply_in_time",)
    assert verdicts(grading_bed, quick, "2026-12-30T00:00+08:00", rules=rules)["consult.reply_in_time"].verdict == "pass"
    f = verdicts(grading_bed, slow, "2026-12-30T00:00+08:00", rules=rules)["consult.reply_in_time"]
    assert f.verdict == "fail" and f.deadline_at == t("2026-12-10T23:59:59+08:00")


def test_consultation_unanswered(grading_bed):
    test_id = grading_bed.make_test("consultation", "2026-12-03T10:00+08:00")
    rules = ("consult.reply_in_time",)
    assert verdicts(grading_bed, test_id, "2026-12-09T00:00+08:00", rules=rules) == {}
    assert verdicts(grading_bed, test_id, "2026-12-11T00:00+08:00", rules=rules)["consult.reply_in_time"].verdict == "fail"


def test_times_are_shown_in_the_agency_zone(grading_bed, tmp_path):
    # The same instants seen by an agency in another zone.
    text = grading_bed.site_path.read_text(encoding="utf-8").replace("Asia/Shanghai", "Europe/London")
    grading_bed.site_path.write_text(text, encoding="utf-8")
    test_id = grading_bed.make_test("complaint", "2026-12-03T10:00+00:00")
    grading_bed.answer(test_id, "We have received your complaint.", "2026-12-03T15:00+00:00")
    f = verdicts(grading_bed, test_id, "2026-12-05T00:00+00:00")["complaint.ack_24h"]
    assert "2026-12-03 10:00 (Europe/London)" in f.detail
    assert f.times["received"] == "2026-12-03T10:00:00+00:00"
    assert from_iso(f.times["deadline"]) == t("2026-12-04T10:00+00:00")
