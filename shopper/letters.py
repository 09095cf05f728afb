"""Compliance letters (整改通知): one per agency that has something to rectify.

Each failure is listed with the clause it breaches (quoted through `Rule.quote()`), the test's
dates and times in the agency's own zone, the agency's words as quoted evidence, the sha256 of
every evidence file, what must be put right (`Rule.rectify`) and by when: N working days from
the letter date on the agency's calendar (`[letters] rectify_workdays`, default 15).

Templates: `templates/letter_zh.html.j2` (the formal letter) and `letter_en.html.j2` beside it.
HTML always; PDF with Chromium's page.pdf (`pdf=True`), launched by `shopper.browser.launch`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import datetime
from pathlib import Path

from shopper.calendar import BusinessCalendar, load_overrides
from shopper.clock import get_clock
from shopper.config import Config
from shopper.deadlines import promised
from shopper.errors import ShopperError
from shopper.report import _parse_json, _safe_name, template_env
from shopper.rules import all_rules, measure
from shopper.scoring import Period, _findings_from, _zone, latest_period, register_sql_functions

log = logging.getLogger(__name__)

LANGS = ("zh", "en")
DEFAULT_RECTIFY_WORKDAYS = 15
_DIGITS = "零一二三四五六七八九"


def chinese_number(n: int) -> str:
    """1 → 一, 12 → 十二, 20 → 二十, 35 → 三十五 (list numbering in a formal letter)."""
    if n < 10:
        return _DIGITS[n]
    if n < 20:
        return "十" + (_DIGITS[n % 10] if n % 10 else "")
    if n < 100:
        return _DIGITS[n // 10] + "十" + (_DIGITS[n % 10] if n % 10 else "")
    return str(n)


def _zh_date(moment: datetime) -> str:
    return f"{moment.year}年{moment.month}月{moment.day}日"


def _failures(db, period: Period, agency_id: str) -> list[dict]:
    """The agency's failed findings of the period, with their test, reply and evidence."""
    source, params = _findings_from(period, agency_id, db)
    rows = db.execute(
        "SELECT f.id, f.subject_key, f.test_id, f.rule_id, f.detail, f.evidence_json, f.deadline_at, "
        f"f.observed_at {source} AND f.verdict = 'fail' ORDER BY COALESCE(t.submitted_at, f.observed_at), f.rule_id, f.id",
        params,
    ).fetchall()
    rules = all_rules()
    result = []
    for fid, subject, test_id, rule_id, detail, evidence_json, deadline_at, observed_at in rows:
        rule = rules.get(rule_id)
        if rule is None:
            log.warning("finding %s cites unknown rule %s; left out of the letter", fid, rule_id)
            continue
        evidence = _parse_json(evidence_json)
        test = None
        if test_id:
            row = db.execute(
                "SELECT id, kind, subject, reference_number, submitted_at, acknowledged_at, replied_at "
                "FROM tests WHERE id = ?", [test_id]).fetchone()
            if row:
                test = dict(zip(("id", "kind", "subject", "reference_number", "submitted_at", "acknowledged_at",
                                 "replied_at"), row))
        message = None
        mid = evidence.get("message_id")
        if mid:
            row = db.execute("SELECT received_at, COALESCE(own_text, text), raw_sha256 FROM messages WHERE id = ?",
                             [mid]).fetchone()
            if row:
                message = {"received_at": row[0], "text": row[1], "sha256": row[2]}
        hashes = evidence.get("sha256") or []
        if isinstance(hashes, str):
            hashes = [hashes]
        if message and message["sha256"]:
            hashes = list(hashes) + [message["sha256"]]
        if test_id:
            hashes += [r[0] for r in db.execute("SELECT sha256 FROM evidence WHERE test_id = ? ORDER BY created_at",
                                                [test_id])]
        quote = evidence.get("quote") or (message["text"] if message else None)
        if quote and len(quote) > 600:
            quote = quote[:600] + "……"
        result.append({
            "id": fid, "subject_key": subject, "rule": rule, "detail": detail, "test": test, "message": message,
            "quote": quote, "sha256": list(dict.fromkeys(h for h in hashes if isinstance(h, str) and h)),
            "deadline_at": deadline_at, "observed_at": observed_at, "times": evidence.get("times") or {},
        })
    return result


