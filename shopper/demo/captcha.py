"""Image captchas for the demo sites, with answers the test harness can look up.

A captcha is a small PNG of four characters over noise, like the ones on real government forms.
Each one has a token (what the page carries in a hidden field) and the sha256 of its PNG bytes
(what a solver that only sees the image can ask the harness about). The same token always serves
the same bytes, so a solver that re-fetches the image gets the image the page shows.
"""

from __future__ import annotations

import hashlib
import io
import random
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

# No 0/O, 1/I/l: a person must be able to read it too.
ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
LENGTH = 4
_FONT_CANDIDATES = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
]


@lru_cache(maxsize=1)
def _font() -> ImageFont.ImageFont:
    for candidate in _FONT_CANDIDATES:
        if Path(candidate).exists():
            return ImageFont.truetype(candidate, 26)
    return ImageFont.load_default(size=26)


def draw(answer: str, rng: random.Random) -> bytes:
    """The PNG bytes of a captcha showing `answer`."""
    width, height = 120, 40
    image = Image.new("RGB", (width, height), (236 + rng.randint(0, 19), 240, 236 + rng.randint(0, 19)))
    pen = ImageDraw.Draw(image)
    for _ in range(5):
        pen.line(
            [(rng.randint(0, width), rng.randint(0, height)), (rng.randint(0, width), rng.randint(0, height))],
            fill=(rng.randint(120, 200), rng.randint(120, 200), rng.randint(120, 200)),
            width=1,
        )
    x = 8
    for char in answer:
        colour = (rng.randint(10, 90), rng.randint(10, 90), rng.randint(60, 140))
        pen.text((x, rng.randint(2, 8)), char, font=_font(), fill=colour)
        x += 26
    for _ in range(120):
        image.putpixel((rng.randrange(width), rng.randrange(height)), (rng.randint(0, 255),) * 3)
    image = image.filter(ImageFilter.SMOOTH)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@dataclass(frozen=True)
class Captcha:
    token: str
    answer: str
    png: bytes
    sha256: str


class CaptchaStore:
    """Issued captchas: by token for the forms, by sha256 for the harness. Thread-safe; keeps
    the most recent `keep` captchas so a long demo does not grow without bound."""

    def __init__(self, seed: int | None = None, keep: int = 5000):
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._by_token: OrderedDict[str, Captcha] = OrderedDict()
        self._by_sha: dict[str, str] = {}
        self._keep = keep

    def issue(self) -> Captcha:
        with self._lock:
            answer = "".join(self._rng.choice(ALPHABET) for _ in range(LENGTH))
            png = draw(answer, random.Random(self._rng.random()))
            captcha = Captcha(secrets.token_hex(8), answer, png, hashlib.sha256(png).hexdigest())
            self._by_token[captcha.token] = captcha
            self._by_sha[captcha.sha256] = captcha.answer
            while len(self._by_token) > self._keep:
                _, old = self._by_token.popitem(last=False)
                self._by_sha.pop(old.sha256, None)
            return captcha

    def get(self, token: str) -> Captcha | None:
        with self._lock:
            return self._by_token.get(token)

    def answer_for_sha(self, sha256: str) -> str | None:
        with self._lock:
            return self._by_sha.get(sha256.lower())

    def answer_for_token(self, token: str) -> str | None:
        captcha = self.get(token)
        return captcha.answer if captcha else None

    def check(self, token: str, given: str) -> bool:
        """Whether `given` solves the captcha `token`. A captcha is good for one check, like on
        real sites: a wrong answer means a fresh image."""
        with self._lock:
            captcha = self._by_token.pop(token, None)
            if captcha is None:
                return False
            self._by_sha.pop(captcha.sha256, None)
        return given.strip().upper() == captcha.answer
