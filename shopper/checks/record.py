"""Writing what the site checks saw: findings (one per agency and rule) and screenshots."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from shopper.clock import to_iso

log = logging.getLogger(__name__)

CHECKER_VERSION = "checks-1"


def subject_key(agency_id: str, rule_id: str) -> str:
    return f"check:{agency_id}:{rule_id}"


def period_of(moment: datetime, timezone: str) -> str:
    """The quarter of `moment` in the agency's zone, e.g. "2026Q4"."""
    try:
        local = moment.astimezone(ZoneInfo(timezone or "Asia/Shanghai"))
    except Exception:  # a bad zone in a site file must not lose the finding
        local = moment.astimezone(ZoneInfo("Asia/Shanghai"))
    return f"{local.year}Q{(local.month - 1) // 3 + 1}"


def write_finding(db, *, agency_id: str, rule_id: str, verdict: str, detail: str, evidence: dict,
                  observed_at: datetime, timezone: str) -> dict:
    """Insert or update the finding of (`check:<agency>:<rule>`, rule): a rerun updates it."""
    stamp = to_iso(observed_at)
    row = {
        "test_id": None,
        "agency_id": agency_id,
        "subject_key": subject_key(agency_id, rule_id),
        "rule_id": rule_id,
        "verdict": verdict,
        "detail": detail,
        "evidence_json": json.dumps(evidence, ensure_ascii=False, sort_keys=True),
        "deadline_at": None,
        "observed_at": stamp,
        "grader_version": CHECKER_VERSION,
        "period": period_of(observed_at, timezone),
        "created_at": stamp,
        "updated_at": stamp,
    }
    columns = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    updates = ", ".join(f"{c} = excluded.{c}" for c in row if c not in ("created_at", "subject_key", "rule_id"))
    with db.conn:
        db.execute(
            f"INSERT INTO findings ({columns}) VALUES ({marks}) "
            f"ON CONFLICT(subject_key, rule_id) DO UPDATE SET {updates}",
            list(row.values()),
        )
    stored = db.execute("SELECT * FROM findings WHERE subject_key = ? AND rule_id = ?",
                        [row["subject_key"], rule_id])
    names = [d[0] for d in stored.description]
    return dict(zip(names, stored.fetchone()))


class Screenshots:
    """Screenshots into the evidence store: content-addressed, logged in its hash chain."""

    def __init__(self, db, config):
        from shopper.evidence import EvidenceStore

        self.store = EvidenceStore(config.evidence_dir, db)

    def put(self, data: bytes, note: str) -> str:
        return self.store.put(data, "screenshot", note=note)

    async def page(self, page, note: str) -> str | None:
        """Screenshot of what the window shows; None (and a log line) if the page cannot be shot."""
        try:
            return self.put(await page.screenshot(type="png"), note)
        except Exception as err:  # a closed or crashed page is a finding's problem, not ours
            log.warning("no screenshot of %s: %s", note, err)
            return None
