"""Exact worker best responses: maxima of the choice set, closed forms, the lump-sum fixed point."""

import pytest
import torch

from sandbox.core.errors import ConfigError
from sandbox.core.registry import POLICIES
from sandbox.worlds.economy import best_response
from sandbox.worlds.economy.best_response import best_response_hours, equilibrium
from sandbox.worlds.economy.onestep import OneStepEconomy, OneStepParams
from sandbox.worlds.economy.tax_schedule import tax_owed
from sandbox.worlds.economy.utility import UtilityParams, utility

CUTOFFS = torch.tensor([0.0, 9.7, 39.475, 84.2, 160.725, 204.1, 510.3], dtype=torch.float64)
LINEAR = UtilityParams(eta=0.0, kappa=0.015, delta=2.0)
CURVED = UtilityParams(eta=0.5, kappa=0.002, delta=2.0)
QUASI = UtilityParams(form="quasilinear", kappa=0.5, elasticity=0.4)


def skills(n=60, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (1.0 + 2.0 * torch.rand(n, generator=gen, dtype=torch.float64)).sort().values


def random_rates(batch, seed):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(batch, CUTOFFS.numel(), generator=gen, dtype=torch.float64) * 0.9


def utility_of(skill, hours, rates, lump_sum, params):
    """Plain pricing with the lead's tax_owed, independent of best_response's own."""
    income = skill * hours
    flat = income.reshape(rates.shape[0], -1)
    consumption = flat - tax_owed(flat, CUTOFFS, rates) + torch.as_tensor(lump_sum).reshape(-1, 1)
    return utility(consumption.reshape(income.shape), hours, params)


@pytest.mark.parametrize("params", [LINEAR, CURVED, QUASI])
@pytest.mark.parametrize("grid", [torch.arange(101.0, dtype=torch.float64), None])
def test_hours_and_income_rise_with_skill_under_a_flat_tax(params, grid):
    s = skills()
    rates = torch.full((1, CUTOFFS.numel()), 0.3, dtype=torch.float64)
    outcome = equilibrium(s, cutoffs=CUTOFFS, rates=rates, utility_params=params, hours_grid=grid)
    assert bool((outcome.hours[0].diff() >= 0).all())
    assert bool((outcome.income[0].diff() > 0).all())
    assert float(outcome.hours[0, -1]) > float(outcome.hours[0, 0])


@pytest.mark.parametrize("params", [LINEAR, CURVED, QUASI])
def test_grid_best_response_beats_every_grid_point(params):
    s, grid = skills(40), torch.arange(101.0, dtype=torch.float64)
    rates, lump = random_rates(3, seed=1), torch.tensor([0.0, 5.0, 30.0], dtype=torch.float64)
    hours = best_response_hours(s, cutoffs=CUTOFFS, rates=rates, lump_sum=lump,
                                utility_params=params, hours_grid=grid)
    assert bool(torch.isin(hours, grid).all())
    chosen = utility_of(s, hours, rates, lump, params)
    every = torch.stack([utility_of(s, torch.full_like(hours, h), rates, lump, params)
                         for h in grid.tolist()], dim=-1)
    assert torch.allclose(chosen, every.max(-1).values, rtol=0, atol=1e-9)


@pytest.mark.parametrize("params", [LINEAR, CURVED, QUASI])
def test_continuous_best_response_matches_a_fine_grid(params):
    s, rates = skills(40), random_rates(3, seed=2)
    lump = torch.tensor([0.0, 3.0, 20.0], dtype=torch.float64)
    fine = torch.linspace(0.0, 100.0, 20001, dtype=torch.float64)  # 0.005-hour steps
    kw = dict(cutoffs=CUTOFFS, rates=rates, lump_sum=lump, utility_params=params)
    exact = best_response_hours(s, **kw)
    on_grid = best_response_hours(s, hours_grid=fine, **kw)
    u_exact = utility_of(s, exact, rates, lump, params)
    u_grid = utility_of(s, on_grid, rates, lump, params)
    assert bool((u_exact >= u_grid - 1e-9).all())  # the exact optimum is never beaten
    # ... and the grid comes within half a step times the slope of u (bunchers at a kink
    # lose O(step), interior optima O(step^2)); |du/dL| <= s + kappa p L^(p-1) < 8 here.
    assert float((u_exact - u_grid).max()) < 0.0025 * 8
    interior = (s * exact - CUTOFFS.unsqueeze(-1).unsqueeze(-1)).abs().amin(0) > 0.1
    assert float((u_exact - u_grid)[interior].max()) < 1e-4
    assert bool(((exact >= 0) & (exact <= 100)).all())


def test_quasilinear_closed_form():
    s = skills(30)
    tau, e, kappa = 0.25, QUASI.elasticity, QUASI.kappa
    rates = torch.full((1, CUTOFFS.numel()), tau, dtype=torch.float64)
    hours = best_response_hours(s, cutoffs=CUTOFFS, rates=rates, lump_sum=0.0,
                                utility_params=QUASI, max_hours=1e6)
    assert torch.allclose(hours[0], ((1 - tau) * s / kappa) ** e, rtol=1e-9, atol=0)


def test_hours_stop_at_kinks_and_at_max_hours():
    # One worker whose interior optimum lies above a kink where the rate jumps to 90 %:
    # with linear utility she bunches exactly at the kink.
    s = torch.tensor([2.0], dtype=torch.float64)
    cutoffs = torch.tensor([0.0, 50.0], dtype=torch.float64)
    params = UtilityParams(eta=0.0, kappa=0.01, delta=2.0)  # free optimum 100 h -> z 200
    rates = torch.tensor([[0.0, 0.9]], dtype=torch.float64)
    hours = best_response_hours(s, cutoffs=cutoffs, rates=rates, lump_sum=0.0,
                                utility_params=params)
    assert float(hours) == pytest.approx(25.0)  # income 50, the kink
    capped = best_response_hours(s, cutoffs=cutoffs, rates=rates * 0, lump_sum=0.0,
                                 utility_params=params, max_hours=60.0)
    assert float(capped) == pytest.approx(60.0)


@pytest.mark.parametrize("grid", [None, torch.arange(101.0, dtype=torch.float64)])
def test_lump_sum_fixed_point(grid):
    s, rates = skills(50), random_rates(2, seed=3)
    outcome = equilibrium(s, cutoffs=CUTOFFS, rates=rates, utility_params=CURVED, hours_grid=grid)
    assert torch.allclose(outcome.lump_sum, outcome.revenue / s.numel())
    assert torch.allclose(outcome.consumption.sum(-1), outcome.income.sum(-1))  # conservation
    again = best_response_hours(s, cutoffs=CUTOFFS, rates=rates, lump_sum=outcome.lump_sum,
                                utility_params=CURVED, hours_grid=grid)
    naive = best_response_hours(s, cutoffs=CUTOFFS, rates=rates, lump_sum=0.0,
                                utility_params=CURVED, hours_grid=grid)
    if grid is None:
        assert torch.allclose(again, outcome.hours, atol=1e-6)  # consistent expectations
        assert float((naive - outcome.hours).abs().max()) > 0.1  # the transfer matters
    else:
        assert float((again - outcome.hours).abs().max()) <= 1.0  # at most one grid step


def test_chunked_grid_equals_unchunked(monkeypatch):
    s, rates, grid = skills(64), random_rates(2, seed=4), torch.arange(101.0, dtype=torch.float64)
    kw = dict(cutoffs=CUTOFFS, rates=rates, lump_sum=2.0, utility_params=CURVED, hours_grid=grid)
    whole = best_response_hours(s, **kw)
    monkeypatch.setattr(best_response, "CHUNK_ELEMENTS", 2 * 101 * 5)  # 5 agents at a time
    assert torch.equal(best_response_hours(s, **kw), whole)


def test_zero_skill_and_full_tax_choose_no_work():
    s = torch.tensor([0.0, 2.0], dtype=torch.float64)
    rates = torch.tensor([[1.0] * 7], dtype=torch.float64)
    for grid in (None, torch.arange(101.0, dtype=torch.float64)):
        hours = best_response_hours(s, cutoffs=CUTOFFS, rates=rates, lump_sum=1.0,
                                    utility_params=CURVED, hours_grid=grid)
        assert torch.equal(hours, torch.zeros(1, 2, dtype=torch.float64))


@pytest.mark.parametrize("hours_actions", ["discrete", "continuous"])
def test_policy_plays_the_equilibrium_in_each_environment(hours_actions):
    world = OneStepEconomy(OneStepParams(num_workers=30, hours_actions=hours_actions,
                                         rate_actions="continuous",
                                         utility=UtilityParams(eta=0.3, kappa=0.005)),
                           num_envs=3)
    workers = POLICIES.get("best_response")(world, "workers")
    obs = world.reset(seed=1)
    rates = torch.tensor([[0.1] * 7, [0.4] * 7, [0.1] * 7])
    result = world.step({"planner": world.action_from_rates(rates)})
    action = workers.act(result.obs["workers"])
    settled = world.step({"workers": action}).final_state
    expected = equilibrium(world.skills, cutoffs=world.cutoffs, rates=rates,
                           utility_params=world.params.utility, hours_grid=world.hours_grid,
                           max_hours=100.0)
    assert torch.allclose(settled.hours, expected.hours, atol=1e-4)
    assert torch.equal(settled.hours[0], settled.hours[2])
    assert obs["workers"].shape[0] == 3


def test_policy_factory_rejects_bad_use():
    world = OneStepEconomy(OneStepParams(num_workers=4))
    with pytest.raises(ConfigError, match="role"):
        POLICIES.get("best_response")(world, "planner")
    with pytest.raises(ConfigError, match="best_response.speed"):
        POLICIES.get("best_response")(world, "workers", speed=2)
    with pytest.raises(ConfigError, match="rates"):
        best_response_hours(skills(3), cutoffs=CUTOFFS, rates=torch.zeros(7), lump_sum=0.0,
                            utility_params=LINEAR)
