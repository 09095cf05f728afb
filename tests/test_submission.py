"""The engine against real forms in Chromium: what it records when it works, how a broken site
becomes a finding without stopping the run, that a test is never submitted twice (not even after
a crash mid-submit), the per-agency limit, kept login sessions, a remote browser over CDP, and
every form variant of the demo world."""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from shopper import personas
from shopper.browser import LAUNCH_ARGS, find_chromium
from shopper.cli import main
from shopper.config import Config
from shopper.errors import ShopperError
from shopper.evidence import EvidenceStore
from shopper.scenarios import load_scenarios
from shopper.solvers import HarnessSolver
from shopper.submission import Engine, Job, recover_interrupted
from tests.fixtures.submit import closed_port_url, site_toml

pytestmark = pytest.mark.asyncio(loop_scope="module")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def scenarios():
    return load_scenarios(ROOT / "scenarios")


def _engine(db, browser, server=None, **kw):
    solver = HarnessSolver(server.url) if server else None
    return Engine(db, Config(), browser=browser, solver=solver, timeout_ms=kw.pop("timeout_ms", 4000),
                  rng=random.Random(kw.pop("seed", 1)), **kw)


async def test_a_submission_records_state_evidence_event_and_push(db, shared_browser, form_server, write_site, scenarios):
    site = write_site(site_toml(form_server.url, "plain"), "plain")
    async with _engine(db, shared_browser) as engine:
        row = await engine.submit(site, scenarios["complaint-streetlight"])
    sent = form_server.submissions[-1]
    assert row["state"] == "submitted" and row["reference_number"] == sent["ref"]
    assert re.fullmatch(r"t-[0-9a-f]{8}@reply\.shopper\.test", row["reply_address"])
    assert sent["email"] == row["reply_address"] and sent["title"] == row["subject"] and sent["content"].replace("\r\n", "\n") == row["body"]
    assert "路灯" in row["subject"] + row["body"] and row["kind"] == "complaint" and row["submitted_at"]
    assert db["agencies"].get("plain")["name"] == "上海市plain测试局"
    kinds = [e["kind"] for e in db["events"].rows_where("test_id = ?", [row["id"]])]
    assert kinds == ["submitted"]
    assert [n["kind"] for n in db["notifications"].rows_where("test_id = ?", [row["id"]])] == ["submitted"]
    evidence = {e["note"].split(" ")[0]: e for e in db["evidence"].rows_where("test_id = ?", [row["id"]])}
    assert {"before", "after", "final", "reference"} <= set(evidence)
    store = EvidenceStore(Config().evidence_dir, db)
    assert store.read(evidence["reference"]["sha256"]) == sent["ref"].encode()
    assert sent["ref"].encode() in store.read(evidence["final"]["sha256"])  # the page's HTML
    assert store.read(evidence["before"]["sha256"])[:2] == b"\xff\xd8"  # a JPEG screenshot
    assert store.verify() == []


async def test_broken_sites_become_findings_and_the_run_goes_on(db, shared_browser, form_server, write_site, scenarios):
    sites = {
        "changed": write_site(site_toml(form_server.url, "changed"), "changed"),
        "error": write_site(site_toml(form_server.url, "error"), "error"),
        "flaky": write_site(site_toml(form_server.url, "flaky"), "flaky"),
        "down": write_site(site_toml(closed_port_url(), "plain").replace('id = "plain"', 'id = "down"'), "down"),
        "plain": write_site(site_toml(form_server.url, "plain"), "plain"),
    }
    jobs = [Job(site, scenarios["complaint-noise"]) for site in sites.values()]
    async with _engine(db, shared_browser, concurrency=5) as engine:
        results = {r["agency_id"]: r for r in await engine.run(jobs)}
    assert results["plain"]["state"] == "submitted"
    for agency in ("changed", "error", "flaky", "down"):
        assert results[agency]["state"] == "failed", results[agency]
        finding = db["findings"].rows_where("subject_key = ?", [results[agency]["id"]]).__next__()
        assert finding["rule_id"] == "site.links_work" and finding["verdict"] == "fail"
        assert finding["agency_id"] == agency and re.fullmatch(r"\d{4}Q[1-4]", finding["period"])
        shas = json.loads(finding["evidence_json"])["sha256"]
        assert shas and all(EvidenceStore(Config().evidence_dir).path(s).exists() for s in shas)
        assert [e["kind"] for e in db["events"].rows_where("test_id = ?", [results[agency]["id"]])] == ["failed"]
    detail = {a: db["findings"].rows_where("agency_id = ?", [a]).__next__()["detail"] for a in sites if a != "plain"}
    assert "找不到" in detail["changed"] or "#content" in detail["changed"]
    assert "提交失败" in detail["error"] and "显示错误" in detail["error"]
    assert "无法打开" in detail["down"] and "Internal Server Error" in detail["flaky"]


