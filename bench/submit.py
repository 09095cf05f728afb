"""Benchmark: N test submissions against the local demo world's forms.

    .venv/bin/python bench/submit.py [-n 60] [--concurrency 6] [--naive 12]

Prints submissions per minute and peak memory (PSS of this process and every Chromium process it
started) for the engine (one browser, a fresh context per test, several at once), then the naive
way (a fresh browser launch per test, one after another) over `--naive` tests, and the ratio.
Aims: at least 60 a minute on 2 cores, at least 3x the naive way, under 1 GB.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import sys
import tempfile
import subprocess
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Agencies whose forms a citizen can use without an account (mzxx needs one; cgj is the slow
# site by design); both still run in the engine's test suite.
DEFAULT_AGENCIES = ["jtw", "ghj", "jw", "fgj", "scjgj", "sthjj", "sww", "wjw"]
SCENARIOS = ["complaint-noise", "consultation-residence-permit", "suggestion-bus-shelter", "complaint-streetlight"]


WORLD_SCRIPT = """
import sys, threading
from shopper.demo.world import World
world = World(slow_delay=0.5).start()
print(world.base_url, flush=True)
threading.Event().wait()
"""


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(children.get(current, []))
    return found


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class PeakMemory:
    """Samples the PSS of this process tree (Chromium included) five times a second."""

    def __init__(self):
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            total = sum(_pss_kb(p) for p in _descendants(os.getpid()))
            self.peak_kb = max(self.peak_kb, total)
            self._stop.wait(0.2)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @property
    def peak_mb(self) -> float:
        return self.peak_kb / 1024


def _cpu_seconds() -> float:
    """CPU used by this process and its reaped children (the Playwright driver and its Chromium
    count once the run has closed them): a cost that other work on the machine does not inflate."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _jobs(n, sites, scenarios, agencies):
    from shopper.submission import Job

    return [Job(sites[agencies[i % len(agencies)]], scenarios[SCENARIOS[i % len(SCENARIOS)]]) for i in range(n)]


async def engine_run(n, concurrency, per_agency, agencies, base_url):
    from shopper.config import Config
    from shopper.db import memory_database
    from shopper.scenarios import load_scenarios
    from shopper.sites import load_sites
    from shopper.solvers import HarnessSolver
    from shopper.submission import Engine

    sites, scenarios = load_sites(ROOT / "scenarios" / "sites"), load_scenarios(ROOT / "scenarios")
    db = memory_database()
    jobs = _jobs(n, sites, scenarios, agencies)
    async with Engine(db, Config(), solver=HarnessSolver(base_url), concurrency=concurrency,
                      per_agency=per_agency, rng=random.Random(1)) as engine:
        started = time.monotonic()
        results = await engine.run(jobs)
        elapsed = time.monotonic() - started
    return results, elapsed


async def naive_run(n, agencies, base_url):
    """The way one would write it first: launch Chromium, submit one test, close it; repeat."""
    from playwright.async_api import async_playwright

    from shopper.config import Config
    from shopper.db import memory_database
    from shopper.scenarios import load_scenarios
    from shopper.sites import load_sites
    from shopper.solvers import HarnessSolver
    from shopper.submission import Engine
    from shopper.browser import launch

    sites, scenarios = load_sites(ROOT / "scenarios" / "sites"), load_scenarios(ROOT / "scenarios")
    db = memory_database()
    results = []
    started = time.monotonic()
    async with async_playwright() as pw:
        for job in _jobs(n, sites, scenarios, agencies):
            browser = await launch(pw)
            engine = Engine(db, Config(), solver=HarnessSolver(base_url), browser=browser, rng=random.Random(1))
            results.append(await engine.submit(job.site, job.scenario))
            await browser.close()
    return results, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=60, help="tests for the engine")
    parser.add_argument("--naive", type=int, default=12, help="tests for the naive way (it is slow)")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--per-agency", type=int, default=1)
    parser.add_argument("--agencies", default=",".join(DEFAULT_AGENCIES))
    args = parser.parse_args()

    home = tempfile.mkdtemp(prefix="shopper-bench-")
    os.environ["SHOPPER_HOME"] = home
    # The world runs in its own process, as the agencies' servers would: its request threads
    # must not compete with the engine for this process's interpreter lock.
    world = subprocess.Popen([sys.executable, "-c", WORLD_SCRIPT], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    base_url = world.stdout.readline().strip()
    if not base_url.startswith("http://127.0.0.1:"):
        world.kill()
        sys.exit(f"the demo world did not start ({base_url!r})")
    os.environ["SHOPPER_DEMO_URL"] = base_url
    agencies = args.agencies.split(",")
    try:
        cpu = _cpu_seconds()
        with PeakMemory() as mem:
            results, elapsed = asyncio.run(engine_run(args.n, args.concurrency, args.per_agency, agencies, base_url))
        ok = sum(r["state"] == "submitted" for r in results)
        cpu = (_cpu_seconds() - cpu) / max(ok, 1)
        rate = ok / elapsed * 60
        print(f"engine  {ok}/{args.n} submitted in {elapsed:.1f} s = {rate:.1f} per minute "
              f"(concurrency {args.concurrency}, per agency {args.per_agency}); peak memory {mem.peak_mb:.0f} MB")
        for r in results:
            if r["state"] != "submitted":
                print(f"        {r.get('agency_id')} {r.get('scenario_id')} {r['state']}: {r.get('error')}")
        naive_cpu = _cpu_seconds()
        with PeakMemory() as naive_mem:
            naive_results, naive_elapsed = asyncio.run(naive_run(args.naive, agencies, base_url))
        naive_ok = sum(r["state"] == "submitted" for r in naive_results)
        naive_cpu = (_cpu_seconds() - naive_cpu) / max(naive_ok, 1)
        naive_rate = naive_ok / naive_elapsed * 60
        print(f"naive   {naive_ok}/{args.naive} submitted in {naive_elapsed:.1f} s = {naive_rate:.1f} per minute "
              f"(fresh browser per test); peak memory {naive_mem.peak_mb:.0f} MB")
        print(f"ratio   {rate / naive_rate:.1f}x the naive way (wall clock)")
        cores = os.cpu_count() or 1
        print(f"cpu     {cpu:.2f} CPU-s per submission (engine) vs {naive_cpu:.2f} (naive) = {naive_cpu / cpu:.1f}x; "
              f"on {cores} idle cores that is {cores / cpu * 60:.0f} vs {cores / naive_cpu * 60:.0f} per minute "
              "(the world's own work not counted)")
        print(f"machine {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end (other work slows both ways)")
        print(f"aims    >=60/min: {'yes' if rate >= 60 else 'NO'}; >=3x: {'yes' if rate >= 3 * naive_rate else 'NO'}; "
              f"<1 GB: {'yes' if mem.peak_mb < 1024 else 'NO'}")
    finally:
        world.terminate()
        world.wait(10)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
