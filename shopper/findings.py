"""Findings: each test's timeline and replies judged against the rules, written idempotently.

`grade_test(db, test_id)` decides every rule that applies to one test and writes one findings
row per (subject_key, rule_id): the timing rules through `shopper.verdicts`, the content rules
from the grades of the test's messages (`shopper.grading`). `grade_all(db)` does it for every
test. Running either again writes nothing new when nothing changed; when the grader or the rules
changed (`decider_version()`), the rows are re-decided and carry the version that decided them.

Which rules apply: the scenario's `expects` (tests.scenario_id → scenarios/*.toml) intersected
with the rules whose `kinds` include the test's kind; a test whose scenario is unknown gets every
rule of its kind. Content rules then apply only when the replies give them something to judge:

- complaint.ack_states_deadline  the acknowledgement states the time limit (an automatic notice
  counts as acknowledgement when `[policy] auto_ack_counts`, and must state it too)
- complaint.redirect_destination a reply that passes the complaint on names the body and its contact
- suggestion.thanks              the agency thanks the citizen and says where the suggestion went
- complaint.out_of_scope         an out-of-remit reply: friendly, the basis explained, the body named
- consult.out_of_scope           an out-of-remit reply: the reason explained and a way forward
- consult.delay_reason           a consultation not answered yet: the reason is given
- tone.plain_friendly            every human reply is friendly (a neutral, bureaucratic one fails
                                 unless `[policy] neutral_tone_passes = true`; a hostile one fails)
- service.rejection_reasons      a refused application: the reasons and the legal basis
"""

from __future__ import annotations

import hashlib
import json
import logging
from functools import lru_cache
from pathlib import Path

from shopper import rules as rules_mod
from shopper.clock import from_iso, get_clock, to_iso
from shopper.errors import ShopperError
from shopper.grading import GRADER_VERSION, grade_with_signals
from shopper.verdicts import ACK_TYPES, TIMING_RULES, Finding, local_iso, timing_verdicts

log = logging.getLogger(__name__)

CONTENT_RULES = (
    "complaint.ack_states_deadline",
    "complaint.redirect_destination",
    "suggestion.thanks",
    "complaint.out_of_scope",
    "consult.delay_reason",
    "consult.out_of_scope",
    "tone.plain_friendly",
    "service.rejection_reasons",
)
GRADED_RULES = TIMING_RULES + CONTENT_RULES


def decider_version() -> str:
    """The grader's version and a digest of the rules it applies: a change of either re-decides."""
    text = json.dumps({rid: (r.kinds, r.deadline, r.clause) for rid, r in sorted(rules_mod.all_rules().items())},
                      ensure_ascii=False, sort_keys=True)
    return f"{GRADER_VERSION}+rules.{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def period_of(moment, cal) -> str:
    local = cal.local(moment)
    return f"{local.year}Q{(local.month - 1) // 3 + 1}"


# ------------------------------------------------------------------------------ inputs


@lru_cache(maxsize=256)
def _site(site_file: str | None):
    if not site_file or not Path(site_file).exists():
        return None
    from shopper.sites import load_site_file

    try:
        return load_site_file(Path(site_file))
    except ShopperError as err:
        # Grading needs the calendar and the published limits, not the homepage: a demo site file
        # whose homepage names SHOPPER_DEMO_URL still grades outside the demo.
        site = _site_for_grading(Path(site_file))
        if site is None:
            log.warning("site file %s unreadable, grading without its limits: %s", site_file, err)
        return site


def _site_for_grading(path: Path):
    import tomllib

    from shopper.sites import Limit, Site

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        limits = {kind: Limit(int(v["n"]), v["unit"]) for kind, v in (data.get("limits") or {}).items()}
        site = Site(id=str(data["id"]), name=str(data.get("name", data["id"])), homepage="", path=path,
                    timezone=data.get("timezone", "Asia/Shanghai"), calendar=data.get("calendar", "CN"),
                    office_hours=data.get("office_hours", "09:00-17:00"), limits=limits)
        site.business_calendar()  # the zone, country and hours must make sense
        return site
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError, ShopperError):
        return None


