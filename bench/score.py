"""Benchmark: score, rank and report at the size of all government websites of China.

    .venv/bin/python bench/score.py [--agencies 14000] [--tests 150000] [--keep DIR]

Builds a database of N agencies and M tests (with their events, messages and findings) in a
temporary file through sqlite-utils bulk inserts, then prints the time to score and rank
(aim: < 5 s) and to write the whole report (aim: < 60 s) on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shopper.clock import SimulatedClock, to_iso, use_clock  # noqa: E402
from shopper.config import Config  # noqa: E402
from shopper.db import open_database  # noqa: E402
from shopper.ranking import ranking  # noqa: E402
from shopper.report import write_report  # noqa: E402
from shopper.rules import all_rules  # noqa: E402

UTC = timezone.utc
NOW = datetime(2026, 12, 20, 2, 0, tzinfo=UTC)
Q4_START = datetime(2026, 9, 30, 16, 0, tzinfo=UTC)  # 2026-10-01 00:00 Shanghai
CLASSES = [None, "service", "regulatory", "general"]
REPLIES = ["您好，您反映的问题已收悉，我们将在15个工作日内答复。", "您好，经核查，该路段路灯已修复，感谢您的监督。",
           "此事不属于本部门职责，请向区绿化市容局反映，电话021-12345678。", "已转下属单位办理。"]


def build(path: Path, n_agencies: int, n_tests: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    db = open_database(path)
    db.execute("PRAGMA synchronous = OFF")
    rules = {kind: [rid for rid, r in all_rules().items() if kind in r.kinds]
             for kind in ("complaint", "consultation", "suggestion", "site")}
    created = to_iso(NOW)
    db["agencies"].insert_all(
        ({"id": f"a{i:05d}", "name": f"第{i}号政府部门", "class": CLASSES[i % 4], "timezone": "Asia/Shanghai",
          "homepage": f"http://127.0.0.1/a{i:05d}/", "created_at": created} for i in range(n_agencies)),
        batch_size=5000,
    )

    tests, events, messages, findings = [], [], [], []
    message_id = 0
    for i in range(n_tests):
        aid = f"a{rng.randrange(n_agencies):05d}"
        tid = f"t-{i:08x}"
        kind = rng.choice(["complaint", "complaint", "consultation", "suggestion"])
        period = "2026Q4" if rng.random() < 0.8 else "2026Q3"
        base = Q4_START if period == "2026Q4" else Q4_START - timedelta(days=91)
        submitted = base + timedelta(minutes=rng.randrange(80 * 24 * 60))
        ack = submitted + timedelta(hours=rng.expovariate(1 / 20)) if rng.random() < 0.85 else None
        reply = submitted + timedelta(hours=rng.expovariate(1 / 200)) if ack and rng.random() < 0.8 else None
        if reply and reply > NOW:
            reply = None
        tests.append({"id": tid, "agency_id": aid, "scenario_id": kind, "persona_id": "p1",
                      "state": "replied" if reply else ("acknowledged" if ack else "submitted"),
                      "reference_number": f"R{i}", "submitted_at": to_iso(submitted), "created_at": to_iso(submitted),
                      "kind": kind, "important": int(rng.random() < 0.1), "subject": f"测试事项{i}",
                      "acknowledged_at": to_iso(ack) if ack else None, "replied_at": to_iso(reply) if reply else None})
        events.append({"test_id": tid, "kind": "submitted", "at": to_iso(submitted), "source": "engine",
                       "dedupe_key": "s"})
        for what, when in (("acknowledged", ack), ("replied", reply)):
            if when:
                message_id += 1
                text = rng.choice(REPLIES)
                messages.append({"id": message_id, "test_id": tid, "received_at": to_iso(when),
                                 "from_addr": f"office@{aid}.gov.test", "subject": "Re: 来信", "text": text,
                                 "own_text": text, "source": "email", "raw_sha256": f"{message_id:064x}"})
                events.append({"test_id": tid, "kind": what, "at": to_iso(when), "source": "email",
                               "window_start": to_iso(when), "window_end": to_iso(when), "message_id": message_id,
                               "dedupe_key": what})
        for rid in rng.sample(rules[kind], min(3, len(rules[kind]))):
            verdict = rng.choices(["pass", "fail", "undetermined"], [0.6, 0.3, 0.1])[0]
            findings.append({"test_id": tid, "agency_id": aid, "subject_key": tid, "rule_id": rid, "verdict": verdict,
                             "detail": "检查结果", "period": period, "grader_version": "bench",
                             "evidence_json": json.dumps({"quote": None, "sha256": [f"{i:064x}"],
                                                          "message_id": message_id or None}),
                             "observed_at": created, "created_at": created, "updated_at": created})
    for i in range(n_agencies):  # one site check per agency
        aid = f"a{i:05d}"
        rid = rng.choice(rules["site"])
        findings.append({"test_id": None, "agency_id": aid, "subject_key": f"check:{aid}:{rid}", "rule_id": rid,
                         "verdict": rng.choice(["pass", "fail"]), "detail": "站点检查", "period": "2026Q4",
                         "grader_version": "bench", "evidence_json": "{}", "observed_at": created,
                         "created_at": created, "updated_at": created})
    with db.conn:
        for table, rows in (("tests", tests), ("events", events), ("messages", messages), ("findings", findings)):
            db[table].insert_all(rows, batch_size=5000)
    db.close()
    print(f"built {n_agencies} agencies, {len(tests)} tests, {len(events)} events, {len(messages)} messages, "
          f"{len(findings)} findings")


def cpu() -> float:
    """CPU seconds of this process and its finished children (the report's worker processes):
    on a shared, busy machine the wall time says more about the neighbours than about us."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agencies", type=int, default=14_000)
    parser.add_argument("--tests", type=int, default=150_000)
    parser.add_argument("--keep", type=Path, help="Write the database and report here instead of a temp folder.")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        where = args.keep or Path(tmp)
        where.mkdir(parents=True, exist_ok=True)
        db_path = where / "bench.db"
        if db_path.exists():
            db_path.unlink()
        started = time.monotonic()
        build(db_path, args.agencies, args.tests)
        print(f"build           {time.monotonic() - started:6.2f} s")
        with use_clock(SimulatedClock(NOW)):
            db = open_database(db_path)
            config = Config(None, {"paths": {"evidence": str(where / "evidence")}})
            started, cpu0 = time.monotonic(), cpu()
            rows = ranking(db, "2026Q4", config, recompute=True)  # scores 2026Q4 and 2026Q3, ranks
            score_s, score_cpu = time.monotonic() - started, cpu() - cpu0
            ranked = sum(1 for r in rows if r.rank is not None)
            print(f"score + rank    {score_s:6.2f} s wall, {score_cpu:6.2f} s CPU  ({ranked} ranked, 2 periods)  aim < 5 s")
            started, cpu0 = time.monotonic(), cpu()
            index = write_report(db, where / "report", period="2026Q4", config=config)
            report_s, report_cpu = time.monotonic() - started, cpu() - cpu0
            pages = len(list((where / "report" / "agencies").glob("*.html")))
            print(f"report          {report_s:6.2f} s wall, {report_cpu:6.2f} s CPU over {os.cpu_count()} cores "
                  f"({pages} agency pages, {index})  aim < 60 s")
            print(f"load average    {os.getloadavg()[0]:.1f} (other work on this machine slows the wall times)")
            db.close()


if __name__ == "__main__":
    main()
