"""The search optimum: no worse than the analytic planners, exact on small cases, cached."""

import pytest
import torch

from sandbox.core.errors import ConfigError
from sandbox.core.registry import POLICIES
from sandbox.worlds.economy import best_response, planners, saez  # noqa: F401  (registers)
from sandbox.worlds.economy.onestep import OneStepEconomy, OneStepParams
from sandbox.worlds.economy.optimum import Economy, search_optimum, world_optimum
from sandbox.worlds.economy.utility import UtilityParams


def planner_welfare(w, name, **params):
    """The planner's reward in one episode with best-responding workers, per env."""
    planner = POLICIES.get(name)(w, "planner", **params)
    workers = POLICIES.get("best_response")(w, "workers")
    obs = w.reset()
    step = w.step({"planner": planner.act(obs["planner"], w.action_masks().get("planner"))})
    result = w.step({"workers": workers.act(step.obs["workers"])})
    return result.rewards["planner"][:, 0]


@pytest.mark.parametrize("kind", ["discrete", "continuous"])
def test_optimum_beats_free_market_us_federal_and_saez(kind):
    w = OneStepEconomy(OneStepParams(rate_actions=kind, hours_actions=kind), num_envs=2)
    best = planner_welfare(w, "search_optimum")
    for rival in ("free_market", "us_federal", "saez"):
        assert bool((best >= planner_welfare(w, rival) - 1e-4).all()), rival
    # The world's own reward agrees with the search's float64 pricing of the same rates.
    assert float(best[0]) == pytest.approx(world_optimum(w).welfare, rel=1e-5)
    assert float(best[0]) > float(planner_welfare(w, "saez")[0]) + 0.1  # strictly, here


def test_utilitarian_planner_with_linear_utility_does_not_tax():
    # Money is worth the same to everyone and taxes only distort hours: the free market
    # is optimal, and every bracket's rate (reached or not) reads 0.
    params = OneStepParams(num_workers=30, rate_actions="continuous",
                           hours_actions="continuous", planner_objective="utilitarian_welfare")
    w = OneStepEconomy(params)
    result = world_optimum(w, coarse_samples=64)
    assert float(result.rates.max()) < 0.01
    free = float(planner_welfare(w, "free_market")[0])
    assert result.welfare == pytest.approx(free, abs=1e-4)


def test_search_finds_the_exhaustive_optimum_of_a_small_grid():
    skill = torch.linspace(1.0, 3.0, 12, dtype=torch.float64)
    economy = Economy(skill, torch.tensor([0.0, 60.0], dtype=torch.float64),
                      UtilityParams(eta=0.0, kappa=0.015), "inverse_income_weighted_utility",
                      torch.arange(101.0, dtype=torch.float64))
    levels = torch.linspace(0.0, 1.0, 21, dtype=torch.float64)
    every = torch.cartesian_prod(levels, levels)
    welfare = economy.welfare(every)
    result = search_optimum(economy, rate_levels=levels, coarse_samples=8, starts=1)
    assert result.welfare == pytest.approx(float(welfare.max()), abs=1e-9)
    assert float(economy.welfare(result.rates[None])[0]) == pytest.approx(result.welfare)


def test_optimum_respects_the_rate_cap_and_is_cached():
    w = OneStepEconomy(OneStepParams(num_workers=20))
    w.set_rate_cap(0.2)
    planner = POLICIES.get("search_optimum")(w, "planner", coarse_samples=32)
    first = planner.solve()
    assert float(first.rates.max()) <= 0.2 + 1e-9
    again = POLICIES.get("search_optimum")(w, "planner", coarse_samples=32)
    assert again.solve() is first  # same world configuration: computed once
    w.set_rate_cap(1.0)
    assert planner.solve() is not first
    assert planner.describe()["policy"] == "search_optimum"


@pytest.mark.parametrize("params, field", [
    ({"coarse_samples": 0}, "search_optimum.coarse_samples"),
    ({"seed": -1}, "search_optimum.seed"),
    ({"seed": 1.5}, "search_optimum.seed"),
    ({"iterations": 3}, "search_optimum.iterations"),
])
def test_bad_parameters_name_the_field(params, field):
    w = OneStepEconomy(OneStepParams(num_workers=4))
    with pytest.raises(ConfigError, match=field):
        POLICIES.get("search_optimum")(w, "planner", **params)
    with pytest.raises(ConfigError, match="role"):
        POLICIES.get("search_optimum")(w, "workers")
