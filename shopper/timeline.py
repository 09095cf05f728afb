"""Each test's timeline of events, and the deadline watch that makes a missed deadline an event.

An event says what happened (`submitted`, `acknowledged`, `replied`, `status_changed`,
`deadline_passed`, `failed`, `uncertain`), when (`at`), and how precisely we know it: the window
from the last observation without it to the first with it. Recording is idempotent through
`dedupe_key`, so a watcher that sees the same mail twice, or restarts, records it once.

The deadline watch asks, for every open test, which rule deadlines are still pending — the
24-hour acknowledgement (complaints, suggestions), the same-day response (important complaints)
and the reply deadline (the limit promised in the acknowledgement, else the one the site
publishes) — and records `deadline_passed` at the deadline itself once it has gone by with no
answer, and pushes a notification. It is run by the watcher loop, so it fires on time.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from shopper.clock import from_iso, get_clock, to_iso

log = logging.getLogger(__name__)

EVENT_KINDS = ("submitted", "acknowledged", "replied", "status_changed", "deadline_passed", "failed", "uncertain")
SOURCES = ("engine", "email", "status_page", "watch", "hand")

# Which events answer which rule: an acknowledgement is answered by any response; same-day
# wants a response of any kind; the reply deadline wants the reply itself.
RULE_ANSWERED_BY = {
    "complaint.ack_24h": ("acknowledged", "replied"),
    "complaint.important_same_day": ("acknowledged", "replied"),
    "complaint.reply_by_deadline": ("replied",),
    "consult.reply_in_time": ("replied",),
}
OPEN_STATES = ("submitted", "uncertain", "acknowledged")


def _iso(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return to_iso(value)
    return to_iso(from_iso(str(value)))


def record_event(db, test_id: str, kind: str, *, at, source: str, window=None, detail=None,
                 message_id: int | None = None, dedupe_key: str | None = None) -> int | None:
    """Record one event; returns its id, or None when it was already recorded (same dedupe_key).

    `at` and the `window` ends are aware datetimes or ISO strings; `window` is (last seen
    without, first seen with). Acknowledged/replied also move the test's state and times."""
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown event kind {kind!r}; use one of {', '.join(EVENT_KINDS)}")
    if source not in SOURCES:
        raise ValueError(f"unknown event source {source!r}; use one of {', '.join(SOURCES)}")
    at_iso = _iso(at)
    start, end = (window or (None, None))
    row = {
        "test_id": test_id,
        "kind": kind,
        "at": at_iso,
        "source": source,
        "detail_json": json.dumps(detail, ensure_ascii=False) if detail is not None else None,
        "window_start": _iso(start) if start is not None else at_iso,
        "window_end": _iso(end) if end is not None else at_iso,
        "message_id": message_id,
        "dedupe_key": dedupe_key,
    }
    with db.conn:
        cursor = db.conn.execute(
            "INSERT OR IGNORE INTO events (test_id, kind, at, source, detail_json, window_start, window_end,"
            " message_id, dedupe_key) VALUES (:test_id, :kind, :at, :source, :detail_json, :window_start,"
            " :window_end, :message_id, :dedupe_key)",
            row,
        )
        if cursor.rowcount == 0:
            return None
        event_id = cursor.lastrowid
        _advance_test(db, test_id, kind, at_iso)
    return event_id


def _advance_test(db, test_id: str, kind: str, at_iso: str) -> None:
    stamp = to_iso(get_clock().now())
    if kind == "acknowledged":
        db.conn.execute(
            "UPDATE tests SET acknowledged_at = CASE WHEN acknowledged_at IS NULL OR acknowledged_at > :at"
            " THEN :at ELSE acknowledged_at END, state = CASE WHEN state IN ('submitted', 'uncertain')"
            " THEN 'acknowledged' ELSE state END, updated_at = :now WHERE id = :id",
            {"at": at_iso, "now": stamp, "id": test_id},
        )
    elif kind == "replied":
        db.conn.execute(
            "UPDATE tests SET replied_at = CASE WHEN replied_at IS NULL OR replied_at > :at THEN :at"
            " ELSE replied_at END, state = CASE WHEN state IN ('submitted', 'uncertain', 'acknowledged')"
            " THEN 'replied' ELSE state END, updated_at = :now WHERE id = :id",
            {"at": at_iso, "now": stamp, "id": test_id},
        )


def timeline(db, test_id: str) -> list[dict]:
    """The test's events in time order, `detail` parsed."""
    rows = db.execute(
        "SELECT * FROM events WHERE test_id = ? ORDER BY at, id", [test_id]
    ).fetchall()
    columns = [c[0] for c in db.execute("SELECT * FROM events LIMIT 0").description]
    out = []
    for values in rows:
        event = dict(zip(columns, values))
        event["detail"] = json.loads(event["detail_json"]) if event.get("detail_json") else None
        out.append(event)
    return out


# ------------------------------------------------------------------------------ deadline watch


@lru_cache(maxsize=256)
def _site_for(site_file: str | None):
    if not site_file:
        return None
    from shopper.sites import load_site_file

    try:
        return load_site_file(Path(site_file))
    except Exception as err:  # noqa: BLE001 - a broken site file must not stop the watch
        log.warning("cannot read site file %s: %s", site_file, err)
        return None


