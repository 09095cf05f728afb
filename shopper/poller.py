"""The status-page poller: what an agency shows on its own status page, as timed events.

For every open test with a reference number it plays the site's `status.steps` (the same step
runner as the submission, so a query page with a captcha is solved the same way) and compares
what the page says with the last look, kept in `status_polls`:

- a new status → `status_changed`, its window from the last poll that did not show it to this
  one; the time the page displays is taken as `at` when it falls inside that window. A status
  that means the request was accepted (已受理, 处理中 ...) also records `acknowledged`; one that
  means it was answered (已处理, 已办结, 已答复 ...) records `replied`. The words are the site's
  `[status] acknowledged` / `replied` lists when it has them, else the defaults below.
- reply text shown on the page → stored as a message (source status_page) with the same window,
  graded like a mail.
- the site's public list of answered letters (`answered_list.steps`), when it lists the test's
  reference number → `replied`.

Its pace adapts (`next_poll_at`): every few hours when nothing is due, every ten minutes in the
hour before a deadline, one look a minute before and one a minute after, so an ack_24h or
same-day breach is decided from observations on both sides of the deadline.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime

from shopper.clock import from_iso, get_clock, to_iso
from shopper.timeline import due_deadlines, record_event

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Pace:
    """How often a status page is looked at: every `sparse` when nothing is due, every `dense` in
    the `dense_span` before a deadline and after it, and one look `edge` before and after it.
    `[poller] sparse_hours`, `dense_minutes`, `dense_span_minutes`, `edge_minutes` change it."""

    sparse: timedelta = timedelta(hours=4)
    dense: timedelta = timedelta(minutes=10)
    dense_span: timedelta = timedelta(hours=1)
    edge: timedelta = timedelta(minutes=1)

    @classmethod
    def from_config(cls, config) -> "Pace":
        if config is None:
            return PACE
        get = lambda key, default: float(config.get("poller", key, default))  # noqa: E731
        return cls(timedelta(hours=get("sparse_hours", 4)), timedelta(minutes=get("dense_minutes", 10)),
                   timedelta(minutes=get("dense_span_minutes", 60)), timedelta(minutes=get("edge_minutes", 1)))


PACE = Pace()

ACK_WORDS = ("已受理", "受理中", "待处理", "处理中", "办理中", "已转办", "已交办", "已签收")
REPLY_WORDS = ("已处理", "已办结", "已答复", "已回复", "办结", "已完成")
# What a page shows in the reply field while there is none (a site may list its own: `no_reply`).
NO_REPLY = ("暂无", "无", "暂无答复", "暂无回复", "未答复", "待答复", "尚未答复", "—", "-", "--", "/")

_TIME = re.compile(r"(\d{4})[-/年.](\d{1,2})[-/月.](\d{1,2})日?\s*(\d{1,2})[:：时](\d{2})(?:[:：分](\d{2}))?")


def next_poll_at(test: dict, now: datetime, deadlines: list[datetime] | None = None,
                 last_poll: datetime | None = None, pace: Pace = PACE) -> datetime:
    """When to look at this test's status page next, given its pending rule `deadlines` and the
    last look: never looked → now; otherwise every `pace.sparse`, every `pace.dense` in the span
    before a deadline, one look `pace.edge` before it and one after it, and dense for a span after."""
    if last_poll is None:
        return now
    base = last_poll
    candidates = [base + pace.sparse]
    for d in deadlines or []:
        if base < d - pace.edge:
            if d - pace.edge - base > pace.dense_span:
                candidates.append(d - pace.dense_span)
            else:
                candidates.append(min(base + pace.dense, d - pace.edge))
        elif base < d + pace.edge:
            candidates.append(d + pace.edge)
        elif base < d + pace.dense_span:
            candidates.append(base + pace.dense)
    return min(candidates)


def page_time(text: str | None, tz) -> datetime | None:
    """The time a status page displays ("2026-12-01 09:30", "2026年12月1日 09:30") in the agency's zone."""
    if not text:
        return None
    m = _TIME.search(text)
    if not m:
        return None
    y, mo, d, h, mi, s = (int(x) if x else 0 for x in m.groups())
    try:
        return datetime(y, mo, d, h, mi, s, tzinfo=tz)
    except ValueError:
        return None


