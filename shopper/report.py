"""The published report: a static HTML site (article 11: 评议考核的结果排名……予以公布).

    out/index.html              the ranking of the period, with movement and the five parts
    out/agencies/<id>.html      one page per agency: its score, findings, each test's timeline,
                                the response-time charts (Kaplan–Meier, distribution, trend)
    out/evidence/<sha256>       the evidence files the findings cite, copied by hash
    out/style.css

Jinja2 with autoescape ON: whatever an agency wrote (a reply, a subject, even its name) is shown
as text, never run. Charts are inline SVG (shopper.charts), so the site needs no JavaScript and
no network. Data is read per agency through indexed queries, so 14,000 pages take well under a
minute and memory stays flat.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from datetime import datetime
from pathlib import Path

from jinja2 import ChoiceLoader, Environment, FileSystemLoader

from shopper import charts
from shopper.clock import from_iso, get_clock
from shopper.config import PROJECT_ROOT, Config
from shopper.ranking import RankRow, ranking
from shopper.rules import all_rules, measure, parts
from shopper.scoring import (
    PART_IDS,
    Period,
    _findings_from,
    _zone,
    has_scores,
    latest_period,
    register_sql_functions,
    score_agencies,
)
from shopper.survival import agency_curves, durations, format_hours, load_observations

log = logging.getLogger(__name__)

TREND_PERIODS = 6
VERDICT_ZH = {"pass": "符合", "fail": "不符合", "undetermined": "待定"}
EVENT_ZH = {
    "submitted": "提交", "acknowledged": "受理告知", "replied": "答复", "status_changed": "状态变更",
    "deadline_passed": "期限届满", "failed": "提交失败", "uncertain": "提交存疑",
}


# ------------------------------------------------------------------------------------- templates


def template_env(config: Config | None = None) -> Environment:
    """Jinja2 over the configured templates folder, falling back to the packaged one.
    Autoescape is on for every template, whatever its file name."""
    dirs = []
    if config is not None:
        dirs.append(str(config.templates_dir))
    dirs.append(str(PROJECT_ROOT / "templates"))
    env = Environment(
        loader=ChoiceLoader([FileSystemLoader(d) for d in dict.fromkeys(dirs)]),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["local"] = local_time
    env.filters["score"] = lambda v: "未评议" if v is None else f"{v:.2f}"
    env.filters["hours"] = format_hours
    return env


def local_time(ts: str | datetime | None, tz: str | None = None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored UTC time shown in the agency's zone."""
    if not ts:
        return ""
    moment = from_iso(ts) if isinstance(ts, str) else ts
    return moment.astimezone(_zone(tz)).strftime(fmt)


# ------------------------------------------------------------------------------------- evidence


class EvidenceFiles:
    """Finds evidence files by sha256 and copies (hard-links when it can) them into the site.

    The copy is named `<sha256><suffix>` by the kind of evidence. A page the agency served is
    kept as `.html.txt`: opened from the report it shows its source, it does not run."""

    SUFFIX = {"screenshot": ".png", "eml": ".eml", "html": ".html.txt", "text": ".txt", "reference": ".txt"}

    def __init__(self, db, config: Config, out_dir: Path):
        self.root = config.evidence_dir
        self.available = self.root.is_dir()
        self.out = out_dir / "evidence"
        self.db = db
        self.done: dict[str, str | None] = {}

    def _source(self, sha: str) -> tuple[Path | None, str | None]:
        row = self.db.execute("SELECT path, kind FROM evidence WHERE sha256 = ?", [sha]).fetchone()
        candidates = []
        if row and row[0]:
            p = Path(row[0]).expanduser()
            candidates.append(p if p.is_absolute() else self.root / p)
        candidates += [self.root / sha[:2] / sha, self.root / sha]
        for c in candidates:
            if c.is_file():
                return c, row[1] if row else None
        return None, None

    def link(self, sha: str) -> str | None:
        """The site-relative href of the evidence file, or None when the file is not at hand."""
        if sha in self.done:
            return self.done[sha]
        if not self.available or len(sha) != 64:
            return None
        src, kind = self._source(sha)
        href = None
        if src is not None:
            self.out.mkdir(parents=True, exist_ok=True)
            name = sha + self.SUFFIX.get(kind or "", "")
            dest = self.out / name
            if not dest.exists():
                try:
                    os.link(src, dest)
                except FileExistsError:
                    pass  # another worker copied it first
                except OSError:
                    shutil.copy2(src, dest)
            href = f"evidence/{name}"
        self.done[sha] = href
        return href


# ------------------------------------------------------------------------------------- data


def _parse_json(text: str | None) -> dict:
    if not text:
        return {}
    try:
        value = json.loads(text)
        return value if isinstance(value, dict) else {}
    except ValueError:
        return {}


