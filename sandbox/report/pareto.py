"""Pareto fronts of two losses, and the report's deaths-against-economic-loss figure.

:func:`pareto_front` is the pure computation: of a list of points whose coordinates are
all to be *minimised*, which are non-dominated. :func:`tradeoff_points` turns a scenario's
runs into one point per policy (and per sweep point, when the scenario sweeps) with its
95 % intervals and Pareto flag, for the figure the report shows whenever the results
hold both metrics of :data:`TRADEOFF` (the epidemic economy's ``economic_loss`` and
``deaths``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from sandbox.report.load import ScenarioResults
from sandbox.report.stats import estimate

#: The losses drawn against each other (x, y), both lower-is-better.
TRADEOFF = ("economic_loss", "deaths")


def pareto_front(points: Sequence[Sequence[float]]) -> list[bool]:
    """Which points are non-dominated when every coordinate is to be minimised.

    A point dominates another when it is no larger in every coordinate and smaller in at
    least one. Equal points do not dominate each other (both stay in the front). Points
    with a NaN coordinate are never in the front and dominate nothing.

    Args:
        points: one sequence of coordinates per candidate, all of the same length.

    Returns:
        One flag per point, in the input's order: True for the Pareto front.

    Raises:
        ValueError: points of different lengths.
    """
    if len({len(p) for p in points}) > 1:
        raise ValueError("pareto_front needs points with the same number of coordinates")
    clean = [not any(math.isnan(float(c)) for c in p) for p in points]
    # sorted by the coordinates, a point can only be dominated by one before it
    order = sorted((i for i in range(len(points)) if clean[i]),
                   key=lambda i: tuple(float(c) for c in points[i]))
    front = [False] * len(points)
    kept: list[tuple[float, ...]] = []
    for i in order:
        p = tuple(float(c) for c in points[i])
        if not any(_dominates(q, p) for q in kept):
            front[i] = True
            kept.append(p)
    return front


def _dominates(p: tuple[float, ...], q: tuple[float, ...]) -> bool:
    return all(a <= b for a, b in zip(p, q)) and any(a < b for a, b in zip(p, q))


def tradeoff_points(results: ScenarioResults, *, x: str = TRADEOFF[0],
                    y: str = TRADEOFF[1]) -> list[dict] | None:
    """One record per policy (and sweep point) on the ``x``-``y`` plane, with its Pareto flag.

    Returns:
        Records with ``policy`` (the policy's label, plus the swept values when the
        scenario sweeps), ``x``, ``x_half_width``, ``y``, ``y_half_width`` (means and
        95 % Student-t half-widths over the runs) and ``pareto``; None when the results
        lack either metric or hold no successful run.
    """
    if x not in results.metrics or y not in results.metrics or not results.ok.any():
        return None
    groups: dict[tuple, list[int]] = {}
    for i in np.flatnonzero(results.ok):
        point = tuple(results.runs[p][i] for p in results.params)
        groups.setdefault((str(results.runs["variant"][i]), point), []).append(int(i))
    records = []
    for (variant, point), rows in sorted(groups.items(), key=lambda g: (
            results.variants.index(g[0][0]) if g[0][0] in results.variants else 0, str(g[0][1]))):
        label = variant
        if point:
            label += " (" + ", ".join(f"{p.removeprefix('param.').split('.')[-1]}={v}"
                                      for p, v in zip(results.params, point)) + ")"
        ex, ey = (estimate(results.runs[m][rows].astype(np.float64).tolist()) for m in (x, y))
        records.append({"policy": label, "variant": variant, x: ex.mean,
                        f"{x}_half_width": ex.half_width, y: ey.mean,
                        f"{y}_half_width": ey.half_width, "runs": len(rows)})
    for record, flag in zip(records, pareto_front([(r[x], r[y]) for r in records])):
        record["pareto"] = flag
    return records
