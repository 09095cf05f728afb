"""`shopper demo`: a simulated week against the local demo agencies, end to end.

It starts the local world (demo agency sites and the loopback mail system) on a simulated clock,
plans a campaign of every scenario at every demo agency over the working week, and then steps the
clock forward: each step sends the tests that are due through the real browser, lets the agencies
act according to their behaviour profiles, reads the mailbox, polls status pages and raises
passed deadlines. Afterwards it grades, scores and ranks, and writes the report and the letters.

The demo drives the same library functions `shopper serve` runs in its loops; only the clock is
stepped instead of waited for, so a week takes a minute or two.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from shopper.clock import SimulatedClock, use_clock

log = logging.getLogger(__name__)

# Monday 2026-11-30, 08:00 in Shanghai: an ordinary working week with no holiday in it.
DEMO_START = datetime.fromisoformat("2026-11-30T08:00:00+08:00")
DEMO_DAYS = 7
STEP = timedelta(minutes=10)
# Status pages are looked at every two simulated hours, so the looks due by then go out side by side.
POLL_EVERY_STEPS = 12
DEMO_PASSWORD_SECRET = "demo_account"


@dataclass
class DemoResult:
    out_dir: Path
    db_path: Path
    report: Path | None
    letters: list[Path] = field(default_factory=list)
    ranking: list = field(default_factory=list)
    period: str = ""
    tests: dict = field(default_factory=dict)  # state -> count


def _config(out_dir: Path):
    from shopper.config import Config

    return Config(None, {
        "office": {"reply_domain": "reply.demo.shopper.test", "name": "市政府办公厅（演示）"},
        "paths": {"evidence": str(out_dir / "evidence")},
        "browser": {"concurrency": 4, "per_agency": 1},
        # A week in under three minutes: status pages looked at daily, and two-hourly around a
        # deadline, instead of every few hours and every ten minutes (each look is a page load).
        "poller": {"sparse_hours": 24, "dense_minutes": 120, "dense_span_minutes": 120},
    })


def _give_accounts(db, sites) -> None:
    """Sites that let only registered users write get a demo account per persona."""
    from shopper import personas

    os.environ.setdefault(f"SHOPPER_{DEMO_PASSWORD_SECRET.upper()}", "Demo-Pass-2026")
    for site in sites.values():
        if not site.login:
            continue
        for i in range(12):
            persona = personas.add(db, personas.generate(random.Random(f"{site.id}-{i}")))
            personas.add_account(db, persona.id, site.id, f"citizen{i:02d}", DEMO_PASSWORD_SECRET)


def _fresh(out_dir: Path) -> None:
    for name in ("shopper.db", "shopper.db-wal", "shopper.db-shm"):
        (out_dir / name).unlink(missing_ok=True)
    for name in ("evidence", "report", "letters"):
        shutil.rmtree(out_dir / name, ignore_errors=True)
    out_dir.mkdir(parents=True, exist_ok=True)


async def _delivered(mail, patience: float = 2.0) -> None:
    """Wait until the IMAP server has taken in every message the agencies just sent."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + patience
    while mail.pending() and loop.time() < give_up:
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.01)  # the server's own hand-over to its mailbox


