"""Working days, office hours and time zones, per agency.

China's public holidays come with make-up working days (调休): a Saturday or Sunday that is a
working day because a holiday was bridged. The `holidays` package knows both for the years the
State Council has published; for a year it does not know yet, a person enters the schedule in an
override file (see `OVERRIDE_EXAMPLE`). A year with no confirmed schedule still computes, on
weekends and the fixed-date holidays, and says so through `confirmed()`.
"""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_lib

from shopper.errors import ShopperError

log = logging.getLogger(__name__)

DEFAULT_TIMEZONE = "Asia/Shanghai"
DEFAULT_COUNTRY = "CN"

OVERRIDE_EXAMPLE = """\
# Calendar overrides: the official holiday schedule for years the `holidays` package does not
# know yet. Copy the State Council's notice (国务院办公厅关于YYYY年部分节假日安排的通知) here.
#
# [CN.2027]
# confirmed = true                      # the schedule below is the official one
# holidays = ["2027-01-01", "2027-02-05", "2027-02-06"]   # days off (休)
# workdays = ["2027-02-07"]             # make-up working days on a weekend (调休上班)
"""


@dataclass(frozen=True)
class OfficeHours:
    open: time = time(9, 0)
    close: time = time(17, 0)

    @classmethod
    def parse(cls, text: str) -> "OfficeHours":
        """'09:00-17:00' or '09:00–17:30'."""
        try:
            start, end = text.replace("–", "-").split("-")
            hours = cls(time.fromisoformat(start.strip()), time.fromisoformat(end.strip()))
        except ValueError as err:
            raise ShopperError(f"office hours {text!r}: write them as 09:00-17:00") from err
        if hours.close <= hours.open:
            raise ShopperError(f"office hours {text!r}: closing time must be after opening time")
        return hours

    def __str__(self) -> str:
        return f"{self.open:%H:%M}-{self.close:%H:%M}"


@dataclass(frozen=True)
class YearOverride:
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()
    confirmed: bool = True


def load_overrides(path: str | Path | None) -> dict[tuple[str, int], YearOverride]:
    """Read an override file; a missing file means no overrides."""
    if path is None:
        return {}
    path = Path(path)
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ShopperError(f"{path}: not valid TOML ({err}); fix the file or remove it") from err
    result: dict[tuple[str, int], YearOverride] = {}
    for country, years in data.items():
        if not isinstance(years, dict):
            raise ShopperError(f"{path}: [{country}] must hold tables like [{country}.2027]")
        for year_text, entry in years.items():
            try:
                year = int(year_text)
                days_off = frozenset(date.fromisoformat(d) for d in entry.get("holidays", []))
                days_on = frozenset(date.fromisoformat(d) for d in entry.get("workdays", []))
            except (ValueError, TypeError, AttributeError) as err:
                raise ShopperError(
                    f"{path}: [{country}.{year_text}] needs a year and dates as \"YYYY-MM-DD\" ({err})"
                ) from err
            wrong_year = [d for d in days_off | days_on if d.year != year]
            if wrong_year:
                raise ShopperError(f"{path}: [{country}.{year}] lists {wrong_year[0]} of another year")
            result[(country.upper(), year)] = YearOverride(
                days_off, days_on, bool(entry.get("confirmed", True))
            )
    return result


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ShopperError(f"unknown time zone {name!r}; use an IANA name like Asia/Shanghai") from err


@lru_cache(maxsize=64)
def _country_holidays(country: str, year: int):
    try:
        return holidays_lib.country_holidays(country, years=year)
    except NotImplementedError as err:
        raise ShopperError(f"no holiday calendar for country code {country!r}") from err


@dataclass
class BusinessCalendar:
    """The working calendar of one agency."""

    country: str = DEFAULT_COUNTRY
    timezone: str = DEFAULT_TIMEZONE
    hours: OfficeHours = field(default_factory=OfficeHours)
    overrides: dict[tuple[str, int], YearOverride] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.country = self.country.upper()
        self.tz = zone(self.timezone)
        _country_holidays(self.country, 2026)  # fail early on an unknown country

    @property
    def name(self) -> str:
        return f"{self.country} ({self.timezone}, office hours {self.hours})"

    def _override(self, year: int) -> YearOverride | None:
        return self.overrides.get((self.country, year))

    def _library_weekend_workdays(self, year: int) -> set[date]:
        found = getattr(_country_holidays(self.country, year), "weekend_workdays", set()) or set()
        return {d for d in found if d.year == year}

    def confirmed(self, year: int) -> bool:
        """Whether the year's holiday schedule is official rather than guessed.

        China's schedule is announced each year; we take it as known when the library has that
        year's make-up days or an override says so. Other countries' holidays follow fixed rules.
        """
        override = self._override(year)
        if override is not None:
            return override.confirmed
        if self.country != "CN":
            return True
        return bool(self._library_weekend_workdays(year))

    def is_working_day(self, day: date) -> bool:
        override = self._override(day.year)
        if override is not None:
            if day in override.workdays:
                return True
            if day in override.holidays:
                return False
        if day in self._library_weekend_workdays(day.year):
            return True
        if day in _country_holidays(self.country, day.year):
            return False
        return day.weekday() < 5

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after `day`."""
        for _ in range(400):
            day += timedelta(days=1)
            if self.is_working_day(day):
                return day
        raise ShopperError(f"no working day within a year after {day}; check the calendar overrides")

    def local(self, moment: datetime) -> datetime:
        if moment.tzinfo is None:
            raise ShopperError("a time without a UTC offset; write it like 2026-10-09T18:30+08:00")
        return moment.astimezone(self.tz)

    def at(self, day: date, clock_time: time) -> datetime:
        return datetime.combine(day, clock_time, tzinfo=self.tz)

    def close_of_business(self, day: date) -> datetime:
        return self.at(day, self.hours.close)

    def end_of_day(self, day: date) -> datetime:
        return self.at(day, time(23, 59, 59))

    def in_office_hours(self, moment: datetime) -> bool:
        local = self.local(moment)
        return self.is_working_day(local.date()) and self.hours.open <= local.time() < self.hours.close

    def years_unconfirmed(self, start: datetime, end: datetime) -> list[int]:
        """The years between two moments whose schedule is not confirmed."""
        first, last = self.local(start).year, self.local(end).year
        return [y for y in range(first, last + 1) if not self.confirmed(y)]
