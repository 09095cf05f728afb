"""disclosure.items (附件一): the eight kinds of information a department must publish.

Each kind is looked for first where the site file says it is, then in the crawled pages: their
titles and headings, then labelled lines ("办理时限：20个工作日", a table cell "申请条件"), then
the texts of links that led to a page that loads. The words are data (`shopper/data/checks.toml`,
`[disclosure.<kind>]`). Site-file hints, keyed by kind or by any of the kind's words:

    [disclosure]
    functions = "about/functions.html"                          # a URL (relative to the homepage)
    "联系方式" = { url = "contact.html", selector = "#contacts" } # ... that must hold this element
    results = { selector = "#results" }                         # no url: on the homepage
    # also `text = "..."`: the page must show these words

Kinds: functions, contacts, items, legal_basis, procedures, place_time_fees, eligibility, results.
Hints naming something else (统计信息, 人事信息, ...) are not kinds of 附件一 and are ignored.
Each kind found cites its URL (and a screenshot of that page).
"""

from __future__ import annotations

import logging
from urllib.parse import urljoin

from shopper.checks.browse import Outcome, count, goto, has_text, squash, vocabulary
from shopper.checks.crawl import CrawlResult, same_origin

log = logging.getLogger(__name__)

MAX_SCREENSHOTS = 8


def kinds() -> dict[str, dict]:
    return vocabulary()["disclosure"]


def _match(text: str, keywords: list[str]) -> str | None:
    flat = squash(text)
    return next((k for k in keywords if k in flat), None)


def _label(text: str, keywords: list[str]) -> str | None:
    """A keyword used as a label: "办理时限：…", or a cell holding just the keyword."""
    flat = squash(text)
    for word in keywords:
        if flat == word or flat.startswith((word + "：", word + ":")):
            return word
    return None


def kind_of_hint(key: str, wanted: dict[str, dict]) -> str | None:
    """The kind a site file's hint key means: its id, its name, or one of its words."""
    if key in wanted:
        return key
    flat = squash(key)
    for kind, spec in wanted.items():
        if flat == squash(spec["name"]) or flat in spec["keywords"]:
            return kind
    return None


def search(crawl: CrawlResult, keywords: list[str]) -> dict | None:
    """The first place (breadth-first, so the shallowest) where a keyword names a page or a part."""
    pages = [p for p in crawl.pages.values() if p.ok and p.html]
    for page in pages:
        for via, text in [("title", page.title)] + [("heading", h) for h in page.headings]:
            word = _match(text, keywords)
            if word:
                return {"url": page.url, "via": via, "text": text, "keyword": word}
    for page in pages:
        for text in page.texts:
            word = _label(text, keywords)
            if word:
                return {"url": page.url, "via": "label", "text": text[:80], "keyword": word}
    for page in pages:
        for target, text in page.links:
            word = _match(text, keywords)
            landed = crawl.pages.get(target)
            if word and landed is not None and landed.ok:
                return {"url": target, "via": "link", "text": text, "keyword": word, "linked_from": page.url}
    return None


async def _by_hint(page, hint, homepage: str, shots, shot_of: dict) -> dict:
    spec = {"url": hint} if isinstance(hint, str) else dict(hint) if isinstance(hint, dict) else {}
    url = urljoin(homepage, spec.get("url") or homepage)
    found = {"url": url, "via": "hint", "ok": False}
    if not same_origin(url, homepage):
        return {**found, "reason": "off_site"}
    loaded, status, error = await goto(page, url)
    if not loaded:
        return {**found, "status": status, "reason": error}
    if spec.get("selector"):
        found["selector"] = spec["selector"]
        if not await count(page, spec["selector"]):
            return {**found, "reason": f"no {spec['selector']}"}
    if spec.get("text") and not await has_text(page, spec["text"]):
        return {**found, "reason": f"text {spec['text']!r} not shown"}
    if url not in shot_of and len(shot_of) < MAX_SCREENSHOTS:
        shot_of[url] = await shots.page(page, f"disclosure {url}")
    return {**found, "ok": True}


async def check_disclosure(page, crawl: CrawlResult, hints: dict, homepage: str, shots) -> Outcome:
    wanted = kinds()
    by_kind: dict[str, object] = {}
    unknown = []
    for key, hint in hints.items():
        kind = kind_of_hint(key, wanted)
        if kind is None:
            unknown.append(key)
        else:
            by_kind.setdefault(kind, hint)
    if unknown:
        log.info("disclosure hints %s name no kind of 附件一 (known: %s)", unknown, ", ".join(wanted))
    items: dict[str, dict] = {}
    shots_by_url: dict[str, str | None] = {}
    for kind, spec in wanted.items():
        result = None
        hint_trouble = None
        if kind in by_kind:
            tried = await _by_hint(page, by_kind[kind], homepage, shots, shots_by_url)
            if tried["ok"]:
                result = tried
            else:
                hint_trouble = tried
        if result is None:
            result = search(crawl, spec["keywords"])
        entry = {"name": spec["name"], "found": result is not None}
        if result:
            entry.update({k: v for k, v in result.items() if k != "ok"})
        if hint_trouble:
            entry["hint_failed"] = hint_trouble
        items[kind] = entry

    for entry in items.values():
        url = entry.get("url") if entry["found"] else None
        if url and url not in shots_by_url and len(shots_by_url) < MAX_SCREENSHOTS:
            loaded, _, _ = await goto(page, url)
            sha = await shots.page(page, f"disclosure {url}") if loaded else None
            shots_by_url[url] = sha
        if url and shots_by_url.get(url):
            entry["sha256"] = shots_by_url[url]
    evidence = {"items": items, "sha256": sorted({s for s in shots_by_url.values() if s}), "unknown_hints": unknown}

    missing = [e["name"] for e in items.values() if not e["found"]]
    home = crawl.home
    if missing and len(missing) == len(items) and (home is None or not home.ok):
        return Outcome("undetermined", "网站首页无法访问，未能检查附件一要求公开的八类信息。", evidence)
    if not missing:
        return Outcome("pass", "附件一要求公开的八类信息均可在网站上找到。", evidence)
    broken_hints = [e["name"] for e in items.values() if e.get("hint_failed") and not e["found"]]
    tail = f"（其中{'、'.join(broken_hints)}的指定页面无法打开或内容不符）" if broken_hints else ""
    return Outcome("fail", f"网站上未找到附件一要求公开的{'、'.join(missing)}{tail}。", evidence)
