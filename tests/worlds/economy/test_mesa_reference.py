"""The batched world equals the per-agent Mesa reference, value for value."""

import mesa
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.core.errors import ConfigError
from sandbox.worlds.economy import social
from sandbox.worlds.economy.mesa_reference import OneStepEconomyModel, Taxpayer
from sandbox.worlds.economy.onestep import OneStepEconomy, OneStepParams
from sandbox.worlds.economy.utility import UtilityParams

AGENT_FIELDS = ("hours", "income", "tax", "consumption", "utility")


def reference_for(world, **overrides):
    kwargs = dict(cutoffs=world.cutoffs.tolist(), utility=world.params.utility,
                  planner_objective=world.params.planner_objective, max_rate=world.rate_cap)
    kwargs.update(overrides)
    return OneStepEconomyModel(world.skills.tolist(), **kwargs)


def assert_world_matches_reference(world, planner_action, worker_action):
    """Step the world once with the actions and hold every env to the Mesa model."""
    world.step({"planner": planner_action})
    result = world.step({"workers": worker_action})
    state = result.final_state
    raw_rates = world.rates_from_action(planner_action)  # before the cap: the model caps
    raw_hours = world.hours_from_action(worker_action)
    for env in range(world.num_envs):
        model = reference_for(world)
        metrics = model.run_episode(rates=raw_rates[env].tolist(), hours=raw_hours[env].tolist())
        for name, value in metrics.items():
            assert float(result.final_metrics[name][env]) == pytest.approx(
                value, rel=1e-5, abs=1e-4), name
        for field in AGENT_FIELDS:
            ref = [getattr(t, field) for t in model.taxpayers]
            got = getattr(state, field)[env].tolist()
            assert got == pytest.approx(ref, rel=1e-5, abs=1e-4), field
        assert float(state.lump_sum[env]) == pytest.approx(model.lump_sum, rel=1e-5, abs=1e-5)
        assert float(result.rewards["planner"][env, 0]) == pytest.approx(
            model.social_welfare(), rel=1e-5, abs=1e-4)


CASES = [
    dict(num_workers=2),
    dict(num_workers=7, planner_objective="equality_times_productivity"),
    dict(num_workers=29),  # last size with the small-sample Gini correction
    dict(num_workers=30, planner_objective="utilitarian_welfare"),
    dict(num_workers=120, skill_source="us_wages"),
    dict(num_workers=40, rate_actions="continuous", hours_actions="continuous"),
    dict(num_workers=25, max_rate=0.4),
    dict(num_workers=15, utility=UtilityParams(eta=0.5, kappa=0.02)),
    dict(num_workers=15, utility=UtilityParams(eta=1.0, kappa=0.02)),
    dict(num_workers=15, utility=UtilityParams(form="quasilinear", kappa=0.01, elasticity=0.3)),
    dict(num_workers=12, cutoffs=(0.0, 20.0, 45.5)),
]


CASE_IDS = ["n2", "n7-eq_x_prod", "n29-small_gini", "n30-utilitarian", "n120-us_wages",
            "continuous", "cap0.4", "eta0.5", "eta1-log", "quasilinear", "custom_cutoffs"]


@pytest.mark.parametrize("params", CASES, ids=CASE_IDS)
def test_batched_world_equals_mesa_reference(params):
    world = OneStepEconomy(OneStepParams(**params), num_envs=3, seed=4)
    world.reset()
    g = torch.Generator().manual_seed(len(str(params)))
    b, n, k = 3, world.params.num_workers, world.params.num_brackets
    if world.params.rate_actions == "discrete":
        planner = torch.randint(0, 21, (b, 1, k), generator=g)
    else:
        planner = torch.rand(b, 1, k, generator=g) * 1.2 - 0.1
    if world.hours_grid is not None:
        workers = torch.randint(0, len(world.hours_grid), (b, n), generator=g)
    else:
        workers = torch.rand(b, n, 1, generator=g) * 110
    assert_world_matches_reference(world, planner, workers)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(2, 40),
    seed=st.integers(0, 2**31 - 1),
    cap=st.sampled_from([0.2, 0.55, 1.0]),
)
def test_world_equals_reference_over_random_sizes_and_actions(n, seed, cap):
    world = OneStepEconomy(OneStepParams(num_workers=n, max_rate=cap), num_envs=2, seed=seed)
    world.reset()
    g = torch.Generator().manual_seed(seed)
    planner = torch.randint(0, 21, (2, 1, 7), generator=g)
    workers = torch.randint(0, 101, (2, n), generator=g)
    assert_world_matches_reference(world, planner, workers)


def test_one_mesa_agent_per_worker():
    model = OneStepEconomyModel([1.0, 2.0, 3.0], cutoffs=[0.0, 10.0])
    assert isinstance(model, mesa.Model) and len(model.agents) == 3
    assert all(isinstance(a, Taxpayer) for a in model.agents)
    assert [t.skill for t in model.taxpayers] == [1.0, 2.0, 3.0]


def test_reference_hand_computed_episode():
    # incomes 5 and 20; taxes 0.1*5 = 0.5 and 0.1*10 + 0.5*10 = 6; transfer 3.25 each
    model = OneStepEconomyModel([1.0, 2.0], cutoffs=[0.0, 10.0],
                                utility=UtilityParams(kappa=0.01))
    metrics = model.run_episode(rates=[0.1, 0.5], hours=[5.0, 10.0])
    assert [t.tax for t in model.taxpayers] == pytest.approx([0.5, 6.0])
    assert model.lump_sum == pytest.approx(3.25)
    assert [t.consumption for t in model.taxpayers] == pytest.approx([7.75, 17.25])
    assert [t.marginal_rate for t in model.taxpayers] == [0.1, 0.5]
    assert [t.utility for t in model.taxpayers] == pytest.approx([7.75 - 1 - 0.25, 17.25 - 1 - 1])
    # Gini: sum_ij |c_i - c_j| / (2 N sum c) * N/(N-1) = 19 / 100 * 2 = 9.5 / 25
    assert metrics["equality"] == pytest.approx(1 - 9.5 / 25)
    assert metrics["revenue"] == pytest.approx(6.5)
    assert metrics["average_tax_rate"] == pytest.approx(6.5 / 25)


def test_reference_gini_matches_social_gini():
    values = [0.0, 1.0, 2.0, 7.5, 3.0]
    assert OneStepEconomyModel.gini(values) == pytest.approx(
        float(social.gini(torch.tensor(values, dtype=torch.float64))))
    assert OneStepEconomyModel.gini([0.0] * 4) == 0.0


def test_reference_rejects_mismatched_inputs():
    model = OneStepEconomyModel([1.0, 2.0], cutoffs=[0.0, 10.0])
    with pytest.raises(ConfigError, match="rates"):
        model.set_rates([0.1])
    with pytest.raises(ConfigError, match="hours"):
        model.settle([1.0, 2.0, 3.0])
