"""The step runner: plays a site file's steps in a Playwright page.

Shared by the submission engine, the status poller and the site checks. The steps are data
(see `shopper.sites`); this module only knows how to do each action in a browser, and says in
plain words which step failed and why (`StepFailed`), so a changed page becomes a finding
rather than a crash.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import time
import weakref
from pathlib import Path
from urllib.parse import urljoin

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeout

from shopper.errors import ShopperError
from shopper.sites import TEMPLATED_KEYS, Step, render

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_MS = 8000
_GB_CHARSETS = {"gbk": "gbk", "gb2312": "gbk", "gb18030": "gb18030", "x-gbk": "gbk"}


class StepFailed(Exception):
    """A step could not be done. `.step` is the Step, `.reason` a sentence, `.index` its position."""

    def __init__(self, step: Step, reason: str, index: int | None = None, *, ours: bool = False):
        # `ours`: the failure is on shopper's side (nobody solved the captcha, no SMS code came),
        # so it says nothing about the agency's site and must not count against it.
        self.step, self.reason, self.index, self.ours = step, reason, index, ours
        where = f"step {index + 1}" if index is not None else "step"
        line = f", line {step.line}" if step.line else ""
        target = step.get("selector") or step.get("url") or step.get("text") or step.get("ms") or ""
        super().__init__(f"{where} ({step.action} {target}{line}): {reason}")


def submit_point(steps: list[Step]) -> int | None:
    """Index of the step that sends the form: the one marked `submit = true`, else the last click.
    Everything before it may be repeated safely; from it on, the agency may have received it."""
    marked = [i for i, s in enumerate(steps) if s.get("submit")]
    if marked:
        return marked[0]
    clicks = [i for i, s in enumerate(steps) if s.action == "click"]
    return clicks[-1] if clicks else None


def template_errors(steps: list[Step], context: dict, path=None) -> list[str]:
    """Render every template of `steps` with `context`; the problems, one per step
    ("file:line: ..." when `path` is given)."""
    problems = []
    for step in steps:
        for key in TEMPLATED_KEYS:
            if isinstance(step.get(key), str):
                try:
                    render(step[key], **context)
                except ShopperError as err:
                    where = f"{path}:{step.line}" if path else f"line {step.line}"
                    problems.append(f"{where}: {step.action} {key}: {err}; use site, persona, test, subject, body, "
                                    "account (login), reference_number, query_code")
    return problems


class _ImageBodies:
    """The bytes of every image a page loaded, by URL: a captcha must be read from the exact
    bytes the server sent (fetching it again would make the server draw a new one)."""

    def __init__(self, page):
        self.bodies: dict[str, bytes] = {}
        self.tasks: set = set()
        page.on("response", self._on_response)

    def _on_response(self, response) -> None:
        if response.request.resource_type != "image":
            return
        task = asyncio.ensure_future(self._store(response))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _store(self, response) -> None:
        try:
            self.bodies[response.url] = await response.body()
        except PlaywrightError:
            pass


_images: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def watch_images(page) -> _ImageBodies:
    """Start remembering image bytes for `page` (call before its first goto)."""
    if page not in _images:
        _images[page] = _ImageBodies(page)
    return _images[page]


class _Runner:
    def __init__(self, page, context: dict, solvers, timeout_ms: int):
        self.page = page
        self.scope = page
        self.context = context
        self.solvers = solvers
        self.timeout_ms = timeout_ms
        self.images = _images.get(page)
        self.extracted: dict[str, str] = {}
        self._charsets: dict = {}

    def _render(self, step: Step, key: str) -> str:
        return render(step[key], **{k: v for k, v in self.context.items() if not callable(v)})

    def _timeout(self, step: Step) -> int:
        return int(step.get("timeout") or self.timeout_ms)

    def _locator(self, step: Step, key: str = "selector"):
        return self.scope.locator(step[key]).first

    def _ids(self) -> dict:
        test = self.context.get("test") or {}
        site = self.context.get("site")
        return {"test_id": test.get("id") if isinstance(test, dict) else getattr(test, "id", None),
                "agency_id": getattr(site, "id", None)}

    async def _charset(self, locator, timeout_ms: int) -> str | None:
        key = (id(self.scope), self.page.url)
        if key not in self._charsets:
            try:
                name = await locator.evaluate("el => el.ownerDocument.characterSet", timeout=timeout_ms)
            except PlaywrightTimeout:
                raise
            except PlaywrightError:
                return None
            self._charsets[key] = _GB_CHARSETS.get(str(name).lower())
        return self._charsets[key]

    async def _fill(self, step: Step, locator, value: str) -> None:
        codec = await self._charset(locator, self._timeout(step))
        if codec:
            # A GBK page sends the form in GBK; a character it lacks would arrive as "&#...;".
            bad = sorted({ch for ch in value if not _encodable(ch, codec)})
            if bad:
                raise StepFailed(step, f"the page is {codec.upper()} and cannot take {''.join(bad)!r}; reword the scenario")
        await locator.fill(value, timeout=self._timeout(step))
        try:
            kept = await locator.input_value(timeout=1000)
        except PlaywrightError:  # contenteditable: nothing to compare
            kept = value
        if kept.replace("\r\n", "\n") != value:
            raise StepFailed(
                step,
                f"the field kept {len(kept)} of {len(value)} characters (maxlength?); "
                "set the site's fields limits (title_max/body_max) to what the form allows",
            )

    async def run(self, steps: list[Step], *, on_submit=None, stop_before_submit: bool = False) -> dict:
        point = submit_point(steps) if (on_submit or stop_before_submit) else None
        for index, step in enumerate(steps):
            if index == point:
                if stop_before_submit:
                    return self.extracted
                if on_submit:
                    await on_submit(index, step)
            started = time.monotonic()
            try:
                await self.do(step)
                log.debug("step %d %s %s: %.3f s", index + 1, step.action,
                          step.get("selector") or step.get("url") or "", time.monotonic() - started)
            except StepFailed as err:
                err.index = index
                raise StepFailed(step, err.reason, index, ours=err.ours) from err
            except PlaywrightTimeout:
                raise StepFailed(step, self._timeout_reason(step), index) from None
            except PlaywrightError as err:
                raise StepFailed(step, _first_line(err), index) from None
        return self.extracted

    async def do(self, step: Step) -> None:
        action = step.action
        timeout = self._timeout(step)
        if action == "goto":
            url = urljoin(self.context.get("homepage") or getattr(self.context.get("site"), "homepage", ""), self._render(step, "url"))
            try:
                response = await self.page.goto(url, timeout=timeout, wait_until="load")
            except PlaywrightTimeout:
                raise StepFailed(step, f"{url} did not load within {timeout / 1000:g} s") from None
            except PlaywrightError as err:
                raise StepFailed(step, f"cannot load {url}: {_first_line(err)}") from None
            if response is not None and response.status >= 400:
                raise StepFailed(step, f"{url} answered HTTP {response.status}")
            self.scope = self.page
        elif action == "fill":
            await self._fill(step, self._locator(step), self._render(step, "value"))
        elif action == "select":
            locator = self._locator(step)
            if step.get("value"):
                await locator.select_option(value=self._render(step, "value"), timeout=timeout)
            else:
                await locator.select_option(label=self._render(step, "label"), timeout=timeout)
        elif action == "check":
            await self._locator(step).check(timeout=timeout)
        elif action == "click":
            locator = self._locator(step)
            await locator.wait_for(state="visible", timeout=timeout)
            try:
                await locator.click(timeout=timeout)
            except PlaywrightTimeout:
                # The button is there: the click went out and the page has not answered (yet).
                raise StepFailed(step, f"clicked {step['selector']!r}, but the page did not respond within "
                                       f"{timeout / 1000:g} s (or the button stayed disabled)") from None
        elif action == "upload":
            site = self.context.get("site")
            path = Path(step["file"]).expanduser()
            if not path.is_absolute() and getattr(site, "path", None):
                path = Path(site.path).parent / path
            if not path.exists():
                raise ShopperError(f"{getattr(site, 'path', '')}:{step.line}: upload file {path} does not exist")
            await self._locator(step).set_input_files(str(path), timeout=timeout)
        elif action == "captcha":
            await self._captcha(step)
        elif action == "sms_code":
            if self.solvers is None:
                raise StepFailed(step, "the site asks for an SMS code and no solver is set", ours=True)
            persona = self.context.get("persona")
            phone = getattr(persona, "phone", None) or (persona or {}).get("phone")
            try:
                code = await self.solvers.sms_code(phone, **self._ids())
            except ShopperError as err:
                raise StepFailed(step, f"no SMS code: {err}", ours=True) from None
            await self._fill(step, self._locator(step), code)
        elif action == "wait":
            if step.get("selector"):
                await self._locator(step).wait_for(state="visible", timeout=timeout)
            else:
                await self.page.wait_for_timeout(int(step["ms"]))
        elif action == "expect":
            if step.get("text"):
                text = self._render(step, "text")
                try:
                    await self.scope.get_by_text(text).first.wait_for(state="visible", timeout=timeout)
                except PlaywrightTimeout:
                    raise StepFailed(step, f"the page does not show {text!r}{await self._shown()}") from None
            else:
                try:
                    await self._locator(step).wait_for(state="visible", timeout=timeout)
                except PlaywrightTimeout:
                    raise StepFailed(step, f"nothing matches {step['selector']!r}{await self._shown()}") from None
        elif action == "extract":
            await self._extract(step)
        elif action == "frame":
            if not step["selector"]:
                self.scope = self.page
            else:
                await self.scope.locator(step["selector"]).first.wait_for(state="attached", timeout=timeout)
                self.scope = self.scope.frame_locator(step["selector"])
        else:  # parse_site refuses unknown actions; this guards hand-made steps
            raise StepFailed(step, f"unknown action {action!r}")

    def _timeout_reason(self, step: Step) -> str:
        target = step.get("selector") or step.get("image") or ""
        return f"nothing matches {target!r} within {self._timeout(step) / 1000:g} s (the page changed?)"

    async def _shown(self) -> str:
        """What the page says instead (its first words), to make the reason useful."""
        try:
            text = await self.scope.locator("body").first.inner_text(timeout=1000)
        except PlaywrightError:
            return ""
        text = " ".join(text.split())
        return f"; it shows: {text[:160]!r}" if text else ""

    async def _extract(self, step: Step) -> None:
        timeout = self._timeout(step)
        locator = self._locator(step)
        pattern = re.compile(step["pattern"]) if step.get("pattern") else None
        try:
            await locator.wait_for(state="attached", timeout=timeout)
        except PlaywrightTimeout:
            raise StepFailed(step, f"nothing matches {step['selector']!r}{await self._shown()}") from None
        # The reference number may appear a moment after the page (filled in by a script).
        deadline = time.monotonic() + timeout / 1000
        text = ""
        while True:
            if step["into"] == "answered_list":
                texts = await self.scope.locator(step["selector"]).all_inner_texts()
                text = "\n".join(t.strip() for t in texts if t.strip())
            else:
                text = (await locator.text_content(timeout=timeout) or "").strip()
            value = _match(text, pattern) if text else None
            if value:
                break
            if time.monotonic() > deadline:
                wanted = f" matching {pattern.pattern!r}" if pattern else ""
                raise StepFailed(step, f"{step['selector']!r} shows {text[:80]!r}, no {step['into']}{wanted}")
            await asyncio.sleep(0.1)
        self.extracted[step["into"]] = value
        self.context[step["into"]] = value

    async def _captcha(self, step: Step) -> None:
        if self.solvers is None:
            raise StepFailed(step, "the site asks for a captcha and no solver is set", ours=True)
        timeout = self._timeout(step)
        image = self.scope.locator(step["image"]).first
        await image.wait_for(state="visible", timeout=timeout)
        src = await image.evaluate("el => el.currentSrc || el.src || ''")
        data = None
        if src.startswith("data:"):
            data = base64.b64decode(src.split(",", 1)[1])
        elif src and self.images is not None:
            deadline = time.monotonic() + timeout / 1000
            while src not in self.images.bodies and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            data = self.images.bodies.get(src)
        if data is None:
            # Not an <img> we saw load (a canvas, a background): the picture as shown.
            data = await image.screenshot(timeout=timeout)
        try:
            answer = await self.solvers.captcha(data, **self._ids())
        except ShopperError as err:
            raise StepFailed(step, f"captcha not solved: {err}", ours=True) from None
        await self._fill(step, self._locator(step), answer)


def _encodable(ch: str, codec: str) -> bool:
    try:
        ch.encode(codec)
        return True
    except UnicodeEncodeError:
        return False


def _match(text: str, pattern: re.Pattern | None) -> str | None:
    if pattern is None:
        return text
    m = pattern.search(text)
    if not m:
        return None
    return (m.group(1) if m.groups() else m.group(0)).strip() or None


def _first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


async def run_steps(page, steps: list[Step], context: dict, solvers=None, *, timeout_ms: int | None = None,
                    on_submit=None, stop_before_submit: bool = False) -> dict:
    """Play `steps` in `page`; returns the values extracted (reference_number, status, ...).

    `context` feeds the templates (site, persona, test, subject, body, account, ...; extracted
    values are added to it). `on_submit(index, step)` is awaited right before the step that sends
    the form (see `submit_point`); `stop_before_submit` ends there (a dry run).
    Raises `StepFailed` when the page does not do what the steps expect."""
    if any(step.action == "captcha" for step in steps):
        watch_images(page)  # the captcha's bytes must be caught as they arrive
    runner = _Runner(page, context, solvers, timeout_ms or context.get("timeout_ms") or DEFAULT_TIMEOUT_MS)
    return await runner.run(steps, on_submit=on_submit, stop_before_submit=stop_before_submit)
