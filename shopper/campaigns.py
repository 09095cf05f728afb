"""Covert campaigns: many tests spread over weeks at believable times.

A plan is rows in `tests` with state `planned` and a `planned_at` time, tied to a row in
`campaigns`. Because the plan lives in the database, a restarted daemon picks up where it stood:
the scheduler only ever moves a test forward (planned → submitting → submitted | uncertain), so
no planned test is skipped and none is sent twice.

Believable times: a citizen writes mostly in office hours, sometimes in the evening, now and then
at the weekend; two tests never reach one agency within `gap` of each other.
"""

from __future__ import annotations

import json
import logging
import random
import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from shopper.calendar import BusinessCalendar
from shopper.clock import from_iso, get_clock, to_iso
from shopper.errors import ShopperError
from shopper.personas import new_test_id

log = logging.getLogger(__name__)

STATES = ("planned", "running", "paused", "done")

# When citizens write: (share, local hour range). Office hours dominate.
TIME_OF_DAY = [(0.78, (9, 17)), (0.17, (18, 22)), (0.05, (7, 9))]
WEEKEND_SHARE = 0.08


@dataclass(frozen=True)
class PlannedTest:
    id: str
    agency_id: str
    scenario_id: str
    planned_at: datetime


def _candidate_day(days: list[date], cal: BusinessCalendar, rng: random.Random) -> date:
    working = [d for d in days if cal.is_working_day(d)]
    resting = [d for d in days if not cal.is_working_day(d)]
    if resting and (not working or rng.random() < WEEKEND_SHARE):
        return rng.choice(resting)
    return rng.choice(working or days)


def _candidate_time(day: date, cal: BusinessCalendar, rng: random.Random) -> datetime:
    roll, acc = rng.random(), 0.0
    for share, (start, end) in TIME_OF_DAY:
        acc += share
        if roll <= acc:
            break
    minutes = rng.randrange(start * 60, end * 60)
    return datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=cal.tz)


def spread(
    agency_id: str,
    scenario_ids: list[str],
    start: datetime,
    end: datetime,
    cal: BusinessCalendar,
    *,
    gap: timedelta,
    rng: random.Random,
    taken: list[datetime] | None = None,
) -> list[datetime]:
    """Believable submission times for one agency, at least `gap` apart (and apart from `taken`)."""
    days = []
    day = cal.local(start).date()
    while day <= cal.local(end).date():
        days.append(day)
        day += timedelta(days=1)
    chosen = list(taken or [])
    result = []
    for _ in scenario_ids:
        for _attempt in range(500):
            when = _candidate_time(_candidate_day(days, cal, rng), cal, rng)
            if not (start <= when <= end):
                continue
            if all(abs(when - other) >= gap for other in chosen):
                break
        else:
            raise ShopperError(
                f"cannot fit {len(scenario_ids)} tests for {agency_id} between {start:%Y-%m-%d} and "
                f"{end:%Y-%m-%d} at least {gap} apart; widen the period or lower --gap"
            )
        chosen.append(when)
        result.append(when)
    return sorted(result)


