"""Shared test setup: each area keeps its fixtures in tests/fixtures/<area>.py."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from shopper.clock import SimulatedClock, use_clock
from shopper.db import open_database

pytest_plugins = [
    "tests.fixtures.world",
    "tests.fixtures.mail",
    "tests.fixtures.submit",
    "tests.fixtures.capture",
    "tests.fixtures.grading",
    "tests.fixtures.scoring",
    "tests.fixtures.bot",
    "tests.fixtures.checks",
]


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """No test reads or writes the user's ~/.shopper."""
    monkeypatch.setenv("SHOPPER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SHOPPER_DB", raising=False)
    monkeypatch.delenv("SHOPPER_CONFIG", raising=False)
    monkeypatch.delenv("SHOPPER_FAKE_NOW", raising=False)


@pytest.fixture
def sim_clock():
    """A standing simulated clock at Monday 2026-11-30 10:00 Shanghai, installed program-wide."""
    clock = SimulatedClock(datetime(2026, 11, 30, 2, 0, tzinfo=timezone.utc))
    with use_clock(clock):
        yield clock


@pytest.fixture
def db(tmp_path):
    database = open_database(tmp_path / "shopper.db")
    yield database
    database.close()
