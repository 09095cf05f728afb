"""Finding and starting Chromium for Playwright.

This machine cannot download Playwright's own browser, so shopper prefers the system's Chromium
(Debian's `chromium`) and falls back to a Playwright-managed one where it is installed. A remote
browser pool is used instead when `[browser] cdp_url` is set.
"""

from __future__ import annotations

import glob
import os
import shutil
from pathlib import Path

from shopper.errors import ShopperError

# Chromium must not phone home: the network here is closed and tests talk only to 127.0.0.1.
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
]

_CANDIDATES = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]


def find_chromium(configured: str | None = None) -> str | None:
    """The Chromium to launch: configured, SHOPPER_CHROMIUM, the system's, or Playwright's own.
    None means: let Playwright use its default (which may not be installed)."""
    for candidate in (configured, os.environ.get("SHOPPER_CHROMIUM")):
        if candidate:
            if not Path(candidate).exists():
                raise ShopperError(f"Chromium not found at {candidate}; fix [browser] executable")
            return candidate
    for name in _CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    pw = sorted(glob.glob(os.path.expanduser("~/.cache/ms-playwright/chromium-*/chrome-linux*/chrome")))
    return pw[-1] if pw else None


async def launch(playwright, *, executable: str | None = None, cdp_url: str | None = None, headless: bool = True):
    """Start (or connect to) a Chromium browser through an async Playwright instance."""
    if cdp_url:
        try:
            return await playwright.chromium.connect_over_cdp(cdp_url)
        except Exception as err:  # Playwright raises its own Error type with the reason
            raise ShopperError(f"cannot reach the browser pool at {cdp_url}: {err}") from err
    path = find_chromium(executable)
    try:
        return await playwright.chromium.launch(executable_path=path, headless=headless, args=LAUNCH_ARGS)
    except Exception as err:
        raise ShopperError(
            f"cannot start Chromium ({path or 'Playwright default'}): {err}. "
            "Install it with `apt-get install chromium` or set [browser] executable"
        ) from err