async def test_refusals_happen_before_anything_is_sent(db, shared_browser, form_server, write_site, scenarios):
    count = len(form_server.submissions)
    tiny = write_site(site_toml(form_server.url, "plain", fields="title_max = 30\nbody_max = 15"), "tiny")
    typo = write_site(site_toml(form_server.url, "plain").replace("{{ persona.phone }}", "{{ persona.mobile }}"), "typo")
    noclick = write_site(site_toml(form_server.url, "plain", after=""), "noclick")
    async with _engine(db, shared_browser) as engine:
        with pytest.raises(ShopperError, match="never click anything"):
            await engine.submit(noclick, scenarios["complaint-noise"])
        with pytest.raises(ShopperError, match="cannot fit.*the site allows 15"):
            await engine.submit(tiny, scenarios["complaint-noise"])
        with pytest.raises(ShopperError, match=r"typo\.toml:\d+: fill value.*mobile"):
            await engine.submit(typo, scenarios["complaint-noise"])
        results = await engine.run([Job(tiny, scenarios["complaint-noise"])])
    assert results[0]["state"] == "refused" and "cannot fit" in results[0]["error"]
    assert db["tests"].count == 0 and len(form_server.submissions) == count


async def test_a_planned_test_is_submitted_once_even_when_two_engines_race(db, shared_browser, form_server, write_site, scenarios):
    site = write_site(site_toml(form_server.url, "race"), "race")
    db["tests"].insert({"id": "t-0000race", "agency_id": "race", "scenario_id": "complaint-noise",
                        "state": "planned", "campaign_id": None})
    first, second = _engine(db, shared_browser), _engine(db, shared_browser)
    async with first, second:
        results = await asyncio.gather(first.submit(site, scenarios["complaint-noise"], test_id="t-0000race"),
                                       second.submit(site, scenarios["complaint-noise"], test_id="t-0000race"),
                                       return_exceptions=True)
        with pytest.raises(ShopperError, match="submitted once only"):
            await first.submit(site, scenarios["complaint-noise"], test_id="t-0000race")
    states = sorted(r["state"] if isinstance(r, dict) else "refused" for r in results)
    assert states == ["refused", "submitted"], results
    assert sum(1 for s in form_server.submissions if s["variant"] == "race") == 1
    assert db["tests"].get("t-0000race")["state"] == "submitted"


async def test_a_campaign_runs_its_planned_tests_with_their_personas(db, shared_browser, form_server, write_site, scenarios):
    site = write_site(site_toml(form_server.url, "plain"), "plain")
    a, b = personas.add(db), personas.add(db)
    for test_id, persona in (("t-0000c001", a), ("t-0000c002", b)):
        db["tests"].insert({"id": test_id, "agency_id": "plain", "scenario_id": "complaint-noise", "state": "planned",
                            "campaign_id": "c-1", "persona_id": persona.id})
    async with _engine(db, shared_browser, concurrency=2) as engine:
        results = await engine.run([Job(site, scenarios["complaint-noise"], test_id="t-0000c001"),
                                    Job(site, scenarios["complaint-noise"], test_id="t-0000c002")])
        assert [r["state"] for r in results] == ["submitted", "submitted"]
        assert [r["persona_id"] for r in results] == [a.id, b.id]
        # A third test in the campaign at this agency gets someone new.
        third = await engine.submit(site, scenarios["suggestion-bus-shelter"], campaign_id="c-1")
    assert third["persona_id"] not in (a.id, b.id) and third["campaign_id"] == "c-1"


