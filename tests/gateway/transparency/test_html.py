"""report.html in headless Chromium: its charts render, with no console error and no request
beyond the file itself; a screenshot is written under the test's temporary folder.

To make one by hand: `gateway transparency report --period 2026-H2 --out DIR`, then
`chromium --headless --no-sandbox --screenshot=DIR/report.png --window-size=1200,1600 DIR/report.html`.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from tests.gateway.transparency.conftest import Scenario

CHROMIUM = "/usr/bin/chromium"


def test_report_html_renders_its_charts_offline(scenario: Scenario, run: Callable[..., Result],
                                                tmp_path: Path) -> None:
    if shutil.which(CHROMIUM) is None:
        pytest.skip(f"{CHROMIUM} is not installed (.ci/run installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    out = tmp_path / "report"
    result = run("transparency", "report", "--period", scenario.period, "--out", out)
    assert result.exit_code == 0, result.output
    page_url = (out / "report.html").as_uri()
    requests: list[str] = []
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("request", lambda request: requests.append(request.url))
            page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.goto(page_url, wait_until="load")
            charts = page.locator("svg[role=img]")
            assert charts.count() == 3
            for n in range(3):
                box = charts.nth(n).bounding_box()
                assert box is not None and box["width"] > 300 and box["height"] > 40
            assert page.locator("svg[role=img] rect").count() >= 6  # bars drawn, not just axes
            assert page.locator("table thead th").all_inner_texts() == ["figure", "DE", "FR", "NL", "TOTAL"]
            assert page.evaluate("document.documentElement.scrollWidth") <= 1200  # nothing overflows the page
            assert page.evaluate("document.scripts.length") == 0
            shot = tmp_path / "screenshots" / "report.png"
            shot.parent.mkdir()
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert problems == []
    assert requests == [page_url]  # the page itself, and nothing it would fetch
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    report = json.loads((out / "report.json").read_text())
    assert report["total"]["requests_received"] == 7
