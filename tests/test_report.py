"""The static report: ranking, agency pages, timelines, charts, evidence, and escaping."""

from __future__ import annotations

import hashlib
import re

import pytest

from shopper.config import Config
from shopper.evidence import EvidenceStore
from shopper.report import write_report
from tests.fixtures.scoring import SCRIPT_REPLY


@pytest.fixture
def site(scored_world, tmp_path):
    evidence_dir = tmp_path / "evidence"
    evidence_dir.mkdir()
    data = b"<html>screenshot of the reply page</html>"
    sha = hashlib.sha256(data).hexdigest()
    store = EvidenceStore(evidence_dir, scored_world)
    assert store.put(data, "html", test_id="t-00000001") == sha
    eml = b"From: office@gov.test\r\nSubject: Re\r\n\r\n<script>x</script>"
    eml_sha = store.put(eml, "eml", test_id="t-00000001")
    scored_world.execute("UPDATE messages SET raw_sha256 = ?", [eml_sha])
    scored_world.execute("UPDATE findings SET evidence_json = json_set(evidence_json, '$.sha256', json_array(?, ?)) "
                         "WHERE rule_id = 'complaint.ack_24h' AND agency_id = 'jtw' AND period = '2026Q4'",
                         [sha, "c" * 64])
    scored_world.conn.commit()
    config = Config(tmp_path / "config.toml", {"paths": {"evidence": str(evidence_dir)}})
    out = tmp_path / "site"
    index = write_report(scored_world, out, period="2026Q4", config=config)
    return {"out": out, "index": index, "sha": sha, "eml": eml_sha}


def test_index_ranks_with_movement(site):
    html = site["index"].read_text("utf-8")
    order = [m.group(1) for m in re.finditer(r'href="agencies/(\w+)\.html"', html)]
    assert order == ["ghj", "mzj", "jtw"]
    assert "▼2" in html and "new" in html  # jtw fell from 1st; ghj had no Q3 score
    assert "未评议" in html


def test_agency_page_has_findings_timeline_charts_and_evidence(site):
    page = (site["out"] / "agencies" / "jtw.html").read_text("utf-8")
    assert "complaint.ack_24h" in page and "complaint.reply_by_deadline" in page
    assert "受理告知超过24小时" in page
    assert "2026-11-02 10:00" in page  # submitted 02:00 UTC, shown in Asia/Shanghai
    assert page.count("<svg") == 3  # Kaplan–Meier, distribution, trend
    assert "not reached" not in page.split("答复中位时间")[0]  # ack median exists (30 h)
    href = f'../evidence/{site["sha"]}.html.txt'  # an agency's page is kept as text, never run
    assert href in page
    assert (site["out"] / "evidence" / f'{site["sha"]}.html.txt').read_bytes().startswith(b"<html>")
    assert f'../evidence/{site["eml"]}.eml' in page  # the reply's raw mail, linked from the timeline
    assert (site["out"] / "evidence" / f'{site["eml"]}.eml').exists()
    assert "c" * 12 in page  # a hash whose file is not at hand is still listed, unlinked
    assert "../evidence/" + "c" * 64 not in page


def test_whatever_an_agency_wrote_is_text(site):
    for path in [site["index"], *sorted((site["out"] / "agencies").glob("*.html"))]:
        html = path.read_text("utf-8")
        assert "<script" not in html.lower()  # no JavaScript at all, nothing injected
        assert "https://" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    page = (site["out"] / "agencies" / "jtw.html").read_text("utf-8")
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert "市交通委&lt;b&gt;" in page  # even the agency's own name


def test_report_defaults_to_the_newest_period(scored_world, tmp_path):
    index = write_report(scored_world, tmp_path / "s", config=Config(None, {}))
    assert "2026Q4" in index.read_text("utf-8")
    assert SCRIPT_REPLY not in (tmp_path / "s" / "agencies" / "jtw.html").read_text("utf-8")


@pytest.mark.slow
def test_pages_from_worker_processes_match(scored_world, tmp_path, monkeypatch):
    import shopper.report as report

    config = Config(None, {})
    write_report(scored_world, tmp_path / "one", period="2026Q4", config=config, workers=1)
    monkeypatch.setattr(report, "PARALLEL_FROM", 1)
    seen = []
    write_report(scored_world, tmp_path / "two", period="2026Q4", config=config, workers=2,
                 progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (3, 3)
    for page in sorted((tmp_path / "one" / "agencies").glob("*.html")):
        assert (tmp_path / "two" / "agencies" / page.name).read_text("utf-8") == page.read_text("utf-8")


def test_cli_report(scored_world, tmp_path):
    from click.testing import CliRunner

    from shopper.cli import main

    result = CliRunner().invoke(main, ["--db", str(tmp_path / "score.db"), "report", "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r" / "index.html").exists() and (tmp_path / "r" / "agencies" / "mzj.html").exists()
