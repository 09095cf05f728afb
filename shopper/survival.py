"""Response times as survival curves (Kaplan–Meier), so that silence counts.

A test still unanswered when we look is not a missing observation: we know the agency took *at
least* that long. Dropping it would make an agency that never answers look as fast as its few
answers; counting it as answered "now" would invent an answer. The Kaplan–Meier estimator uses
it as a right-censored observation, and the median is read off the curve — "not reached" when
fewer than half of the tests were ever answered.

Time to acknowledgement is the time to the first sign of receipt: the acknowledgement, or the
reply itself when no separate acknowledgement came. Durations are in hours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from shopper.clock import from_iso, get_clock


@dataclass
class KMCurve:
    times: list[float] = field(default_factory=list)  # distinct event times, ascending
    survival: list[float] = field(default_factory=list)  # S(t) from each time on
    at_risk: list[int] = field(default_factory=list)
    n: int = 0
    events: int = 0
    censored_times: list[float] = field(default_factory=list)

    def at(self, t: float) -> float:
        """S(t): the share of tests still unanswered after t hours."""
        value = 1.0
        for time, s in zip(self.times, self.survival):
            if time > t:
                break
            value = s
        return value

    def median(self) -> float | None:
        """The first time the curve reaches 0.5 or below; None means not reached."""
        for time, s in zip(self.times, self.survival):
            if s <= 0.5 + 1e-12:
                return time
        return None

    def steps(self) -> list[tuple[float, float]]:
        """(t, S) corners for drawing: starts at (0, 1)."""
        return [(0.0, 1.0)] + list(zip(self.times, self.survival))


def kaplan_meier(durations: list[float], observed: list[bool]) -> KMCurve:
    """The product-limit estimate. `observed[i]` False means test i was censored at durations[i].
    At a tie, events come before censorings (the usual convention)."""
    if len(durations) != len(observed):
        raise ValueError("durations and observed must have the same length")
    pairs = sorted(zip(durations, observed), key=lambda p: (p[0], not p[1]))
    curve = KMCurve(n=len(pairs))
    at_risk = len(pairs)
    s = 1.0
    i = 0
    while i < len(pairs):
        t = pairs[i][0]
        deaths = censored = 0
        while i < len(pairs) and pairs[i][0] == t:
            if pairs[i][1]:
                deaths += 1
            else:
                censored += 1
                curve.censored_times.append(t)
            i += 1
        if deaths:
            s *= 1.0 - deaths / at_risk
            curve.times.append(t)
            curve.survival.append(s)
            curve.at_risk.append(at_risk)
            curve.events += deaths
        at_risk -= deaths + censored
    return curve


@dataclass
class Observation:
    test_id: str
    agency_id: str
    submitted_at: datetime
    acknowledged_at: datetime | None
    replied_at: datetime | None


def _hours(a: datetime, b: datetime) -> float:
    return max(0.0, (b - a).total_seconds() / 3600.0)


def durations(observations: list[Observation], what: str, until: datetime | None = None) -> tuple[list[float], list[bool]]:
    """(durations, observed) for "ack" or "reply", censoring at `until` (default: now)."""
    until = until or get_clock().now()
    ds, obs = [], []
    for o in observations:
        if o.submitted_at > until:
            continue
        end = o.replied_at if what == "reply" else min([t for t in (o.acknowledged_at, o.replied_at) if t], default=None)
        if end is not None and end <= until:
            ds.append(_hours(o.submitted_at, end))
            obs.append(True)
        else:
            ds.append(_hours(o.submitted_at, until))
            obs.append(False)
    return ds, obs


def load_observations(db, *, period=None, agency_id: str | None = None) -> dict[str, list[Observation]]:
    """Submitted tests with their first acknowledgement and reply, grouped by agency.

    Times come from the tests row, else from the first acknowledged/replied event."""
    from shopper.scoring import Period, _local_window, register_sql_functions

    where = ["t.submitted_at IS NOT NULL"]
    params: list = []
    if period is not None:
        period = Period.parse(period)
        register_sql_functions(db)
        window, wparams = _local_window(db, period, "t.submitted_at", "COALESCE(a.timezone, 'Asia/Shanghai')", agency_id)
        where.append(window)
        params += wparams
    if agency_id is not None:
        where.append("t.agency_id = ?")
        params.append(agency_id)
    sql = f"""
        SELECT t.id, t.agency_id, t.submitted_at,
               COALESCE(t.acknowledged_at, e.ack), COALESCE(t.replied_at, e.reply)
        FROM tests t
        LEFT JOIN agencies a ON a.id = t.agency_id
        LEFT JOIN (
            SELECT test_id,
                   MIN(CASE WHEN kind = 'acknowledged' THEN at END) AS ack,
                   MIN(CASE WHEN kind = 'replied' THEN at END) AS reply
            FROM events WHERE kind IN ('acknowledged', 'replied') GROUP BY test_id
        ) e ON e.test_id = t.id
        WHERE {' AND '.join(where)}
        ORDER BY t.agency_id, t.submitted_at"""
    result: dict[str, list[Observation]] = {}
    for tid, aid, sub, ack, rep in db.execute(sql, params):
        result.setdefault(aid, []).append(
            Observation(tid, aid, from_iso(sub), from_iso(ack) if ack else None, from_iso(rep) if rep else None)
        )
    return result


def agency_curves(observations: list[Observation], until: datetime | None = None) -> dict[str, KMCurve]:
    """Both curves of one agency: {"ack": KMCurve, "reply": KMCurve}."""
    return {what: kaplan_meier(*durations(observations, what, until)) for what in ("ack", "reply")}


def format_hours(hours: float | None) -> str:
    if hours is None:
        return "not reached"
    if hours < 48:
        return f"{hours:.1f} h"
    return f"{hours / 24:.1f} d"
