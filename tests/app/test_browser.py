"""The app in a real browser: headless Chromium (Debian's) driven by Playwright."""

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="Debian's chromium is not installed (.ci/run installs it)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def app_url():
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app" / "Home.py"),
               "--server.port", str(port), "--server.address", "127.0.0.1",
               "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
            break
        except OSError:
            time.sleep(0.5)
    else:
        process.kill()
        pytest.fail("the app did not start: " + process.stdout.read().decode()[-2000:])
    yield url
    process.terminate()
    process.wait(timeout=20)


def test_economy_page_answers_a_policy_change(app_url, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"{app_url}/Economy", wait_until="networkidle")
        metrics = page.get_by_test_id("stMetricValue")
        metrics.first.wait_for(timeout=90_000)
        before = metrics.all_inner_texts()
        page.screenshot(path=str(tmp_path / "economy_before.png"))
        # policy B: pick the search optimum from its select box
        page.get_by_test_id("stSelectbox").filter(has_text="Policy B").first.click()
        page.get_by_role("option", name="Search optimum").click()
        page.wait_for_function(
            "before => { const v = [...document.querySelectorAll("
            "'[data-testid=stMetricValue]')].map(e => e.innerText);"
            " return v.length && v.join('|') !== before.join('|'); }",
            arg=before, timeout=90_000)
        # the figures follow: their legends name the new policy
        page.get_by_text("B: Search optimum").first.wait_for(timeout=90_000)
        page.wait_for_timeout(1000)
        assert page.get_by_test_id("stException").count() == 0
        assert page.locator(".js-plotly-plot").count() >= 3
        page.screenshot(path=str(tmp_path / "economy_after.png"), full_page=False)
        browser.close()
    assert (tmp_path / "economy_after.png").stat().st_size > 10_000
