"""Per-policy summaries of a results folder, and the figures page of a scenario run."""

from __future__ import annotations

from pathlib import Path

from sandbox.batch.store import connect, light_columns, read_manifest
from sandbox.report.figures import (
    by_skill_figure,
    distribution_figure,
    tax_schedule_figure,
    write_page,
)
from sandbox.report.stats import Estimate, estimate

#: Columns of a run row that are not metrics.
NON_METRIC = {"run_id", "scenario", "scenario_hash", "variant", "seed", "status", "error",
              "started_at", "duration_s", "steps", "checkpoint"}


def metric_columns(con) -> list[str]:
    """Numeric metric columns of the ``runs`` view."""
    types = {row[0]: row[1] for row in con.execute("DESCRIBE runs").fetchall()}
    return [c for c in light_columns(con)
            if c not in NON_METRIC and not c.startswith(("policy.", "param."))
            and types[c] in ("DOUBLE", "FLOAT", "BIGINT", "INTEGER")]


def compare_policies(folder: str | Path) -> tuple[list[str], dict[str, dict[str, Estimate]]]:
    """Each metric per variant: mean and 95 % interval across the successful runs.

    Returns:
        ``(metric names, {variant: {metric: Estimate}})``, variants in first-seen order.
    """
    con = connect(folder)
    metrics = metric_columns(con)
    if not metrics:
        return [], {}
    cols = ", ".join(f'"{m}"' for m in metrics)
    rows = con.execute(f"SELECT variant, {cols} FROM runs WHERE status = 'ok' "
                       "ORDER BY started_at, seed").fetchall()
    grouped: dict[str, list[tuple]] = {}
    for row in rows:
        grouped.setdefault(row[0], []).append(row[1:])
    summary = {variant: {m: estimate([r[i] for r in values]) for i, m in enumerate(metrics)}
               for variant, values in grouped.items()}
    return metrics, summary


def failures(folder: str | Path) -> list[tuple[str, int, str]]:
    """``(variant, seed, error)`` of every failed run."""
    con = connect(folder)
    return con.execute("SELECT variant, seed, error FROM runs WHERE status = 'failed' "
                       "ORDER BY variant, seed").fetchall()


def _first_tables(con) -> dict[str, dict[str, dict]]:
    """For each variant, the tables of its lowest-seed successful run."""
    names = [row[0] for row in con.execute("DESCRIBE runs").fetchall()]
    tables = [n for n in names if n.startswith("table.")]
    if not tables:
        return {}
    cols = ", ".join(f'"{t}"' for t in tables)
    rows = con.execute(f"SELECT variant, {cols} FROM runs WHERE status = 'ok' "
                       "ORDER BY started_at, seed").fetchall()
    first: dict[str, dict[str, dict]] = {}
    for variant, *values in rows:
        if variant not in first:
            first[variant] = {t.removeprefix("table."): v for t, v in zip(tables, values) if v}
    return first


def run_page(folder: str | Path, out: str | Path | None = None) -> Path | None:
    """Write ``figures.html`` for a scenario run: schedules and distributions by policy.

    Returns:
        The page's path, or None when the runs hold no tables to draw.
    """
    folder = Path(folder)
    con = connect(folder)
    tables = _first_tables(con)
    figures = []
    schedules = {v: t["schedule"] for v, t in tables.items() if "schedule" in t}
    agents = {v: t["agents"] for v, t in tables.items() if "agents" in t}
    if schedules:
        top = max((max(a.get("income", [0.0]) or [0.0]) for a in agents.values()), default=0.0)
        top = max(top, max(max(s["cutoff"]) for s in schedules.values())) * 1.1
        figures.append(tax_schedule_figure(schedules, max_income=top))
    if agents and all("skill" in a for a in agents.values()):
        figures.append(by_skill_figure(agents, "hours", title="Hours worked by skill"))
        figures.append(by_skill_figure(agents, "income", title="Pre-tax income by skill"))
    for column, title, axis in (("income", "Pre-tax income", "coin"),
                                ("consumption", "Income after tax and transfer", "coin"),
                                ("utility", "Utility", "utils")):
        samples = {v: a[column] for v, a in agents.items() if column in a}
        if samples:
            figures.append(distribution_figure(samples, title=title, axis=axis))
    if not figures:
        return None
    scenarios = read_manifest(folder)
    spec = next(iter(scenarios.values()))["spec"] if len(scenarios) == 1 else {}
    title = f"Scenario {spec.get('name', folder.name)}"
    return write_page(out or folder / "figures.html", figures, title=title,
                      intro=spec.get("question", ""))
