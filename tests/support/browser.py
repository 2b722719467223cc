"""Debian's chromium driven by Playwright for the console's browser tests.

Playwright's own browser download cannot work here, so the tests drive the system's chromium
(`.ci/run` installs it) and skip, saying why, only where none is installed. Every page is watched:
each request it makes is recorded, one for another origin is refused and recorded, and console
errors and uncaught exceptions are kept for the test to assert on.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Playwright, Request, Route

SCREENSHOT_ENV = "CONSOLE_SCREENSHOT_DIR"
"""Where the console tests write their screenshots; a fresh temporary folder when unset."""


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None


def launch(playwright: Playwright) -> Browser:
    path = chromium_path()
    if path is None:
        pytest.skip("no chromium to drive: install Debian's chromium (`apt-get install chromium`, as .ci/run does)")
    # Root needs --no-sandbox; the tests only ever load pages from a gateway on loopback.
    return playwright.chromium.launch(executable_path=path, args=["--no-sandbox"])


def screenshot_dir() -> Path:
    configured = os.environ.get(SCREENSHOT_ENV)
    folder = Path(configured) if configured else Path(tempfile.mkdtemp(prefix="console-screenshots-"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class Watched:
    """A browser context with one page, and what it did on the network and the console."""

    context: BrowserContext
    page: Page
    origin: str
    requests: list[Request] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def graphql_posts(self) -> list[Request]:
        return [r for r in self.requests if r.method == "POST" and r.url == f"{self.origin}/graphql"]


@contextmanager
def watched(browser: Browser, origin: str, *, width: int = 1280, height: int = 900) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": width, "height": height}, base_url=origin)
    context.set_default_timeout(10_000)
    page = context.new_page()
    seen = Watched(context, page, origin)

    def gate(route: Route) -> None:
        url = route.request.url
        if url == origin or url.startswith(origin + "/"):
            route.continue_()
        else:
            seen.foreign.append(url)
            route.abort()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            seen.problems.append(f"console: {message.text}")

    context.route("**/*", gate)
    context.on("request", lambda request: seen.requests.append(request))
    page.on("console", on_console)
    page.on("pageerror", lambda error: seen.problems.append(f"uncaught: {error}"))
    try:
        yield seen
    finally:
        context.close()