def _agency_findings(db, period: Period, agency_id: str, tz: str | None = None) -> list[dict]:
    source, params = _findings_from(period, agency_id, db, zone=tz)
    rows = db.execute(
        "SELECT f.id, f.subject_key, f.test_id, f.rule_id, f.verdict, f.detail, f.evidence_json, "
        f"f.deadline_at, f.observed_at {source} ORDER BY f.verdict = 'pass', f.rule_id, f.id",
        params,
    ).fetchall()
    keys = ("id", "subject_key", "test_id", "rule_id", "verdict", "detail", "evidence", "deadline_at", "observed_at")
    found = []
    for row in rows:
        f = dict(zip(keys, row))
        f["evidence"] = _parse_json(f["evidence"])
        found.append(f)
    return found


def _agency_tests(db, period: Period, agency_id: str, tz: str, evidence: EvidenceFiles | None = None) -> list[dict]:
    tests = {}
    for row in db.execute(
        "SELECT id, kind, scenario_id, state, reference_number, subject, submitted_at, acknowledged_at, "
        "replied_at, important FROM tests WHERE agency_id = ? AND submitted_at IS NOT NULL ORDER BY submitted_at",
        [agency_id],
    ):
        t = dict(zip(("id", "kind", "scenario_id", "state", "reference_number", "subject", "submitted_at",
                      "acknowledged_at", "replied_at", "important"), row))
        if period == _period_of_ts(t["submitted_at"], tz, period.kind):
            t["events"], t["messages"] = [], []
            tests[t["id"]] = t
    if not tests:
        return []
    for test_id, kind, at, source, detail, ws, we in db.execute(
        "SELECT e.test_id, e.kind, e.at, e.source, e.detail_json, e.window_start, e.window_end FROM events e "
        "JOIN tests t ON t.id = e.test_id WHERE t.agency_id = ? ORDER BY e.at, e.id",
        [agency_id],
    ):
        if test_id in tests:
            tests[test_id]["events"].append({"kind": kind, "label": EVENT_ZH.get(kind, kind), "at": at,
                                             "source": source, "detail": _parse_json(detail),
                                             "window_start": ws, "window_end": we})
    for mid, test_id, received, from_addr, subject, text, sha in db.execute(
        "SELECT m.id, m.test_id, m.received_at, m.from_addr, m.subject, COALESCE(m.own_text, m.text), m.raw_sha256 "
        "FROM messages m JOIN tests t ON t.id = m.test_id WHERE t.agency_id = ? ORDER BY m.received_at, m.id",
        [agency_id],
    ):
        if test_id in tests:
            tests[test_id]["messages"].append({"id": mid, "received_at": received, "from_addr": from_addr,
                                               "subject": subject, "text": text, "sha256": sha,
                                               "href": evidence.link(sha) if evidence and sha else None})
    return list(tests.values())


def _period_of_ts(ts: str, tz: str, kind: str) -> Period:
    from shopper.scoring import period_of

    return period_of(from_iso(ts), tz, kind)


def _trend_periods(db, period: Period) -> list[Period]:
    """The report's period and up to TREND_PERIODS-1 before it that have findings or scores."""
    known = set()
    for (p,) in db.execute("SELECT DISTINCT period FROM findings WHERE period IS NOT NULL "
                           "UNION SELECT DISTINCT period FROM scores"):
        try:
            parsed = Period.parse(p)
        except Exception:
            continue
        if parsed.kind == period.kind and parsed <= period:
            known.add(parsed)
    known.add(period)
    return sorted(known)[-TREND_PERIODS:]


# ------------------------------------------------------------------------------------- writing


def write_report(db, out_dir, *, period=None, config: Config | None = None, progress=None,
                 workers: int | None = None) -> Path:
    """Write the static site for `period` (default: the newest with findings). Returns index.html.

    `progress`, if given, is called as progress(done, total) while agency pages are written.
    Agency pages are written by `workers` processes (default: one per CPU) when the database is
    a file and there are many agencies; each opens its own read connection."""
    config = config or Config.load()
    period = Period.parse(period) if period else latest_period(db)
    out = Path(out_dir)
    (out / "agencies").mkdir(parents=True, exist_ok=True)
    register_sql_functions(db)
    env = template_env(config)
    now = get_clock().now()

    rows = ranking(db, period, config, recompute=True)
    periods = _trend_periods(db, period)
    for p in periods:
        if p != period and p != period.previous() and not has_scores(db, p):
            score_agencies(db, p, config)
    totals: dict[str, dict[str, float | None]] = {}
    names = [str(p) for p in periods]
    marks = ",".join("?" * len(names))
    for aid, p, value in db.execute(
        f"SELECT agency_id, period, value FROM scores WHERE part = 'total' AND period IN ({marks})", names
    ):
        totals.setdefault(aid, {})[p] = value

    agencies = {r[0]: dict(zip(("id", "name", "class", "timezone", "homepage"), r))
                for r in db.execute('SELECT id, name, "class", timezone, homepage FROM agencies')}
    observations = load_observations(db, period=period)

    (out / "style.css").write_text(env.get_template("report_style.css.j2").render(), encoding="utf-8")
    index = out / "index.html"
    index.write_text(env.get_template("report_index.html.j2").render(rows=rows, **_common(period, config, now)),
                     encoding="utf-8")

    jobs = []
    for row in rows:
        agency = agencies.get(row.agency_id) or {"id": row.agency_id, "name": row.name, "class": None,
                                                "timezone": None, "homepage": None}
        jobs.append((row, agency, observations.get(row.agency_id, []), totals.get(row.agency_id, {})))
    db_file = _database_file(db)
    workers = workers if workers is not None else (os.cpu_count() or 1)
    if db_file is None or workers <= 1 or len(jobs) < PARALLEL_FROM:
        _write_pages(db, out, period, config, now, periods, jobs, progress, done_before=0, total=len(jobs))
        return index

    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    db.conn.commit()  # the workers must see the scores just stored
    size = max(50, min(500, len(jobs) // (workers * 4) or 1))
    chunks = [jobs[i:i + size] for i in range(0, len(jobs), size)]
    done = 0
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_page_worker, db_file, str(out), str(period), config, now, periods, chunk)
                   for chunk in chunks]
        for future in as_completed(futures):
            done += future.result()
            if progress is not None:
                progress(done, len(jobs))
    return index


