"""Profiles and captchas as data: delays on the business calendar, how letters are read, captchas
whose answers the harness knows."""

from __future__ import annotations

import hashlib
import io
from datetime import datetime, timedelta

import pytest
from PIL import Image

from shopper.calendar import BusinessCalendar
from shopper.demo.captcha import CaptchaStore
from shopper.demo.profiles import PROFILES, After, add_office_time, plan, read_letter

CAL = BusinessCalendar()
SHANGHAI = CAL.tz


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


@pytest.mark.parametrize("start, hours, expected", [
    ("2026-11-30 10:00", 1, "2026-11-30 11:00"),   # inside office hours
    ("2026-11-30 16:30", 1, "2026-12-01 09:30"),   # carries over the night
    ("2026-11-30 20:00", 1, "2026-12-01 10:00"),   # received after hours
    ("2026-12-04 16:00", 2, "2026-12-07 10:00"),   # Friday afternoon: Monday morning
    ("2026-09-30 16:30", 1, "2026-10-08 09:30"),   # National Day week off
    ("2026-10-09 16:30", 1, "2026-10-10 09:30"),   # a make-up working Saturday (调休)
])
def test_office_hours_skip_nights_weekends_and_holidays(start, hours, expected):
    assert add_office_time(at(start), timedelta(hours=hours), CAL) == at(expected)


def test_working_day_delays_land_on_working_days_at_their_hour():
    assert After(2, "workday", "10:30").from_(at("2026-09-29 15:00"), CAL) == at("2026-10-08 10:30")
    assert After(1, "workday", "09:20").from_(at("2026-12-04 10:00"), CAL) == at("2026-12-07 09:20")
    assert After(30, "minute").from_(at("2026-12-05 22:00"), CAL) == at("2026-12-05 22:30")
    assert After(30, "past_same_day").from_(at("2026-11-30 10:00"), CAL) == at("2026-11-30 17:30")
    assert After(30, "past_same_day").from_(at("2026-11-30 18:00"), CAL) == at("2026-12-01 17:30")
    assert After(1, "office_hour", within=20).from_(at("2026-12-04 16:30"), CAL) == at("2026-12-05 12:30")
    with pytest.raises(ValueError, match="unknown delay unit"):
        After(1, "fortnight").from_(at("2026-12-04 10:00"), CAL)


def test_letters_are_read_by_their_words():
    assert read_letter("complaint", "燃气管道有安全隐患", "").important
    assert read_letter("consultation", "咨询", "情况紧急").important
    assert read_letter("complaint", "路灯不亮", "").subordinate
    assert read_letter("complaint", "公司不缴社保", "").out_of_scope
    assert read_letter("complaint", "关于公交线路的建议", "").kind == "suggestion"
    assert read_letter("suggestion", "公交线路", "").suggestion
    plain = read_letter("complaint", "噪声扰民", "夜间施工")
    assert not (plain.important or plain.subordinate or plain.out_of_scope or plain.suggestion)


@pytest.mark.parametrize("received", ["2026-12-04 16:30", "2026-12-05 23:00", "2026-09-30 18:00", "2026-11-30 03:00"])
def test_only_the_late_profile_acknowledges_after_24_hours(received):
    letter = read_letter("complaint", "噪声扰民", "夜间施工")
    for profile in PROFILES.values():
        acks = [p for p in plan(profile, letter, at(received), CAL)]
        if not acks:
            continue
        late = acks[0].due - at(received) > timedelta(hours=24)
        assert late == (profile.name == "late_ack"), profile.name


def test_plans_follow_the_profile():
    received = at("2026-11-30 10:00")
    complaint = read_letter("complaint", "噪声扰民", "夜间施工")
    assert [p.what for p in plan(PROFILES["exemplary"], complaint, received, CAL)] == ["ack", "reply"]
    assert plan(PROFILES["silent"], complaint, received, CAL) == []
    outside = read_letter("complaint", "公司不缴社保", "")
    assert [p.what for p in plan(PROFILES["exemplary"], outside, received, CAL)] == ["reply"]
    consult = read_letter("consultation", "咨询办证", "")
    reply = plan(PROFILES["exemplary"], consult, received, CAL)[-1]
    assert reply.due == at("2026-12-01 11:00")
    for profile in PROFILES.values():  # an answer never comes before its acknowledgement
        dues = [p.due for p in plan(profile, complaint, at("2026-12-04 16:59"), CAL)]
        assert dues == sorted(dues), profile.name


def test_captchas_are_pngs_whose_answers_are_known_once():
    store = CaptchaStore(seed=1)
    captcha = store.issue()
    image = Image.open(io.BytesIO(captcha.png))
    assert image.format == "PNG" and image.size == (120, 40)
    assert store.answer_for_sha(hashlib.sha256(captcha.png).hexdigest()) == captcha.answer
    assert store.get(captcha.token).png == captcha.png  # the same bytes every time it is fetched
    assert store.check(captcha.token, captcha.answer.lower())
    assert not store.check(captcha.token, captcha.answer)  # used up
    assert store.answer_for_sha(captcha.sha256) is None
    other = store.issue()
    assert other.png != captcha.png and not store.check(other.token, "????")


@pytest.mark.parametrize("received", ["2026-11-30 10:00", "2026-11-30 16:55", "2026-12-05 23:00", "2026-11-30 03:00"])
def test_only_the_profiles_meant_to_miss_an_important_complaints_same_day_do(received):
    from shopper.deadlines import same_day

    letter = read_letter("complaint", "燃气管道存在安全隐患", "情况紧急")
    deadline = same_day(at(received), CAL).at
    for profile in PROFILES.values():
        first_answer = min((p.due for p in plan(profile, letter, at(received), CAL)), default=None)
        missed = first_answer is None or first_answer > deadline
        assert missed == (profile.name in ("misses_same_day", "late_ack", "silent")), profile.name


@pytest.mark.parametrize("kind", ["complaint", "consultation"])
@pytest.mark.parametrize("received", ["2026-11-30 10:00", "2026-12-04 16:55", "2026-09-30 18:00"])
def test_only_the_late_profile_answers_after_its_own_limit(kind, received):
    from shopper.deadlines import promised

    letter = read_letter(kind, "噪声扰民", "夜间施工")
    for profile in PROFILES.values():
        replies = [p for p in plan(profile, letter, at(received), CAL) if p.what == "reply"]
        if not replies:
            assert profile.name == "silent"
            continue
        n, unit = profile.consult_limit if kind == "consultation" else profile.complaint_limit
        late = replies[0].due > promised(at(received), n, unit, CAL).at
        assert late == (profile.name == "late_reply"), profile.name