async def test_per_agency_limit_and_overall_concurrency(db, shared_browser, form_server, write_site, scenarios):
    a = write_site(site_toml(form_server.url, "slowa"), "slowa")
    b = write_site(site_toml(form_server.url, "slowb"), "slowb")
    jobs = [Job(site, scenarios["complaint-noise"]) for site in (a, a, b, b)]
    async with _engine(db, shared_browser, concurrency=4, per_agency=1, timeout_ms=6000) as engine:
        results = await engine.run(jobs)
    assert [r["state"] for r in results] == ["submitted"] * 4, [r.get("error") for r in results]
    assert form_server.max_in_flight["slowa"] == 1 and form_server.max_in_flight["slowb"] == 1
    assert form_server.max_total == 2  # both agencies at once


LOGIN = """
[[login.steps]]
action = "goto"
url = "login/"

[[login.steps]]
action = "fill"
selector = "#user"
value = "{{ account.username }}"

[[login.steps]]
action = "fill"
selector = "#pass"
value = "{{ account.password }}"

[[login.steps]]
action = "fill"
selector = "#phone"
value = "{{ persona.phone }}"

[[login.steps]]
action = "click"
selector = "#sendsms"

[[login.steps]]
action = "sms_code"
selector = "#sms"

[[login.steps]]
action = "click"
selector = "#login"

[[login.steps]]
action = "wait"
selector = "#title"
"""


async def test_login_with_sms_code_and_a_kept_session(db, shared_browser, form_server, write_site, scenarios,
                                                      sim_clock, monkeypatch):
    site = write_site(site_toml(form_server.url, "login", start='[[forms.default.steps]]\naction = "goto"\nurl = "login/form"\n')
                      + LOGIN + '\nsession_hours = 2\n', "login")
    site.raw["session_hours"] = 2
    persona = personas.add(db)
    async with _engine(db, shared_browser, form_server) as engine:
        with pytest.raises(ShopperError, match="no unused persona has an account"):
            await engine.submit(site, scenarios["complaint-noise"])
        personas.add_account(db, persona.id, "login", "wang", "login_wang")
        monkeypatch.setenv("SHOPPER_LOGIN_WANG", "s3cret")
        first = await engine.submit(site, scenarios["complaint-noise"])
        logins = len(form_server.logged_in)
        second = await engine.submit(site, scenarios["consultation-residence-permit"], persona=persona.id)
        assert len(form_server.logged_in) == logins  # the kept session, no new login or SMS
        sim_clock.advance(timedelta(hours=3))
        third = await engine.submit(site, scenarios["suggestion-bus-shelter"], persona=persona.id)
        assert len(form_server.logged_in) == logins + 1  # expired: logged in again
    assert [first["state"], second["state"], third["state"]] == ["submitted"] * 3
    acct = personas.account(db, persona.id, "login")
    assert "s3cret" not in Path(acct["storage_state_path"]).read_text()
    assert "s3cret" not in json.dumps(list(db["tests"].rows) + list(db["evidence"].rows), ensure_ascii=False)


def _write_cli_home(tmp_path, text: str) -> dict:
    scen = tmp_path / "cli_scenarios"
    (scen / "sites").mkdir(parents=True)
    shutil.copy(ROOT / "scenarios" / "complaint-noise.toml", scen)
    (scen / "sites" / "hang.toml").write_text(text, encoding="utf-8")
    config = tmp_path / "config.toml"
    config.write_text(f'[paths]\nscenarios = "{scen}"\n', encoding="utf-8")
    env = {**os.environ, "SHOPPER_CONFIG": str(config), "SHOPPER_DB": str(tmp_path / "cli.db")}
    return env


