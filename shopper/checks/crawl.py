"""A polite link checker for one agency site (附件五(五): pages and service links work).

Politeness: one request at a time, a pause between requests, robots.txt obeyed, a page budget and
a depth limit. Scope: only the site's own origin is ever fetched (scheme, host and port of the
homepage); links elsewhere are counted, never followed, and a redirect off the origin is not
taken. Pages under the homepage's folder are parsed for more links; other same-origin pages are
only checked (several demo agencies share one origin, each under its own folder).

The crawler keeps what the disclosure check needs too: each page's title, headings and links.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import urllib.robotparser
from collections import deque
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urldefrag, urljoin, urlsplit

import httpx

log = logging.getLogger(__name__)

USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) shopper-sitecheck/0.1"
ROBOTS_AGENT = "shopper-sitecheck"
MAX_BYTES = 3_000_000  # enough for any page; a huge download is cut, not stored
MAX_REFERRERS = 5
MAX_TEXTS = 3000  # text pieces kept per page
MAX_CRAWL_DELAY = 30.0  # seconds; a robots.txt asking for more is obeyed up to this
SKIP_SCHEMES = ("mailto:", "javascript:", "tel:", "data:", "sms:", "ftp:")


def origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme, 0)
    return parts.scheme, (parts.hostname or "").lower(), port


def same_origin(url: str, base: str) -> bool:
    return origin(url) == origin(base)


def scope_prefix(homepage: str) -> str:
    """The folder of the homepage: pages under it belong to this agency."""
    path = urlsplit(homepage).path or "/"
    return path if path.endswith("/") else path.rsplit("/", 1)[0] + "/"


def in_scope(url: str, homepage: str) -> bool:
    return same_origin(url, homepage) and (urlsplit(url).path or "/").startswith(scope_prefix(homepage))


class _PageParser(HTMLParser):
    """Title, headings and links of an HTML page (stdlib parser: forgiving, no dependencies).

    A heading may hold a link and a link a heading: each keeps its own text buffer."""

    HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.headings: list[str] = []
        self.links: list[tuple[str, str]] = []  # (href as written, text)
        self.texts: list[str] = []  # text pieces, e.g. "办理时限：20个工作日" (for label: value lines)
        self.base = ""
        self._skip = 0  # inside <script>, <style> or <form>: no published text there
        self._open: dict[str, list[str]] = {}  # "title" | "h" | "a" -> text so far
        self._href = ""

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("script", "style", "form"):
            self._skip += 1
        elif tag == "base" and attrs.get("href"):
            self.base = attrs["href"]
        elif tag == "area" and attrs.get("href"):
            self.links.append((attrs["href"], attrs.get("alt") or ""))
        elif tag == "a":
            self._end("a")
            if attrs.get("href"):
                self._open["a"], self._href = [attrs.get("title") or ""], attrs["href"]
        elif tag in ("iframe", "frame") and attrs.get("src"):
            self.links.append((attrs["src"], ""))
        elif tag == "img" and "a" in self._open:
            self._open["a"].append(attrs.get("alt") or "")
        elif tag == "title":
            self._open["title"] = []
        elif tag in self.HEADINGS:
            self._end("h")
            self._open["h"] = []

    def handle_endtag(self, tag):
        if tag in ("script", "style", "form"):
            self._skip = max(0, self._skip - 1)
        elif tag in ("a", "title"):
            self._end(tag)
        elif tag in self.HEADINGS:
            self._end("h")

    def handle_data(self, data):
        if self._skip and "a" not in self._open and "h" not in self._open:
            return
        for buf in self._open.values():
            buf.append(data)
        text = data.strip()
        if text and not self._skip and len(self.texts) < MAX_TEXTS:
            self.texts.append(text[:200])

    def close(self):
        super().close()
        for key in list(self._open):
            self._end(key)

    def _end(self, key: str):
        buf = self._open.pop(key, None)
        if buf is None:
            return
        text = re.sub(r"\s+", " ", " ".join(buf)).strip()
        if key == "title":
            self.title = self.title or text
        elif key == "h" and text:
            self.headings.append(text)
        elif key == "a":
            self.links.append((self._href, text))


@dataclass
class Page:
    url: str
    depth: int
    status: int | None = None  # None: no answer at all
    seconds: float = 0.0
    content_type: str = ""
    error: str = ""
    location: str = ""  # where a redirect points
    title: str = ""
    headings: list[str] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)  # (absolute URL, text)
    texts: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status is not None and self.status < 400

    @property
    def html(self) -> bool:
        return "html" in self.content_type or not self.content_type


@dataclass
class Problem:
    url: str
    kind: str  # broken | server_error | unreachable | slow
    status: int | None
    seconds: float
    referrers: list[str]
    error: str = ""

    def as_dict(self) -> dict:
        return {"url": self.url, "kind": self.kind, "status": self.status, "seconds": round(self.seconds, 2),
                "referrers": self.referrers, "error": self.error}


@dataclass
class CrawlResult:
    homepage: str
    pages: dict[str, Page] = field(default_factory=dict)  # in the order fetched
    problems: list[Problem] = field(default_factory=list)
    referrers: dict[str, list[str]] = field(default_factory=dict)
    robots_disallowed: list[str] = field(default_factory=list)
    off_site: list[str] = field(default_factory=list)  # links to other origins, not followed
    budget_exhausted: bool = False
    robots_url: str = ""
    delay: float = 0.0  # the pause used between requests

    @property
    def home(self) -> Page | None:
        return self.pages.get(self.homepage)


def _charset(content_type: str, body: bytes) -> str | None:
    m = re.search(r"charset=([\w-]+)", content_type, re.I) or re.search(rb"charset=[\"']?([\w-]+)", body[:4096], re.I)
    if not m:
        return None
    value = m.group(1)
    return value.decode("ascii", "replace") if isinstance(value, bytes) else value


def decode(body: bytes, content_type: str = "") -> str:
    """Page text: the declared charset, else UTF-8, else GB18030 (many government sites are GBK)."""
    for charset in (_charset(content_type, body), "utf-8", "gb18030"):
        if not charset:
            continue
        try:
            return body.decode(charset)
        except (LookupError, UnicodeDecodeError):
            continue
    return body.decode("utf-8", "replace")


def normalize(href: str, page_url: str) -> str | None:
    href = (href or "").strip()
    if not href or href.startswith("#") or href.lower().startswith(SKIP_SCHEMES):
        return None
    url = urldefrag(urljoin(page_url, href))[0]
    return url if urlsplit(url).scheme in ("http", "https") else None


async def _get(client: httpx.AsyncClient, url: str) -> tuple[httpx.Response, bytes]:
    async with client.stream("GET", url) as response:
        chunks, size = [], 0
        async for chunk in response.aiter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size >= MAX_BYTES:
                break
        return response, b"".join(chunks)


async def fetch(client: httpx.AsyncClient, url: str, depth: int, *, timeout: float) -> tuple[Page, bytes]:
    """One GET, timed from the request to the last byte; never raises for network trouble."""
    page = Page(url, depth)
    started = time.monotonic()  # a duration, not a timestamp
    body = b""
    try:
        response, body = await asyncio.wait_for(_get(client, url), timeout)
        page.status = response.status_code
        page.content_type = response.headers.get("content-type", "").lower()
        page.location = response.headers.get("location", "") if response.is_redirect else ""
    except asyncio.TimeoutError:
        page.error = f"no complete answer within {timeout:g} s"
    except Exception as err:  # refused, reset, bad URL: the network stack raises many kinds; all mean "no page"
        page.error = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
    page.seconds = time.monotonic() - started
    return page, body


async def read_robots(client: httpx.AsyncClient, homepage: str, timeout: float) -> tuple[urllib.robotparser.RobotFileParser, str]:
    """robots.txt of the site's origin; a missing one allows everything, a 401/403 forbids it."""
    parts = urlsplit(homepage)
    robots_url = f"{parts.scheme}://{parts.netloc}/robots.txt"
    parser = urllib.robotparser.RobotFileParser(robots_url)
    page, body = await fetch(client, robots_url, 0, timeout=timeout)
    if page.status in (401, 403):
        parser.disallow_all = True
    elif page.status is not None and page.status < 300:
        parser.parse(decode(body, page.content_type).splitlines())
    else:
        parser.allow_all = True
    return parser, robots_url


