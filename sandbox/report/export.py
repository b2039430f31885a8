"""Optional static exports of a report: figures as PNG, the whole page as PDF.

HTML is the product; these need software the sandbox does not require (kaleido for
PNG, Playwright's Python package and a Chromium for PDF). When it is missing the export
is skipped and the reason recorded, and the HTML report stands as written.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

#: Chromium flags for printing a local file: no sandbox, GPU or background traffic.
CHROMIUM_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync")
_BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def find_chromium() -> str | None:
    """Path of a Chromium on ``PATH``, or None."""
    return next((shutil.which(b) for b in _BROWSERS if shutil.which(b)), None)


def export_png(figures: list[tuple[str, object]], folder: Path) -> tuple[list[Path], list[str]]:
    """Write each ``(name, plotly figure)`` as ``folder/<name>.png``; (written, skipped)."""
    if importlib.util.find_spec("kaleido") is None:
        return [], ["PNG figures: kaleido is not installed"]
    import plotly.io as pio

    folder.mkdir(exist_ok=True)
    written = []
    for name, figure in figures:
        path = folder / f"{name}.png"
        try:
            pio.write_image(figure, path, format="png", width=1100, scale=2)
        except Exception as exc:  # kaleido without a usable browser, mostly
            return written, [f"PNG figures: kaleido could not render ({exc})"]
        written.append(path)
    return written, []


def export_pdf(html: Path, pdf: Path, *, timeout_ms: int = 120_000) -> tuple[list[Path], list[str]]:
    """Print the report page to PDF in headless Chromium; (written, skipped)."""
    chromium = find_chromium()
    if importlib.util.find_spec("playwright") is None or chromium is None:
        return [], ["PDF: needs Playwright's Python package and a Chromium on PATH"]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=list(CHROMIUM_ARGS))
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(html.resolve().as_uri(), wait_until="load", timeout=timeout_ms)
            page.wait_for_function(
                "[...document.querySelectorAll('.js-plotly-plot')]"
                ".every(e => e.querySelector('svg.main-svg'))", timeout=timeout_ms)
            page.pdf(path=str(pdf), format="A4", print_background=True, scale=0.7)
        finally:
            browser.close()
    return [pdf], []


def export_static(output, figures: list[tuple[str, object]], *, png: bool, pdf: bool) -> None:
    """Add the requested exports to a :class:`~sandbox.report.build.ReportOutput`.

    Args:
        output: the report just written (its ``exports`` and ``skipped`` are extended).
        figures: ``(file stem, plotly figure)`` of every figure of the report.
        png: write PNG figures into ``<report stem>_figures/``.
        pdf: print the page to ``<report stem>.pdf``.
    """
    html = Path(output.html)
    jobs = []
    if png:
        jobs.append(lambda: export_png(figures, html.parent / f"{html.stem}_figures"))
    if pdf:
        jobs.append(lambda: export_pdf(html, html.with_suffix(".pdf")))
    for job in jobs:
        written, skipped = job()
        output.exports.extend(written)
        output.skipped.extend(skipped)
