"""Tax design: bracket rates nearest a target schedule that raise a revenue."""

import numpy as np
import pytest
import torch

from sandbox.core.errors import ConfigError
from sandbox.optimize import (
    LeastSquaresQP,
    QPConfig,
    QPInfeasibleError,
    bracket_base,
    design_bracket_rates,
)
from sandbox.optimize.tax_design import NON_DECREASING, RATE_BOUNDS, REVENUE
from sandbox.worlds.economy.tax_schedule import income_in_brackets, tax_owed

CUTOFFS = [0.0, 10.0, 40.0, 90.0]


def incomes(seed=0, n=200):
    return np.random.default_rng(seed).lognormal(mean=3.0, sigma=1.0, size=n)


def pool_adjacent_violators(y, w):
    """Weighted isotonic (non-decreasing) regression, the textbook pooling algorithm."""
    blocks = []   # [mean, weight, count]
    for value, weight in zip(y, w):
        blocks.append([value, weight, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            v2, w2, c2 = blocks.pop()
            v1, w1, c1 = blocks.pop()
            blocks.append([(v1 * w1 + v2 * w2) / (w1 + w2), w1 + w2, c1 + c2])
    return np.concatenate([[v] * c for v, _, c in blocks])


def test_bracket_base_sums_income_in_brackets_and_prices_the_schedule():
    z = incomes()
    base = bracket_base(torch.tensor(z), CUTOFFS)
    expected = income_in_brackets(torch.tensor(z), torch.tensor(CUTOFFS, dtype=torch.float64))
    np.testing.assert_allclose(base, expected.sum(0).numpy())
    assert base.sum() == pytest.approx(z.sum())
    rates = np.array([0.1, 0.2, 0.3, 0.4])
    owed = tax_owed(torch.tensor(z)[None], torch.tensor(CUTOFFS, dtype=torch.float64),
                    torch.tensor(rates)[None])
    assert base @ rates == pytest.approx(float(owed.sum()), rel=1e-12)


def test_a_slack_revenue_constraint_returns_the_target():
    target = np.array([0.1, 0.12, 0.3, 0.35])
    design = design_bracket_rates(target, cutoffs=CUTOFFS, incomes=incomes(),
                                  revenue_required=10.0)
    np.testing.assert_allclose(design.rates, target, atol=1e-9)
    assert not design.revenue_binding and design.qp.active[REVENUE].size == 0
    assert design.revenue > design.revenue_required


@pytest.mark.parametrize("seed", range(3))
def test_a_binding_revenue_constraint_holds_with_equality_at_the_closed_form(seed):
    z = incomes(seed)
    target = np.array([0.0, 0.1, 0.2, 0.3])
    weights = np.array([1.0, 2.0, 1.0, 0.5])
    base = bracket_base(z, CUTOFFS)
    required = 1.2 * float(base @ target)
    design = design_bracket_rates(target, cutoffs=CUTOFFS, incomes=z, weights=weights,
                                  revenue_required=required)
    # Lagrange: rate = target + mu * base / weights, mu set by base @ rate = required.
    mu = (required - base @ target) / np.sum(base**2 / weights)
    np.testing.assert_allclose(design.rates, target + mu * base / weights, atol=1e-9)
    assert design.revenue == pytest.approx(required, rel=1e-9)
    assert design.revenue_binding and design.qp.is_active(REVENUE)
    # Multiplier of -base @ rate <= -required in the objective's units: 2 mu.
    assert design.qp.constraints[REVENUE].dual[0] == pytest.approx(2 * mu, rel=1e-6)
    assert design.qp.residuals[REVENUE] <= 1e-9 * required


def test_rates_above_the_cap_are_clipped_and_reported_active():
    design = design_bracket_rates([0.2, 0.5, 0.9, 1.3], cutoffs=CUTOFFS, incomes=incomes(),
                                  revenue_required=0.0, upper=0.8)
    np.testing.assert_allclose(design.rates, [0.2, 0.5, 0.8, 0.8], atol=1e-9)
    np.testing.assert_array_equal(design.qp.active[RATE_BOUNDS], [2, 3])


@pytest.mark.parametrize("target", [[0.3, 0.1, 0.25, 0.4], [0.3, 0.1, 0.2, 0.2],
                                    [0.5, 0.4, 0.3, 0.2]])
def test_monotone_rates_are_the_weighted_isotonic_regression(target):
    weights = np.array([1.0, 3.0, 2.0, 1.0])
    design = design_bracket_rates(target, cutoffs=CUTOFFS, incomes=incomes(), weights=weights,
                                  revenue_required=0.0, non_decreasing=True)
    np.testing.assert_allclose(design.rates, pool_adjacent_violators(target, weights),
                               atol=1e-9)
    assert (np.diff(design.rates) >= 0).all()


@pytest.mark.parametrize("seed", range(4))
def test_monotone_rates_stay_non_decreasing_when_revenue_binds(seed):
    rng = np.random.default_rng(seed)
    z = incomes(seed)
    target = rng.uniform(0.0, 0.5, size=4)
    unconstrained = design_bracket_rates(target, cutoffs=CUTOFFS, incomes=z,
                                         non_decreasing=True, revenue_required=0.0)
    required = 1.3 * unconstrained.revenue
    design = design_bracket_rates(target, cutoffs=CUTOFFS, incomes=z, non_decreasing=True,
                                  revenue_required=required)
    assert (np.diff(design.rates) >= 0).all()
    assert design.revenue >= required * (1 - 1e-9) and design.revenue_binding
    assert set(design.qp.constraints) == {REVENUE, RATE_BOUNDS, NON_DECREASING}


def test_polishing_removes_the_interior_point_error_of_a_degenerate_problem():
    target, kwargs = [0.3, 0.1, 0.2, 0.2], dict(cutoffs=CUTOFFS, incomes=incomes(),
                                                revenue_required=0.0, non_decreasing=True)
    raw = design_bracket_rates(target, **kwargs, problem=LeastSquaresQP(QPConfig(polish=False)))
    polished = design_bracket_rates(target, **kwargs)
    assert polished.qp.polished and not raw.qp.polished
    np.testing.assert_allclose(raw.rates, 0.2, atol=1e-3)
    np.testing.assert_allclose(polished.rates, 0.2, atol=1e-12)


def test_revenue_beyond_full_taxation_names_the_revenue_constraint():
    z = incomes()
    with pytest.raises(QPInfeasibleError) as caught:
        design_bracket_rates([0.2] * 4, cutoffs=CUTOFFS, incomes=z,
                             revenue_required=1.01 * z.sum())   # rates of 1 raise z.sum()
    assert REVENUE in caught.value.constraint_sets and RATE_BOUNDS in caught.value.constraint_sets
    assert "'revenue'" in str(caught.value)


def test_warm_redesign_at_new_incomes_matches_a_cold_one():
    problem = LeastSquaresQP()
    target = [0.1, 0.2, 0.3, 0.4]
    first = design_bracket_rates(target, cutoffs=CUTOFFS, incomes=incomes(1),
                                 revenue_required=500.0, problem=problem)
    warm = design_bracket_rates(target, cutoffs=CUTOFFS, incomes=incomes(2),
                                revenue_required=900.0, problem=problem)
    cold = design_bracket_rates(target, cutoffs=CUTOFFS, incomes=incomes(2),
                                revenue_required=900.0)
    assert not first.qp.warm and warm.qp.warm
    np.testing.assert_allclose(warm.rates, cold.rates, atol=1e-10)


@pytest.mark.parametrize("kwargs, field", [
    ({"target_rates": [0.1, 0.2]}, "target_rates"),
    ({"incomes": np.ones((2, 3))}, "incomes"),
    ({"incomes": []}, "incomes"),
    ({"cutoffs": [5.0, 10.0, 40.0, 90.0]}, "cutoffs"),
    ({"weights": [1.0, -1.0, 1.0, 1.0]}, "weights"),
    ({"revenue_required": float("nan")}, "revenue_required"),
    ({"upper": [1.0, 1.0]}, "upper"),
])
def test_bad_input_names_the_argument(kwargs, field):
    args = {"target_rates": [0.1] * 4, "cutoffs": CUTOFFS, "incomes": incomes(),
            "revenue_required": 0.0} | kwargs
    with pytest.raises(ConfigError) as caught:
        design_bracket_rates(args.pop("target_rates"), **args)
    assert caught.value.field == field
