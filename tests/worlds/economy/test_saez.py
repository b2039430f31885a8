"""Saez rates: Pareto closed forms, Foundation's binning, the elasticity estimate, the planner."""

import pytest
import torch

from sandbox.core.errors import ConfigError
from sandbox.core.registry import POLICIES
from sandbox.worlds.economy.onestep import OneStepEconomy, OneStepParams
from sandbox.worlds.economy.saez import (
    _fill_gaps,
    bin_rates,
    bin_statistics,
    bracket_rates,
    estimate_elasticity,
    saez_equilibrium_rates,
    saez_rates,
)
from sandbox.worlds.economy.utility import UtilityParams


def pareto_incomes(a, *, n=200_000, scale=1.0):
    """Stratified Pareto(a) sample with minimum ``scale``: quantiles (i - 1/2)/n."""
    u = (torch.arange(n, dtype=torch.float64) + 0.5) / n
    return scale * (1.0 - u).pow(-1.0 / a)


CUTOFFS = torch.tensor([0.0, 1.5, 2.0, 3.0, 4.0], dtype=torch.float64)


@pytest.mark.parametrize("a", [2.5, 3.0, 4.0])
@pytest.mark.parametrize("e", [0.25, 0.5, 1.0])
def test_top_rate_with_zero_top_weight_is_the_pareto_closed_form(a, e):
    income = pareto_incomes(a)
    rates = saez_rates(income, cutoffs=CUTOFFS, elasticity=e, weights="revenue")
    assert float(rates[-1]) == pytest.approx(1.0 / (1.0 + a * e), rel=0.01)
    g, big_a = bin_statistics(income, top_cutoff=4.0, weights="revenue")
    assert float(big_a[-1]) == pytest.approx(a, rel=0.01)  # zbar / (zbar - z_top) = a
    assert torch.equal(g, torch.zeros_like(g))


def test_revenue_weights_give_the_laffer_rate_in_every_populated_bracket():
    a, e = 3.0, 0.5
    rates = saez_rates(pareto_incomes(a), cutoffs=CUTOFFS, elasticity=e, weights="revenue")
    # Brackets above the Pareto minimum (1): A(z) = a everywhere, so tau = 1 / (1 + a e).
    assert torch.allclose(rates[1:], torch.full((4,), 1 / (1 + a * e), dtype=torch.float64),
                          rtol=0.01)


def test_inverse_income_top_weight_follows_the_pareto_closed_form():
    # Weights 1/z: the mean above T over the overall mean is 1/T for a Pareto(a) with
    # minimum 1, so the top rate is (1 - 1/T) / (1 - 1/T + a e).
    a, e, top = 3.0, 0.5, 4.0
    rates = saez_rates(pareto_incomes(a), cutoffs=CUTOFFS, elasticity=e)
    g = 1.0 / top
    assert float(rates[-1]) == pytest.approx((1 - g) / (1 - g + a * e), rel=0.01)


def test_uniform_weights_give_no_tax():
    # Foundation's normalisation makes the average weight above every z equal to 1.
    rates = saez_rates(pareto_incomes(3.0), cutoffs=CUTOFFS, elasticity=0.5, weights="uniform")
    assert float(rates.abs().max()) < 1e-6


def test_empty_bins_are_interpolated_linearly():
    rates = torch.tensor([float("nan"), 0.2, float("nan"), float("nan"), 0.5, 0.6])
    filled = _fill_gaps(rates)
    assert torch.allclose(filled, torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]))
    # Incomes only in two bins: the bins between get rates on the line joining theirs.
    income = torch.tensor([0.5] * 10 + [9.5] * 10 + [12.0] * 5, dtype=torch.float64)
    g, a = bin_statistics(income, top_cutoff=10.0, weights="revenue", num_bins=10)
    assert torch.isnan(a[1:9]).all() and not torch.isnan(a[[0, 9, 10]]).any()
    per_bin = bin_rates(g, a, 0.5)
    steps = per_bin[:10].diff()
    assert torch.allclose(steps, steps[0].expand(9), atol=1e-12)


def test_bracket_rates_average_the_bin_rates_over_each_bracket():
    cutoffs = torch.tensor([0.0, 4.0, 10.0], dtype=torch.float64)
    per_bin = torch.tensor([0.1] * 4 + [0.3] * 6 + [0.7], dtype=torch.float64)  # 10 bins of 1
    assert torch.allclose(bracket_rates(per_bin, cutoffs=cutoffs),
                          torch.tensor([0.1, 0.3, 0.7], dtype=torch.float64))
    mixed = torch.tensor([0.0, 2.0, 10.0], dtype=torch.float64)  # bracket 2..10: 2 x 0.1, 6 x 0.3
    assert float(bracket_rates(per_bin, cutoffs=mixed)[1]) == pytest.approx((0.2 + 1.8) / 8)


def test_elasticity_estimate_recovers_a_known_elasticity():
    gen = torch.Generator().manual_seed(0)
    tau = 0.6 * torch.rand(5000, generator=gen, dtype=torch.float64)
    noise = torch.exp(0.1 * torch.randn(5000, generator=gen, dtype=torch.float64))
    income = 50.0 * (1 - tau).pow(0.7) * noise
    assert estimate_elasticity(income, tau) == pytest.approx(0.7, abs=0.03)


