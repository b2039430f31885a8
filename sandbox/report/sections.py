"""The sections of one scenario's report, assembled from its runs.

Each ``*_section`` function returns a plain mapping for the template (and, minus the
figures, for the JSON sidecar), or None when the results hold no data for it, so that a
section appears only when there is something to show.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import numpy as np

from sandbox.report import figures as fig
from sandbox.report import pareto
from sandbox.report import sweep_figures as sfig
from sandbox.report.comparison import (
    PLANE,
    Table,
    choose_reference,
    comparison_table,
    differences_table,
    estimates,
    headline,
    headline_metric,
    metric_label,
    plane_table,
)
from sandbox.report.load import ScenarioResults, scenario_spec
from sandbox.report.provenance import WorldInfo
from sandbox.report.sensitivity import curves, describe_ranking, sensitivity_table, sweep_design

#: Failed runs listed one by one (the rest are counted).
MAX_FAILURES_LISTED = 500
#: How the page names each sweep design.
DESIGN_LABELS = {"sobol": "Sobol", "lhs": "Latin-hypercube", "grid": "grid",
                 "random": "random", "unknown": "unrecorded"}
#: Runs per policy whose training logs are drawn.
MAX_TRAINING_RUNS = 5


def colors(results: ScenarioResults) -> dict[str, str]:
    """One colour per policy, in the scenario's order (the same in every figure)."""
    return {v: fig.color(i) for i, v in enumerate(results.variants)}


def metric_rows(results: ScenarioResults, world: WorldInfo) -> list[dict[str, Any]]:
    """Name, label, description, unit and direction of each metric."""
    rows = []
    for metric in results.metrics:
        spec = world.metrics.get(metric)
        better = spec.higher_is_better if spec else None
        rows.append({"name": metric, "label": metric_label(metric),
                     "description": spec.description if spec else "",
                     "unit": spec.unit if spec else "",
                     "direction": {True: "higher is better", False: "lower is better"}.get(
                         better, "")})
    return rows


def failures_section(results: ScenarioResults) -> dict[str, Any] | None:
    """The failed runs: grouped by error message, then listed (None when none failed)."""
    failed = np.flatnonzero(~results.ok)
    if not len(failed):
        return None
    groups: dict[str, list[int]] = defaultdict(list)
    for i in failed:
        groups[str(results.runs["error"][i] or "(no message)")].append(int(i))
    grouped = Table("failure_groups", "Failed runs by error", [
        {"error": error, "runs": len(rows),
         "policies": ", ".join(dict.fromkeys(str(results.runs["variant"][i]) for i in rows)),
         "first_run_id": str(results.runs["run_id"][rows[0]])}
        for error, rows in sorted(groups.items(), key=lambda g: -len(g[1]))])
    listed = Table("failures", "Failed runs", [
        {"policy": str(results.runs["variant"][i]), "seed": int(results.runs["seed"][i]),
         "run_id": str(results.runs["run_id"][i]), "error": str(results.runs["error"][i] or "")}
        for i in failed[:MAX_FAILURES_LISTED]])
    if len(failed) > MAX_FAILURES_LISTED:
        listed.note = (f"The first {MAX_FAILURES_LISTED} of {len(failed):,} failed runs; "
                       "'sandbox results FOLDER --sql \"SELECT run_id, error FROM runs WHERE "
                       "status = 'failed'\"' lists them all.")
    return {"count": len(failed), "all": len(failed) == results.count,
            "tables": [grouped, listed]}


def comparison_section(results: ScenarioResults, world: WorldInfo, *,
                       reference: str | None, preferred: str | None) -> dict[str, Any] | None:
    """Summary headline, metrics per policy, differences and the plane's records."""
    if not results.ok.any() or not results.metrics:
        return None
    found = estimates(results)
    metric = headline_metric(results, world.metrics, preferred=preferred,
                             objective=world.objective)
    spec = world.metrics.get(metric)
    lead = headline(results, found, metric,
                    lower_is_better=bool(spec and spec.higher_is_better is False))
    tables = [comparison_table(results, found)]
    if len(results.variants) > 1:
        tables.append(differences_table(results, choose_reference(results, reference)))
    plane = plane_table(results, found, world.metrics)
    return {"headline": lead, "tables": tables, "plane": plane,
            "reference": choose_reference(results, reference)}


def _max_income(agents: dict, schedules: dict) -> float:
    top = max((max(a.get("income") or [0.0]) for a in agents.values()), default=0.0)
    top = max([top] + [max(s["cutoff"]) for s in schedules.values() if s.get("cutoff")])
    return 1.1 * top if top > 0 else 1.0


def _drawn_tables(results: ScenarioResults) -> tuple[dict[str, dict], dict[str, str]]:
    """Per policy, the tables of its lowest-seed successful run, and which run that is."""
    tables, which = {}, {}
    for variant in results.variants:
        runs = results.drawn_runs(variant)
        if runs:
            tables[variant] = results.tables(runs[0])
            i = int(np.flatnonzero(results.runs["run_id"] == runs[0])[0])
            which[variant] = f"seed {int(results.runs['seed'][i])}"
    return tables, which


