"""`shopper serve`: one process that keeps everything moving.

It runs, side by side in one event loop: the campaign scheduler, the mailbox watcher (which also
raises passed deadlines on time), the status-page poller, the deadline watch, grading as answers
arrive, the daily site checks, the bot, and a health line in the log every minute. Each part runs in a guard that logs
what went wrong and tries again with backoff, so an IMAP server or an agency site that goes away
and comes back costs a retry, not the daemon. SIGTERM and SIGINT stop it gracefully: no new test
starts, tests in the browser finish, and the bot's outbox is left for the next start.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from shopper.clock import get_clock

log = logging.getLogger(__name__)


@dataclass
class Health:
    """What the health line reports."""

    started_at: object = None
    loops: dict = field(default_factory=dict)  # name -> "ok" | last error
    submitted: int = 0

    def line(self, db) -> str:
        counts = dict(db.execute("select state, count(*) from tests group by state").fetchall())
        unsent = db.execute("select count(*) from notifications where sent_at is null").fetchone()[0]
        unmatched = db.execute("select count(*) from messages where test_id is null").fetchone()[0]
        loops = " ".join(f"{name}={state}" for name, state in sorted(self.loops.items()))
        return (f"health: tests {counts or {}} messages-unmatched={unmatched} pushes-unsent={unsent} "
                f"submitted-this-run={self.submitted} {loops}")


# However fast a simulated clock runs, a loop rests this long (real seconds) between rounds.
MIN_REAL_PAUSE = 0.1


async def guarded(name: str, body: Callable[[], Awaitable[None]], stop: asyncio.Event, health: Health,
                  *, every: float, backoff_max: float = 300.0, real_time: bool = False) -> None:
    """Run `body` every `every` seconds of shopper's clock (or of real time, for the health line
    that people read) until `stop`; an error is logged and retried after a growing pause instead
    of ending the daemon."""
    clock = get_clock()
    backoff = every
    while not stop.is_set():
        try:
            await body()
            health.loops[name] = "ok"
            backoff = every
            pause = every
        except asyncio.CancelledError:
            raise
        except Exception as err:  # noqa: BLE001 - a loop must survive anything a site or server does
            health.loops[name] = f"error({type(err).__name__})"
            log.warning("%s: %s; retrying in %.0f s", name, err, backoff)
            pause, backoff = backoff, min(backoff * 2, backoff_max)
        await asyncio.sleep(MIN_REAL_PAUSE)
        sleeper = asyncio.ensure_future(asyncio.sleep(pause) if real_time else clock.sleep(pause))
        stopper = asyncio.ensure_future(stop.wait())
        await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        for task in (sleeper, stopper):
            task.cancel()


class Daemon:
    """Everything `shopper serve` runs. `with_bot` / `with_mailbox` let tests and odd deployments
    leave a part out."""

    def __init__(self, db, config, *, solver=None, with_bot: bool = True, with_mailbox: bool = True,
                 scheduler_every: float = 30, poll_every: float = 60, grade_every: float = 120,
                 health_every: float = 60):
        self.db = db
        self.config = config
        self.solver = solver
        self.with_bot = with_bot
        self.with_mailbox = with_mailbox
        self.scheduler_every = scheduler_every
        self.poll_every = poll_every
        self.grade_every = grade_every
        self.health_every = health_every
        self.health = Health()
        self.stop = asyncio.Event()

    def _load(self):
        from shopper import agencies
        from shopper.scenarios import load_scenarios
        from shopper.sites import load_sites

        sites = load_sites(self.config.sites_dir)
        agencies.sync(self.db, sites)
        return sites, load_scenarios(self.config.scenarios_dir)

    async def run(self) -> None:
        from shopper.submission import Engine

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, self.request_stop, sig)
            except (NotImplementedError, RuntimeError):  # not the main thread (tests)
                pass
        self.health.started_at = get_clock().now()
        sites, scenarios = self._load()
        application = self._build_bot() if self.with_bot else None
        if self.solver is None:
            self.solver = solver_from_config(self.config, application)
        async with Engine(self.db, self.config, solver=self.solver) as engine:
            tasks = [
                asyncio.create_task(guarded("scheduler", lambda: self._schedule(engine, sites, scenarios),
                                            self.stop, self.health, every=self.scheduler_every)),
                asyncio.create_task(guarded("deadlines", self._deadlines, self.stop, self.health, every=60)),
                asyncio.create_task(guarded("grading", self._grade, self.stop, self.health, every=self.grade_every)),
                asyncio.create_task(guarded("poller", lambda: self._poll(engine, sites), self.stop, self.health,
                                            every=self.poll_every)),
                asyncio.create_task(guarded("site checks", lambda: self._check(engine, sites), self.stop,
                                            self.health, every=3600)),
                asyncio.create_task(guarded("health", self._health, self.stop, self.health, every=self.health_every,
                                            real_time=True)),
            ]
            if self.with_mailbox:
                tasks.append(asyncio.create_task(self._mailbox()))
            if application is not None:
                tasks.append(asyncio.create_task(self._bot(application)))
            log.info("shopper serve: running (%d parts)", len(tasks))
            await self.stop.wait()
            log.info("shopper serve: stopping")
            done, pending = await asyncio.wait(tasks, timeout=30)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        log.info("shopper serve: stopped")

    def request_stop(self, sig=None) -> None:
        if sig is not None:
            log.info("received %s", signal.Signals(sig).name)
        self.stop.set()

    async def _schedule(self, engine, sites, scenarios) -> None:
        from shopper.scheduler import run_due

        results = await run_due(self.db, engine, sites, scenarios)
        self.health.submitted += sum(1 for r in results if r.get("state") == "submitted")

    async def _deadlines(self) -> None:
        from shopper.timeline import raise_passed_deadlines

        raise_passed_deadlines(self.db)

    async def _grade(self) -> None:
        from shopper.findings import grade_all

        grade_all(self.db, self.config)

    async def _poll(self, engine, sites) -> None:
        from shopper.poller import poll_due

        await poll_due(self.db, self.config, sites, browser=engine.browser, solver=self.solver)

    async def _check(self, engine, sites) -> None:
        """Article 10: every site checked every day (complaint column, links, services, disclosure)."""
        from shopper.checks import due_checks, run_checks_many

        due = due_checks(self.db, sorted(sites))
        if due:
            await run_checks_many(self.db, self.config, [sites[a] for a in due], browser=engine.browser)

    async def _health(self) -> None:
        log.info(self.health.line(self.db))

    async def _mailbox(self) -> None:
        from shopper.mailbox import MailboxSettings, MailboxWatcher

        try:
            settings = MailboxSettings.from_config(self.config)
        except Exception as err:  # noqa: BLE001 - no mailbox configured: the rest still runs
            self.health.loops["mailbox"] = "off"
            log.warning("mailbox watcher off: %s", err)
            return
        watcher = MailboxWatcher(self.db, settings, config=self.config)
        self.health.loops["mailbox"] = "on"
        await watcher.run(self.stop)

    def _build_bot(self):
        from bot.app import build_application
        from bot.run import bot_token

        try:
            token = bot_token(self.config)
        except Exception as err:  # noqa: BLE001 - no token: the rest still runs
            self.health.loops["bot"] = "off"
            log.warning("bot off: %s", err)
            return None
        return build_application(self.db, self.config, token=token)

    async def _bot(self, application) -> None:
        from bot.run import serve

        self.health.loops["bot"] = "on"
        await serve(application, stop=self.stop)


def solver_from_config(config, application=None):
    """Who reads captchas and SMS codes: `[solver] kind = "telegram"` (the default when the bot
    runs: the supervisor who started the test is asked), "harness" with `url` (the demo world's
    known answers), or "none" (a captcha fails the test with a clear finding)."""
    kind = config.get("solver", "kind", "telegram" if application is not None else "none")
    if kind == "harness":
        from shopper.solvers import HarnessSolver

        return HarnessSolver(config.get("solver", "url") or os.environ.get("SHOPPER_DEMO_URL", ""))
    if kind == "telegram" and application is not None:
        return application.bot_data["solver"]
    return None
