"""The demo end to end: its findings match each demo agency's behaviour profile.

A shortened demo (five simulated days, tests sent in the first one and a half) through the real
browser, the real mail system and the real status pages, then the ranking, the findings per
agency, the report and the letters.
"""

from __future__ import annotations

import pytest

from shopper.db import open_database
from shopper.demo.run import run_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return run_demo(out, days=5, send_days=1.5, pdf=False, gap_hours=1.5, seed=7)


def verdicts(db, agency: str, rule: str) -> list[str]:
    return [r["verdict"] for r in db["findings"].rows_where("agency_id = ? and rule_id = ?", [agency, rule])]


@pytest.mark.slow
def test_every_planned_test_was_sent(demo):
    assert set(demo.tests) <= {"submitted", "acknowledged", "replied"}
    assert sum(demo.tests.values()) == 10 * 8


@pytest.mark.slow
def test_the_exemplary_agency_ranks_first_and_the_silent_one_last(demo):
    ranked = {row.agency_id: row for row in demo.ranking}
    assert ranked["jtw"].rank == 1
    assert demo.ranking[-1].agency_id == "wjw"
    assert all(ranked["wjw"].total < row.total for a, row in ranked.items() if a != "wjw")


@pytest.mark.slow
def test_findings_match_the_profiles(demo):
    db = open_database(demo.db_path)
    # exemplary: nothing to rectify
    assert db["findings"].count_where("agency_id = 'jtw' and verdict = 'fail'") == 0
    # silent: no complaint acknowledged in 24 hours, and never a message
    assert verdicts(db, "wjw", "complaint.ack_24h") and set(verdicts(db, "wjw", "complaint.ack_24h")) == {"fail"}
    assert db["messages"].count_where("test_id in (select id from tests where agency_id = 'wjw')") == 0
    # late acknowledgement
    assert "fail" in verdicts(db, "sww", "complaint.ack_24h")
    # acknowledgement without a deadline
    assert "fail" in verdicts(db, "ghj", "complaint.ack_states_deadline")
    assert "pass" in verdicts(db, "jtw", "complaint.ack_states_deadline")
    # replies after its own stated (short) deadline
    assert "fail" in verdicts(db, "scjgj", "complaint.reply_by_deadline")
    # redirects without naming the body or its contact
    assert "fail" in verdicts(db, "fgj", "complaint.redirect_destination")
    assert "pass" in verdicts(db, "jtw", "complaint.redirect_destination")
    # rude
    assert "fail" in verdicts(db, "cgj", "tone.plain_friendly")
    # out of scope handled well
    assert set(verdicts(db, "jw", "complaint.out_of_scope")) == {"pass"}
    # answers only on its status page: its answers were read there, none came by mail
    mzxx = "test_id in (select id from tests where agency_id = 'mzxx')"
    assert db["messages"].count_where(f"{mzxx} and source = 'status_page'") > 0
    assert db["messages"].count_where(f"{mzxx} and source = 'email'") == 0


@pytest.mark.slow
def test_report_and_letters(demo):
    assert demo.report.exists() and "wjw" in demo.report.read_text("utf-8")
    letters = {p.name for p in demo.letters}
    assert letters and not any("jtw" in name for name in letters)
    assert any("wjw" in name for name in letters)