def pictures_section(results: ScenarioResults, plane: Table | None) -> list[dict[str, Any]]:
    """Figures of the policies: schedules, the plane, distributions (those the data allow)."""
    shades = colors(results)
    tables, which = _drawn_tables(results)
    drawn = ", ".join(f"{v}: {s}" for v, s in which.items())
    out = []
    schedules = {v: t["schedule"] for v, t in tables.items() if "schedule" in t}
    agents = {v: t["agents"] for v, t in tables.items() if "agents" in t}
    if schedules:
        out.append(("schedules", "Tax schedules",
                    fig.tax_schedule_figure(schedules, max_income=_max_income(agents, schedules),
                                            colors=shades),
                    f"Marginal and average rates against pre-tax income; runs drawn: {drawn}."))
    if plane is not None and plane.records:
        front = ", ".join(r["policy"] for r in plane.records if r["pareto"])
        out.append(("plane", "Equality and productivity",
                    fig.plane_figure(plane.records, x=PLANE[0], y=PLANE[1], colors=shades),
                    f"Means with 95 % intervals across runs. Pareto set: {front}."))
    tradeoff = pareto.tradeoff_points(results)
    if tradeoff:
        x, y = pareto.TRADEOFF
        front = ", ".join(r["policy"] for r in tradeoff if r["pareto"])
        out.append(("tradeoff", "Deaths and economic loss",
                    fig.plane_figure(tradeoff, x=x, y=y, colors=shades),
                    "Means with 95 % intervals across runs (per sweep point when the scenario "
                    f"sweeps). Pareto set, lower is better in both: {front}."))
    if agents and all({"income", "consumption"} <= set(a) for a in agents.values()):
        out.append(("before_after", "Income before and after tax",
                    fig.before_after_figure(agents),
                    f"Distribution across workers (lines: means); runs drawn: {drawn}."))
    if agents and all("utility" in a for a in agents.values()):
        out.append(("utility", "Utility", fig.utility_figure(agents, colors=shades),
                    f"Distribution across workers; runs drawn: {drawn}."))
    if agents and all({"skill", "hours"} <= set(a) for a in agents.values()):
        out.append(("hours", "Hours by skill",
                    fig.by_skill_figure(agents, "hours", title="Hours worked by skill",
                                        colors=shades),
                    f"Each worker's labour choice; runs drawn: {drawn}."))
    return [{"id": i, "title": t, "figure": f, "caption": c} for i, t, f, c in out]


def sweep_section(results: ScenarioResults, metric: str | None) -> dict[str, Any] | None:
    """Metrics against swept parameters and the sensitivity ranking (None without a sweep)."""
    if not results.params or not results.ok.any() or not results.metrics:
        return None
    spec = scenario_spec(results)
    design = sweep_design(spec.get("sweep"))
    points = len({tuple(results.runs[p][i] for p in results.params)
                  for i in range(results.count)})
    shades = colors(results)
    metrics = list(results.metrics)
    if metric in metrics:
        metrics.remove(metric)
        metrics.insert(0, metric)
    found = curves(results)
    figures = [{"id": "sweep", "title": "Metrics against the swept parameters",
                "figure": sfig.sweep_figure({m: found[m] for m in metrics},
                                            variants=list(results.variants), colors=shades),
                "caption": "Lines: mean and 95 % interval of the runs at each value of the "
                           "parameter, or in each equal-count bin of it; faint points: the "
                           "runs themselves (up to 1,000 per policy). The menu picks the "
                           "metric."}]
    table = sensitivity_table(results, design)
    if table is not None:
        figures.append({"id": "sensitivity", "title": "Sensitivity ranking",
                        "figure": sfig.sensitivity_figure(table.records, metrics=metrics,
                                                          variants=list(results.variants),
                                                          colors=shades),
                        "caption": table.note})
    return {"design": design, "design_label": DESIGN_LABELS[design], "points": points,
            "params": [p.removeprefix("param.") for p in results.params],
            "figures": figures, "table": table, "metrics": metrics,
            "ranking": describe_ranking(table, metrics[0]) if table else ""}


def training_section(results: ScenarioResults) -> dict[str, Any] | None:
    """Training curves of the runs whose rows hold a training log (``table.training``)."""
    logs = {}
    for variant in results.variants:
        for run_id in results.drawn_runs(variant, limit=MAX_TRAINING_RUNS):
            log = results.tables(run_id).get("training")
            if log and any(isinstance(v, list) and v for v in log.values()):
                i = int(np.flatnonzero(results.runs["run_id"] == run_id)[0])
                logs[f"{variant}, seed {int(results.runs['seed'][i])}"] = {
                    k: [math.nan if x is None else x for x in v] for k, v in log.items() if v}
    if not logs:
        return None
    return {"figures": [{"id": "training", "title": "Training curves",
                         "figure": sfig.training_figure(logs),
                         "caption": f"Logged quantities per update for {len(logs)} run(s) "
                                    f"(at most {MAX_TRAINING_RUNS} per policy)."}]}
