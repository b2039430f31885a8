"""The report's statistics against analytic answers and scipy / DuckDB references."""

import math

import duckdb
import numpy as np
import pytest
from scipy import stats
from scipy.stats import qmc

from sandbox.report.format import format_estimate, format_number, format_p
from sandbox.report.sensitivity import (
    curve,
    equal_count_bins,
    first_order_index,
    standardized_coefficients,
    sweep_design,
)
from sandbox.report.stats import pareto_set, welch_difference


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_welch_difference_matches_scipy_and_its_interval_matches_its_test(seed):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(1.0, 1.0, 7), rng.normal(0.0, 3.0, 11)
    diff = welch_difference(a.tolist(), b.tolist())
    assert math.isclose(diff.mean, a.mean() - b.mean())
    assert math.isclose(diff.p_value, stats.ttest_ind(a, b, equal_var=False).pvalue)
    # the 95 % interval excludes 0 exactly when the test rejects at 5 %
    assert (abs(diff.mean) > diff.half_width) == diff.significant(0.05)
    assert (diff.n, diff.n_reference) == (7, 11)


def test_welch_difference_edge_cases():
    same = welch_difference([2.0, 2.0], [2.0, 2.0])
    assert (same.half_width, same.p_value, same.significant()) == (0.0, 1.0, False)
    apart = welch_difference([3.0, 3.0], [2.0, 2.0])
    assert (apart.mean, apart.p_value, apart.significant()) == (1.0, 0.0, True)
    one = welch_difference([3.0], [1.0, 2.0])
    assert one.mean == 1.5 and math.isnan(one.p_value) and not one.significant()
    assert math.isnan(welch_difference([], [1.0]).mean)


def test_pareto_set():
    points = [(1.0, 1.0), (2.0, 0.0), (0.5, 0.5), (2.0, 0.0), (float("nan"), 9.0), (1.0, 0.5)]
    assert pareto_set(points) == [True, True, False, True, False, False]
    assert pareto_set([]) == []


def test_first_order_indices_of_a_linear_model():
    # Y = X1 + 2 X2 + 0 X3, X uniform on [0, 1]^3: S = (1, 4, 0) / 5
    x = qmc.Sobol(3, scramble=True, seed=np.random.default_rng(0)).random(4096)
    y = x[:, 0] + 2.0 * x[:, 1]
    found = [first_order_index(x[:, j], y) for j in range(3)]
    assert found == pytest.approx([0.2, 0.8, 0.0], abs=0.02)


def test_first_order_index_of_a_pure_interaction_is_zero_and_of_noise_small():
    x = qmc.Sobol(2, scramble=True, seed=np.random.default_rng(1)).random(4096) - 0.5
    assert first_order_index(x[:, 0], x[:, 0] * x[:, 1]) < 0.02
    noise = np.random.default_rng(2).normal(size=4096)
    assert first_order_index(x[:, 0], noise) < 0.02
    assert math.isnan(first_order_index(x[:3, 0], noise[:3]))
    assert math.isnan(first_order_index(x[:, 0], np.ones(4096)))


def test_equal_count_bins_are_sql_ntile():
    x = np.random.default_rng(3).random(23)
    con = duckdb.connect()
    con.execute("CREATE TABLE t (i INTEGER, v DOUBLE)")
    con.executemany("INSERT INTO t VALUES (?, ?)", list(enumerate(x.tolist())))
    rows = con.execute("SELECT i, ntile(5) OVER (ORDER BY v) - 1 FROM t ORDER BY i").fetchall()
    assert equal_count_bins(x, 5).tolist() == [b for _, b in rows]


def test_standardized_coefficients_of_an_exact_linear_model():
    rng = np.random.default_rng(4)
    x = np.column_stack([rng.uniform(0, 1, 200), rng.uniform(0, 10, 200), np.full(200, 3.0)])
    y = 3.0 * x[:, 0] - x[:, 1]
    coefficients, r2 = standardized_coefficients(x, y)
    assert r2 == pytest.approx(1.0)
    assert coefficients[:2] == pytest.approx([3.0 * x[:, 0].std() / y.std(),
                                              -x[:, 1].std() / y.std()])
    assert math.isnan(coefficients[2])  # a constant column cannot be ranked


def test_curve_groups_grid_values_and_bins_continuous_ones():
    x = np.repeat([0.1, 0.2, 0.3], 4)
    y = x * 10 + np.tile([0.0, 1.0, 2.0, 3.0], 3)
    points = curve(x, y)
    assert [p[0] for p in points] == [0.1, 0.2, 0.3]
    assert [p[1].mean for p in points] == pytest.approx([2.5, 3.5, 4.5])
    many = np.linspace(0, 1, 100)
    binned = curve(many, many)
    assert len(binned) == 10 and all(p[1].n == 10 for p in binned)
    assert [p[0] for p in binned] == sorted(p[0] for p in binned)


@pytest.mark.parametrize(("sweep", "design"), [
    ({"design": "sobol"}, "sobol"), ({"design": "latin_hypercube"}, "lhs"),
    ({"design": "grid"}, "grid"), (None, "unknown"), ({"samples": 3}, "unknown"),
])
def test_sweep_design(sweep, design):
    assert sweep_design(sweep) == design


def test_number_formats():
    assert format_estimate(9404.3, 77.2) == "9,404 ± 77"
    assert format_estimate(0.74031, 0.0016) == "0.7403 ± 0.0016"
    assert format_estimate(6.0, 0.0) == "6.000 ± 0"
    assert format_estimate(float("nan"), 1.0) == "—"
    assert format_estimate(35.28, float("nan")) == "35.28"
    assert format_number(1.5e7) == "1.500e+07" and format_number(0) == "0"
    assert (format_p(0.0004), format_p(0.0123), format_p(None)) == ("< 0.001", "0.012", "—")