def _scenarios(directory: Path) -> dict:
    """The scenarios by id; read again only when a file in the folder changed (reading validates
    every phrasing, which is slow)."""
    directory = Path(directory)
    try:
        stamp = tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(directory.glob("*.toml")))
    except OSError:
        stamp = ()
    return _scenarios_cached(str(directory), stamp)


@lru_cache(maxsize=8)
def _scenarios_cached(directory: str, stamp: tuple) -> dict:
    try:
        from shopper.scenarios import load_scenarios
    except ImportError:
        return {}
    try:
        return load_scenarios(directory)
    except ShopperError as err:
        log.warning("scenarios in %s unreadable, falling back to test kinds: %s", directory, err)
        return {}


def _calendar(site, agency: dict, config):
    from shopper.calendar import BusinessCalendar, load_overrides

    try:
        overrides = load_overrides(config.calendar_overrides)
    except ShopperError as err:
        log.warning("%s", err)
        overrides = {}
    if site is not None:
        return site.business_calendar(overrides)
    return BusinessCalendar(timezone=agency.get("timezone") or config.timezone, overrides=overrides)


def applicable_rules(kind: str, important: bool, scenario=None) -> set[str]:
    """The graded rules for a test of this kind (and scenario, when known)."""
    known = rules_mod.all_rules()
    found = {rid for rid in GRADED_RULES if rid in known and kind in known[rid].kinds}
    if scenario is not None:
        found &= set(scenario.expects)
    if not important:
        found.discard("complaint.important_same_day")
    return found


# ------------------------------------------------------------------------------ content rules


class _Msg:
    """One message of the test with its current grade."""

    def __init__(self, row: dict, grade: dict, signals: dict):
        self.row, self.grade, self.signals = row, grade, signals
        self.id = row["id"]
        self.type = grade["message_type"]

    def quote(self, prop: str | None = None) -> str:
        if prop and self.grade["evidence"].get(prop):
            return self.grade["evidence"][prop]
        text = " ".join((self.row.get("own_text") or self.row.get("text") or "").split())
        return text if len(text) <= 200 else text[:199] + "…"


def _finding(rule_id, verdict, detail, msg: _Msg | None = None, prop: str | None = None, cal=None) -> Finding:
    observed = from_iso(msg.row["received_at"]) if msg and msg.row.get("received_at") else None
    times = {"received": local_iso(observed, cal)} if observed is not None and cal is not None else {}
    return Finding(rule_id, verdict, detail, None, observed, times, msg.id if msg else None,
                   msg.quote(prop) if msg else "")


def _missing(parts: list[tuple[bool, str]]) -> str:
    return "、".join(words for ok, words in parts if not ok)


