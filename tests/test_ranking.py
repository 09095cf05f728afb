"""Ranking: standard competition ranks with ties, unassessed agencies unranked, movement."""

from __future__ import annotations

from shopper.ranking import competition_ranks, ranking


def test_ties_share_a_rank_and_the_next_rank_skips():
    assert competition_ranks([90.0, 80.0, 80.0, 70.0]) == [1, 2, 2, 4]
    assert competition_ranks([70.0, 80.0, 90.0, 80.0]) == [4, 2, 1, 2]
    assert competition_ranks([50.0, 50.0, 50.0]) == [1, 1, 1]
    assert competition_ranks([]) == []


def test_scores_equal_as_published_tie():
    # 80.001 and 80.004 both publish as 80.00: a tie, not an invisible difference
    assert competition_ranks([80.001, 80.004, 79.99]) == [1, 1, 3]


def test_not_assessed_is_unranked_not_last():
    assert competition_ranks([None, 60.0, None, 90.0]) == [None, 2, None, 1]


def test_ranking_with_movement(builder, sim_clock):
    b = builder
    for aid in ("a", "b", "c", "d", "e"):
        b.agency(aid)
    # 2026Q3: a 100, b 50, c 0, d 50 → a 1, b 2, d 2, c 4
    for aid, verdicts in {"a": ["pass"], "b": ["pass", "fail"], "c": ["fail"], "d": ["fail", "pass"]}.items():
        for v in verdicts:
            b.finding(aid, "complaint.ack_24h", v, period="2026Q3")
    # 2026Q4: c 100, a 50, b 50, e 0, d not assessed
    for aid, verdicts in {"c": ["pass"], "a": ["pass", "fail"], "b": ["fail", "pass"], "e": ["fail"]}.items():
        for v in verdicts:
            b.finding(aid, "complaint.ack_24h", v)
    rows = ranking(b.db, "2026Q4")
    got = [(r.agency_id, r.rank, r.previous_rank, r.movement, r.movement_label) for r in rows]
    assert got == [
        ("c", 1, 4, 3, "▲3"),
        ("a", 2, 1, -1, "▼1"),
        ("b", 2, 2, 0, "="),
        ("e", 4, None, None, "new"),
        ("d", None, 2, None, "—"),
    ]


def test_ranking_recomputes_when_findings_change(builder):
    b = builder
    b.agency("a")
    b.agency("b")
    b.finding("a", "complaint.ack_24h", "pass")
    b.finding("b", "complaint.ack_24h", "fail")
    assert [r.agency_id for r in ranking(b.db, "2026Q4")] == ["a", "b"]
    # a change that does not touch updated_at is not seen unless asked to recompute
    b.db.execute("UPDATE findings SET verdict = CASE verdict WHEN 'pass' THEN 'fail' ELSE 'pass' END")
    assert [r.agency_id for r in ranking(b.db, "2026Q4")] == ["a", "b"]  # stored scores reused
    assert [r.agency_id for r in ranking(b.db, "2026Q4", recompute=True)] == ["b", "a"]
    # a finding graded after the scores were stored makes them stale
    b.db.execute("UPDATE findings SET verdict = 'fail', updated_at = '2099-01-01T00:00:00+00:00' WHERE agency_id = 'b'")
    b.db.conn.commit()
    assert [(r.agency_id, r.rank, r.total) for r in ranking(b.db, "2026Q4")] == [("a", 1, 0.0), ("b", 1, 0.0)]
