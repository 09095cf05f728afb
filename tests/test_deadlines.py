from datetime import datetime

import pytest

from shopper import deadlines
from shopper.calendar import BusinessCalendar, OfficeHours
from shopper.errors import ShopperError

T = datetime.fromisoformat


@pytest.fixture
def cn():
    return BusinessCalendar()


@pytest.mark.parametrize(
    "received, expected",
    [
        ("2026-10-09T18:30+08:00", "2026-10-10T17:00:00+08:00"),  # after hours Fri -> make-up Saturday
        ("2026-09-30T17:30+08:00", "2026-10-08T17:00:00+08:00"),  # after hours before National Day
        ("2026-10-09T10:00+08:00", "2026-10-09T17:00:00+08:00"),  # during office hours
        ("2026-10-09T08:10+08:00", "2026-10-09T17:00:00+08:00"),  # before opening: that day's complaint
        ("2026-10-09T17:00+08:00", "2026-10-10T17:00:00+08:00"),  # closing time itself is after hours
        ("2026-10-03T11:00+08:00", "2026-10-08T17:00:00+08:00"),  # on a holiday
        ("2026-02-15T12:00+08:00", "2026-02-24T17:00:00+08:00"),  # Spring Festival week
        ("2026-02-13T16:59+08:00", "2026-02-13T17:00:00+08:00"),
        ("2026-10-09T10:30+00:00", "2026-10-10T17:00:00+08:00"),  # 18:30 Shanghai given in UTC
    ],
)
def test_same_day(cn, received, expected):
    assert deadlines.same_day(T(received), cn).at.isoformat() == expected


def test_same_day_with_site_office_hours():
    cal = BusinessCalendar(hours=OfficeHours.parse("08:30-17:30"))
    assert deadlines.same_day(T("2026-10-09T17:15+08:00"), cal).at.isoformat() == "2026-10-09T17:30:00+08:00"


@pytest.mark.parametrize(
    "start, n, unit, expected",
    [
        ("2026-09-28T10:00+08:00", 15, "workday", "2026-10-23T23:59:59+08:00"),
        ("2026-10-09T18:30+08:00", 1, "workday", "2026-10-10T23:59:59+08:00"),
        ("2026-02-12T09:00+08:00", 3, "workday", "2026-02-24T23:59:59+08:00"),  # 13th, 14th (Sat), 24th
        ("2026-09-28T10:00+08:00", 3, "day", "2026-10-01T23:59:59+08:00"),
        ("2026-09-28T10:00+08:00", 48, "hour", "2026-09-30T10:00:00+08:00"),
        ("2026-12-30T10:00+08:00", 0, "workday", "2026-12-30T23:59:59+08:00"),
    ],
)
def test_promised(cn, start, n, unit, expected):
    assert deadlines.promised(T(start), n, unit, cn).at.isoformat() == expected


def test_ack_24h_is_clock_hours(cn):
    result = deadlines.ack_24h(T("2026-09-30T17:30+08:00"), cn)
    assert result.at.isoformat() == "2026-10-01T17:30:00+08:00"


def test_unconfirmed_year_still_computes_and_says_so(cn):
    result = deadlines.promised(T("2026-12-28T10:00+08:00"), 10, "workday", cn)
    assert result.at.year == 2027
    assert not result.confirmed and result.unconfirmed_years == (2027,)
    assert result.as_dict()["confirmed"] is False
    assert deadlines.promised(T("2026-11-02T10:00+08:00"), 5, "workday", cn).confirmed


def test_promise_deadline_reads_grade_json(cn):
    start = T("2026-12-01T10:00+08:00")
    assert deadlines.promise_deadline(start, {"date": "2026-12-20"}, cn).at.isoformat() == "2026-12-20T23:59:59+08:00"
    assert deadlines.promise_deadline(start, {"n": 2, "unit": "workday"}, cn).at.isoformat() == "2026-12-03T23:59:59+08:00"


def test_bad_units(cn):
    with pytest.raises(ShopperError):
        deadlines.promised(T("2026-09-28T10:00+08:00"), 3, "fortnight", cn)
    with pytest.raises(ShopperError):
        deadlines.promised(T("2026-09-28T10:00+08:00"), -1, "day", cn)