def content_findings(test: dict, msgs: list[_Msg], rules: set[str], *, cal, now, auto_ack_counts=True,
                     neutral_tone_passes=False, scenario=None) -> list[Finding]:
    from shopper import deadlines

    kind = test.get("kind") or ""
    expects = set(scenario.expects) if scenario is not None else set()
    human = [m for m in msgs if m.type != "auto"]
    counted = [m for m in msgs if auto_ack_counts or m.type != "auto"]
    out: list[Finding] = []

    if "complaint.ack_states_deadline" in rules and test.get("submitted_at"):
        acks = [m for m in counted if m.type in ACK_TYPES]
        stating = next((m for m in acks if m.grade["states_deadline"]), None)
        ack_due = deadlines.ack_24h(from_iso(test["submitted_at"]), cal).at
        replies = [m for m in counted if m.type not in ACK_TYPES]
        if stating is not None:
            out.append(_finding("complaint.ack_states_deadline", "pass", "受理告知中告知了办理答复时限。", stating, "states_deadline", cal))
        elif acks:
            out.append(_finding("complaint.ack_states_deadline", "fail", "受理告知未告知本次投诉的办理答复时限。", acks[0], "acknowledges", cal))
        elif replies:
            first = replies[0]
            if from_iso(first.row["received_at"]) > ack_due:
                out.append(_finding("complaint.ack_states_deadline", "fail",
                                    "未收到受理告知，直到答复到达前投诉人都不知道办理答复时限。", first, None, cal))
        elif now >= ack_due:
            f = Finding("complaint.ack_states_deadline", "fail", "至今未收到受理告知，未告知办理答复时限。", ack_due, None,
                        {"deadline": local_iso(ack_due, cal)})
            out.append(f)

    if "complaint.redirect_destination" in rules:
        sent = [m for m in human if m.grade["redirects"]]
        if sent:
            target = next((m for m in sent if m.grade["redirect_target"]), None)
            contact = next((m for m in sent if m.grade["redirect_contact"]), None)
            if target and contact:
                out.append(_finding("complaint.redirect_destination", "pass", "转办时告知了承办单位及其联系方式。",
                                    contact, "redirect_contact", cal))
            else:
                lack = _missing([(target is not None, "承办单位名称"), (contact is not None, "承办单位联系方式")])
                out.append(_finding("complaint.redirect_destination", "fail", f"转办答复未告知{lack}。",
                                    target or sent[0], "redirects", cal))

    # A suggestion is judged on the answer, not on the acknowledgement before it.
    if "suggestion.thanks" in rules and any(m.type not in ACK_TYPES for m in human):
        thanked = next((m for m in human if m.grade["thanks"]), None)
        where = next((m for m in human if m.grade["redirect_target"] or m.type == "substantive"), None)
        if thanked and where:
            out.append(_finding("suggestion.thanks", "pass", "对建议表示了感谢并告知了建议的去向。", thanked, "thanks", cal))
        else:
            lack = _missing([(thanked is not None, "感谢"), (where is not None, "建议的去向")])
            out.append(_finding("suggestion.thanks", "fail", f"对建议的答复缺少{lack}。", thanked or human[0], None, cal))

    for rule_id in ("complaint.out_of_scope", "consult.out_of_scope"):
        if rule_id not in rules:
            continue
        outside = [m for m in human if m.signals.get("out_of_scope")
                   or (rule_id in expects and (m.grade["redirects"] or m.type == "rejection"))]
        if not outside:
            continue
        m = outside[0]
        g = m.grade
        if rule_id == "complaint.out_of_scope":
            tone_ok = g["tone"] == "friendly" or (g["tone"] == "neutral" and neutral_tone_passes)
            parts = [(tone_ok, "亲和的语言"), (g["gives_reasons"], "不属于本部门职责的依据"), (g["redirect_target"], "承担该事项的政府部门")]
        else:
            parts = [(g["gives_reasons"], "详细原因"), (g["redirects"], "建议的解决途径")]
        lack = _missing(parts)
        if lack:
            f = _finding(rule_id, "fail", f"职责范围外的答复缺少{lack}。", m, None, cal)
            f.quote = m.signals.get("out_of_scope_quote") or f.quote
        else:
            f = _finding(rule_id, "pass", "职责范围外的答复说明了原因并指明了去处。", m, "gives_reasons", cal)
        out.append(f)

    if "consult.delay_reason" in rules:
        # Only a notice that the consultation cannot be answered yet; a plain receipt is none.
        delay = next((m for m in human if m.type == "acknowledgement" and m.signals.get("delay")), None)
        if delay is not None:
            if delay.grade["gives_reasons"]:
                out.append(_finding("consult.delay_reason", "pass", "暂未答复时告知了原因。", delay, "gives_reasons", cal))
            else:
                out.append(_finding("consult.delay_reason", "fail", "暂未答复咨询，但未告知原因。", delay, None, cal))

    if "tone.plain_friendly" in rules and human:
        hostile = next((m for m in human if m.grade["tone"] == "hostile"), None)
        neutral = next((m for m in human if m.grade["tone"] == "neutral"), None)
        if hostile is not None:
            out.append(_finding("tone.plain_friendly", "fail", "答复语言生硬、推诿或带有指责，不够亲切和蔼。", hostile, "tone", cal))
        elif neutral is not None and not neutral_tone_passes:
            out.append(_finding("tone.plain_friendly", "fail", "答复语言公文化，缺少亲切的称呼或礼貌用语。", neutral, None, cal))
        else:
            out.append(_finding("tone.plain_friendly", "pass", "答复语言亲切、通俗。", human[-1], "tone", cal))

    if "service.rejection_reasons" in rules:
        refused = next((m for m in human if m.type == "rejection"), None)
        if refused is not None:
            g = refused.grade
            lack = _missing([(g["gives_reasons"], "未获批准的原因"), (g["cites_legal_basis"], "法律依据")])
            if lack:
                out.append(_finding("service.rejection_reasons", "fail", f"未获批准的告知缺少{lack}。", refused, None, cal))
            else:
                out.append(_finding("service.rejection_reasons", "pass", "告知了未获批准的原因及法律依据。",
                                    refused, "cites_legal_basis", cal))
    return out


