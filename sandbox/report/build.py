"""``sandbox report``: one self-contained HTML report of a results folder, and its JSON sidecar.

The page is rendered from jinja2 templates (``sandbox/report/templates/``) with plotly
figures; plotly.js is embedded once in the page's head, so the file opens offline and
needs no CDN. Every number of its tables is also in the sidecar (``<out>.json``), as the
records the tables were drawn from; each table cell names its record (``data-table``,
``data-record``) and the values it shows (``data-values``), so a reader can check one
against the other, and both against a DuckDB query of the folder.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from sandbox.batch.store import write_atomic
from sandbox.core.errors import ConfigError
from sandbox.report import sections
from sandbox.report.comparison import Table
from sandbox.report.episodes import episode_section
from sandbox.report.format import format_estimate, format_number, format_p
from sandbox.report.load import ScenarioResults, load_results, scenario_spec
from sandbox.report.provenance import provenance, world_info

#: Version of the sidecar's layout.
SIDECAR_SCHEMA = 1
_PLOT_CONFIG = {"displaylogo": False, "responsive": True}


@dataclass
class ReportOutput:
    """What ``build_report`` wrote.

    Attributes:
        html: the report page.
        sidecar: the JSON sidecar with every table's records.
        scenarios: titles of the scenarios reported.
        exports: static images or PDFs written on request.
        skipped: why a requested export was not written.
    """

    html: Path
    sidecar: Path
    scenarios: list[str]
    exports: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def jsonable(value: Any) -> Any:
    """``value`` with NaN and infinities as None and numpy scalars as Python numbers."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _slug(text: str) -> str:
    return "s-" + (re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "scenario")


def _policies(results: ScenarioResults) -> Table:
    records = []
    for variant in results.variants:
        mask = results.mask(variant, ok=False)
        runs = results.drawn_runs(variant) or [str(results.runs["run_id"][mask][0])]
        roles = results.config(runs[0]).get("roles", {})
        records.append({"policy": variant,
                        "roles": "; ".join(f"{r}: {c.get('policy')}"
                                           for r, c in sorted(roles.items())),
                        "runs_ok": int((mask & results.ok).sum()),
                        "runs_failed": int((mask & ~results.ok).sum())})
    return Table("policies", "Policies compared", records)


def scenario_view(results: ScenarioResults, *, folder_arg: str, command: str | None,
                  reference: str | None, headline: str | None) -> dict[str, Any]:
    """Everything the template and the sidecar say about one scenario."""
    spec = scenario_spec(results)
    world = world_info(results.config())
    comparison = sections.comparison_section(results, world, reference=reference,
                                             preferred=headline)
    metric = comparison["headline"]["metric"] if comparison else None
    view = {
        "id": _slug(results.title), "title": results.title, "name": results.name,
        "scenario_hash": results.scenario_hash, "question": spec.get("question") or "",
        "description": (spec.get("description") or "").strip(), "world": world,
        "runs": {"total": results.count, "ok": int(results.ok.sum()),
                 "failed": int((~results.ok).sum())},
        "policies": _policies(results), "metrics": sections.metric_rows(results, world),
        "comparison": comparison, "failures": sections.failures_section(results),
        "pictures": sections.pictures_section(results, comparison["plane"])
        if comparison else [],
        "sweep": sections.sweep_section(results, metric),
        "training": sections.training_section(results),
        "episodes": episode_section(results),
        "provenance": provenance(results, folder_arg=folder_arg, report_command=command),
    }
    view["tables"] = _tables(view)
    return view


def _tables(view: dict[str, Any]) -> dict[str, Table]:
    found = [view["policies"]]
    if view["comparison"]:
        found += view["comparison"]["tables"]
        if view["comparison"]["plane"] is not None:
            found.append(view["comparison"]["plane"])
    if view["sweep"] and view["sweep"]["table"] is not None:
        found.append(view["sweep"]["table"])
    if view["failures"]:
        found += view["failures"]["tables"]
    return {t.id: t for t in found}


def _figures(view: dict[str, Any]) -> list[dict[str, Any]]:
    found = list(view["pictures"])
    for key in ("sweep", "training", "episodes"):
        found += view[key]["figures"] if view[key] else []
    return found


