import random
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from shopper import campaigns
from shopper.clock import from_iso
from shopper.errors import ShopperError
from shopper.sites import parse_site

SITE = 'id = "{id}"\nname = "测试局{id}"\nhomepage = "http://127.0.0.1:1/{id}/"\n'
ANY_FORM = '[[forms.default.steps]]\naction = "goto"\nurl = "form.html"\n'


@pytest.fixture
def sites(tmp_path):
    return {i: parse_site(SITE.format(id=i) + ANY_FORM, tmp_path / f"{i}.toml") for i in ("a", "b", "c")}


@pytest.fixture
def scenarios():
    kinds = {"c1": "complaint", "c2": "complaint", "q1": "consultation", "s1": "suggestion", "i1": "complaint"}
    return {k: SimpleNamespace(id=k, kind=v, important=(k == "i1")) for k, v in kinds.items()}


START = datetime.fromisoformat("2026-11-30T00:00+08:00")
END = datetime.fromisoformat("2026-12-13T23:59+08:00")


def plan(db, sites, scenarios, name="autumn", **kw):
    return campaigns.plan(
        db, name, sites=sites, scenarios=scenarios, agencies=list(sites), scenario_ids=list(scenarios),
        start=START, end=END, seed=7, **kw,
    )


def test_plan_spreads_tests_believably(db, sites, scenarios, sim_clock):
    planned = plan(db, sites, scenarios, gap=timedelta(hours=12))
    assert len(planned) == 15
    cal = sites["a"].business_calendar()
    for agency in sites:
        times = sorted(p.planned_at for p in planned if p.agency_id == agency)
        assert all(b - a >= timedelta(hours=12) for a, b in zip(times, times[1:]))
    assert all(START <= p.planned_at <= END for p in planned)
    in_hours = sum(cal.in_office_hours(p.planned_at) for p in planned)
    assert in_hours >= len(planned) * 0.5
    rows = list(db["tests"].rows_where("state = 'planned'"))
    assert len(rows) == 15 and all(r["campaign_id"] for r in rows)
    assert {r["kind"] for r in rows} == {"complaint", "consultation", "suggestion"}
    assert sum(r["important"] for r in rows) == 3


def test_believable_times_over_many_plans(sites, scenarios):
    cal = sites["a"].business_calendar()
    times = []
    for seed in range(40):
        times += campaigns.spread("a", list(scenarios), START, END, cal, gap=timedelta(hours=2), rng=random.Random(seed))
    office = sum(cal.in_office_hours(t) for t in times) / len(times)
    evenings = sum(18 <= cal.local(t).hour < 22 for t in times) / len(times)
    weekend = sum(not cal.is_working_day(cal.local(t).date()) for t in times) / len(times)
    assert 0.6 < office < 0.9 and 0.05 < evenings < 0.3 and 0 < weekend < 0.2


def test_personas_are_assigned_through_the_hook(db, sites, scenarios, sim_clock):
    used = {}

    def assign(db, agency_id, campaign_id, rng):
        used.setdefault(agency_id, 0)
        used[agency_id] += 1
        return f"p-{agency_id}-{used[agency_id]}"

    plan(db, sites, scenarios, assign_persona=assign)
    for agency in sites:
        personas = [r["persona_id"] for r in db["tests"].rows_where("agency_id = ?", [agency])]
        assert len(personas) == len(set(personas)) == 5


def test_impossible_gap_is_refused_and_nothing_stored(db, sites, scenarios, sim_clock):
    with pytest.raises(ShopperError, match="cannot fit"):
        plan(db, sites, scenarios, gap=timedelta(days=5))
    assert db["tests"].count == 0 and db["campaigns"].count == 0


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"agencies": ["zz"]}, "unknown agency 'zz'"),
        ({"scenario_ids": ["nope"]}, "unknown scenario 'nope'"),
        ({"end": START}, "must end after it starts"),
        ({"name": "bad name!"}, "use letters"),
    ],
)
def test_bad_plans(db, sites, scenarios, sim_clock, kw, message):
    args = dict(sites=sites, scenarios=scenarios, agencies=list(sites), scenario_ids=list(scenarios),
                start=START, end=END)
    name = kw.pop("name", "x")
    args.update(kw)
    with pytest.raises(ShopperError, match=message):
        campaigns.plan(db, name, **args)


def test_duplicate_name(db, sites, scenarios, sim_clock):
    plan(db, sites, scenarios)
    with pytest.raises(ShopperError, match="exists"):
        plan(db, sites, scenarios)


def test_state_and_due_tests(db, sites, scenarios, sim_clock):
    planned = plan(db, sites, scenarios)
    first = min(p.planned_at for p in planned)
    assert campaigns.due_tests(db, first) == []  # not running yet
    campaigns.set_state(db, "autumn", "running")
    due = campaigns.due_tests(db, first)
    assert len(due) >= 1 and all(from_iso(d["planned_at"]) <= first for d in due)
    assert len(campaigns.due_tests(db, END)) == 15
    campaigns.set_state(db, "autumn", "paused")
    assert campaigns.due_tests(db, END) == []
    st = campaigns.status(db, "autumn")
    assert st["counts"] == {"planned": 15} and st["next_at"]
    with pytest.raises(ShopperError, match="no campaign named"):
        campaigns.status(db, "winter")


def test_scenarios_a_site_cannot_take_are_skipped(db, tmp_path, scenarios, sim_clock):
    text = SITE.format(id="f") + '[[forms.complaint.steps]]\naction = "goto"\nurl = "c.html"\n'
    sites = {"f": parse_site(text, tmp_path / "f.toml")}
    planned = campaigns.plan(db, "only-complaints", sites=sites, scenarios=scenarios, agencies=["f"],
                             scenario_ids=list(scenarios), start=START, end=END, seed=1)
    assert sorted(p.scenario_id for p in planned) == ["c1", "c2", "i1"]
    with pytest.raises(ShopperError, match="nothing to plan"):
        campaigns.plan(db, "none", sites=sites, scenarios=scenarios, agencies=["f"], scenario_ids=["q1"],
                       start=START, end=END)
