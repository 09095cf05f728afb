"""The one clock of the program.

Every module asks `get_clock()` (or takes a `clock` argument) for the time; nothing else reads the
wall clock. Tests and the demo install a `SimulatedClock` so that a week of agency behaviour,
deadlines and polling runs in seconds.

All times handed out are timezone-aware UTC datetimes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Iterator, Protocol

UTC = timezone.utc


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, aware, in UTC."""

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of this clock's time."""

    def sleep_sync(self, seconds: float) -> None:
        """Blocking variant of `sleep` for threads that are not in an event loop."""


class SystemClock:
    """The real time. The only place in shopper that reads the wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def sleep_sync(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))

    def __repr__(self) -> str:
        return "SystemClock()"


class SimulatedClock:
    """A clock that starts at a given instant and then either stands still until `advance()`d
    (speed=0) or runs `speed` times faster than real time.

    `sleep()` on a standing clock returns as soon as someone advances it past the wake-up time,
    which is how tests step a simulated week forward deterministically.
    """

    # How often a sleeper on a standing clock looks whether it was advanced, in real seconds.
    _POLL = 0.005

    def __init__(self, start: datetime, speed: float = 0.0):
        if start.tzinfo is None:
            raise ValueError("SimulatedClock needs an aware start time (with a UTC offset)")
        self._lock = threading.Lock()
        self._base = start.astimezone(UTC)
        self._anchor = time.monotonic()
        self._speed = float(speed)

    @property
    def speed(self) -> float:
        return self._speed

    def now(self) -> datetime:
        with self._lock:
            elapsed = (time.monotonic() - self._anchor) * self._speed
            return self._base + timedelta(seconds=elapsed)

    def _rebase(self) -> None:
        # Freeze the current reading as the new base, so a speed change does not jump.
        now = time.monotonic()
        self._base += timedelta(seconds=(now - self._anchor) * self._speed)
        self._anchor = now

    def advance(self, delta: timedelta | float) -> datetime:
        """Move the clock forward by `delta` (a timedelta or seconds). Returns the new time."""
        if not isinstance(delta, timedelta):
            delta = timedelta(seconds=float(delta))
        if delta < timedelta(0):
            raise ValueError("a clock only moves forward")
        with self._lock:
            self._rebase()
            self._base += delta
            return self._base

    def set(self, when: datetime) -> datetime:
        """Jump forward to `when` (never backwards)."""
        when = when.astimezone(UTC)
        with self._lock:
            self._rebase()
            if when < self._base:
                raise ValueError(f"cannot set the clock back from {self._base} to {when}")
            self._base = when
            return self._base

    def set_speed(self, speed: float) -> None:
        with self._lock:
            self._rebase()
            self._speed = float(speed)

    def _real_seconds_until(self, target: datetime) -> float:
        remaining = (target - self.now()).total_seconds()
        if remaining <= 0:
            return 0.0
        if self._speed > 0:
            return min(remaining / self._speed, 0.25)
        return self._POLL

    async def sleep(self, seconds: float) -> None:
        target = self.now() + timedelta(seconds=max(0.0, seconds))
        while (wait := self._real_seconds_until(target)) > 0:
            await asyncio.sleep(wait)
        await asyncio.sleep(0)

    def sleep_sync(self, seconds: float) -> None:
        target = self.now() + timedelta(seconds=max(0.0, seconds))
        while (wait := self._real_seconds_until(target)) > 0:
            time.sleep(wait)

    def __repr__(self) -> str:
        return f"SimulatedClock({self.now().isoformat()}, speed={self._speed})"


def parse_fake_now(spec: str) -> SimulatedClock:
    """Read `SHOPPER_FAKE_NOW`: an ISO time with offset, optionally `@SPEED` and `@EPOCH` (e.g.
    `2026-10-09T18:30+08:00@60`). Lets a person or a test run any command at a chosen time.

    EPOCH (Unix seconds) says when, in real time, the simulated clock stood at the given time, so
    that several processes (a daemon and the demo world it talks to) share one simulated time."""
    when, _, rest = spec.partition("@")
    speed, _, epoch = rest.partition("@")
    start = datetime.fromisoformat(when.strip())
    if start.tzinfo is None:
        raise ValueError(f"SHOPPER_FAKE_NOW needs a UTC offset: {spec!r}")
    speed_value = float(speed) if speed else 0.0
    if epoch:
        start += timedelta(seconds=(time.time() - float(epoch)) * speed_value)
    return SimulatedClock(start, speed=speed_value)


def fake_now_spec(clock: SimulatedClock) -> str:
    """The SHOPPER_FAKE_NOW value that gives a child process this clock's time line."""
    return f"{clock.now().isoformat()}@{clock.speed}@{time.time()!r}"


_clock: Clock | None = None
_clock_lock = threading.Lock()


def get_clock() -> Clock:
    """The program's clock: whatever was installed, else SHOPPER_FAKE_NOW, else the system clock."""
    global _clock
    with _clock_lock:
        if _clock is None:
            spec = os.environ.get("SHOPPER_FAKE_NOW")
            _clock = parse_fake_now(spec) if spec else SystemClock()
        return _clock


def set_clock(clock: Clock | None) -> None:
    """Install `clock` for the whole program (None: back to the default on next use)."""
    global _clock
    with _clock_lock:
        _clock = clock


@contextlib.contextmanager
def use_clock(clock: Clock) -> Iterator[Clock]:
    """Install `clock` for the duration of a `with` block (tests)."""
    global _clock
    with _clock_lock:
        previous = _clock
        _clock = clock
    try:
        yield clock
    finally:
        with _clock_lock:
            _clock = previous


def now() -> datetime:
    """Shorthand for `get_clock().now()`."""
    return get_clock().now()


def to_iso(dt: datetime) -> str:
    """How shopper stores a time: UTC, ISO-8601, seconds precision."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime: shopper stores only aware times")
    return dt.astimezone(UTC).isoformat(timespec="seconds")


def from_iso(text: str) -> datetime:
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt
