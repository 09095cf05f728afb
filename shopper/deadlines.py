"""The deadlines the rules imply, computed on an agency's business calendar.

- ack_24h: 24 clock hours after receipt (附件四(四)).
- same_day: close of business of the working day of receipt; received after close, or on a
  non-working day, the close of the next working day. Received on a working day before opening
  time counts as that working day's complaint (当天的投诉), so its deadline is that day's close.
- promised: N working days (counted from the next working day, ending 23:59:59 local on the Nth),
  N calendar days (ending 23:59:59 of the Nth day) or N exact hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from shopper.calendar import BusinessCalendar
from shopper.errors import ShopperError

UNITS = ("workday", "day", "hour")


@dataclass(frozen=True)
class Deadline:
    at: datetime  # aware, in the calendar's zone
    calendar: str
    confirmed: bool  # every year the computation touched has an official schedule
    unconfirmed_years: tuple[int, ...] = ()

    def as_dict(self) -> dict:
        return {
            "deadline": self.at.isoformat(),
            "calendar": self.calendar,
            "confirmed": self.confirmed,
            "unconfirmed_years": list(self.unconfirmed_years),
        }


def _result(cal: BusinessCalendar, start: datetime, end: datetime) -> Deadline:
    years = tuple(cal.years_unconfirmed(start, end))
    return Deadline(end, cal.name, not years, years)


def ack_24h(received: datetime, cal: BusinessCalendar) -> Deadline:
    received = cal.local(received)
    return _result(cal, received, received + timedelta(hours=24))


def same_day(received: datetime, cal: BusinessCalendar) -> Deadline:
    local = cal.local(received)
    day = local.date()
    if not (cal.is_working_day(day) and local.time() < cal.hours.close):
        day = cal.next_working_day(day)
    return _result(cal, local, cal.close_of_business(day))


def promised(start: datetime, n: int, unit: str, cal: BusinessCalendar) -> Deadline:
    if unit not in UNITS:
        raise ShopperError(f"unknown unit {unit!r}; use one of {', '.join(UNITS)}")
    if n < 0:
        raise ShopperError(f"a time limit of {n} {unit}s makes no sense; give a positive number")
    local = cal.local(start)
    if unit == "hour":
        return _result(cal, local, local + timedelta(hours=n))
    if unit == "day":
        return _result(cal, local, cal.end_of_day(local.date() + timedelta(days=n)))
    day = local.date()
    for _ in range(n):
        day = cal.next_working_day(day)
    return _result(cal, local, cal.end_of_day(day))


def promise_deadline(start: datetime, promise: dict, cal: BusinessCalendar) -> Deadline:
    """The deadline of a promise as `shopper grade` reports it: {"n", "unit"} or {"date"}."""
    if "date" in promise:
        from datetime import date

        return _result(cal, cal.local(start), cal.end_of_day(date.fromisoformat(promise["date"])))
    return promised(start, int(promise["n"]), promise["unit"], cal)