async def test_a_crash_mid_submit_leaves_the_test_uncertain_never_resent(tmp_path, form_server, db):
    env = _write_cli_home(tmp_path, site_toml(form_server.url, "hang").replace('id = "hang"', 'id = "hang"'))
    form_server.hang.clear()
    form_server.hang_arrived.clear()
    count = sum(1 for s in form_server.submissions if s["variant"] == "hang")
    proc = subprocess.Popen([sys.executable, "-m", "shopper", "run", "hang", "complaint-noise", "--solver", "console"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        assert await asyncio.to_thread(form_server.hang_arrived.wait, 60), "the form never arrived"
        os.killpg(proc.pid, signal.SIGKILL)  # the process group we started: shopper and its Chromium
    finally:
        proc.wait(10)
        form_server.hang.set()
    from shopper.db import open_database

    cli_db = open_database(env["SHOPPER_DB"])
    (row,) = list(cli_db["tests"].rows)
    assert row["state"] == "submitting"
    store = EvidenceStore(Path(env["SHOPPER_HOME"] if "SHOPPER_HOME" in env else "") / "evidence", cli_db)
    assert recover_interrupted(cli_db, store) == [row["id"]]
    row = cli_db["tests"].get(row["id"])
    assert row["state"] == "uncertain" and "check" in row["error"]
    (event,) = list(cli_db["events"].rows_where("test_id = ?", [row["id"]]))
    assert event["kind"] == "uncertain" and json.loads(event["detail_json"])["sha256"]  # the filled form
    assert [n["kind"] for n in cli_db["notifications"].rows] == ["uncertain"]
    # Running it again is refused; the agency got it once.
    result = subprocess.run([sys.executable, "-m", "shopper", "run", "hang", "complaint-noise", "--test", row["id"],
                             "--solver", "console"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "submitted once only" in result.stderr
    assert sum(1 for s in form_server.submissions if s["variant"] == "hang") == count + 1
    assert recover_interrupted(cli_db, store) == []


async def test_cli_dry_run_sends_nothing(tmp_path, form_server):
    env = _write_cli_home(tmp_path, site_toml(form_server.url, "plain").replace('id = "plain"', 'id = "hang"'))
    count = len(form_server.submissions)
    result = await asyncio.to_thread(CliRunner().invoke, main, ["run", "hang", "complaint-noise", "--dry-run",
                                                                 "--solver", "console"], env=env)
    assert result.exit_code == 0, result.output
    assert "nothing sent" in result.output and "subject" in result.output
    assert len(form_server.submissions) == count
    from shopper.db import open_database

    assert open_database(env["SHOPPER_DB"])["tests"].count == 0


@pytest.fixture(scope="module")
def cdp_chromium():
    """A Chromium started by hand with a DevTools port, like a browser pool offers."""
    profile = tempfile.mkdtemp(prefix="shopper-cdp-")
    proc = subprocess.Popen([find_chromium(), "--headless=new", "--remote-debugging-address=127.0.0.1",
                             "--remote-debugging-port=0", f"--user-data-dir={profile}", *LAUNCH_ARGS, "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        match = re.search(r"DevTools listening on (ws://127\.0\.0\.1:\d+/\S+)", line)
        if match:
            url = match.group(1)
            break
    assert url, "Chromium did not open a DevTools port"
    yield url
    proc.terminate()
    proc.wait(10)
    shutil.rmtree(profile, ignore_errors=True)


async def test_remote_browser_over_cdp_by_configuration_alone(db, cdp_chromium, form_server, write_site, scenarios):
    site = write_site(site_toml(form_server.url, "plain"), "plain")
    port = re.search(r":(\d+)/", cdp_chromium).group(1)
    config = Config(data={"browser": {"cdp_url": f"http://127.0.0.1:{port}"}})
    async with Engine(db, config, timeout_ms=3000) as engine:
        assert engine.browser.contexts is not None
        row = await engine.submit(site, scenarios["suggestion-bus-shelter"])
    assert row["state"] == "submitted" and form_server.submissions[-1]["ref"] == row["reference_number"]


# --- the demo world -------------------------------------------------------------------------

WORLD_PLAN = [
    ("jtw", "complaint-noise"),  # radio kind, district select, captcha
    ("sthjj", "complaint-safety-hazard"),  # GBK, captcha
    ("ghj", "complaint-streetlight"),  # two-step, captcha
    ("sww", "complaint-social-insurance"),  # iframe
    ("jw", "suggestion-bus-shelter"),
    ("scjgj", "consultation-residence-permit"),  # reference and query code
    ("fgj", "consultation-social-insurance"),  # reference by e-mail only
    ("wjw", "complaint-noise"),
    ("cgj", "application-status"),  # slow page; the service is applied for through its complaint form
    ("mzxx", "complaint-noise"),  # login with SMS code
]


async def test_every_form_variant_of_the_demo_world(db, world, shared_browser, scenarios, monkeypatch):
    from shopper.sites import load_sites

    sites = load_sites(ROOT / "scenarios" / "sites")
    persona = personas.add(db)
    personas.add_account(db, persona.id, "mzxx", f"u{persona.phone}", "mzxx_demo")
    monkeypatch.setenv("SHOPPER_MZXX_DEMO", "demo-pass-1")
    engine = Engine(db, Config(), browser=shared_browser, solver=HarnessSolver(world.base_url), concurrency=4,
                    timeout_ms=8000, rng=random.Random(5))
    async with engine:
        results = await engine.run([Job(sites[a], scenarios[s], campaign_id="c-world") for a, s in WORLD_PLAN])
    by_agency = {r["agency_id"]: r for r in results}
    for agency, scenario in WORLD_PLAN:
        row = by_agency[agency]
        assert row["state"] == "submitted", (agency, row.get("error"))
        received = [s for s in world.submissions if s.agency_id == agency and s.email == row["reply_address"]]
        assert len(received) == 1, agency
        assert received[0].subject == row["subject"]
        if agency != "fgj":
            assert row["reference_number"] == received[0].reference, agency
    assert by_agency["scjgj"]["query_code"]
    assert by_agency["fgj"]["reference_number"] is None
    # Never the same persona twice at one agency within the campaign.
    pairs = [(r["agency_id"], r["persona_id"]) for r in results]
    assert len(set(pairs)) == len(pairs)
    # The agencies read the texts as the scenarios mean them.
    reading = {s.agency_id: s.reading for s in world.submissions
               if s.email in {r["reply_address"] for r in results}}
    assert reading["sthjj"].important and reading["sthjj"].kind == "complaint"
    assert reading["ghj"].subordinate and not reading["ghj"].important
    assert reading["sww"].out_of_scope and reading["fgj"].out_of_scope and reading["fgj"].kind == "consultation"
    assert reading["jw"].kind == "suggestion"
    assert not any([reading["jtw"].important, reading["jtw"].subordinate, reading["jtw"].out_of_scope])


async def test_no_answer_after_sending_is_uncertain_not_a_finding(db, shared_browser, form_server, write_site, scenarios):
    # The agency takes longer to answer than the engine waits: the form may have arrived.
    site = write_site(site_toml(form_server.url, "slowlone"), "slowlone")
    async with _engine(db, shared_browser, timeout_ms=1000) as engine:
        row = await engine.submit(site, scenarios["complaint-noise"])
    assert row["state"] == "uncertain" and "did not respond" in row["error"], row["error"]
    assert db["findings"].count == 0
    assert [e["kind"] for e in db["events"].rows_where("test_id = ?", [row["id"]])] == ["uncertain"]
    assert [n["kind"] for n in db["notifications"].rows_where("test_id = ?", [row["id"]])] == ["uncertain"]
    assert db["evidence"].count_where("test_id = ? and note = 'before submit'", [row["id"]]) == 1