def _words(site, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = (site.raw.get("status") or {}) if site is not None else {}
    words = raw.get(key)
    return tuple(words) if isinstance(words, list) and words else default


def _state(db, test_id: str) -> dict | None:
    row = db.execute("SELECT polled_at, status, status_time, reply_sha256, polls FROM status_polls WHERE test_id = ?",
                     [test_id]).fetchone()
    if row is None:
        return None
    return dict(zip(("polled_at", "status", "status_time", "reply_sha256", "polls"), row))


def _save(db, test_id: str, **values) -> None:
    with db.conn:
        db["status_polls"].upsert({"test_id": test_id, **values}, pk="test_id", alter=False)


def _reply_message(test: dict, site, text: str, when: datetime) -> bytes:
    """Reply text from a status page as an RFC 822 message, so it is kept and graded like mail."""
    import base64

    body = base64.encodebytes(text.encode("utf-8")).replace(b"\n", b"\r\n")
    subject = f"状态页答复 {test.get('reference_number') or test['id']}"
    from email.header import Header

    head = (
        f"From: status-page@{site.id if site else 'agency'}.invalid\r\n"
        f"To: {test.get('reply_address') or test['id']}\r\n"
        f"Subject: {Header(subject, 'utf-8').encode()}\r\n"
        f"Date: {format_datetime(when)}\r\n"
        f"X-Shopper-Source: status_page {site.homepage if site else ''}\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    )
    return head.encode("utf-8") + body


def _already_received(db, test_id: str, reply: str) -> bool:
    """The same answer already came by mail: one answer seen in two places is recorded once."""
    probe = re.sub(r"\s+", "", reply)[:40]
    if not probe:
        return False
    for own, text in db.execute("SELECT own_text, text FROM messages WHERE test_id = ?", [test_id]).fetchall():
        if probe in re.sub(r"\s+", "", own or text or ""):
            return True
    return False


def record_observation(db, test: dict, site, values: dict, now: datetime, config=None) -> list[str]:
    """Turn one look at the status page (the values the steps extracted) into events. Returns the
    kinds of events recorded."""
    from shopper.ingest import Ingestor

    tz = site.business_calendar().tz if site is not None else None
    previous = _state(db, test["id"])
    window_start = from_iso(previous["polled_at"]) if previous else from_iso(test["submitted_at"])
    status = (values.get("status") or "").strip() or None
    shown = page_time(values.get("status_time"), tz) if tz else None
    at = shown if shown is not None and window_start <= shown <= now else now
    recorded: list[str] = []
    if status and status != (previous or {}).get("status"):
        detail = {"status": status, "previous": (previous or {}).get("status"), "page_time": values.get("status_time")}
        if record_event(db, test["id"], "status_changed", at=at, source="status_page", window=(window_start, now),
                        detail=detail, dedupe_key=f"status:{status}") is not None:
            recorded.append("status_changed")
        kind = None
        if any(w in status for w in _words(site, "replied", REPLY_WORDS)):
            kind = "replied"
        elif any(w in status for w in _words(site, "acknowledged", ACK_WORDS)):
            kind = "acknowledged"
        if kind and record_event(db, test["id"], kind, at=at, source="status_page", window=(window_start, now),
                                 detail={"status": status}, dedupe_key=f"status:{kind}") is not None:
            recorded.append(kind)
            from shopper.notify import push

            push(db, kind, f"测试 {test['id']} 状态页显示：{status}", test_id=test["id"])
    reply = (values.get("reply") or "").strip()
    if reply in _words(site, "no_reply", NO_REPLY) or reply.strip("：: ").endswith(("暂无", "无")) and len(reply) <= 8:
        reply = ""
    reply_sha = hashlib.sha256(reply.encode("utf-8")).hexdigest() if reply else None
    if reply and reply_sha != (previous or {}).get("reply_sha256") and not _already_received(db, test["id"], reply):
        raw = _reply_message(test, site, reply, at)
        row = Ingestor(db, config).ingest(raw, received_at=at, source="status_page", test_id=test["id"],
                                          window_start=window_start, mailbox=f"status:{test['id']}")
        if row is not None:
            recorded.append("reply_text")
    _save(db, test["id"], polled_at=to_iso(now), status=status or (previous or {}).get("status"),
          status_time=values.get("status_time"), reply_sha256=reply_sha or (previous or {}).get("reply_sha256"),
          error=None, polls=((previous or {}).get("polls") or 0) + 1)
    return recorded


def record_answered_list(db, site, text: str, now: datetime) -> list[str]:
    """Tests of this site whose reference number the public answered list shows → replied."""
    found = []
    rows = db.execute(
        "SELECT id, reference_number FROM tests WHERE agency_id = ? AND reference_number IS NOT NULL"
        " AND state IN ('submitted', 'uncertain', 'acknowledged')", [site.id]).fetchall()
    for test_id, reference in rows:
        if reference and reference in (text or ""):
            previous = _state(db, test_id)
            start = from_iso(previous["polled_at"]) if previous else now
            if record_event(db, test_id, "replied", at=now, source="status_page", window=(start, now),
                            detail={"answered_list": True}, dedupe_key="answered_list") is not None:
                found.append(test_id)
    return found


_TEST_SQL = ("SELECT t.*, p.name AS persona_name, p.phone AS persona_phone FROM tests t"
             " LEFT JOIN personas p ON p.id = t.persona_id")


def _test(db, test_id: str) -> dict | None:
    cursor = db.execute(_TEST_SQL + " WHERE t.id = ?", [test_id])
    row = cursor.fetchone()
    return dict(zip([c[0] for c in cursor.description], row)) if row else None


def _open_tests(db) -> list[dict]:
    rows = db.execute(
        "SELECT t.*, p.name AS persona_name, p.phone AS persona_phone FROM tests t"
        " LEFT JOIN personas p ON p.id = t.persona_id"
        " WHERE t.reference_number IS NOT NULL AND t.reference_number != ''"
        " AND t.state IN ('submitted', 'uncertain', 'acknowledged')").fetchall()
    columns = [c[0] for c in db.execute(
        "SELECT t.*, p.name AS persona_name, p.phone AS persona_phone FROM tests t"
        " LEFT JOIN personas p ON p.id = t.persona_id LIMIT 0").description]
    return [dict(zip(columns, r)) for r in rows]


def _pending(db, now: datetime) -> dict[str, list[datetime]]:
    """Each test's deadlines that pace its looks: pending ones, and passed ones (the look right
    after a deadline still matters)."""
    pending: dict[str, list[datetime]] = {}
    for d in due_deadlines(db, now):
        pending.setdefault(d["test_id"], []).append(d["deadline"])
    for test_id, rule_deadline in db.execute(
            "SELECT test_id, json_extract(detail_json, '$.deadline') FROM events WHERE kind = 'deadline_passed'"
    ).fetchall():
        if rule_deadline:
            pending.setdefault(test_id, []).append(from_iso(rule_deadline))
    return pending


def _schedule(db, now: datetime, pace: Pace = PACE) -> list[tuple[datetime, dict]]:
    pending = _pending(db, now)
    out = []
    for test in _open_tests(db):
        state = _state(db, test["id"])
        last = from_iso(state["polled_at"]) if state else None
        out.append((next_poll_at(test, now, pending.get(test["id"]), last, pace), test))
    return out


def due_tests(db, now: datetime, *, force: bool = False, pace: Pace = PACE) -> list[dict]:
    """Open tests with a reference number whose next look is due at `now`."""
    return [test for at, test in _schedule(db, now, pace) if force or at <= now]


def next_due_at(db, now: datetime | None = None, pace: Pace = PACE) -> datetime | None:
    """The next moment any open test's status page is due (None: no test to poll)."""
    times = [at for at, _ in _schedule(db, now or get_clock().now(), pace)]
    return min(times) if times else None


async def poll_due(db, config=None, sites: dict | None = None, *, browser=None, solver=None,
                   now: datetime | None = None, force: bool = False) -> dict:
    """Look at every status page that is due (all with `force`), then the answered lists.
    Returns {"polled": n, "events": [...], "errors": [...]}."""
    from shopper.steps import StepFailed, run_steps

    now = now or get_clock().now()
    if sites is None:
        from shopper.config import Config
        from shopper.sites import load_sites

        config = config or Config.load()
        sites = load_sites(config.sites_dir)
    pace = Pace.from_config(config)
    tests = [t for t in due_tests(db, now, force=force, pace=pace)
             if t["agency_id"] in sites and sites[t["agency_id"]].status]
    result = {"polled": 0, "events": [], "errors": []}
    if not tests and not force:
        return result
    async with _Browser(browser, config) as br:

        async def look(test: dict, site) -> None:
            page = await br.new_page()
            try:
                persona = {"name": test.get("persona_name"), "phone": test.get("persona_phone"), "id": test["persona_id"]}
                context = {"site": site, "test": test, "persona": persona, "homepage": site.homepage}
                values = await run_steps(page, site.status, context, solver)
                kinds = record_observation(db, test, site, values, now, config)
                result["events"].extend((test["id"], k) for k in kinds)
                result["polled"] += 1
            except StepFailed as err:
                log.warning("status page of %s (test %s): %s", site.id, test["id"], err)
                result["errors"].append((test["id"], str(err)))
                previous = _state(db, test["id"]) or {}
                _save(db, test["id"], polled_at=previous.get("polled_at") or test["submitted_at"],
                      status=previous.get("status"), status_time=previous.get("status_time"),
                      reply_sha256=previous.get("reply_sha256"), error=str(err)[:500],
                      polls=previous.get("polls") or 0)
            finally:
                await page.close()

        # A few pages at once: looking is mostly waiting on the agency's server.
        limit = asyncio.Semaphore(int(config.get("browser", "concurrency", 4)) if config is not None else 4)

        async def limited(test):
            async with limit:
                await look(test, sites[test["agency_id"]])

        await asyncio.gather(*(limited(t) for t in tests))
        by_id = {t["id"]: t for t in tests}
        for site_id in sorted({t["agency_id"] for t in tests}):
            site = sites[site_id]
            if not site.answered_list:
                continue
            page = await br.new_page()
            try:
                values = await run_steps(page, site.answered_list, {"site": site, "homepage": site.homepage}, solver)
                answered = record_answered_list(db, site, values.get("answered_list") or "", now)
            except StepFailed as err:
                log.warning("answered list of %s: %s", site.id, err)
                result["errors"].append((site.id, str(err)))
                answered = []
            finally:
                await page.close()
            for test_id in answered:
                result["events"].append((test_id, "replied"))
                test = by_id.get(test_id) or _test(db, test_id)
                if test is not None and not any(k == "reply_text" for t, k in result["events"] if t == test_id):
                    await look(test, site)  # listed as answered: read the answer now
    return result


class _Browser:
    """The caller's browser, or one of our own for the length of a poll round."""

    def __init__(self, browser, config):
        self.browser = browser
        self.config = config
        self._pw = None
        self._own = None
        self._context = None

    async def __aenter__(self):
        if self.browser is None:
            from playwright.async_api import async_playwright

            from shopper.browser import launch

            self._pw = await async_playwright().start()
            executable = self.config.get("browser", "executable") if self.config is not None else None
            self._own = await launch(self._pw, executable=executable or None)
            self.browser = self._own
        self._context = await self.browser.new_context(locale="zh-CN")
        return self

    async def new_page(self):
        return await self._context.new_page()

    async def __aexit__(self, *exc):
        await self._context.close()
        if self._own is not None:
            await self._own.close()
            await self._pw.stop()


class StatusPoller:
    """`shopper watch --status-pages`: a poll round every `every` seconds of real time."""

    def __init__(self, db, config=None, *, every: float = 60.0, solver=None):
        self.db, self.config, self.every, self.solver = db, config, every, solver

    async def run(self, stop=None) -> None:
        while stop is None or not stop.is_set():
            try:
                await poll_due(self.db, self.config, solver=self.solver)
            except Exception as err:  # noqa: BLE001 - one bad round must not end the watch
                log.warning("status poll round failed: %s", err)
            await asyncio.sleep(self.every)
