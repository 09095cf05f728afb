"""Kaplan–Meier response times: censoring of unanswered tests, medians, not reached."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from shopper.survival import agency_curves, durations, kaplan_meier, load_observations

UTC = timezone.utc


def test_product_limit_by_hand():
    # times 1 2 2+ 3 4+ 5  (+ = censored)
    curve = kaplan_meier([1, 2, 2, 3, 4, 5], [True, True, False, True, False, True])
    assert curve.times == [1, 2, 3, 5]
    assert curve.survival == pytest.approx([5 / 6, 2 / 3, 4 / 9, 0.0])
    assert curve.at_risk == [6, 5, 3, 1]
    assert curve.censored_times == [2, 4]
    assert curve.median() == 3  # first time S ≤ 0.5
    assert curve.at(2.5) == pytest.approx(2 / 3)
    assert curve.at(0.5) == 1.0


def test_median_not_reached_when_most_never_answer():
    curve = kaplan_meier([1, 10, 10], [True, False, False])
    assert curve.survival == pytest.approx([2 / 3])
    assert curve.median() is None


def test_empty_curve():
    curve = kaplan_meier([], [])
    assert curve.median() is None and curve.n == 0


def test_silence_cannot_look_faster_than_a_late_answer(builder):
    b = builder
    b.agency("quiet")
    b.agency("late")
    start = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
    until = start + timedelta(hours=100)
    b.test("quiet", submitted=start, reply=start + timedelta(hours=1))
    for _ in range(3):
        b.test("quiet", submitted=start)  # never answered
    for _ in range(4):
        b.test("late", submitted=start, reply=start + timedelta(hours=50))
    obs = load_observations(b.db, period="2026Q4")
    quiet, late = agency_curves(obs["quiet"], until), agency_curves(obs["late"], until)
    # a naive median over the answers alone would rank "quiet" (1 h) ahead of "late" (50 h)
    assert quiet["reply"].median() is None
    assert late["reply"].median() == pytest.approx(50)
    assert quiet["reply"].censored_times == [100, 100, 100]


def test_observations_take_times_from_events_and_censor_at_the_observation_end(builder):
    b = builder
    b.agency("a")
    start = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
    tid = b.test("a", submitted=start)
    b.event(tid, "acknowledged", start + timedelta(hours=5))  # only as an event, not on the test row
    b.event(tid, "replied", start + timedelta(hours=80))
    obs = load_observations(b.db, agency_id="a")["a"]
    assert obs[0].acknowledged_at == start + timedelta(hours=5)
    ds, seen = durations(obs, "reply", until=start + timedelta(hours=40))  # reply not yet seen then
    assert (ds, seen) == ([40.0], [False])
    ds, seen = durations(obs, "reply", until=start + timedelta(hours=90))
    assert (ds, seen) == ([80.0], [True])
    # time to acknowledgement: a reply without a separate acknowledgement counts as the first sign
    tid2 = b.test("a", submitted=start, reply=start + timedelta(hours=7))
    obs = {o.test_id: o for o in load_observations(b.db, agency_id="a")["a"]}
    ds, seen = durations([obs[tid2]], "ack", until=start + timedelta(hours=90))
    assert (ds, seen) == ([7.0], [True])


def test_observations_of_a_period_in_the_agency_zone(builder):
    b = builder
    b.agency("sh")
    b.agency("ny", tz="America/New_York")
    moment = datetime(2026, 9, 30, 17, 0, tzinfo=UTC)  # Oct 1 01:00 in Shanghai, Sep 30 13:00 in New York
    b.test("sh", submitted=moment)
    b.test("ny", submitted=moment)
    assert set(load_observations(b.db, period="2026Q4")) == {"sh"}
    assert set(load_observations(b.db, period="2026Q3")) == {"ny"}
    assert set(load_observations(b.db, period="2026-09")) == {"ny"}
