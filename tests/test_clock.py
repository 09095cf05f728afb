import asyncio
import threading
from datetime import datetime, timedelta, timezone

import pytest

from shopper import clock as clock_mod
from shopper.clock import SimulatedClock, SystemClock, get_clock, parse_fake_now, use_clock

START = datetime(2026, 10, 9, 10, 30, tzinfo=timezone.utc)


def test_standing_clock_moves_only_when_advanced():
    c = SimulatedClock(START)
    assert c.now() == START
    c.advance(timedelta(hours=25))
    assert c.now() == START + timedelta(hours=25)
    c.advance(30)
    assert c.now() == START + timedelta(hours=25, seconds=30)


def test_clock_never_goes_back():
    c = SimulatedClock(START)
    with pytest.raises(ValueError):
        c.advance(-1)
    with pytest.raises(ValueError):
        c.set(START - timedelta(seconds=1))


def test_naive_start_refused():
    with pytest.raises(ValueError):
        SimulatedClock(datetime(2026, 1, 1))


def test_fast_clock_runs_faster_than_real_time():
    c = SimulatedClock(START, speed=3600)  # an hour a second
    c.sleep_sync(1800)  # half an hour of simulated time is half a real second
    assert c.now() - START >= timedelta(minutes=30)
    assert c.now() - START < timedelta(hours=3)


async def test_sleep_on_standing_clock_wakes_when_advanced():
    c = SimulatedClock(START)
    woke = asyncio.Event()

    async def sleeper():
        await c.sleep(3600)
        woke.set()

    task = asyncio.create_task(sleeper())
    await asyncio.sleep(0.05)
    assert not woke.is_set()
    c.advance(timedelta(minutes=59))
    await asyncio.sleep(0.05)
    assert not woke.is_set()
    c.advance(timedelta(minutes=2))
    await asyncio.wait_for(task, 2)
    assert woke.is_set()


def test_sleep_sync_wakes_from_another_thread():
    c = SimulatedClock(START)
    done = threading.Event()
    t = threading.Thread(target=lambda: (c.sleep_sync(60), done.set()))
    t.start()
    assert not done.wait(0.05)
    c.advance(61)
    assert done.wait(2)


def test_use_clock_installs_and_restores():
    c = SimulatedClock(START)
    before = get_clock()
    with use_clock(c):
        assert get_clock() is c
        assert clock_mod.now() == START
    assert get_clock() is before


def test_fake_now_from_environment(monkeypatch):
    monkeypatch.setenv("SHOPPER_FAKE_NOW", "2026-10-09T18:30+08:00@60")
    clock_mod.set_clock(None)
    try:
        c = get_clock()
        assert isinstance(c, SimulatedClock) and c.speed == 60
        assert c.now() >= datetime(2026, 10, 9, 10, 30, tzinfo=timezone.utc)
    finally:
        clock_mod.set_clock(None)
    with pytest.raises(ValueError):
        parse_fake_now("2026-10-09T18:30")


def test_only_the_clock_module_reads_the_wall_clock():
    """Nothing in shopper/ or bot/ calls datetime.now(), utcnow(), date.today() or time.time()."""
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parent.parent
    pattern = re.compile(r"datetime\.(now|utcnow|today)\(|date\.today\(|time\.time\(\)")
    offenders = []
    for path in list((root / "shopper").rglob("*.py")) + list((root / "bot").rglob("*.py")):
        if path.name == "clock.py":
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line) and "wall-clock-ok" not in line:
                offenders.append(f"{path.relative_to(root)}:{n}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
    assert SystemClock().now().tzinfo is timezone.utc


def test_fake_now_spec_shares_a_time_line_across_processes():
    import subprocess
    import sys

    from shopper.clock import fake_now_spec

    c = SimulatedClock(START, speed=100)
    spec = fake_now_spec(c)
    code = "from shopper.clock import get_clock; print(get_clock().now().isoformat())"
    out = subprocess.run([sys.executable, "-c", code], env={"SHOPPER_FAKE_NOW": spec, "PATH": ""},
                         capture_output=True, text=True, check=True).stdout
    child = datetime.fromisoformat(out.strip())
    # The child started later in real time; its clock has run on at the same speed meanwhile.
    assert abs((child - c.now()).total_seconds()) < 100 * 2  # within 2 real seconds
    assert child > START