PARALLEL_FROM = 400  # below this many agencies a second process costs more than it saves


def _database_file(db) -> str | None:
    for _, name, path in db.execute("PRAGMA database_list"):
        if name == "main":
            return path or None
    return None


def _common(period: Period, config: Config, now) -> dict:
    return {
        "period": period, "period_label": period.label_zh, "generated": local_time(now, config.timezone),
        "measure": measure(), "parts": parts(), "part_ids": PART_IDS, "rules": all_rules(),
        "verdict_zh": VERDICT_ZH, "office": config.get("office", "name", "市政府办公厅"),
    }


def _write_pages(db, out: Path, period: Period, config: Config, now, periods, jobs, progress=None, *,
                 done_before: int = 0, total: int = 0) -> int:
    env = template_env(config)
    page = env.get_template("report_agency.html.j2")
    common = _common(period, config, now)
    evidence = EvidenceFiles(db, config, out)
    for done, (row, agency, observations, totals) in enumerate(jobs, start=1):
        html = page.render(
            agency=agency, row=row, tz=agency.get("timezone") or "Asia/Shanghai",
            **_agency_context(db, period, agency, row, observations, totals, periods, evidence, now),
            **common,
        )
        (out / "agencies" / f"{_safe_name(row.agency_id)}.html").write_text(html, encoding="utf-8")
        if progress is not None:
            progress(done_before + done, total)
    return len(jobs)


def _page_worker(db_file: str, out: str, period: str, config: Config, now, periods, jobs) -> int:
    """One process's share of the agency pages (spawned: opens its own connection)."""
    from shopper.db import open_database

    db = open_database(db_file, create=False)
    try:
        return _write_pages(db, Path(out), Period.parse(period), config, now, periods, jobs)
    finally:
        db.close()


def _safe_name(agency_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in agency_id)


def _agency_context(db, period, agency, row: RankRow, observations, totals, periods, evidence, now) -> dict:
    tz = agency.get("timezone") or "Asia/Shanghai"
    findings = _agency_findings(db, period, agency["id"], agency.get("timezone") or "Asia/Shanghai")
    for f in findings:
        shas = f["evidence"].get("sha256") or []
        if isinstance(shas, str):
            shas = [shas]
        f["files"] = [{"sha256": s, "href": evidence.link(s)} for s in shas if isinstance(s, str)]
    tests = _agency_tests(db, period, agency["id"], tz, evidence) if observations or findings else []
    curves = agency_curves(observations, now)
    charts_html = {}
    if observations:
        charts_html["km"] = charts.km_chart({"受理告知 ack": curves["ack"], "答复 reply": curves["reply"]},
                                            title="未答复比例 Kaplan–Meier (share still waiting)")
        strips = []
        for label, what in (("受理告知 ack", "ack"), ("答复 reply", "reply")):
            ds, obs = durations(observations, what, now)
            strips.append((label, [d for d, o in zip(ds, obs) if o], [d for d, o in zip(ds, obs) if not o]))
        charts_html["strip"] = charts.strip_chart(strips, title="响应时间分布 response times (○ = unanswered so far)")
    mine = totals
    charts_html["trend"] = charts.trend_chart([(str(p), mine.get(str(p))) for p in periods],
                                              title="总分趋势 total score by period")
    return {
        "findings": findings,
        "tests": tests,
        "charts": charts_html,
        "medians": {what: curves[what].median() for what in ("ack", "reply")},
        "n_tests": len(observations),
        "n_unanswered": sum(1 for o in observations if o.replied_at is None),
    }