def _calendar(site):
    if site is not None:
        return site.business_calendar()
    from shopper.calendar import BusinessCalendar

    return BusinessCalendar()


def _answered_before(events: list[dict], kinds: tuple[str, ...], deadline: datetime) -> bool:
    """Whether an answer is known to have come by `deadline` (its window may straddle it: then
    it is not known to be late, and the grader decides; we raise nothing)."""
    for event in events:
        if event["kind"] in kinds:
            first_possible = from_iso(event["window_start"] or event["at"])
            if first_possible <= deadline:
                return True
    return False


def _promise_deadline(test: dict, events: list[dict], site, cal):
    """The reply deadline: the promise in the acknowledgement, else the site's published limit."""
    from shopper import deadlines

    start = from_iso(test["submitted_at"])
    for event in events:
        if event["kind"] != "acknowledged" or not event.get("message_id"):
            continue
        row = next(iter(test["_db"].execute(
            "SELECT own_text, text FROM messages WHERE id = ?", [event["message_id"]]).fetchall()), None)
        text = (row[0] or row[1]) if row else None
        if not text:
            continue
        try:
            from shopper.promises import find_promise
        except ImportError:
            break
        promise = find_promise(text, from_iso(event["at"]), calendar=cal)
        if promise:
            return deadlines.promise_deadline(start, promise, cal).at, "promised"
    kind = test.get("kind") or "complaint"
    limit = site.limit_for(kind) if site is not None else None
    if limit is not None:
        return deadlines.promised(start, limit.n, limit.unit, cal).at, "published"
    return None, None


def due_deadlines(db, now: datetime | None = None) -> list[dict]:
    """Every pending rule deadline of every open test: not yet answered, not yet recorded as passed.

    Each: {"test_id", "rule", "deadline" (aware UTC datetime), "basis", "passed" (deadline <= now)},
    sorted by deadline."""
    from shopper import deadlines

    now = now or get_clock().now()
    placeholders = ", ".join("?" for _ in OPEN_STATES)
    tests = db.execute(
        "SELECT t.id, t.kind, t.important, t.submitted_at, t.state, a.site_file FROM tests t"
        f" LEFT JOIN agencies a ON a.id = t.agency_id WHERE t.state IN ({placeholders})"
        " AND t.submitted_at IS NOT NULL",
        list(OPEN_STATES),
    ).fetchall()
    pending = []
    for test_id, kind, important, submitted_at, state, site_file in tests:
        site = _site_for(site_file)
        cal = _calendar(site)
        events = timeline(db, test_id)
        passed_rules = {e["detail"]["rule"] for e in events if e["kind"] == "deadline_passed" and e["detail"]}
        received = from_iso(submitted_at)
        candidates = []
        if kind in ("complaint", "suggestion"):
            candidates.append(("complaint.ack_24h", deadlines.ack_24h(received, cal).at, "24 hours"))
        if kind == "complaint" and important:
            candidates.append(("complaint.important_same_day", deadlines.same_day(received, cal).at, "same day"))
        if kind in ("complaint", "consultation"):
            test = {"submitted_at": submitted_at, "kind": kind, "_db": db}
            at, basis = _promise_deadline(test, events, site, cal)
            if at is not None:
                rule = "complaint.reply_by_deadline" if kind == "complaint" else "consult.reply_in_time"
                candidates.append((rule, at, basis))
        for rule, at, basis in candidates:
            if rule in passed_rules or _answered_before(events, RULE_ANSWERED_BY[rule], at):
                continue
            if any(e["kind"] in RULE_ANSWERED_BY[rule] for e in events) and at > now:
                continue  # answered already, before this deadline could pass
            pending.append({"test_id": test_id, "rule": rule, "deadline": at.astimezone(now.tzinfo),
                            "basis": basis, "passed": at <= now})
    pending.sort(key=lambda d: d["deadline"])
    return pending


def raise_passed_deadlines(db, now: datetime | None = None) -> list[int]:
    """Record `deadline_passed` (at the deadline) for every deadline gone by unanswered, and push
    a notification for each. Returns the new event ids; running it again records nothing new."""
    from shopper.notify import push

    now = now or get_clock().now()
    new = []
    for due in due_deadlines(db, now):
        if not due["passed"]:
            continue
        deadline_iso = to_iso(due["deadline"])
        event_id = record_event(
            db, due["test_id"], "deadline_passed", at=due["deadline"], source="watch",
            detail={"rule": due["rule"], "deadline": deadline_iso, "basis": due["basis"]},
            dedupe_key=due["rule"],
        )
        if event_id is not None:
            new.append(event_id)
            push(db, "deadline_passed", f"测试 {due['test_id']}：{due['rule']} 的期限 {deadline_iso} 已过，仍未收到答复。",
                 test_id=due["test_id"])
    return new


def next_deadline(db, now: datetime | None = None) -> datetime | None:
    """When the watch next has something to raise (None: nothing pending)."""
    now = now or get_clock().now()
    future = [d["deadline"] for d in due_deadlines(db, now) if not d["passed"]]
    return min(future) if future else None