def plan(
    db,
    name: str,
    *,
    sites: dict,
    scenarios: dict,
    agencies: list[str],
    scenario_ids: list[str],
    start: datetime,
    end: datetime,
    gap: timedelta = timedelta(hours=4),
    owner: str = "cli",
    seed: int | None = None,
    assign_persona=None,
) -> list[PlannedTest]:
    """Store a campaign and its planned tests. `assign_persona(db, agency_id, campaign_id, rng)`
    returns a persona id never used at that agency in this campaign."""
    if not name or not name.replace("-", "").replace("_", "").isalnum():
        raise ShopperError(f"campaign name {name!r}: use letters, digits, - and _")
    if db["campaigns"].count_where("name = ?", [name]):
        raise ShopperError(f"a campaign named {name!r} exists; choose another name")
    if end <= start:
        raise ShopperError("the campaign must end after it starts (--to after --from)")
    unknown = [a for a in agencies if a not in sites]
    if unknown:
        raise ShopperError(f"unknown agency {unknown[0]!r}; known: {', '.join(sorted(sites))}")
    unknown = [s for s in scenario_ids if s not in scenarios]
    if unknown:
        raise ShopperError(f"unknown scenario {unknown[0]!r}; known: {', '.join(sorted(scenarios))}")
    rng = random.Random(seed)
    campaign_id = f"c-{secrets.token_hex(4)}"
    planned: list[PlannedTest] = []
    skipped: list[tuple[str, str]] = []
    for agency_id in agencies:
        site = sites[agency_id]
        cal = site.business_calendar()
        taken = [
            from_iso(r["planned_at"] or r["submitted_at"])
            for r in db["tests"].rows_where("agency_id = ? and coalesce(planned_at, submitted_at) is not null", [agency_id])
        ]
        order = [sid for sid in scenario_ids if site.takes(scenarios[sid].kind)]
        skipped += [(agency_id, sid) for sid in scenario_ids if sid not in order]
        if not order:
            continue
        rng.shuffle(order)
        times = spread(agency_id, order, start, end, cal, gap=gap, rng=rng, taken=taken)
        planned += [PlannedTest(new_test_id(db), agency_id, sid, when) for sid, when in zip(order, times)]

    if skipped:
        log.warning("campaign %s: %d scenario(s) skipped where the site has no form for them: %s", name,
                    len(skipped), ", ".join(f"{a}/{s}" for a, s in skipped))
    if not planned:
        raise ShopperError("none of these agencies has a form for these scenarios; nothing to plan")
    created = to_iso(get_clock().now())
    with db.conn:
        db["campaigns"].insert(
            {
                "id": campaign_id,
                "name": name,
                "owner": owner,
                "state": "planned",
                "starts_on": to_iso(start),
                "ends_on": to_iso(end),
                "params_json": json.dumps(
                    {"agencies": agencies, "scenarios": scenario_ids, "gap_hours": gap.total_seconds() / 3600, "seed": seed}
                ),
                "created_at": created,
            }
        )
        for item in planned:
            scenario = scenarios[item.scenario_id]
            db["tests"].insert(
                {
                    "id": item.id,
                    "agency_id": item.agency_id,
                    "scenario_id": item.scenario_id,
                    "persona_id": assign_persona(db, item.agency_id, campaign_id, rng) if assign_persona else None,
                    "campaign_id": campaign_id,
                    "kind": scenario.kind,
                    "important": int(bool(scenario.important)),
                    "state": "planned",
                    "planned_at": to_iso(item.planned_at),
                    "started_by": owner,
                    "created_at": created,
                    "updated_at": created,
                }
            )
    log.info("campaign %s planned: %d tests", name, len(planned))
    return planned


def get(db, name: str) -> dict:
    rows = list(db["campaigns"].rows_where("name = ?", [name]))
    if not rows:
        known = ", ".join(r["name"] for r in db["campaigns"].rows) or "none"
        raise ShopperError(f"no campaign named {name!r}; known: {known}")
    return rows[0]


def set_state(db, name: str, state: str) -> dict:
    if state not in STATES:
        raise ShopperError(f"unknown campaign state {state!r}")
    campaign = get(db, name)
    if campaign["state"] == "done":
        raise ShopperError(f"campaign {name!r} is done; plan a new one")
    db["campaigns"].update(campaign["id"], {"state": state})
    return get(db, name)


def status(db, name: str) -> dict:
    campaign = get(db, name)
    counts = {
        r["state"]: r["n"]
        for r in db.query("select state, count(*) n from tests where campaign_id = ? group by state", [campaign["id"]])
    }
    nxt = db.execute(
        "select min(planned_at) from tests where campaign_id = ? and state = 'planned'", [campaign["id"]]
    ).fetchone()[0]
    return {"campaign": campaign, "counts": counts, "total": sum(counts.values()), "next_at": nxt}


def due_tests(db, now: datetime, limit: int = 50) -> list[dict]:
    """Planned tests of running campaigns whose time has come, oldest first."""
    return list(
        db.query(
            """select t.* from tests t join campaigns c on c.id = t.campaign_id
               where c.state = 'running' and t.state = 'planned' and t.planned_at <= ?
               order by t.planned_at limit ?""",
            [to_iso(now), limit],
        )
    )


def finish_if_done(db, campaign_id: str) -> bool:
    left = db.execute(
        "select count(*) from tests where campaign_id = ? and state in ('planned', 'submitting')", [campaign_id]
    ).fetchone()[0]
    if left == 0:
        db["campaigns"].update(campaign_id, {"state": "done"})
        return True
    return False
