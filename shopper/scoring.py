"""Supervision scores: findings → the five parts of article 5 → one score per agency and period.

沪府办〔2003〕63号:
  第五条：政府部门网站评议考核的内容，由信息公开、网上办事、网上服务、监督投诉和系统维护五个部分组成。
  第六条：市政府办公厅根据各部门的不同情况，制定分类考核办法，并对各部门进行分类考核。
  第七条：政府部门网站的评议考核，由网上公众评议、特邀专家跟踪考核和主管部门日常监督评议这三方面组成。

The arithmetic, which `explain()` spells out for one agency:
- a part's score is 100 × passed / (passed + failed) over the findings of the rules of that part
  (`rules.toml` says which part a rule scores); "undetermined" findings do not count;
- a part with no pass/fail finding is *not assessed*: it is neither 0 nor 100, it drops out;
- the daily-supervision score (the mystery shopper, article 7/10) is the weighted mean of the
  assessed parts, with the weights of the agency's class (article 6, `agencies.class`)
  renormalised over what was assessed;
- the total is the weighted mean of the assessed sources: daily supervision, the public online
  evaluation and the invited experts (both imported), again renormalised.

Everything is computed by SQL aggregates, so 14,000 agencies score in about a second.
"""

from __future__ import annotations

import json
import logging
import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

from shopper.clock import from_iso, get_clock, to_iso
from shopper.errors import ShopperError
from shopper.rules import all_rules, parts

log = logging.getLogger(__name__)

PART_IDS = ("disclosure", "services", "consultation", "supervision", "maintenance")
SOURCE_IDS = ("daily", "public", "experts")
SOURCE_NAMES = {"daily": "日常监督评议", "public": "网上公众评议", "experts": "特邀专家跟踪考核"}
DEFAULT_TZ = "Asia/Shanghai"
COUNTED = ("pass", "fail")  # "undetermined" is neither


# --------------------------------------------------------------------------------------- periods

_PERIOD_RE = re.compile(r"^\s*(\d{4})\s*(?:[Qq]([1-4])|-(0[1-9]|1[0-2]))\s*$")


@dataclass(frozen=True, order=True)
class Period:
    """A quarter ("2026Q4") or a month ("2026-11"), in the agency's own time zone."""

    year: int
    kind: str  # "Q" or "M"
    n: int

    @classmethod
    def parse(cls, text: "str | Period") -> "Period":
        if isinstance(text, Period):
            return text
        match = _PERIOD_RE.match(str(text))
        if not match:
            raise ShopperError(f"period {text!r}: write a quarter like 2026Q4 or a month like 2026-11")
        year, quarter, month = match.groups()
        return cls(int(year), "Q", int(quarter)) if quarter else cls(int(year), "M", int(month))

    def __str__(self) -> str:
        return f"{self.year}Q{self.n}" if self.kind == "Q" else f"{self.year}-{self.n:02d}"

    def previous(self) -> "Period":
        last = 4 if self.kind == "Q" else 12
        return Period(self.year - 1, self.kind, last) if self.n == 1 else Period(self.year, self.kind, self.n - 1)

    def first_day(self) -> date:
        return date(self.year, (self.n - 1) * 3 + 1 if self.kind == "Q" else self.n, 1)

    def end(self, tz: str = DEFAULT_TZ) -> datetime:
        """The first instant after the period, in `tz`."""
        nxt = Period(self.year + 1, self.kind, 1) if self.n == (4 if self.kind == "Q" else 12) else Period(self.year, self.kind, self.n + 1)
        return datetime.combine(nxt.first_day(), datetime.min.time(), tzinfo=ZoneInfo(tz))

    @property
    def label_zh(self) -> str:
        return f"{self.year}年第{'一二三四'[self.n - 1]}季度" if self.kind == "Q" else f"{self.year}年{self.n}月"