# ------------------------------------------------------------------------------ grading a test


def _messages(db, test_id: str, kind: str, cal) -> list[_Msg]:
    rows = [dict(r) for r in db.query(
        "SELECT id, received_at, own_text, text, raw_sha256, graded_json, source FROM messages"
        " WHERE test_id = ? ORDER BY received_at, id", [test_id])]
    msgs = []
    for row in rows:
        reference = from_iso(row["received_at"]) if row.get("received_at") else None
        grade, signals = grade_with_signals(row.get("own_text") or row.get("text") or "", kind=kind or None,
                                            reference=reference, calendar=cal)
        stored = json.dumps(grade, ensure_ascii=False)
        if stored != row.get("graded_json"):
            db["messages"].update(row["id"], {"graded_json": stored})
        row["message_type"] = grade["message_type"]
        msgs.append(_Msg(row, grade, signals))
    return msgs


def _row(test: dict, f: Finding, msgs: dict[int, _Msg], version: str, period: str) -> dict:
    shas = []
    if f.message_id is not None and f.message_id in msgs and msgs[f.message_id].row.get("raw_sha256"):
        shas.append(msgs[f.message_id].row["raw_sha256"])
    quote = f.quote
    if not quote and f.message_id in msgs:
        quote = msgs[f.message_id].quote()
    evidence = {"quote": quote, "times": f.times, "sha256": shas, "message_id": f.message_id}
    return {
        "test_id": test["id"],
        "agency_id": test.get("agency_id"),
        "subject_key": test["id"],
        "rule_id": f.rule_id,
        "verdict": f.verdict,
        "detail": f.detail,
        "evidence_json": json.dumps(evidence, ensure_ascii=False, sort_keys=True),
        "deadline_at": to_iso(f.deadline_at) if f.deadline_at else None,
        "observed_at": to_iso(f.observed_at) if f.observed_at else None,
        "grader_version": version,
        "period": period,
    }


COMPARED = ("agency_id", "verdict", "detail", "evidence_json", "deadline_at", "observed_at", "grader_version", "period")


def _write(db, subject_key: str, rows: list[dict], now_iso: str) -> dict:
    """Upsert by (subject_key, rule_id); remove this grader's findings that no longer hold."""
    counts = {"inserted": 0, "updated": 0, "unchanged": 0, "removed": 0}
    existing = {r["rule_id"]: dict(r) for r in db.query(
        "SELECT * FROM findings WHERE subject_key = ?", [subject_key])}
    produced = set()
    with db.conn:
        for row in rows:
            produced.add(row["rule_id"])
            old = existing.get(row["rule_id"])
            if old is None:
                db.conn.execute(
                    "INSERT INTO findings (test_id, agency_id, subject_key, rule_id, verdict, detail, evidence_json,"
                    " deadline_at, observed_at, grader_version, period, created_at, updated_at) VALUES"
                    " (:test_id, :agency_id, :subject_key, :rule_id, :verdict, :detail, :evidence_json,"
                    " :deadline_at, :observed_at, :grader_version, :period, :now, :now)"
                    " ON CONFLICT (subject_key, rule_id) DO NOTHING",
                    dict(row, now=now_iso))
                counts["inserted"] += 1
            elif any(old.get(k) != row[k] for k in COMPARED):
                sets = ", ".join(f"{k} = :{k}" for k in COMPARED)
                db.conn.execute(f"UPDATE findings SET {sets}, test_id = :test_id, updated_at = :now WHERE id = :id",
                                dict(row, now=now_iso, id=old["id"]))
                counts["updated"] += 1
            else:
                counts["unchanged"] += 1
        for rule_id, old in existing.items():
            if rule_id in GRADED_RULES and rule_id not in produced:
                db.conn.execute("DELETE FROM findings WHERE id = ?", [old["id"]])
                counts["removed"] += 1
    return counts


