"""What the browser-side checks share: a window like a visitor's, kept on the site's origin."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from shopper.checks.crawl import same_origin

VIEWPORT = {"width": 1366, "height": 768}  # the common office screen the measure's reviewers used
VOCABULARY = Path(__file__).resolve().parent.parent / "data" / "checks.toml"


@dataclass
class Outcome:
    """What one check concluded, before it becomes a findings row."""

    verdict: str  # pass | fail | undetermined
    detail: str  # one Chinese sentence for the letter and the bot
    evidence: dict = field(default_factory=dict)


@lru_cache(maxsize=1)
def vocabulary() -> dict:
    with VOCABULARY.open("rb") as f:
        return tomllib.load(f)


def squash(text: str) -> str:
    """Text without any white space: Chinese words split by markup still match."""
    return re.sub(r"\s+", "", text or "")


async def new_context(browser, homepage: str, *, timeout: float):
    """A 1366×768 zh-CN browser context that refuses every request off the homepage's origin."""
    context = await browser.new_context(viewport=VIEWPORT, locale="zh-CN", timezone_id="Asia/Shanghai")
    context.set_default_timeout(timeout * 1000)

    async def guard(route):
        if same_origin(route.request.url, homepage):
            await route.continue_()
        else:
            await route.abort("blockedbyclient")

    await context.route("**/*", guard)
    return context


async def goto(page, url: str) -> tuple[bool, int | None, str]:
    """Open `url`: (loaded fine, HTTP status, why not). Never raises for a page that fails."""
    try:
        response = await page.goto(url, wait_until="load")
    except Exception as err:  # Playwright's Error and TimeoutError: the page did not load
        return False, None, str(err).splitlines()[0][:200]
    status = response.status if response is not None else None
    if status is not None and status >= 400:
        return False, status, f"HTTP {status}"
    return True, status, ""


async def count(page, selector: str) -> int:
    """Matches of `selector` in the page and all its frames (forms often live in an iframe)."""
    total = 0
    for frame in page.frames:
        try:
            total += await frame.locator(selector).count()
        except Exception:  # a detached or cross-origin frame, or a bad selector
            continue
    return total


async def has_text(page, text: str) -> bool:
    for frame in page.frames:
        try:
            if squash(text) in squash(await frame.locator("body").inner_text(timeout=2000)):
                return True
        except Exception:
            continue
    return False