def period_of(moment: datetime, tz: str = DEFAULT_TZ, kind: str = "Q") -> Period:
    local = moment.astimezone(_zone(tz))
    if kind == "M":
        return Period(local.year, "M", local.month)
    return Period(local.year, "Q", (local.month - 1) // 3 + 1)


@lru_cache(maxsize=256)
def _zone(tz: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(tz or DEFAULT_TZ)
    except Exception:  # a bad zone in one agency row must not stop the whole score
        return ZoneInfo(DEFAULT_TZ)


@lru_cache(maxsize=200_000)
def _sql_period(ts: str | None, tz: str | None, kind: str) -> str | None:
    if not ts:
        return None
    try:
        return str(period_of(from_iso(ts), tz or DEFAULT_TZ, kind))
    except ValueError:
        return None


def register_sql_functions(db) -> None:
    """`shopper_period(ts, tz, 'Q'|'M')` inside SQLite: the local period of a UTC time.
    Once per connection: defining a function again would expire SQLite's prepared statements."""
    if getattr(db.conn, "_shopper_functions", False) or getattr(db, "_shopper_functions", False):
        return
    db.conn.create_function("shopper_period", 3, _sql_period, deterministic=True)
    try:
        db._shopper_functions = True
    except AttributeError:
        pass


def current_period(kind: str = "Q", tz: str = DEFAULT_TZ) -> Period:
    return period_of(get_clock().now(), tz, kind)


def latest_period(db) -> Period:
    """The newest period with findings, else the current quarter."""
    row = db.execute("SELECT max(period) FROM findings WHERE period IS NOT NULL").fetchone()
    if row and row[0]:
        try:
            return Period.parse(row[0])
        except ShopperError:
            pass
    return current_period()


# --------------------------------------------------------------------------------------- weights


@dataclass(frozen=True)
class Weights:
    classes: dict  # class -> {part: weight}
    sources: dict  # source -> weight
    origin: str

    def for_class(self, klass: str | None) -> dict:
        return self.classes.get(klass or "default") or self.classes["default"]

    def class_used(self, klass: str | None) -> str:
        return klass if klass in self.classes else "default"


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ShopperError(f"weights file {path} not found; fix [scoring] weights in the config") from err
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ShopperError(f"{path}: not valid TOML ({err}); fix the weights file") from err


def _check_weights(table: dict, allowed: tuple, where: str) -> dict:
    if not isinstance(table, dict):
        raise ShopperError(f"{where}: must be a table of weights like disclosure = 0.2")
    result = {}
    for key, value in table.items():
        if key not in allowed:
            raise ShopperError(f"{where}: unknown name {key!r}; use {', '.join(allowed)}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ShopperError(f"{where}.{key}: weight {value!r} must be a number ≥ 0")
        result[key] = float(value)
    return result


def load_weights(config=None) -> Weights:
    """The packaged defaults, overlaid with the file named by `[scoring] weights` in the config."""
    data = tomllib.loads(resources.files("shopper.data").joinpath("weights.toml").read_text("utf-8"))
    origin = "shopper/data/weights.toml"
    classes = {k: _check_weights(v, PART_IDS, f"classes.{k}") for k, v in data["classes"].items()}
    sources = _check_weights(data["sources"], SOURCE_IDS, "sources")
    user = config.get("scoring", "weights") if config is not None else None
    if user:
        path = Path(user).expanduser()
        if not path.is_absolute() and getattr(config, "path", None) is not None:
            path = config.path.parent / path
        extra = _read_toml(path)
        for name, table in (extra.get("classes") or {}).items():
            merged = dict(classes.get(name, classes["default"]))
            merged.update(_check_weights(table, PART_IDS, f"{path}: classes.{name}"))
            classes[name] = merged
        if "sources" in extra:
            sources.update(_check_weights(extra["sources"], SOURCE_IDS, f"{path}: sources"))
        origin = f"{origin} + {path}"
    for name, table in classes.items():
        for part in PART_IDS:
            table.setdefault(part, classes["default"].get(part, 0.0))
    for source in SOURCE_IDS:
        sources.setdefault(source, 0.0)
    return Weights(classes, sources, origin)


# --------------------------------------------------------------------------------------- results


@dataclass
class PartScore:
    part: str
    weight: float
    passed: int = 0
    failed: int = 0
    undetermined: int = 0

    @property
    def assessed(self) -> bool:
        return self.passed + self.failed > 0

    @property
    def value(self) -> float | None:
        return 100.0 * self.passed / (self.passed + self.failed) if self.assessed else None

    @property
    def name(self) -> str:
        return _part_names()[self.part]


@lru_cache(maxsize=1)
def _part_names() -> dict[str, str]:
    return {pid: p.zh for pid, p in parts().items()}


@dataclass
class SourceScore:
    source: str
    weight: float
    value: float | None

    @property
    def assessed(self) -> bool:
        return self.value is not None

    @property
    def name(self) -> str:
        return SOURCE_NAMES[self.source]


@dataclass
class AgencyScore:
    agency_id: str
    name: str
    klass: str  # the weight class used
    period: str
    parts: dict[str, PartScore] = field(default_factory=dict)
    sources: dict[str, SourceScore] = field(default_factory=dict)
    total: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def assessed(self) -> bool:
        return self.total is not None

    @property
    def daily(self) -> float | None:
        return self.sources["daily"].value

    def as_dict(self) -> dict:
        return {
            "agency_id": self.agency_id,
            "name": self.name,
            "class": self.klass,
            "period": self.period,
            "total": _round(self.total),
            "assessed": self.assessed,
            "parts": {
                p.part: {"name": p.name, "value": _round(p.value), "assessed": p.assessed, "weight": p.weight,
                         "passed": p.passed, "failed": p.failed, "undetermined": p.undetermined}
                for p in self.parts.values()
            },
            "sources": {
                s.source: {"name": s.name, "value": _round(s.value), "assessed": s.assessed, "weight": s.weight}
                for s in self.sources.values()
            },
            "notes": self.notes,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def weighted_mean(items: list[tuple[float | None, float]]) -> tuple[float | None, float, float]:
    """Mean of (value, weight) over the items with a value; weights renormalised.
    Returns (mean or None, weight used, weight configured)."""
    configured = sum(w for _, w in items)
    used = sum(w for v, w in items if v is not None)
    if used <= 0:
        return None, used, configured
    return sum(v * w for v, w in items if v is not None) / used, used, configured


def _combine(score: AgencyScore) -> None:
    """Fill the daily-supervision source and the total from the parts, with notes that say what
    was left out and how the weights were renormalised."""
    part_list = list(score.parts.values())
    daily, used, configured = weighted_mean([(p.value, p.weight) for p in part_list])
    missing = [p.name for p in part_list if not p.assessed]
    if daily is None:
        score.notes.append("日常监督评议：五个部分均无可计分的检查结果，未评议 (not assessed)")
    elif missing:
        score.notes.append(
            f"未评议部分 (not assessed): {'、'.join(missing)}；其余部分权重按 {used:g}/{configured:g} 重新归一"
            f" (weights renormalised over the assessed parts)"
        )
    score.sources["daily"].value = daily
    total, used, configured = weighted_mean([(s.value, s.weight) for s in score.sources.values()])
    missing = [s.name for s in score.sources.values() if not s.assessed]
    if total is not None and missing:
        score.notes.append(
            f"未纳入的评议来源 (sources not assessed): {'、'.join(missing)}；总分权重按 {used:g}/{configured:g} 重新归一"
        )
    score.total = total


# --------------------------------------------------------------------------------------- queries


def _part_case() -> str:
    """SQL mapping rule_id → part, from rules.toml (rules are data, not branches)."""
    whens = " ".join(f"WHEN '{rid}' THEN '{rule.part}'" for rid, rule in all_rules().items())
    return f"CASE f.rule_id {whens} END"


def _local_window(db, period: Period, ts: str, zone: str, agency_id: str | None = None,
                  zones: list[str] | None = None) -> tuple[str, list]:
    """SQL predicate: the UTC time `ts` falls in `period` in the zone `zone`. One UTC range per
    time zone the agencies use (plain string comparison, no per-row Python), the SQL function
    for anything else. `zones`: the zones in question when the caller knows them already."""
    if zones is None:
        sql = "SELECT DISTINCT COALESCE(timezone, ?) FROM agencies"
        if agency_id is not None:
            sql += " WHERE id = ?"
        zones = [row[0] for row in db.execute(sql, [DEFAULT_TZ] + ([agency_id] if agency_id is not None else []))]
    start = datetime.combine(period.first_day(), datetime.min.time())
    whens, params = [], []
    for name in zones or [DEFAULT_TZ]:
        tz = _zone(name)
        if tz.key != name:
            continue  # an unknown zone: leave it to shopper_period, which falls back the same way
        whens.append("WHEN ? THEN (" + ts + " >= ? AND " + ts + " < ?)")
        params += [name, to_iso(start.replace(tzinfo=tz)), to_iso(period.end(name))]
    sql = f"(CASE {zone} {' '.join(whens)} ELSE shopper_period({ts}, {zone}, ?) = ? END)"
    return sql, params + [period.kind, str(period)]


_WHEN = "COALESCE(t.submitted_at, f.observed_at, f.created_at)"
_ZONE = "COALESCE(a.timezone, 'Asia/Shanghai')"
_JOINS = "FROM findings f LEFT JOIN tests t ON t.id = f.test_id LEFT JOIN agencies a ON a.id = f.agency_id"


def _findings_from(period: Period, agency_id: str | None, db, *, zone: str | None = None) -> tuple[str, list]:
    """`FROM ... WHERE ...` selecting the findings of `period` (f = findings, t = its test,
    a = its agency). Quarters use the period GRADE stored; months, and findings without a stored
    period, the test's submission time in the agency's zone (`zone`, when the caller knows it)."""
    register_sql_functions(db)
    window, wparams = _local_window(db, period, _WHEN, _ZONE, agency_id, [zone] if zone else None)
    if period.kind == "Q":
        where, params = f"(f.period = ? OR (f.period IS NULL AND {window}))", [str(period)] + wparams
    else:
        where, params = window, wparams
    if agency_id is not None:
        where += " AND f.agency_id = ?"
        params.append(agency_id)
    return f"{_JOINS} WHERE {where}", params


def _verdicts(db, period: Period, agency_id: str | None) -> tuple[str, list]:
    """A subquery of (agency_id, rule_id, verdict) of the period, cheap for the whole country:
    stored quarter periods need no join."""
    if period.kind == "Q":
        window, wparams = _local_window(db, period, _WHEN, _ZONE, agency_id)
        sql = ("SELECT f.agency_id, f.rule_id, f.verdict FROM findings f WHERE f.period = ?"
               + (" AND f.agency_id = ?" if agency_id is not None else "")
               + f" UNION ALL SELECT f.agency_id, f.rule_id, f.verdict {_JOINS} WHERE f.period IS NULL AND {window}"
               + (" AND f.agency_id = ?" if agency_id is not None else ""))
        params = [str(period)] + ([agency_id] if agency_id is not None else []) + wparams
        params += [agency_id] if agency_id is not None else []
        return sql, params
    source, params = _findings_from(period, agency_id, db)
    return f"SELECT f.agency_id, f.rule_id, f.verdict {source}", params


def _agencies(db, agency_id: str | None) -> dict[str, tuple[str, str | None]]:
    sql = 'SELECT id, name, "class" FROM agencies'
    params: list = []
    if agency_id is not None:
        sql += " WHERE id = ?"
        params.append(agency_id)
    return {row[0]: (row[1] or row[0], row[2]) for row in db.execute(sql, params)}


def compute_scores(db, period, config=None, *, agency_id: str | None = None) -> list[AgencyScore]:
    """Compute (without storing) the scores of every agency, or of one."""
    period = Period.parse(period)
    register_sql_functions(db)
    weights = load_weights(config)
    agencies = _agencies(db, agency_id)
    source, params = _verdicts(db, period, agency_id)
    counts: dict[str, dict[str, tuple[int, int, int]]] = {}
    sql = (f"SELECT f.agency_id, {_part_case()} AS part, "
           "SUM(f.verdict = 'pass'), SUM(f.verdict = 'fail'), SUM(f.verdict = 'undetermined') "
           f"FROM ({source}) f GROUP BY f.agency_id, part")
    for aid, part, passed, failed, undetermined in db.execute(sql, params):
        if aid is None:
            continue
        if part is None:
            log.warning("findings of %s cite a rule rules.toml does not know; not counted", aid)
            continue
        counts.setdefault(aid, {})[part] = (passed or 0, failed or 0, undetermined or 0)
        agencies.setdefault(aid, (aid, None))  # findings of an agency missing from the table still count
    imported: dict[str, dict[str, float]] = {}
    sql = "SELECT agency_id, source, score FROM imported_scores WHERE period = ?"
    imp_params: list = [str(period)]
    if agency_id is not None:
        sql += " AND agency_id = ?"
        imp_params.append(agency_id)
    for aid, src, value in db.execute(sql, imp_params):
        if src in SOURCE_IDS:
            imported.setdefault(aid, {})[src] = value
            agencies.setdefault(aid, (aid, None))

    results = []
    for aid, (name, klass) in sorted(agencies.items()):
        part_weights = weights.for_class(klass)
        score = AgencyScore(aid, name, weights.class_used(klass), str(period))
        mine = counts.get(aid, {})
        for part in PART_IDS:
            score.parts[part] = PartScore(part, part_weights[part], *mine.get(part, (0, 0, 0)))
        theirs = imported.get(aid, {})
        for src in SOURCE_IDS:
            score.sources[src] = SourceScore(src, weights.sources[src], theirs.get(src))
        _combine(score)
        results.append(score)
    return results


def store_scores(db, period, scores: list[AgencyScore]) -> None:
    """Replace the period's rows in `scores`: one per part, per source and the total."""
    computed_at = to_iso(get_clock().now())
    rows = []
    for s in scores:
        for p in s.parts.values():
            rows.append((s.agency_id, s.period, p.part, p.value, int(p.assessed), p.weight,
                         json.dumps({"passed": p.passed, "failed": p.failed, "undetermined": p.undetermined}), computed_at))
        for src in s.sources.values():
            rows.append((s.agency_id, s.period, f"source:{src.source}", src.value, int(src.assessed), src.weight,
                         None, computed_at))
        rows.append((s.agency_id, s.period, "total", s.total, int(s.assessed), None,
                     json.dumps({"class": s.klass, "name": s.name, "notes": s.notes}, ensure_ascii=False), computed_at))
    with db.conn:
        db.execute("DELETE FROM scores WHERE period = ?", [str(period)])
        db.conn.executemany(
            "INSERT INTO scores (agency_id, period, part, value, assessed, weight, detail_json, computed_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


def score_agencies(db, period, config=None) -> list[AgencyScore]:
    """Score every agency for `period` ("2026Q4" or "2026-11") and store the result in `scores`."""
    period = Period.parse(period)
    scores = compute_scores(db, period, config)
    store_scores(db, period, scores)
    return scores


def load_scores(db, period) -> list[AgencyScore]:
    """The stored scores of a period (as `score_agencies` wrote them)."""
    period = str(Period.parse(period))
    found: dict[str, AgencyScore] = {}
    for aid, part, value, weight, detail in db.execute(
        "SELECT agency_id, part, value, weight, detail_json FROM scores WHERE period = ? ORDER BY agency_id", [period]
    ):
        s = found.setdefault(aid, AgencyScore(aid, aid, "default", period))
        if part == "total":
            d = json.loads(detail or "{}")
            s.total, s.klass, s.name, s.notes = value, d.get("class", "default"), d.get("name") or aid, d.get("notes", [])
        elif part.startswith("source:"):
            src = part.split(":", 1)[1]
            s.sources[src] = SourceScore(src, weight or 0.0, value)
        elif part in PART_IDS:
            d = json.loads(detail or "{}")
            s.parts[part] = PartScore(part, weight or 0.0, d.get("passed", 0), d.get("failed", 0), d.get("undetermined", 0))
    return list(found.values())


def has_scores(db, period) -> bool:
    return db.execute("SELECT 1 FROM scores WHERE period = ? LIMIT 1", [str(Period.parse(period))]).fetchone() is not None


# --------------------------------------------------------------------------------------- explain


def explain(db, agency_id: str, period, config=None) -> dict:
    """Every finding and weight that made one agency's score, as a dict (see `explain_text`)."""
    period = Period.parse(period)
    scored = compute_scores(db, period, config, agency_id=agency_id)
    if not scored:
        raise ShopperError(f"no agency {agency_id!r}; `shopper score` lists the agencies")
    score = scored[0]
    rules = all_rules()
    source, params = _findings_from(period, agency_id, db)
    findings = []
    for row in db.execute(
        f"SELECT f.id, f.subject_key, f.test_id, f.rule_id, f.verdict, f.detail {source} ORDER BY f.rule_id, f.id",
        params,
    ):
        fid, subject, test_id, rule_id, verdict, detail = row
        rule = rules.get(rule_id)
        findings.append({
            "id": fid, "subject": subject or test_id, "test_id": test_id, "rule_id": rule_id,
            "part": rule.part if rule else None, "clause": rule.clause if rule else None,
            "verdict": verdict, "counted": verdict in COUNTED and rule is not None, "detail": detail,
        })
    result = score.as_dict()
    result["findings"] = findings
    result["weights_origin"] = load_weights(config).origin
    result["formula"] = {
        "part": "100 × passed / (passed + failed); undetermined findings are not counted",
        "daily": "Σ(weight × part) / Σ(weight) over the assessed parts",
        "total": "Σ(weight × source) / Σ(weight) over the assessed sources",
    }
    return result


def _fmt(value: float | None) -> str:
    return "未评议 (not assessed)" if value is None else f"{value:.2f}"


def explain_text(expl: dict) -> str:
    """The explanation as plain lines for the terminal."""
    lines = [f"{expl['name']} ({expl['agency_id']}), {expl['period']}, class {expl['class']} — weights from {expl['weights_origin']}"]
    lines.append("")
    for pid, p in expl["parts"].items():
        lines.append(f"  {p['name']:<6} weight {p['weight']:<5g} score {_fmt(p['value'])}"
                     f"   pass {p['passed']}, fail {p['failed']}, undetermined {p['undetermined']} (not counted)")
        for f in expl["findings"]:
            if f["part"] == pid:
                mark = {"pass": "✓", "fail": "✗"}.get(f["verdict"], "?")
                lines.append(f"      {mark} {f['verdict']:<12} {f['rule_id']:<32} {f['subject']}  {f['detail'] or ''}")
    unknown = [f for f in expl["findings"] if f["part"] is None]
    for f in unknown:
        lines.append(f"  (not counted, unknown rule) {f['rule_id']} {f['subject']}")
    lines.append("")
    for s in expl["sources"].values():
        lines.append(f"  {s['name']:<8} weight {s['weight']:<5g} score {_fmt(s['value'])}")
    lines.append("")
    lines.append(f"  total {_fmt(expl['total'])}")
    for note in expl["notes"]:
        lines.append(f"  note: {note}")
    for name, formula in expl["formula"].items():
        lines.append(f"  {name}: {formula}")
    return "\n".join(lines)


def ranking(db, period, config=None):
    """Shortcut for `shopper.ranking.ranking` (the interface other areas code to)."""
    from shopper.ranking import ranking as _ranking

    return _ranking(db, period, config=config)