def agencies_with_failures(db, period: Period, agency: str | None = None) -> list[str]:
    source, params = _findings_from(period, agency, db)
    return [r[0] for r in db.execute(
        f"SELECT DISTINCT f.agency_id {source} AND f.verdict = 'fail' ORDER BY f.agency_id", params)]


def write_letters(db, out_dir, *, agency: str | None = None, pdf: bool = False, lang: str = "zh",
                  period=None, config: Config | None = None) -> list[Path]:
    """Write a letter per agency with failures in `period` (default: the newest with findings).
    Returns one path per letter: the PDF with `pdf=True`, else the HTML. No failures, no letter."""
    if lang not in LANGS:
        raise ShopperError(f"no letter template for language {lang!r}; use zh or en")
    config = config or Config.load()
    period = Period.parse(period) if period else latest_period(db)
    register_sql_functions(db)
    if agency is not None and not db.execute("SELECT 1 FROM agencies WHERE id = ?", [agency]).fetchone():
        raise ShopperError(f"no agency {agency!r}; `shopper score` lists the agencies")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    env = template_env(config)
    template = env.get_template(f"letter_{lang}.html.j2")
    overrides = load_overrides(config.calendar_overrides)
    workdays = int(config.get("letters", "rectify_workdays", DEFAULT_RECTIFY_WORKDAYS))
    office = config.get("office", "name", "上海市人民政府办公厅")
    now = get_clock().now()

    written: list[Path] = []
    for aid in agencies_with_failures(db, period, agency):
        row = db.execute("SELECT name, name_en, timezone FROM agencies WHERE id = ?", [aid]).fetchone()
        name, name_en, tz = (row or (aid, None, None))
        tz = tz or config.timezone
        failures = _failures(db, period, aid)
        if not failures:
            continue
        cal = BusinessCalendar(timezone=tz, overrides=overrides)
        letter_date = now.astimezone(_zone(tz))
        due = promised(letter_date, workdays, "workday", cal)
        html = template.render(
            agency={"id": aid, "name": name or aid, "name_en": name_en or name or aid}, tz=tz, period=period,
            period_label=period.label_zh, failures=failures, office=office, measure=measure(),
            letter_date=letter_date, letter_date_zh=_zh_date(letter_date), due=due.at, due_zh=_zh_date(due.at),
            due_confirmed=due.confirmed, workdays=workdays, number=f"{period}-{aid}", cn=chinese_number,
        )
        path = out / f"{_safe_name(aid)}-{period}.{lang}.html"
        path.write_text(html, encoding="utf-8")
        written.append(path)
    if pdf and written:
        written = render_pdfs(written, config)
    return written


async def _render_pdfs(paths: list[Path], config: Config) -> list[Path]:
    from playwright.async_api import async_playwright

    from shopper.browser import launch

    pdfs = []
    async with async_playwright() as p:
        browser = await launch(p, executable=config.get("browser", "executable"),
                               cdp_url=config.get("browser", "cdp_url"))
        try:
            page = await browser.new_page()
            for path in paths:
                await page.set_content(path.read_text(encoding="utf-8"), wait_until="load")
                target = path.with_suffix(".pdf")
                await page.pdf(path=str(target), format="A4", print_background=True,
                               margin={"top": "20mm", "bottom": "20mm", "left": "22mm", "right": "22mm"})
                pdfs.append(target)
        finally:
            await browser.close()
    return pdfs


def render_pdfs(paths: list[Path], config: Config | None = None) -> list[Path]:
    """HTML letters → PDF beside them, in one Chromium. Works inside or outside an event loop."""
    config = config or Config.load()
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_render_pdfs(paths, config))
    result: dict = {}

    def run() -> None:
        try:
            result["pdfs"] = asyncio.run(_render_pdfs(paths, config))
        except BaseException as err:  # carried to the caller's thread
            result["error"] = err

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["pdfs"]


__all__ = ["write_letters", "render_pdfs", "chinese_number", "agencies_with_failures"]