def sidecar(views: list[dict[str, Any]], *, folder_arg: str, command: str | None,
            generated: str) -> dict[str, Any]:
    """The JSON sidecar: each scenario's tables (records), headline and provenance."""
    scenarios = []
    for view in views:
        comparison = view["comparison"] or {}
        sweep = view["sweep"] or {}
        scenarios.append({
            "name": view["name"], "title": view["title"], "scenario_hash": view["scenario_hash"],
            "question": view["question"], "world": view["world"].name, "runs": view["runs"],
            "policies": [r["policy"] for r in view["policies"].records],
            "headline": comparison.get("headline"), "reference": comparison.get("reference"),
            "all_failed": bool(view["failures"] and view["failures"]["all"]),
            "sweep": {k: sweep[k] for k in ("design", "points", "params")} if sweep else None,
            "tables": {t.id: {"title": t.title, "note": t.note, "records": t.records}
                       for t in view["tables"].values()},
            "figures": [f["id"] for f in _figures(view)],
            "episodes": ({k: view["episodes"][k] for k in ("episodes", "problems")}
                         if view["episodes"] else None),
            "provenance": view["provenance"],
        })
    return jsonable({"schema": SIDECAR_SCHEMA, "generated": generated, "folder": folder_arg,
                     "command": command, "scenarios": scenarios})


def _values(record: dict[str, Any], *fields: str) -> str:
    return json.dumps(jsonable({f: record[f] for f in fields}), allow_nan=False)


def _where(table: Table, **keys) -> int | None:
    """Index of the first record of ``table`` whose fields equal ``keys``."""
    return next((i for i, r in enumerate(table.records)
                 if all(r.get(k) == v for k, v in keys.items())), None)


def environment() -> jinja2.Environment:
    """The jinja2 environment of the report templates, with the number filters."""
    env = jinja2.Environment(loader=jinja2.PackageLoader("sandbox.report", "templates"),
                             autoescape=jinja2.select_autoescape(("html", "j2")),
                             trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined)
    env.filters.update(est=lambda r, m="mean", h="half_width": format_estimate(r[m], r[h]),
                       num=format_number, pvalue=format_p)
    env.globals.update(values=_values, where=_where)
    return env


def render(views: list[dict[str, Any]], *, folder_arg: str, command: str | None,
           generated: str) -> str:
    """The report page as HTML text."""
    for view in views:
        for figure in _figures(view):
            shown = go.Figure(figure["figure"])
            if not shown.layout.updatemenus:  # the page's heading names the figure
                shown.update_layout(title=None, margin={"t": 30})
            # auto_play off: an animation (the GTB map) waits at its first frame for Play
            figure["html"] = pio.to_html(shown, include_plotlyjs=False, auto_play=False,
                                         full_html=False, config=_PLOT_CONFIG,
                                         div_id=f"{view['id']}-plot-{figure['id']}")
    title = (f"Policy report: {views[0]['title']}" if len(views) == 1
             else f"Policy report: {len(views)} scenarios")
    return environment().get_template("report.html.j2").render(
        title=title, views=views, folder=folder_arg, command=command, generated=generated,
        plotly_js=get_plotlyjs(), figures=_figures)


def build_report(folder: str | Path, out: str | Path, *, scenario: str | None = None,
                 reference: str | None = None, headline: str | None = None,
                 command: str | None = None, png: bool = False,
                 pdf: bool = False) -> ReportOutput:
    """Write the HTML report of a results folder and its JSON sidecar next to it.

    Args:
        folder: the results folder (``sandbox run`` / ``sandbox batch`` output).
        out: the HTML file to write; the sidecar is the same name with ``.json``.
        scenario: report only this scenario (name or spec hash) of a mixed folder.
        reference: the policy the differences are taken against (default: the first).
        headline: the metric of the headline (default: the planner's objective, else the
            world's first metric to raise).
        command: the command line that made the report (shown for reproduction).
        png: also write each figure as PNG next to the report (kaleido needed).
        pdf: also print the whole report to PDF (Playwright and Chromium needed).

    Raises:
        SandboxError: the folder holds no runs, or an option names nothing in it.
    """
    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise ConfigError("--out", str(out), "a file name ending in .html")
    if not out.parent.is_dir():
        raise ConfigError("--out", str(out), "a file in an existing folder")
    folder_arg = str(folder)
    results = load_results(folder, scenario=scenario)
    views = [scenario_view(r, folder_arg=folder_arg, command=command, reference=reference,
                           headline=headline) for r in results]
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    page = render(views, folder_arg=folder_arg, command=command, generated=generated)
    data = sidecar(views, folder_arg=folder_arg, command=command, generated=generated)
    side = out.with_suffix(".json")
    write_atomic(side, json.dumps(data, indent=1, allow_nan=False).encode())
    write_atomic(out, page.encode("utf-8"))
    output = ReportOutput(out, side, [v["title"] for v in views])
    if png or pdf:
        from sandbox.report.export import export_static

        export_static(output, [(f"{v['id']}-{f['id']}", f["figure"])
                               for v in views for f in _figures(v)], png=png, pdf=pdf)
    return output