async def _simulate(db, config, world, mail, sites, scenarios, clock, end, progress=None) -> None:
    from shopper.mailbox import IMAPClient, MailboxSettings, MailboxWatcher
    from shopper.poller import poll_due
    from shopper.scheduler import run_due
    from shopper.solvers import HarnessSolver
    from shopper.submission import Engine
    from shopper.timeline import raise_passed_deadlines

    settings = MailboxSettings(host=mail.imap_host, port=mail.imap_port, tls=False, user=mail.imap_user,
                               password=mail.imap_password)
    watcher = MailboxWatcher(db, settings, config=config, deadline_watch=False)
    client = IMAPClient(settings)
    await client.connect()
    await client.login()
    uid_validity = await client.select(settings.folder)
    solver = HarnessSolver(world.base_url)
    try:
        async with Engine(db, config, solver=solver) as engine:
            step = 0
            while clock.now() < end:
                now = clock.now()
                step += 1
                work = [run_due(db, engine, sites, scenarios, now)]
                if step % POLL_EVERY_STEPS == 0:
                    work.append(poll_due(db, config, sites, browser=engine.browser, solver=solver, now=now))
                await asyncio.gather(*work)  # the browser sends and looks side by side
                sent = len(world.outbox)
                world.tick()
                if len(world.outbox) > sent:
                    await _delivered(mail)
                await watcher.catch_up(client, uid_validity)
                raise_passed_deadlines(db, now)
                clock.advance(STEP)
                if progress is not None:
                    progress(clock.now())
            world.tick()
            await _delivered(mail)
            await watcher.catch_up(client, uid_validity)
            raise_passed_deadlines(db, clock.now())
    finally:
        await client.logout()


def run_demo(out_dir: str | Path = "demo-out", *, days: int = DEMO_DAYS, seed: int = 2026, pdf: bool = True,
             gap_hours: float = 3.0, send_days: float | None = None, progress=None) -> DemoResult:
    """Run the demo into `out_dir` (replacing an earlier demo there). Tests are sent in the first
    `send_days` (default `days - 2.5`, at least one), `gap_hours` apart at one agency, and the
    agencies are watched until `days` have passed. `progress(now)` is called after every step."""
    from shopper import agencies, campaigns
    from shopper.db import open_database
    from shopper.demo.mail import MailSystem
    from shopper.demo.world import World
    from shopper.findings import grade_all
    from shopper.letters import write_letters
    from shopper.ranking import ranking
    from shopper.report import write_report
    from shopper.scenarios import load_scenarios
    from shopper.scoring import period_of
    from shopper.sites import load_sites

    out_dir = Path(out_dir).resolve()
    _fresh(out_dir)
    clock = SimulatedClock(DEMO_START)
    end = DEMO_START + timedelta(days=days)
    config = _config(out_dir)
    previous_url = os.environ.get("SHOPPER_DEMO_URL")
    with use_clock(clock), MailSystem() as mail:
        world = World(clock, mail=mail, seed=seed).start()
        try:
            os.environ.update(world.env())
            db = open_database(out_dir / "shopper.db")
            sites = load_sites(config.sites_dir)
            demo_sites = {k: v for k, v in sites.items() if k in world.agencies}
            agencies.sync(db, demo_sites)
            scenarios = load_scenarios(config.scenarios_dir)
            _give_accounts(db, demo_sites)
            campaigns.plan(
                db, "demo-week", sites=demo_sites, scenarios=scenarios, agencies=sorted(demo_sites),
                scenario_ids=sorted(scenarios), start=DEMO_START + timedelta(hours=1),
                end=DEMO_START + timedelta(days=send_days or max(1.0, days - 2.5)), gap=timedelta(hours=gap_hours),
                owner="demo", seed=seed,
            )
            campaigns.set_state(db, "demo-week", "running")
            asyncio.run(_simulate(db, config, world, mail, demo_sites, scenarios, clock, end, progress))
        finally:
            world.stop()
            if previous_url is None:
                os.environ.pop("SHOPPER_DEMO_URL", None)
            else:
                os.environ["SHOPPER_DEMO_URL"] = previous_url

        grade_all(db, config)
        period = str(period_of(DEMO_START))
        rows = ranking(db, period, config, recompute=True)
        report = write_report(db, out_dir / "report", period=period, config=config)
        letters = write_letters(db, out_dir / "letters", pdf=pdf, config=config, period=period)
        states = dict(db.execute("select state, count(*) from tests group by state").fetchall())
        db.close()
    return DemoResult(out_dir, out_dir / "shopper.db", report, letters, rows, period, states)
