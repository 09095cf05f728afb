"""Site checks: the parts of the measure that are about an agency's site rather than a reply.

`shopper check AGENCY` (and the campaign scheduler) runs four checks against one site, in one
Chromium window of 1366×768 and one polite crawl, and writes one finding per rule, subject
`check:<agency>:<rule>`, updated in place when run again:

    site.complaint_column  附件四(一)  a 监督/投诉 link in the first screen that leads to a form
    site.links_work        附件五(五)  no broken links, server errors, dead or slow pages
    service.online_loop    附件二(三)  each listed online service: acceptance, query, result
    disclosure.items       附件一      the eight kinds of information can be found

A site that is down, or a page that changed, gives findings that say so; it never stops the run.
Nothing off the site's origin is ever fetched (the crawler and the browser both refuse it).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Callable

from shopper.checks.browse import Outcome, goto, new_context
from shopper.checks.column import check_complaint_column
from shopper.checks.crawl import CrawlResult, crawl
from shopper.checks.disclosure import check_disclosure
from shopper.checks.record import Screenshots, write_finding
from shopper.checks.services import check_online_loop
from shopper.clock import from_iso, get_clock
from shopper.errors import ShopperError

log = logging.getLogger(__name__)

RULES = ("site.complaint_column", "site.links_work", "service.online_loop", "disclosure.items")
KIND_ZH = {"broken": "失效链接", "server_error": "服务器错误", "unreachable": "无法访问的页面", "slow": "打开过慢的页面"}


def links_outcome(result: CrawlResult, slow_after: float) -> Outcome:
    """site.links_work from a finished crawl."""
    evidence = {
        "homepage": result.homepage,
        "pages_checked": len(result.pages),
        "problems": [p.as_dict() for p in result.problems],
        "robots_url": result.robots_url,
        "delay": result.delay,
        "robots_disallowed": result.robots_disallowed[:50],
        "off_site_links": len(result.off_site),
        "budget_exhausted": result.budget_exhausted,
        "slow_after": slow_after,
    }
    home = result.home
    if home is None:
        return Outcome("undetermined", "robots.txt 不允许抓取网站首页，未检查链接。", evidence)
    if not home.ok:
        why = f"HTTP {home.status}" if home.status else home.error
        return Outcome("fail", f"网站首页无法访问（{why}）。", evidence)
    if not result.problems:
        return Outcome("pass", f"检查了{len(result.pages)}个页面，均可在{slow_after:g}秒内正常打开。", evidence)
    counts: dict[str, int] = {}
    for p in result.problems:
        counts[p.kind] = counts.get(p.kind, 0) + 1
    summary = "、".join(f"{n}个{KIND_ZH[k]}" for k, n in counts.items())
    examples = "、".join(p.url + (f"（由 {p.referrers[0]} 链接）" if p.referrers else "") for p in result.problems[:3])
    return Outcome("fail", f"检查了{len(result.pages)}个页面，发现{summary}，例如 {examples}。", evidence)


def require_http(site) -> None:
    """Only web pages are checked: a file: or other URL could read this machine's own files."""
    if not site.homepage.startswith(("http://", "https://")):
        raise ShopperError(f"{site.path}: homepage {site.homepage!r} is not an http(s) URL; fix it in the site file")


async def shoot_problems(page, outcome: Outcome, shots, most: int = 3) -> Outcome:
    """Screenshots of the first few error pages (what a visitor got), into the evidence."""
    taken = []
    for problem in outcome.evidence.get("problems", []):
        if len(taken) >= most:
            break
        if problem["kind"] in ("broken", "server_error"):
            await goto(page, problem["url"])  # an error status still shows the page the visitor saw
            sha = await shots.page(page, f"{problem['kind']} {problem['url']}")
            if sha:
                problem["sha256"] = sha
                taken.append(sha)
    outcome.evidence["sha256"] = taken
    return outcome


async def _guarded(rule: str, work) -> Outcome:
    """Run one check; trouble inside it becomes an undetermined finding, not a crash of the run."""
    try:
        return await work
    except Exception as err:
        log.exception("check %s failed", rule)
        return Outcome("undetermined", f"检查时出错（{type(err).__name__}），未能得出结论。", {"error": str(err)[:500]})


