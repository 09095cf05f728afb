"""Score arithmetic: weights per class, not-assessed parts, renormalisation, imports, explain."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner

from shopper.cli import main
from shopper.config import Config
from shopper.errors import ShopperError
from shopper.imports import import_scores
from shopper.scoring import Period, explain, explain_text, load_scores, load_weights, score_agencies

UTC = timezone.utc

WEIGHTS = """
[classes.regulatory]
disclosure = 1
services = 2
consultation = 3
supervision = 4
maintenance = 0

[sources]
daily = 2
public = 1
experts = 1
"""


@pytest.fixture
def config(tmp_path):
    (tmp_path / "w.toml").write_text(WEIGHTS, encoding="utf-8")
    (tmp_path / "config.toml").write_text('[scoring]\nweights = "w.toml"\n', encoding="utf-8")
    return Config.load(tmp_path / "config.toml")


def _one(scores, aid):
    return next(s for s in scores if s.agency_id == aid)


def test_parts_weights_and_renormalisation(builder, config):
    b = builder
    b.agency("a", klass="regulatory")
    for verdict in ("pass", "pass", "pass", "fail"):
        b.finding("a", "complaint.ack_24h", verdict)  # supervision 75
    for verdict in ("pass", "fail", "undetermined", "undetermined"):
        b.finding("a", "consult.reply_in_time", verdict)  # consultation 50; undetermined not counted
    b.finding("a", "disclosure.items", "undetermined")  # disclosure: only undetermined → not assessed
    b.finding("a", "complaint.ack_24h", "fail", period="2026Q3")  # another period: not counted

    import_scores(b.db, "public", _csv(b.db, "agency_id,period,score\na,2026Q4,90\n"))
    s = _one(score_agencies(b.db, "2026Q4", config), "a")

    assert s.parts["supervision"].value == 75.0
    assert s.parts["consultation"].value == 50.0
    assert (s.parts["consultation"].passed, s.parts["consultation"].failed, s.parts["consultation"].undetermined) == (1, 1, 2)
    for pid in ("disclosure", "services", "maintenance"):
        assert s.parts[pid].value is None and not s.parts[pid].assessed
    daily = (75 * 4 + 50 * 3) / 7  # weights of the assessed parts only
    assert s.daily == pytest.approx(daily)
    assert s.total == pytest.approx((2 * daily + 1 * 90) / 3)  # experts not assessed: renormalised
    assert any("信息公开" in n and "重新归一" in n for n in s.notes)
    assert any("特邀专家跟踪考核" in n for n in s.notes)


def test_weights_differ_per_class(builder, config):
    b = builder
    b.agency("reg", klass="regulatory")
    b.agency("plain", klass="no-such-class")  # falls back to "default" (the packaged weights)
    for aid in ("reg", "plain"):
        b.finding(aid, "complaint.ack_24h", "pass")  # supervision 100
        b.finding(aid, "disclosure.items", "fail")  # disclosure 0
    scores = score_agencies(b.db, "2026Q4", config)
    assert _one(scores, "reg").total == pytest.approx(100 * 4 / 5)
    defaults = load_weights(None).classes["default"]
    expected = 100 * defaults["supervision"] / (defaults["supervision"] + defaults["disclosure"])
    assert _one(scores, "plain").total == pytest.approx(expected)
    assert _one(scores, "plain").klass == "default"


def test_nothing_assessed_is_neither_zero_nor_full(builder):
    b = builder
    b.agency("silent")
    b.agency("unsure")
    b.finding("unsure", "complaint.ack_24h", "undetermined")
    scores = score_agencies(b.db, "2026Q4")
    for aid in ("silent", "unsure"):
        s = _one(scores, aid)
        assert s.total is None and s.daily is None and not s.assessed
        assert all(p.value is None for p in s.parts.values())
    stored = b.db.execute("SELECT part, value, assessed FROM scores WHERE agency_id = 'unsure' AND period = '2026Q4'").fetchall()
    assert len(stored) == 5 + 3 + 1
    assert all(value is None and assessed == 0 for _, value, assessed in stored)
    # the stored rows read back the same
    again = _one(load_scores(b.db, "2026Q4"), "unsure")
    assert again.total is None and again.parts["supervision"].undetermined == 1


def test_imported_sources_alone_make_a_score(builder):
    b = builder
    b.agency("x")
    import_scores(b.db, "experts", _csv(b.db, "agency_id,period,score\nx,2026Q4,80\n"))
    s = _one(score_agencies(b.db, "2026Q4"), "x")
    assert s.daily is None and s.total == pytest.approx(80.0)


def test_month_periods_follow_the_agency_zone(builder):
    b = builder
    b.agency("sh")
    # 2026-10-31 17:30 UTC is 2026-11-01 01:30 in Shanghai: a November test.
    tid = b.test("sh", submitted=datetime(2026, 10, 31, 17, 30, tzinfo=UTC))
    b.finding("sh", "complaint.ack_24h", "fail", test_id=tid)
    assert _one(score_agencies(b.db, "2026-11"), "sh").parts["supervision"].failed == 1
    assert _one(score_agencies(b.db, "2026-10"), "sh").total is None


def test_periods():
    assert str(Period.parse("2026q4")) == "2026Q4"
    assert str(Period.parse("2026Q1").previous()) == "2025Q4"
    assert str(Period.parse("2026-01").previous()) == "2025-12"
    assert str(Period.parse("2026-11").previous()) == "2026-10"
    for bad in ("2026Q5", "2026-13", "Q4", "2026"):
        with pytest.raises(ShopperError):
            Period.parse(bad)


def test_bad_weights_file_says_what_to_fix(tmp_path):
    (tmp_path / "w.toml").write_text("[classes.default]\nsupervision = -1\n", encoding="utf-8")
    (tmp_path / "c.toml").write_text('[scoring]\nweights = "w.toml"\n', encoding="utf-8")
    with pytest.raises(ShopperError, match="supervision"):
        load_weights(Config.load(tmp_path / "c.toml"))
    (tmp_path / "c.toml").write_text('[scoring]\nweights = "missing.toml"\n', encoding="utf-8")
    with pytest.raises(ShopperError, match="not found"):
        load_weights(Config.load(tmp_path / "c.toml"))


def test_explain_lists_every_finding_and_weight(scored_world):
    e = explain(scored_world, "jtw", "2026Q4")
    assert {f["rule_id"] for f in e["findings"]} == {
        "complaint.ack_24h", "complaint.reply_by_deadline", "tone.plain_friendly", "consult.reply_in_time"}
    counted = {f["rule_id"]: f["counted"] for f in e["findings"]}
    assert counted["consult.reply_in_time"] is False  # undetermined
    assert e["parts"]["supervision"]["weight"] == load_weights().classes["regulatory"]["supervision"]
    assert e["parts"]["supervision"]["value"] == 0.0 and e["parts"]["disclosure"]["value"] is None
    text = explain_text(e)
    assert "complaint.reply_by_deadline" in text and "未评议" in text and "total 30.00" in text


# --------------------------------------------------------------------------------------- imports


def _csv(db, text: str, encoding: str = "utf-8"):
    import tempfile

    f = tempfile.NamedTemporaryFile("wb", suffix=".csv", delete=False)
    f.write(text.encode(encoding))
    f.close()
    return f.name


def test_import_reports_bad_rows_by_line_and_keeps_good_ones(builder):
    b = builder
    b.agency("jtw")
    b.agency("ghj")
    text = (
        "agency_id,period,score\n"     # line 1
        "jtw,2026Q4,88.5\n"            # 2 good
        "nobody,2026Q4,70\n"           # 3 unknown agency
        "ghj,2026Q9,70\n"              # 4 bad period
        "ghj,2026Q4,lots\n"            # 5 not a number
        "ghj,2026Q4,120\n"             # 6 out of range
        "\n"                           # 7 blank: ignored
        "ghj,2026-11,61\n"             # 8 good (month)
        "jtw,2026Q4,10\n"              # 9 duplicate of line 2
        "ghj\n"                        # 10 too few columns
    )
    path = _csv(b.db, text)
    result = import_scores(b.db, "public", path)
    lines = {line: reason for line, reason in result.errors}
    assert set(lines) == {3, 4, 5, 6, 9, 10}
    assert "nobody" in lines[3] and "2026Q9" in lines[4] and "lots" in lines[5] and "0–100" in lines[6]
    assert "line 2" in lines[9]
    assert (result.inserted, result.updated, result.unchanged) == (2, 0, 0)
    rows = b.db.execute("SELECT agency_id, period, source, score FROM imported_scores ORDER BY agency_id").fetchall()
    assert rows == [("ghj", "2026-11", "public", 61.0), ("jtw", "2026Q4", "public", 88.5)]

    again = import_scores(b.db, "public", path)  # idempotent
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
    assert b.db.execute("SELECT count(*) FROM imported_scores").fetchone()[0] == 2

    changed = import_scores(b.db, "public", _csv(b.db, "score,agency_id,period\n90,jtw,2026Q4\n"))
    assert changed.updated == 1
    assert b.db.execute("SELECT score FROM imported_scores WHERE agency_id='jtw'").fetchone()[0] == 90.0
    # the same agency and period from the other source is a separate row
    import_scores(b.db, "experts", _csv(b.db, "agency_id,period,score\njtw,2026Q4,50\n"))
    assert b.db.execute("SELECT count(*) FROM imported_scores WHERE agency_id='jtw'").fetchone()[0] == 2


def test_import_reads_excel_gb18030_with_chinese_headers(builder):
    builder.agency("jtw")
    path = _csv(builder.db, "部门编号,考核期,得分\njtw,2026Q4,77\n", encoding="gb18030")
    assert import_scores(builder.db, "experts", path).inserted == 1


def test_import_without_the_columns_is_refused(builder):
    builder.agency("jtw")
    with pytest.raises(ShopperError, match="score"):
        import_scores(builder.db, "public", _csv(builder.db, "agency_id,period\njtw,2026Q4\n"))
    with pytest.raises(ShopperError, match="empty"):
        import_scores(builder.db, "public", _csv(builder.db, ""))
    assert builder.db.execute("SELECT count(*) FROM imported_scores").fetchone()[0] == 0


# --------------------------------------------------------------------------------------- CLI


def test_cli_import_score_and_explain(scored_world, tmp_path):
    db_path = tmp_path / "score.db"
    runner = CliRunner()
    csv_path = tmp_path / "public.csv"
    csv_path.write_text("agency_id,period,score\njtw,2026Q4,90\nzzz,2026Q4,50\n", encoding="utf-8")
    result = runner.invoke(main, ["--db", str(db_path), "import", "public", str(csv_path)])
    assert result.exit_code == 1
    assert f"{csv_path}:3: skipped: unknown agency 'zzz'" in result.output
    assert "1 rows kept" in result.output

    result = runner.invoke(main, ["--db", str(db_path), "score", "--period", "2026Q4", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [(r["agency_id"], r["rank"]) for r in data["ranking"]] == [("ghj", 1), ("mzj", 2), ("jtw", 3)]
    assert data["ranking"][2]["total"] == pytest.approx((30.0 * 0.5 + 90 * 0.25) / 0.75, abs=0.01)

    result = runner.invoke(main, ["--db", str(db_path), "score", "jtw", "--period", "2026Q4", "--explain"])
    assert result.exit_code == 0, result.output
    assert "complaint.ack_24h" in result.output and "网上公众评议" in result.output

    result = runner.invoke(main, ["--db", str(db_path), "score", "--period", "2026Q7"])
    assert result.exit_code == 2 and "2026Q4" in result.output


def test_findings_without_a_stored_period_fall_in_the_local_quarter(builder):
    b = builder
    b.agency("sh")
    b.agency("ny", tz="America/New_York")
    b.agency("odd", tz="Not/AZone")  # a broken zone falls back to Shanghai, and does not stop the score
    moment = datetime(2026, 9, 30, 17, 0, tzinfo=UTC)  # Oct 1 in Shanghai, still Sep 30 in New York
    for aid in ("sh", "ny", "odd"):
        tid = b.test(aid, submitted=moment)
        b.finding(aid, "complaint.ack_24h", "pass", test_id=tid, period=None)
    q4, q3 = score_agencies(b.db, "2026Q4"), score_agencies(b.db, "2026Q3")
    assert [s.agency_id for s in q4 if s.assessed] == ["odd", "sh"]
    assert [s.agency_id for s in q3 if s.assessed] == ["ny"]
