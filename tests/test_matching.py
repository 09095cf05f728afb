"""Matching a message to its test, in order: reply address, reference, thread, domain + persona."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from shopper.decoding import decode_message
from shopper.demo.mail import compose
from shopper.errors import ShopperError
from shopper.ingest import Ingestor, assign
from shopper.matching import match_message, unmatched
from shopper.timeline import timeline
from tests.fixtures.capture import add_agency, add_persona, add_test

WHEN = datetime(2026, 11, 30, 3, 0, tzinfo=timezone.utc)


@pytest.fixture
def world(db):
    add_agency(db, "jtw", domains=("jtw.sh.gov.cn",))
    add_agency(db, "mzj", domains=("mzj.sh.gov.cn",))
    li = add_persona(db, "李娜")
    wang = add_persona(db, "王建国")
    tests = {
        "a": add_test(db, agency_id="jtw", persona_id=li, reference="JT20261130001", submitted_at=WHEN),
        "b": add_test(db, agency_id="jtw", persona_id=wang, reference="JT20261130002", submitted_at=WHEN),
        "c": add_test(db, agency_id="mzj", persona_id=li, reference="JT20261130002", submitted_at=WHEN),
    }
    return tests


def _mail(*, to="office@reply.shopper.test", sender="信访办 <xf@jtw.sh.gov.cn>", subject="答复", body="您好。", **kw):
    return decode_message(compose(from_addr=sender, to_addr=to, subject=subject, body=body, date=WHEN, **kw))


def test_the_reply_address_comes_first(db, world):
    a, b = world["a"], world["b"]
    m = match_message(db, _mail(to=a["reply_address"], subject=f"关于 {b['reference_number']} 的答复"))
    assert (m.test_id, m.method) == (a["id"], "reply_address")


def test_the_reply_address_in_delivered_to_only(db, world):
    raw = b"Delivered-To: " + world["a"]["reply_address"].upper().encode() + b"\r\n" + compose(
        from_addr="xf@jtw.sh.gov.cn", to_addr="undisclosed-recipients:;", subject="x", body="y", date=WHEN)
    m = match_message(db, decode_message(raw))
    assert (m.test_id, m.method) == (world["a"]["id"], "reply_address")


def test_the_reference_in_the_subject_only(db, world):
    m = match_message(db, _mail(subject="您的来信（编号JT20261130001）已受理"))
    assert (m.test_id, m.method) == (world["a"]["id"], "reference")


def test_the_reference_in_the_body_only(db, world):
    m = match_message(db, _mail(body="您好！您的来信已收悉，受理编号：JT20261130001。", charset="gbk"))
    assert (m.test_id, m.method) == (world["a"]["id"], "reference")


def test_the_same_reference_at_two_agencies_is_told_apart_by_the_sender(db, world):
    m = match_message(db, _mail(sender="xf@mzj.sh.gov.cn", subject="JT20261130002"))
    assert m.test_id == world["c"]["id"]
    m = match_message(db, _mail(sender="xf@jtw.sh.gov.cn", subject="JT20261130002"))
    assert m.test_id == world["b"]["id"]
    m = match_message(db, _mail(sender="someone@qq.com", subject="JT20261130002"))
    assert m.test_id is None and set(m.candidates) == {world["b"]["id"], world["c"]["id"]}


def test_in_reply_to_and_references(db, world):
    ingest = Ingestor(db, evidence=False)
    ack = compose(from_addr="xf@jtw.sh.gov.cn", to_addr=world["b"]["reply_address"], subject="受理", body="已收悉",
                  date=WHEN, message_id="<ack-77@jtw.sh.gov.cn>")
    ingest.ingest(ack, received_at=WHEN, mailbox="m", uid_validity=1, uid=1)
    m = match_message(db, _mail(subject="答复", in_reply_to="<ack-77@jtw.sh.gov.cn>"))
    assert (m.test_id, m.method) == (world["b"]["id"], "in_reply_to")
    m = match_message(db, _mail(subject="答复", references="<other@x> <ack-77@jtw.sh.gov.cn>"))
    assert (m.test_id, m.method) == (world["b"]["id"], "in_reply_to")


def test_agency_domain_and_persona_name(db, world):
    m = match_message(db, _mail(sender="xf@mail.jtw.sh.gov.cn", body="王建国先生：您好！您反映的问题我们已经处理。"))
    assert (m.test_id, m.method) == (world["b"]["id"], "domain_persona")
    # 李娜 wrote to two agencies; the sender's domain picks the one
    m = match_message(db, _mail(sender="xf@mzj.sh.gov.cn", body="李娜女士：您好！"))
    assert (m.test_id, m.method) == (world["c"]["id"], "domain_persona")


def test_two_open_tests_of_one_persona_at_one_agency_match_neither(db, world):
    li = db.execute("SELECT id FROM personas WHERE name = '李娜'").fetchone()[0]
    add_test(db, agency_id="jtw", persona_id=li, submitted_at=WHEN)
    m = match_message(db, _mail(body="李娜女士：您好！"))
    assert m.test_id is None and len(m.candidates) == 2


def test_nothing_matches_goes_to_the_unmatched_queue_and_is_assigned_by_hand(db, world):
    ingest = Ingestor(db, evidence=False)
    raw = compose(from_addr="noreply@unknown.example", to_addr="office@reply.shopper.test", subject="通知",
                  body="这是一封无关的邮件。", date=WHEN)
    row = ingest.ingest(raw, received_at=WHEN, mailbox="m", uid_validity=1, uid=5)
    assert row["test_id"] is None
    queue = unmatched(db)
    assert [q["id"] for q in queue] == [row["id"]]
    assert db.execute("SELECT count(*) FROM events").fetchone()[0] == 0

    assert assign(db, row["id"], world["a"]["id"]) is not None
    assert unmatched(db) == []
    events = timeline(db, world["a"]["id"])
    assert len(events) == 1 and events[0]["message_id"] == row["id"]
    assert db["messages"].get(row["id"])["matched_by"] == "hand"
    with pytest.raises(ShopperError, match="already belongs"):
        assign(db, row["id"], world["b"]["id"])
    assert assign(db, row["id"], world["a"]["id"]) is None  # again: nothing new
    with pytest.raises(ShopperError, match="no message"):
        assign(db, 999, world["a"]["id"])
    with pytest.raises(ShopperError, match="no test"):
        assign(db, row["id"], "t-nope")


def test_the_same_message_ingested_twice_is_stored_and_recorded_once(db, world):
    ingest = Ingestor(db, evidence=False)
    raw = compose(from_addr="xf@jtw.sh.gov.cn", to_addr=world["a"]["reply_address"], subject="答复", body="已办结",
                  date=WHEN)
    assert ingest.ingest(raw, received_at=WHEN, mailbox="m", uid_validity=1, uid=9) is not None
    assert ingest.ingest(raw, received_at=WHEN, mailbox="m", uid_validity=1, uid=9) is None
    assert ingest.ingest(raw, received_at=WHEN, mailbox="m", uid_validity=2, uid=1) is None  # same bytes, new UIDVALIDITY
    assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == 1
    assert len(timeline(db, world["a"]["id"])) == 1