def _grade_test(db, test_id: str, config, scenarios: dict | None = None) -> tuple[list[dict], dict]:
    from shopper.timeline import timeline

    if config is None:
        from shopper.config import Config

        config = Config.load()
    test = next(iter(db.query("SELECT * FROM tests WHERE id = ?", [test_id])), None)
    if test is None:
        raise ShopperError(f"no test {test_id!r}; `shopper tests` lists them")
    agency = next(iter(db.query("SELECT * FROM agencies WHERE id = ?", [test.get("agency_id")])), None) or {}
    site = _site(agency.get("site_file"))
    cal = _calendar(site, agency, config)
    if scenarios is None:
        scenarios = _scenarios(config.scenarios_dir)
    scenario = scenarios.get(test.get("scenario_id") or "")
    kind = test.get("kind") or (scenario.kind if scenario is not None else "")
    test["kind"] = kind
    important = bool(test.get("important")) or bool(scenario is not None and scenario.important)
    test["important"] = important
    rules = applicable_rules(kind, important, scenario)
    now = get_clock().now()
    auto_ack_counts = config.auto_ack_counts
    neutral_passes = bool(config.get("policy", "neutral_tone_passes", False))

    msgs = _messages(db, test_id, kind, cal)
    by_id = {m.id: m for m in msgs}
    findings = timing_verdicts(test, timeline(db, test_id), {m.id: m.row for m in msgs}, site=site, cal=cal,
                               now=now, rules=rules, auto_ack_counts=auto_ack_counts)
    findings += content_findings(test, msgs, rules, cal=cal, now=now, auto_ack_counts=auto_ack_counts,
                                 neutral_tone_passes=neutral_passes, scenario=scenario)
    anchor = test.get("submitted_at") or test.get("created_at")
    period = period_of(from_iso(anchor), cal) if anchor else period_of(now, cal)
    version = decider_version()
    rows = [_row(test, f, by_id, version, period) for f in findings]
    counts = _write(db, test_id, rows, to_iso(now))
    return rows, counts


def grade_test(db, test_id: str, config=None) -> list[dict]:
    """Decide and write the findings of one test; returns the findings rows as written."""
    rows, _ = _grade_test(db, test_id, config)
    return rows


def grade_all(db, config=None, *, progress=None) -> dict:
    """Grade every submitted (or answered) test. Returns counts: tests, findings, inserted, updated, unchanged,
    removed, errors (a test that cannot be graded is logged and skipped, never stops the rest).
    `progress(done, total)` is called after each test."""
    if config is None:
        from shopper.config import Config

        config = Config.load()
    scenarios = _scenarios(config.scenarios_dir)
    # Submitted tests, and tests whose submission was uncertain but that an answer proves arrived.
    ids = [r["id"] for r in db.query(
        "SELECT id FROM tests WHERE submitted_at IS NOT NULL"
        " OR id IN (SELECT test_id FROM messages WHERE test_id IS NOT NULL) ORDER BY submitted_at, id")]
    total = {"tests": len(ids), "findings": 0, "inserted": 0, "updated": 0, "unchanged": 0, "removed": 0, "errors": 0}
    for i, test_id in enumerate(ids, 1):
        try:
            rows, counts = _grade_test(db, test_id, config, scenarios)
        except ShopperError as err:
            log.warning("test %s not graded: %s", test_id, err)
            total["errors"] += 1
        else:
            total["findings"] += len(rows)
            for k, v in counts.items():
                total[k] += v
        if progress is not None:
            progress(i, len(ids))
    return total
