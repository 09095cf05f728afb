"""`shopper serve` killed with SIGKILL in the middle of a campaign, then started again.

The daemon runs as a real process on a fast simulated clock it shares with the demo world
(SHOPPER_FAKE_NOW with a real-time epoch). After the kill and the restart: every planned test
reached the agency exactly once or is marked uncertain, every mail the agencies sent is recorded
exactly once, and the deadlines the silent agency let pass are all raised.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from shopper.clock import SimulatedClock, fake_now_spec, from_iso
from shopper.db import open_database

ROOT = Path(__file__).resolve().parent.parent
SPEED = 1800  # half an hour of simulated time per real second
START = datetime(2026, 11, 30, 1, 30, tzinfo=timezone.utc)  # Monday 09:30 in Shanghai
AGENCIES = "jtw,wjw,sww"  # exemplary, silent, late acknowledgement


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def fast_world(own_mail_system):
    from shopper.demo.world import World

    clock = SimulatedClock(START, speed=SPEED)
    own_mail_system.clock = clock  # deliveries dated on the world's time line
    world = World(clock, mail=own_mail_system, seed=5).start()
    yield world
    world.stop()


def _serve(env, log_path: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "shopper", "serve", "--no-bot"], env=env, cwd=ROOT,
        stdout=open(log_path, "ab"), stderr=subprocess.STDOUT, start_new_session=True,
    )


@pytest.mark.slow
def test_sigkill_mid_campaign_loses_nothing_and_sends_nothing_twice(tmp_path, fast_world, own_mail_system):
    mail_system = own_mail_system
    world = fast_world
    db_path = tmp_path / "shopper.db"
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[office]
reply_domain = "reply.reliability.test"
[paths]
evidence = "{tmp_path / 'evidence'}"
scenarios = "{ROOT / 'scenarios'}"
[mailbox]
host = "127.0.0.1"
port = {mail_system.imap_port}
tls = false
user = "{mail_system.imap_user}"
[solver]
kind = "harness"
url = "{world.base_url}"
[browser]
concurrency = 2
""",
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "SHOPPER_DB": str(db_path),
        "SHOPPER_CONFIG": str(config),
        "SHOPPER_HOME": str(tmp_path / "home"),
        "SHOPPER_DEMO_URL": world.base_url,
        "SHOPPER_IMAP_PASSWORD": mail_system.imap_password,
        "SHOPPER_FAKE_NOW": fake_now_spec(world.clock),
    }
    now = world.clock.now()
    plan = subprocess.run(
        [sys.executable, "-m", "shopper", "campaign", "plan", "reliability", "--agencies", AGENCIES,
         "--from", (now + timedelta(minutes=20)).isoformat(), "--to", (now + timedelta(hours=7)).isoformat(),
         "--gap", "0.5", "--seed", "3"],
        env=env, cwd=ROOT, capture_output=True, text=True,
    )
    assert plan.returncode == 0, plan.stderr
    subprocess.run([sys.executable, "-m", "shopper", "campaign", "start", "reliability"], env=env, cwd=ROOT,
                   check=True, capture_output=True)
    db = open_database(db_path)
    planned = {r["id"]: r for r in db["tests"].rows}
    assert len(planned) >= 20

    log_path = tmp_path / "serve.log"
    daemon = _serve(env, log_path)
    try:
        # Kill it in the middle: some tests sent, some still waiting.
        _wait_for(lambda: db.execute("select count(*) from tests where state != 'planned'").fetchone()[0] >= 6,
                  120, "the first tests to be sent")
        os.killpg(daemon.pid, signal.SIGKILL)
        daemon.wait(10)
        left = db.execute("select count(*) from tests where state = 'planned'").fetchone()[0]
        assert left > 0, "the kill came too late to test a restart"

        daemon = _serve(env, log_path)
        _wait_for(lambda: db.execute("select count(*) from tests where state in ('planned', 'submitting')")
                  .fetchone()[0] == 0, 180, "every planned test to be sent after the restart")
        last = max(from_iso(r["submitted_at"]) for r in db["tests"].rows if r["submitted_at"])
        # Let 24 simulated hours pass after the last test, so every acknowledgement deadline is due.
        _wait_for(lambda: world.clock.now() > last + timedelta(hours=25), 120, "a simulated day to pass")
        world.clock.set_speed(0)  # the agencies stop writing; the daemon catches up with what they sent
        _wait_for(lambda: db["messages"].count_where("source = 'email'") >= len(world.outbox), 60,
                  "every mail sent to be recorded")
        time.sleep(1)
        os.killpg(daemon.pid, signal.SIGTERM)
        assert daemon.wait(60) is not None
    finally:
        if daemon.poll() is None:
            os.killpg(daemon.pid, signal.SIGKILL)
        log_text = log_path.read_text(errors="replace")

    tests = {r["id"]: r for r in db["tests"].rows}
    assert set(tests) == set(planned)
    by_address = collections.Counter(s.email for s in world.submissions)
    for test in tests.values():
        received = by_address[test["reply_address"]] if test["reply_address"] else 0
        if test["state"] == "uncertain":
            assert received <= 1, test
        else:
            assert test["state"] in ("submitted", "acknowledged", "replied", "closed"), (test, log_text[-3000:])
            assert received == 1, (test["id"], test["state"], received)
    assert all(n == 1 for n in by_address.values())

    # Every mail the agencies sent is recorded once, and each belongs to one test.
    sent = len(world.outbox)
    rows = list(db["messages"].rows_where("source = 'email'"))
    assert sent > 0 and len(rows) == sent
    assert len({(r["uid_validity"], r["uid"]) for r in rows}) == len(rows)
    assert all(r["test_id"] in tests for r in rows)

    # The silent agency answered nothing: each of its complaints has its 24-hour deadline raised.
    silent = [t for t in tests.values() if t["agency_id"] == "wjw" and t["kind"] in ("complaint", "suggestion")
              and t["submitted_at"]]
    assert silent
    for test in silent:
        raised = db.execute("select count(*) from events where test_id = ? and kind = 'deadline_passed' "
                            "and detail_json like '%complaint.ack_24h%'", [test["id"]]).fetchone()[0]
        assert raised == 1, test["id"]
    assert "health:" in log_text