def test_worker_fixed_effects_remove_the_cross_section_bias():
    # Richer workers face higher rates: pooled OLS confounds skill with the rate, the
    # within-worker estimate does not.
    skill = torch.linspace(1.0, 10.0, 50, dtype=torch.float64).repeat(4)
    worker = torch.arange(50).repeat(4)
    shift = torch.tensor([0.0, 0.05, 0.1, 0.15], dtype=torch.float64).repeat_interleave(50)
    tau = 0.05 * skill + shift
    income = skill * (1 - tau).pow(0.5)
    assert estimate_elasticity(income, tau) == 0.0  # biased negative, clipped
    assert estimate_elasticity(income, tau, groups=worker) == pytest.approx(0.5, abs=1e-9)
    assert estimate_elasticity(income, torch.zeros_like(tau), fallback=0.3) == 0.3


def world(**overrides):
    params = dict(rate_actions="continuous", hours_actions="continuous")
    params.update(overrides)
    return OneStepEconomy(OneStepParams(**params))


def test_planner_estimates_the_worlds_elasticity_from_its_own_iterations():
    w = world()  # isoelastic, eta = 0, delta = 2: elasticity 1/(delta - 1) = 1
    known = POLICIES.get("saez")(w, "planner")
    known_result = known.solve()
    assert known_result.elasticity == 1.0 and known_result.converged
    estimated = POLICIES.get("saez")(w, "planner", elasticity="estimate").solve()
    assert estimated.elasticity == pytest.approx(1.0, abs=1e-3)  # bunchers left out
    assert torch.allclose(estimated.rates, known_result.rates, atol=0.02)
    fixed = POLICIES.get("saez")(w, "planner", elasticity=0.25).solve()
    assert fixed.elasticity == 0.25
    assert float(fixed.rates[2]) > float(known_result.rates[2]) + 0.1  # less elastic: taxed more


def test_planner_estimates_when_income_effects_leave_no_constant_elasticity():
    w = world(utility=UtilityParams(eta=0.3, kappa=0.003), num_workers=40)
    assert w.params.utility.net_of_tax_elasticity is None
    planner = POLICIES.get("saez")(w, "planner")
    result = planner.solve()
    assert result.elasticity != 0.5  # moved off Foundation's starting value
    assert 0.0 < result.elasticity < 2.0
    assert planner.describe()["elasticity_used"] == result.elasticity


def test_planner_rates_are_a_fixed_point_and_respect_the_cap():
    w = world(rate_actions="discrete", hours_actions="discrete")
    planner = POLICIES.get("saez")(w, "planner", iterations=100)
    result = planner.solve()
    assert result.converged
    obs = w.reset()
    action = planner.act(obs["planner"], w.action_masks()["planner"])
    chosen = w.rates_from_action(action)[0]
    levels = torch.linspace(0, 1, 21)
    assert bool(torch.isin(chosen, levels).all())
    # The Saez rates of the equilibrium at the chosen rates are (nearly) the same rates.
    from sandbox.worlds.economy.best_response import equilibrium
    outcome = equilibrium(w.skills, cutoffs=w.cutoffs, rates=chosen[None],
                          utility_params=w.params.utility, hours_grid=w.hours_grid)
    again = saez_rates(outcome.income[0], cutoffs=w.cutoffs, elasticity=1.0)
    assert float((again - result.rates).abs().max()) < 0.05
    w.set_rate_cap(0.3)
    capped = w.rates_from_action(planner.act(obs["planner"], w.action_masks()["planner"]))
    assert float(capped.max()) <= 0.3 + 1e-6
    mask = w.action_masks()["planner"][0, 0].reshape(7, 21)
    picked = planner.act(obs["planner"])[0, 0]
    assert bool(mask[torch.arange(7), picked].all())


def test_saez_equilibrium_reaches_the_same_rates_from_different_damping():
    w = world()
    kw = dict(cutoffs=w.cutoffs, utility_params=w.params.utility, elasticity=1.0)
    fast = saez_equilibrium_rates(w.skills, damping=1.0, **kw)
    slow = saez_equilibrium_rates(w.skills, damping=0.3, **kw)
    assert fast.converged and slow.converged
    assert torch.allclose(fast.rates[:-1], slow.rates[:-1], atol=0.02)


@pytest.mark.parametrize("params, field", [
    ({"weights": "equal"}, "saez.weights"),
    ({"elasticity": -0.5}, "saez.elasticity"),
    ({"elasticity": "high"}, "saez.elasticity"),
    ({"iterations": 0}, "saez.iterations"),
    ({"damping": 0.0}, "saez.damping"),
    ({"speed": 1}, "saez.speed"),
])
def test_planner_rejects_bad_parameters(params, field):
    with pytest.raises(ConfigError, match=field):
        POLICIES.get("saez")(world(num_workers=4), "planner", **params)
    with pytest.raises(ConfigError, match="role"):
        POLICIES.get("saez")(world(num_workers=4), "workers")
