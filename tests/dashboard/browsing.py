"""Driving Debian's Chromium with Playwright for the dashboard tests: where the browser is, how it
is launched, and a signed-in browsing session with screenshots."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from harness import REPO, Api

CHROMIUM = Path(os.environ.get("FACEGRID_CHROMIUM", "/usr/bin/chromium"))
"""Debian's Chromium; the variable exists to check the loud skip, not to bring another browser."""
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO / "tests" / "artifacts" / "dashboard"
SKIP_PREFIX = "BROWSER TESTS SKIPPED"
WIDE = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def browser_missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -r requirements-dev.txt)"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium; scripts/test.sh does it when run as root)"
    return None


class Browsing:
    """A browser context (its own cookies) on one API, with helpers the tests share."""

    def __init__(self, browser: Any, api: Api, viewport: dict[str, int] = WIDE) -> None:
        self.api = api
        self.context = browser.new_context(viewport=viewport)
        self.context.set_default_timeout(20_000)
        self.errors: list[str] = []
        self.page = self.new_page()

    def new_page(self) -> Any:
        page = self.context.new_page()
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        page.on("dialog", lambda dialog: dialog.accept())  # confirm() before deleting
        return page

    def sign_in(self, page: Any = None) -> None:
        page = page or self.page
        page.goto(self.api.url + "/login")
        page.fill("#api_key", self.api.api_key)
        page.click("button[type=submit]")
        page.wait_for_url(self.api.url + "/#/overview")

    def go(self, route: str, page: Any = None) -> None:
        """Follow a hash route the way a link does (no reload)."""
        page = page or self.page
        page.evaluate("route => { location.hash = route; }", route)
        page.wait_for_function("route => location.hash === route", arg=route)

    def shot(self, name: str, page: Any = None) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        page = page or self.page
        page.evaluate("() => window.scrollTo(0, 0)")  # the sticky header then sits at the top
        page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        self.context.close()