async def run_checks(
    db,
    config,
    site,
    *,
    depth: int = 2,
    pages: int = 50,
    delay: float = 0.2,
    slow_after: float = 15.0,
    timeout: float | None = None,
    browser=None,
    progress: Callable[[str], None] | None = None,
) -> list[dict]:
    """Check one site and write its four findings; returns the findings rows.

    `browser`: a running Playwright browser to use (else one is started through
    `shopper.browser.launch` and closed afterwards). `timeout`: seconds before a page counts as
    unreachable (default the larger of 30 s and twice `slow_after`)."""
    from shopper.agencies import sync

    require_http(site)
    say = progress or (lambda message: None)
    timeout = timeout if timeout is not None else max(30.0, slow_after * 2)
    now = get_clock().now()
    sync(db, {site.id: site})
    shots = Screenshots(db, config)
    outcomes: dict[str, Outcome] = {}

    async def with_browser(browser):
        try:
            await in_context(browser)
        except Exception:  # a crashed browser: the checks it did not finish are written undetermined
            log.exception("browser trouble while checking %s", site.id)

    async def in_context(browser):
        context = await new_context(browser, site.homepage, timeout=timeout)
        try:
            page = await context.new_page()
            say(f"{site.id}: homepage and complaint column")
            outcomes["site.complaint_column"] = await _guarded(
                "site.complaint_column", check_complaint_column(page, site.homepage, shots))
            say(f"{site.id}: crawling (depth {depth}, up to {pages} pages)")
            crawled = CrawlResult(site.homepage)

            async def crawl_and_judge():
                nonlocal crawled
                crawled = await crawl(site.homepage, depth=depth, pages=pages, delay=delay, slow_after=slow_after,
                                      timeout=timeout, progress=lambda p: say(f"{site.id}: {p.status or '—'} {p.url}"))
                return links_outcome(crawled, slow_after)

            outcomes["site.links_work"] = await _guarded("site.links_work", crawl_and_judge())
            await _guarded("site.links_work", shoot_problems(page, outcomes["site.links_work"], shots))
            say(f"{site.id}: online services")
            outcomes["service.online_loop"] = await _guarded(
                "service.online_loop", check_online_loop(page, site.services, site.homepage, shots, site))
            say(f"{site.id}: disclosure")
            outcomes["disclosure.items"] = await _guarded(
                "disclosure.items", check_disclosure(page, crawled, site.disclosure_hints, site.homepage, shots))
        finally:
            await context.close()

    if browser is not None:
        await with_browser(browser)
    else:
        from playwright.async_api import async_playwright

        from shopper.browser import launch

        async with async_playwright() as playwright:
            own = await launch(playwright, executable=config.get("browser", "executable"),
                               cdp_url=config.get("browser", "cdp_url"))
            try:
                await with_browser(own)
            finally:
                await own.close()

    rows = []
    for rule in RULES:
        outcome = outcomes.get(rule) or Outcome("undetermined", "浏览器中途出错，未能完成此项检查。", {})
        rows.append(write_finding(db, agency_id=site.id, rule_id=rule, verdict=outcome.verdict, detail=outcome.detail,
                                  evidence=outcome.evidence, observed_at=now, timezone=site.timezone))
    log.info("checked %s: %s", site.id, ", ".join(f"{r['rule_id']}={r['verdict']}" for r in rows))
    return rows


async def run_checks_many(db, config, sites, *, browser=None, **options) -> dict[str, list[dict]]:
    """Check several sites one after another in one browser; {agency id: findings rows}.
    A site whose file is unusable (ShopperError) is logged and skipped, the others still run."""
    results: dict[str, list[dict]] = {}

    async def each(browser):
        for site in sites:
            try:
                results[site.id] = await run_checks(db, config, site, browser=browser, **options)
            except ShopperError as err:
                log.warning("not checking %s: %s", site.id, err)

    if browser is not None:
        await each(browser)
        return results
    from playwright.async_api import async_playwright

    from shopper.browser import launch

    async with async_playwright() as playwright:
        own = await launch(playwright, executable=config.get("browser", "executable"),
                           cdp_url=config.get("browser", "cdp_url"))
        try:
            await each(own)
        finally:
            await own.close()
    return results


def due_checks(db, agency_ids, now=None, every: timedelta = timedelta(days=1)) -> list[str]:
    """The agencies whose site was last checked `every` ago or longer (article 10: every day),
    or never; in the order given."""
    now = now or get_clock().now()
    last = dict(db.execute(
        "SELECT agency_id, max(observed_at) FROM findings WHERE subject_key LIKE 'check:%' GROUP BY agency_id"
    ).fetchall())
    return [a for a in agency_ids if not last.get(a) or from_iso(last[a]) + every <= now]


def check_site(db, config, site, **options) -> list[dict]:
    """Blocking `run_checks` for callers outside an event loop."""
    return asyncio.run(run_checks(db, config, site, **options))


def check_agency(db, config, agency_id: str, **options) -> list[dict]:
    """Load the site file of `agency_id` from the configured sites folder and check it."""
    from shopper.sites import load_site

    return check_site(db, config, load_site(agency_id, config.sites_dir), **options)
