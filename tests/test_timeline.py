"""The timeline and the deadline watch: deadline_passed raised on time, once, and only when unanswered."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from shopper import deadlines
from shopper.calendar import BusinessCalendar
from shopper.demo.mail import compose
from shopper.ingest import Ingestor
from shopper.timeline import due_deadlines, raise_passed_deadlines, record_event, timeline
from tests.fixtures.capture import add_agency, add_test

MON_10 = datetime(2026, 11, 30, 2, 0, tzinfo=timezone.utc)  # Monday 10:00 in Shanghai
SITE = """
id = "demo"
name = "演示局"
homepage = "http://127.0.0.1/demo/"
office_hours = "09:00-17:00"
[limits]
complaint = { n = 5, unit = "workday" }
consultation = { n = 3, unit = "workday" }
"""


@pytest.fixture
def agency(db, tmp_path):
    path = tmp_path / "demo.toml"
    path.write_text(SITE, encoding="utf-8")
    return add_agency(db, "demo", domains=("demo.gov.cn",), site_file=str(path))


def _rules(db, now):
    return {(d["test_id"], d["rule"]): d for d in due_deadlines(db, now)}


def test_record_event_is_idempotent_and_moves_the_test(db, agency):
    test = add_test(db, agency_id=agency, submitted_at=MON_10)
    first = record_event(db, test["id"], "acknowledged", at=MON_10 + timedelta(hours=2), source="email",
                         dedupe_key="message:1", detail={"x": 1})
    assert first is not None
    assert record_event(db, test["id"], "acknowledged", at=MON_10 + timedelta(hours=2), source="email",
                        dedupe_key="message:1") is None
    record_event(db, test["id"], "status_changed", at=MON_10 + timedelta(hours=1), source="status_page",
                 window=(MON_10, MON_10 + timedelta(hours=1, minutes=30)), detail={"status": "待处理"})
    events = timeline(db, test["id"])
    assert [e["kind"] for e in events] == ["status_changed", "acknowledged"]
    assert events[0]["window_start"] == "2026-11-30T02:00:00+00:00"
    assert events[0]["window_end"] == "2026-11-30T03:30:00+00:00"
    assert events[1]["detail"] == {"x": 1}
    row = db["tests"].get(test["id"])
    assert row["state"] == "acknowledged" and row["acknowledged_at"] == "2026-11-30T04:00:00+00:00"
    with pytest.raises(ValueError):
        record_event(db, test["id"], "opened", at=MON_10, source="email")


def test_ack_24h_is_raised_at_the_deadline_not_before_and_only_once(db, agency):
    test = add_test(db, agency_id=agency, submitted_at=MON_10)
    deadline = MON_10 + timedelta(hours=24)
    assert raise_passed_deadlines(db, deadline - timedelta(seconds=1)) == []
    pending = _rules(db, deadline - timedelta(seconds=1))
    assert pending[(test["id"], "complaint.ack_24h")]["deadline"] == deadline
    assert not pending[(test["id"], "complaint.ack_24h")]["passed"]

    new = raise_passed_deadlines(db, deadline + timedelta(seconds=1))
    assert len(new) == 1
    event = [e for e in timeline(db, test["id"]) if e["kind"] == "deadline_passed"][0]
    assert event["at"] == "2026-12-01T02:00:00+00:00" and event["source"] == "watch"
    assert event["detail"]["rule"] == "complaint.ack_24h"
    assert raise_passed_deadlines(db, deadline + timedelta(hours=1)) == []
    pushes = db.execute("SELECT kind, text FROM notifications WHERE test_id = ?", [test["id"]]).fetchall()
    assert len(pushes) == 1 and pushes[0][0] == "deadline_passed" and "complaint.ack_24h" in pushes[0][1]


def test_an_acknowledgement_in_time_means_no_breach(db, agency):
    test = add_test(db, agency_id=agency, submitted_at=MON_10)
    record_event(db, test["id"], "acknowledged", at=MON_10 + timedelta(hours=23), source="email")
    assert raise_passed_deadlines(db, MON_10 + timedelta(hours=25)) == []


def test_a_late_acknowledgement_is_still_a_breach(db, agency):
    test = add_test(db, agency_id=agency, submitted_at=MON_10)
    record_event(db, test["id"], "acknowledged", at=MON_10 + timedelta(hours=30), source="email")
    new = raise_passed_deadlines(db, MON_10 + timedelta(hours=31))
    assert len(new) == 1
    passed = [e for e in timeline(db, test["id"]) if e["kind"] == "deadline_passed"]
    assert passed[0]["at"] == "2026-12-01T02:00:00+00:00"


def test_important_complaint_same_day(db, agency):
    test = add_test(db, agency_id=agency, submitted_at=MON_10, important=True)
    close = datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)  # 17:00 Shanghai
    assert _rules(db, MON_10)[(test["id"], "complaint.important_same_day")]["deadline"] == close
    assert raise_passed_deadlines(db, close - timedelta(seconds=1)) == []
    new = raise_passed_deadlines(db, close + timedelta(seconds=1))
    assert len(new) == 1
    assert timeline(db, test["id"])[-1]["detail"]["rule"] == "complaint.important_same_day"


def test_reply_deadline_from_the_published_limit_then_from_the_promise(db, agency):
    test = add_test(db, agency_id=agency, submitted_at=MON_10)
    cal = BusinessCalendar()
    published = deadlines.promised(MON_10, 5, "workday", cal).at
    due = _rules(db, MON_10)[(test["id"], "complaint.reply_by_deadline")]
    assert due["deadline"] == published and due["basis"] == "published"

    ack = compose(from_addr="xf@demo.gov.cn", to_addr=test["reply_address"], subject="受理回执",
                  body="您好，您的来信已收悉，我们将在15个工作日内答复。", date=MON_10 + timedelta(hours=2))
    Ingestor(db, evidence=False).ingest(ack, received_at=MON_10 + timedelta(hours=2), mailbox="m", uid_validity=1, uid=1)
    assert any(e["kind"] == "acknowledged" for e in timeline(db, test["id"]))
    due = _rules(db, MON_10 + timedelta(hours=3))[(test["id"], "complaint.reply_by_deadline")]
    assert due["basis"] == "promised"
    assert due["deadline"] == deadlines.promised(MON_10, 15, "workday", cal).at
    assert (test["id"], "complaint.ack_24h") not in _rules(db, MON_10 + timedelta(hours=3))


def test_consultations_have_no_ack_deadline_and_closed_tests_none(db, agency):
    consult = add_test(db, agency_id=agency, submitted_at=MON_10, kind="consultation")
    closed = add_test(db, agency_id=agency, submitted_at=MON_10, state="closed")
    rules = _rules(db, MON_10)
    assert set(r for t, r in rules if t == consult["id"]) == {"consult.reply_in_time"}
    assert not any(t == closed["id"] for t, _ in rules)
