"""The report opens offline in headless Chromium (Debian's), every figure drawn."""

import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="Debian's chromium is not installed (.ci/run installs it)")


def test_report_renders_offline_with_every_figure(mixed_report, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    requests, failed, errors = [], [], []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        # nothing is served: any request beyond the file itself is refused and recorded
        page.route("**/*", lambda route: route.continue_()
                   if route.request.url.startswith(("file:", "data:")) else route.abort())
        page.on("request", lambda r: requests.append(r.url))
        page.on("requestfailed", lambda r: failed.append(r.url))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(mixed_report.html.resolve().as_uri(), wait_until="load")
        page.wait_for_function("[...document.querySelectorAll('.js-plotly-plot')]"
                               ".every(e => e.querySelector('svg.main-svg .trace'))",
                               timeout=60_000)
        drawn = page.evaluate("[...document.querySelectorAll('.js-plotly-plot')].map(e => "
                              "[e.id, e.querySelectorAll('svg.main-svg').length, "
                              "e.querySelectorAll('svg.main-svg .trace').length])")
        screenshot = tmp_path / "report_first_screen.png"
        page.screenshot(path=str(screenshot))
        headline = page.locator("[data-headline]").first.inner_text()
        browser.close()
    assert failed == [] and errors == []
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
    ids = {d[0].split("-plot-")[-1] for d in drawn}
    # pictures, sweep and training figures of both scenarios
    assert {"schedules", "plane", "before_after", "utility", "hours", "sweep", "sensitivity",
            "training"} <= ids
    assert all(svgs >= 1 and traces >= 1 for _, svgs, traces in drawn), drawn
    assert "Free market gives the highest productivity" in headline
    assert screenshot.stat().st_size > 20_000
