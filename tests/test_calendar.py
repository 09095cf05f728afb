from datetime import date, datetime, time

import pytest

from shopper.calendar import BusinessCalendar, OfficeHours, load_overrides
from shopper.errors import ShopperError


@pytest.fixture
def cn():
    return BusinessCalendar()


@pytest.mark.parametrize(
    "day, working",
    [
        (date(2026, 2, 14), True),  # Saturday, make-up working day before Spring Festival
        (date(2026, 2, 16), False),  # Chinese New Year's Eve
        (date(2026, 2, 17), False),  # Spring Festival
        (date(2026, 2, 23), False),  # Monday, bridged day off
        (date(2026, 2, 24), True),
        (date(2026, 2, 28), True),  # Saturday, make-up working day after Spring Festival
        (date(2026, 10, 1), False),  # National Day
        (date(2026, 10, 7), False),
        (date(2026, 10, 8), True),
        (date(2026, 10, 10), True),  # Saturday, make-up working day
        (date(2026, 10, 11), False),  # ordinary Sunday
        (date(2026, 9, 20), True),  # Sunday, make-up working day
        (date(2026, 12, 5), False),  # ordinary Saturday
    ],
)
def test_china_2026_holidays_and_make_up_days(cn, day, working):
    assert cn.is_working_day(day) is working


def test_next_working_day_skips_the_golden_week(cn):
    assert cn.next_working_day(date(2026, 9, 30)) == date(2026, 10, 8)
    assert cn.next_working_day(date(2026, 10, 9)) == date(2026, 10, 10)
    assert cn.next_working_day(date(2026, 2, 13)) == date(2026, 2, 14)
    assert cn.next_working_day(date(2026, 2, 15)) == date(2026, 2, 24)


def test_confirmed_years(cn):
    assert cn.confirmed(2026)
    assert not cn.confirmed(2027)  # the State Council's 2027 schedule is in no library yet


def test_override_file_adds_a_year(tmp_path):
    path = tmp_path / "calendar.toml"
    path.write_text(
        '[CN.2027]\nconfirmed = true\nholidays = ["2027-02-08"]\nworkdays = ["2027-02-06"]\n', encoding="utf-8"
    )
    cal = BusinessCalendar(overrides=load_overrides(path))
    assert cal.confirmed(2027)
    assert cal.is_working_day(date(2027, 2, 6))  # a Saturday made a working day
    assert not cal.is_working_day(date(2027, 2, 8))  # a Monday made a day off


@pytest.mark.parametrize(
    "text, message",
    [
        ("[CN.2027\n", "not valid TOML"),
        ('[CN.2027]\nholidays = ["2027-13-01"]\n', "YYYY-MM-DD"),
        ('[CN.2027]\nholidays = ["2028-01-01"]\n', "another year"),
    ],
)
def test_bad_override_file_says_what_to_fix(tmp_path, text, message):
    path = tmp_path / "calendar.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ShopperError, match=message):
        load_overrides(path)


def test_missing_override_file_is_no_override(tmp_path):
    assert load_overrides(tmp_path / "absent.toml") == {}


def test_office_hours(cn):
    assert cn.in_office_hours(datetime.fromisoformat("2026-10-09T10:00+08:00"))
    assert not cn.in_office_hours(datetime.fromisoformat("2026-10-09T17:00+08:00"))
    assert not cn.in_office_hours(datetime.fromisoformat("2026-10-11T10:00+08:00"))
    assert cn.in_office_hours(datetime.fromisoformat("2026-10-09T02:30+00:00"))  # 10:30 in Shanghai
    assert OfficeHours.parse("08:30–17:30") == OfficeHours(time(8, 30), time(17, 30))
    with pytest.raises(ShopperError):
        OfficeHours.parse("17:00-09:00")
    with pytest.raises(ShopperError):
        OfficeHours.parse("nine to five")


def test_other_countries_and_zones():
    gb = BusinessCalendar(country="GB", timezone="Europe/London")
    assert not gb.is_working_day(date(2026, 12, 25))
    assert gb.is_working_day(date(2026, 12, 3))
    assert gb.confirmed(2027)
    with pytest.raises(ShopperError, match="time zone"):
        BusinessCalendar(timezone="Mars/Olympus")
    with pytest.raises(ShopperError, match="country"):
        BusinessCalendar(country="XX")


def test_naive_time_refused(cn):
    with pytest.raises(ShopperError, match="offset"):
        cn.local(datetime(2026, 10, 9, 10, 0))
