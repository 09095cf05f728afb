"""The campaign scheduler: sends each planned test when its time has come, exactly once.

The engine moves a test `planned → submitting` in one guarded UPDATE before it presses the submit
button, so the scheduler may be killed at any moment: on restart `recover_interrupted` turns a
test caught in `submitting` into `uncertain` (never re-sent), and everything still `planned`
simply runs, late but not skipped.
"""

from __future__ import annotations

import logging
from datetime import datetime

from shopper import campaigns
from shopper.clock import get_clock, to_iso
from shopper.submission import Engine, Job

log = logging.getLogger(__name__)


def _refuse(db, test: dict, reason: str) -> dict:
    """A planned test that can no longer run fails visibly (only if nobody moved it on meanwhile)."""
    db.execute("update tests set state = 'failed', error = ?, updated_at = ? where id = ? and state = 'planned'",
               [reason, to_iso(get_clock().now()), test["id"]])
    db.conn.commit()
    log.warning("test %s: %s", test["id"], reason)
    return {**test, "state": "failed", "error": reason}


async def run_due(db, engine: Engine, sites: dict, scenarios: dict, now: datetime | None = None,
                  *, limit: int = 50) -> list[dict]:
    """Submit every planned test of a running campaign that is due at `now`. Returns the results."""
    now = now or get_clock().now()
    due = campaigns.due_tests(db, now, limit=limit)
    if not due:
        return []
    jobs, results = [], []
    for test in due:
        site, scenario = sites.get(test["agency_id"]), scenarios.get(test["scenario_id"])
        if site is None:
            results.append(_refuse(db, test, f"no site file for agency {test['agency_id']} any more"))
        elif scenario is None:
            results.append(_refuse(db, test, f"no scenario {test['scenario_id']} any more"))
        else:
            jobs.append(Job(site=site, scenario=scenario, persona=test["persona_id"], test_id=test["id"],
                            campaign_id=test["campaign_id"], started_by=test["started_by"] or "campaign"))
    for result in await engine.run(jobs):
        if result.get("state") == "refused":
            # Refused before the browser (no account, a template that no longer renders): it
            # would be refused again on every tick, so it fails now, visibly — if still planned.
            result = _refuse(db, result, result["error"])
        results.append(result)
    for campaign_id in {t["campaign_id"] for t in due}:
        if campaigns.finish_if_done(db, campaign_id):
            log.info("campaign %s done", campaign_id)
    for r in results:
        log.info("test %s at %s: %s", r.get("id"), r.get("agency_id"), r.get("state"))
    return results
