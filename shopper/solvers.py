"""Who reads a captcha or an SMS code for the engine.

The engine never guesses: it asks a `Solver`. A person at the console (`ConsoleSolver`), the
supervisors' Telegram chat (BOT's `TelegramSolver`), or, for the demo world whose answers are
known, its harness (`HarnessSolver`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Protocol, runtime_checkable

import click

from shopper.errors import ShopperError

log = logging.getLogger(__name__)


@runtime_checkable
class Solver(Protocol):
    async def captcha(self, image: bytes, *, test_id: str | None, agency_id: str | None) -> str:
        """The text shown in the captcha `image` (PNG/JPEG/GIF bytes as served)."""

    async def sms_code(self, phone: str, *, test_id: str | None, agency_id: str | None) -> str:
        """The code the site just sent by SMS to `phone`."""


class ConsoleSolver:
    """Asks the person at the terminal; the captcha image is saved to a file they can open."""

    def __init__(self, prompt=None):
        self._prompt = prompt or (lambda text: click.prompt(text, err=True))

    async def captcha(self, image: bytes, *, test_id=None, agency_id=None) -> str:
        folder = Path(tempfile.gettempdir())
        path = folder / f"shopper-captcha-{hashlib.sha256(image).hexdigest()[:12]}.png"
        path.write_bytes(image)
        answer = await asyncio.to_thread(self._prompt, f"[{agency_id} {test_id}] captcha in {path}; type it")
        return str(answer).strip()

    async def sms_code(self, phone: str, *, test_id=None, agency_id=None) -> str:
        answer = await asyncio.to_thread(self._prompt, f"[{agency_id} {test_id}] SMS code sent to {phone}")
        return str(answer).strip()


class HarnessSolver:
    """The demo world knows its own answers: `GET /__harness/captcha?sha=<sha256>` and
    `GET /__harness/sms?phone=<phone>`. Only for loopback worlds."""

    def __init__(self, base_url: str, *, attempts: int = 20, delay: float = 0.1):
        host = urllib.parse.urlsplit(base_url).hostname
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ShopperError(f"the harness solver only talks to a local demo world, not {base_url}")
        self.base_url = base_url.rstrip("/")
        self.attempts = attempts
        self.delay = delay

    def _get(self, path: str, params: dict) -> str | None:
        url = f"{self.base_url}{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                text = response.read().decode("utf-8").strip()
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return None
            raise ShopperError(f"demo world harness {url}: HTTP {err.code}") from err
        except OSError as err:
            raise ShopperError(f"demo world harness {url} unreachable ({err}); is the world running?") from err
        if text.startswith("{"):
            data = json.loads(text)
            text = str(data.get("answer") or data.get("code") or data.get("text") or "")
        return text or None

    async def _ask(self, path: str, params: dict, what: str) -> str:
        # The SMS may still be on its way when the form asks for it: ask again briefly.
        for _ in range(self.attempts):
            answer = await asyncio.to_thread(self._get, path, params)
            if answer:
                return answer
            await asyncio.sleep(self.delay)
        raise ShopperError(f"the demo world does not know the {what} ({path} {params})")

    async def captcha(self, image: bytes, *, test_id=None, agency_id=None) -> str:
        return await self._ask("/__harness/captcha", {"sha": hashlib.sha256(image).hexdigest()}, "captcha answer")

    async def sms_code(self, phone: str, *, test_id=None, agency_id=None) -> str:
        return await self._ask("/__harness/sms", {"phone": phone}, "SMS code")
