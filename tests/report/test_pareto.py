"""The Pareto front of two losses (pure function) and the trade-off points of a report."""

import math
import random
from pathlib import Path

import numpy as np
import pytest

from sandbox.report.load import ScenarioResults
from sandbox.report.pareto import TRADEOFF, pareto_front, tradeoff_points


def dominates(p, q) -> bool:
    return all(a <= b for a, b in zip(p, q)) and any(a < b for a, b in zip(p, q))


def brute_force(points) -> list[bool]:
    clean = [not any(math.isnan(c) for c in p) for p in points]
    return [ok and not any(clean[j] and dominates(points[j], p) for j in range(len(points)))
            for p, ok in zip(points, clean)]


def random_points(rng: random.Random, n: int, dims: int, grid: int | None = None):
    if grid:  # coarse values: many ties
        return [tuple(float(rng.randrange(grid)) for _ in range(dims)) for _ in range(n)]
    return [tuple(rng.random() for _ in range(dims)) for _ in range(n)]


def test_known_front():
    points = [(1.0, 5.0), (2.0, 3.0), (3.0, 4.0), (4.0, 1.0), (2.0, 3.0), (5.0, 5.0)]
    # (3, 4) is beaten by (2, 3); (5, 5) by all; the two equal (2, 3) both stay
    assert pareto_front(points) == [True, True, False, True, True, False]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("n,dims,grid", [(0, 2, None), (1, 2, None), (7, 2, None),
                                         (60, 2, None), (60, 2, 5), (40, 3, 4), (30, 1, 6)])
def test_front_matches_the_definition(seed, n, dims, grid):
    points = random_points(random.Random(seed * 100 + n), n, dims, grid)
    front = pareto_front(points)
    assert front == brute_force(points)
    kept = [p for p, f in zip(points, front) if f]
    # nothing dominates a front point, and every other point is dominated by a front point
    assert not any(dominates(q, p) for p in kept for q in points)
    assert all(any(dominates(q, p) for q in kept) for p, f in zip(points, front) if not f)
    if points:
        assert any(front)  # a finite non-empty set always has a non-dominated point


@pytest.mark.parametrize("seed", range(4))
def test_front_ignores_order_and_monotone_rescaling(seed):
    rng = random.Random(seed)
    points = random_points(rng, 50, 2, grid=8)
    front = pareto_front(points)
    order = list(range(len(points)))
    rng.shuffle(order)
    shuffled = pareto_front([points[i] for i in order])
    assert [front[i] for i in order] == shuffled
    rescaled = [(math.exp(x), 3.0 * y - 7.0) for x, y in points]  # increasing maps
    assert pareto_front(rescaled) == front


def test_minimum_of_each_coordinate_is_in_the_front():
    points = random_points(random.Random(3), 40, 2)
    front = pareto_front(points)
    for axis in range(2):
        best = min(range(len(points)), key=lambda i: (points[i][axis], points[i][1 - axis]))
        assert front[best]


def test_nan_points_are_never_in_the_front_and_dominate_nothing():
    points = [(float("nan"), 0.0), (1.0, 1.0), (0.5, float("nan")), (2.0, 2.0)]
    assert pareto_front(points) == [False, True, False, False]
    assert pareto_front([(float("nan"), float("nan"))]) == [False]


def test_points_of_different_lengths_are_refused():
    with pytest.raises(ValueError, match="same number of coordinates"):
        pareto_front([(1.0, 2.0), (1.0,)])


def results_of(rows: list[dict], params: tuple[str, ...] = ()) -> ScenarioResults:
    """A ScenarioResults over in-memory runs (no files: tradeoff_points reads none)."""
    columns = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    metrics = tuple(m for m in ("deaths", "economic_loss", "infections") if m in columns)
    variants = tuple(dict.fromkeys(r["variant"] for r in rows))
    return ScenarioResults(folder=Path("."), name="study", scenario_hash="0", spec=None,
                           runs=columns, metrics=metrics, params=params, variants=variants)


def run(variant, seed, deaths, loss, status="ok", **extra):
    return {"run_id": f"{variant}-{seed}-{extra}", "variant": variant, "seed": seed,
            "status": status, "deaths": deaths, "economic_loss": loss, **extra}


def test_tradeoff_points_per_policy_with_intervals_and_flags():
    rows = [run("No mandate", s, 600.0 + s, 0.02) for s in range(3)]
    rows += [run("Mandate 1%", s, 200.0 + 2 * s, 0.30) for s in range(3)]
    rows += [run("Lockdown", s, 210.0, 0.80) for s in range(3)]  # dominated by Mandate 1%
    rows += [run("Lockdown", 9, 0.0, 0.0, status="failed")]  # failed runs do not count
    points = tradeoff_points(results_of(rows))
    by = {p["policy"]: p for p in points}
    assert set(by) == {"No mandate", "Mandate 1%", "Lockdown"}
    assert by["No mandate"]["deaths"] == pytest.approx(601.0)
    assert by["No mandate"]["runs"] == 3
    assert by["Lockdown"]["deaths_half_width"] == pytest.approx(0.0)
    assert by["Mandate 1%"]["economic_loss"] == pytest.approx(0.30)
    assert [by[k]["pareto"] for k in ("No mandate", "Mandate 1%", "Lockdown")] == [
        True, True, False]


def test_tradeoff_points_per_sweep_point():
    param = "param.roles.planner.params.threshold"
    rows = [run("Threshold", s, 100.0 * x, 1.0 - x, **{param: x})
            for x in (0.1, 0.5) for s in range(2)]
    rows += [run("Threshold", s, 100.0, 0.9, **{param: 0.9}) for s in range(2)]
    points = tradeoff_points(results_of(rows, params=(param,)))
    labels = [p["policy"] for p in points]
    assert labels == ["Threshold (threshold=0.1)", "Threshold (threshold=0.5)",
                      "Threshold (threshold=0.9)"]
    assert [p["pareto"] for p in points] == [True, True, False]


def test_no_tradeoff_without_both_metrics():
    rows = [{"run_id": "a", "variant": "A", "seed": 0, "status": "ok", "deaths": 1.0,
             "infections": 0.1}]
    assert tradeoff_points(results_of(rows)) is None
    assert TRADEOFF == ("economic_loss", "deaths")