def _classify(page: Page, slow_after: float) -> str | None:
    if page.status is None:
        return "unreachable"
    if page.status >= 500:
        return "server_error"
    if page.status >= 400:
        return "broken"
    if page.seconds > slow_after:
        return "slow"
    return None


async def crawl(
    homepage: str,
    *,
    depth: int = 2,
    pages: int = 50,
    delay: float = 0.2,
    slow_after: float = 15.0,
    timeout: float | None = None,
    client: httpx.AsyncClient | None = None,
    progress=None,
) -> CrawlResult:
    """Breadth-first from `homepage`: pages at depth < `depth` are parsed for links, pages at
    `depth` are only checked; at most `pages` requests (robots.txt not counted).

    `progress(page)` is called after each fetch, for a progress bar."""
    timeout = timeout if timeout is not None else max(30.0, slow_after * 2)
    result = CrawlResult(homepage)
    own_client = client is None
    if own_client:
        # trust_env=False: a proxy from the environment must not see (or reroute) these requests.
        client = httpx.AsyncClient(headers={"User-Agent": USER_AGENT, "Accept-Language": "zh-CN,zh;q=0.9"},
                                   follow_redirects=False, trust_env=False, timeout=timeout)
    try:
        robots, result.robots_url = await read_robots(client, homepage, timeout)
        asked = robots.crawl_delay(ROBOTS_AGENT)
        if asked:  # the site's own wish wins over ours when it is slower (bounded, so a run ends)
            delay = max(delay, min(float(asked), MAX_CRAWL_DELAY))
        result.delay = delay
        queue: deque[tuple[str, int]] = deque([(homepage, 0)])
        seen = {homepage}
        fetched = 0

        def link(target: str, source: str, next_depth: int) -> None:
            if not same_origin(target, homepage):
                if target not in result.off_site:
                    result.off_site.append(target)
                return
            refs = result.referrers.setdefault(target, [])
            if source not in refs and len(refs) < MAX_REFERRERS:
                refs.append(source)
            if target not in seen:
                seen.add(target)
                queue.append((target, next_depth))

        while queue:
            url, level = queue.popleft()
            if not robots.can_fetch(ROBOTS_AGENT, url):
                result.robots_disallowed.append(url)
                continue
            if fetched >= pages:
                result.budget_exhausted = True
                break
            if fetched:
                # Real seconds on purpose: politeness is about the server's load, not simulated time.
                await asyncio.sleep(delay)
            page, body = await fetch(client, url, level, timeout=timeout)
            fetched += 1
            result.pages[url] = page
            if progress:
                progress(page)
            kind = _classify(page, slow_after)
            if kind:
                result.problems.append(Problem(url, kind, page.status, page.seconds,
                                               result.referrers.get(url, []), page.error))
            if page.location:
                target = normalize(page.location, url)
                if target:
                    link(target, url, level)  # a redirect is the same page moved: same depth
                continue
            if not (page.ok and page.html and body):
                continue
            parser = _PageParser()
            try:
                parser.feed(decode(body, page.content_type))
                parser.close()
            except Exception as err:  # a broken page must not stop the crawl
                log.info("cannot parse %s: %s", url, err)
            base = urljoin(url, parser.base) if parser.base else url
            page.title, page.headings, page.texts = parser.title, parser.headings, parser.texts
            for href, text in parser.links:
                target = normalize(href, base)
                if target:
                    page.links.append((target, text))
            if level < depth and in_scope(url, homepage):
                for target, _ in page.links:
                    link(target, url, level + 1)
    finally:
        if own_client:
            await client.aclose()
    return result
