"""The batched one-step economy: parameters, episode flow, actions, metrics, seeding."""

import gymnasium as gym
import pytest
import torch

from sandbox.core import WORLDS
from sandbox.core.errors import ConfigError
from sandbox.worlds.economy import social
from sandbox.worlds.economy.onestep import OneStepEconomy, OneStepParams, OneStepState
from sandbox.worlds.economy.skills import foundation_skills
from sandbox.worlds.economy.utility import UtilityParams

FOUNDATION_CUTOFFS_USD = [0, 9700, 39475, 84200, 160725, 204100, 510300]


def make(num_envs=2, seed=0, **params):
    world = OneStepEconomy(OneStepParams(**params), num_envs=num_envs, seed=seed)
    world.reset()
    return world


def random_episode(world, generator):
    """Random valid actions for both steps; returns (planner action, worker action, result)."""
    b, n = world.num_envs, world.params.num_workers
    k = world.params.num_brackets
    if world.params.rate_actions == "discrete":
        rates = torch.randint(0, 21, (b, 1, k), generator=generator)
    else:
        rates = torch.rand(b, 1, k, generator=generator)
    world.step({"planner": rates})
    if world.hours_grid is not None:
        hours = torch.randint(0, len(world.hours_grid), (b, n), generator=generator)
    else:
        hours = torch.rand(b, n, 1, generator=generator) * world.params.max_hours
    return rates, hours, world.step({"workers": hours})


def test_registered_by_name():
    assert WORLDS.get("onestep_economy") is OneStepEconomy


def test_default_spaces_and_shapes():
    world = make(num_envs=3)
    planner, workers = world.roles["planner"], world.roles["workers"]
    assert planner.count == 1 and workers.count == 100
    assert isinstance(planner.action_space, gym.spaces.MultiDiscrete)
    assert list(planner.action_space.nvec) == [21] * 7
    assert workers.action_space == gym.spaces.Discrete(101)
    obs = world.reset()
    assert obs["planner"].shape == (3, 1, planner.obs_dim) == (3, 1, 3 + 7 + 5)
    assert obs["workers"].shape == (3, 100, workers.obs_dim) == (3, 100, 3 + 7)
    assert world.action_masks()["planner"].shape == (3, 1, 21 * 7)
    assert "workers" not in world.action_masks()
    assert world.skills.shape == (100,) and world.skills.dtype == torch.float32
    assert world.rate_levels.tolist() == pytest.approx([0.05 * i for i in range(21)])
    assert world.hours_grid.tolist() == list(range(101))


def test_foundation_brackets_are_dollars_over_usd_scaling():
    world = make()
    assert world.cutoffs.tolist() == pytest.approx([c / 1000 for c in FOUNDATION_CUTOFFS_USD])
    custom = make(cutoffs=[0, 50, 100])
    assert custom.cutoffs.tolist() == [0, 50, 100] and custom.params.num_brackets == 3
    assert custom.roles["planner"].action_space.shape == (3,)


def test_default_calibration_puts_incomes_across_brackets():
    # Untaxed best response of u = c - kappa L^2 is L = skill/(2 kappa), income skill^2/(2 kappa).
    world = make(num_workers=1000)
    kappa = world.params.utility.kappa
    income = world.skills**2 / (2 * kappa)
    assert float(income.min()) >= 30 and float(income.max()) <= 300.01
    brackets = torch.searchsorted(world.cutoffs, income, right=True).unique()
    assert len(brackets) >= 4


def test_episode_flow_and_autoreset():
    world = make(num_envs=4)
    g = torch.Generator().manual_seed(0)
    assert world.acting_roles() == ("planner",)
    rates = torch.randint(0, 21, (4, 1, 7), generator=g)
    first = world.step({"planner": rates})
    assert world.acting_roles() == ("workers",)
    assert not bool(first.done.any())
    assert all(bool((r == 0).all()) for r in first.rewards.values())
    assert torch.allclose(world.state.rates, rates[:, 0].float() * 0.05)
    hours = torch.randint(0, 101, (4, 100), generator=g)
    second = world.step({"workers": hours})
    assert bool(second.terminated.all()) and not bool(second.truncated.any())
    settled = second.final_state
    assert isinstance(settled, OneStepState) and bool((settled.phase == 2).all())
    assert settled.income.shape == (4, 100) and settled.lump_sum.shape == (4,)
    assert torch.equal(settled.hours, hours.float())
    assert torch.equal(second.rewards["workers"], settled.utility)
    assert world.acting_roles() == ("planner",) and bool((world.state.rates == 0).all())
    assert set(second.final_metrics) == set(world.metric_names)
    assert second.info == {}


@pytest.mark.parametrize("objective", social.OBJECTIVES)
def test_planner_reward_is_the_chosen_social_welfare(objective):
    world = make(planner_objective=objective)
    _, _, result = random_episode(world, torch.Generator().manual_seed(1))
    s = result.final_state
    expected = social.social_welfare(objective, consumption=s.consumption, income=s.income,
                                     utility=s.utility)
    assert torch.allclose(result.rewards["planner"][:, 0], expected)
    assert torch.allclose(result.final_metrics[objective], expected)


@pytest.mark.parametrize("rate_actions", ["discrete", "continuous"])
@pytest.mark.parametrize("hours_actions", ["discrete", "continuous"])
def test_conservation_revenue_equals_transfers(rate_actions, hours_actions):
    world = make(num_envs=3, rate_actions=rate_actions, hours_actions=hours_actions)
    _, _, result = random_episode(world, torch.Generator().manual_seed(2))
    s = result.final_state
    assert torch.allclose(s.tax.sum(-1), s.lump_sum * 100, rtol=1e-5)
    assert torch.allclose(s.consumption.sum(-1), s.income.sum(-1), rtol=1e-5)
    assert torch.allclose(result.final_metrics["revenue"], s.tax.sum(-1))


def test_free_market_leaves_equality_at_its_pretax_value():
    world = make(num_envs=2)
    world.step({"planner": world.action_from_rates(torch.zeros(2, 7))})
    hours = torch.randint(0, 101, (2, 100), generator=torch.Generator().manual_seed(3))
    m = world.step({"workers": hours}).final_metrics
    assert torch.allclose(m["equality"], m["equality_pretax"])
    assert bool((m["revenue"] == 0).all()) and bool((m["average_tax_rate"] == 0).all())


def test_rate_cap_masks_and_clips():
    world = make(num_envs=2)
    world.set_rate_cap(0.3)
    mask = world.action_masks()["planner"].view(2, 1, 7, 21)
    assert bool(mask[..., :7].all()) and not bool(mask[..., 7:].any())
    world.step({"planner": torch.full((2, 1, 7), 20)})  # 100 % asked, 30 % applied
    assert torch.allclose(world.state.rates, torch.full((2, 7), 0.3))
    assert world.reset()["planner"][0, 0, 2] == pytest.approx(0.3)  # the planner sees the cap
    cont = make(rate_actions="continuous", max_rate=0.5)
    assert cont.action_masks() == {}
    cont.step({"planner": torch.full((2, 1, 7), 0.9)})
    assert torch.allclose(cont.state.rates, torch.full((2, 7), 0.5))
    with pytest.raises(ConfigError, match="rate_cap"):
        world.set_rate_cap(1.5)


def test_action_conversions_round_trip_and_nearest():
    world = make(num_envs=2)
    action = torch.randint(0, 21, (2, 1, 7), generator=torch.Generator().manual_seed(4))
    rates = world.rates_from_action(action)
    assert rates.shape == (2, 7) and torch.equal(world.action_from_rates(rates), action)
    assert world.rates_from_action(action[:, 0]).shape == (2, 7)
    assert world.action_from_rates(torch.tensor([[0.26, 0.74, 1.3, -0.2, 0, 0, 0]])).tolist() == [
        [[5, 15, 20, 0, 0, 0, 0]]]
    hours = torch.tensor([[0.4, 39.6, 150.0]])
    assert world.action_from_hours(hours).tolist() == [[0, 40, 100]]
    assert world.hours_from_action(torch.tensor([[0, 40, 100]])).tolist() == [[0.0, 40.0, 100.0]]
    cont = make(rate_actions="continuous", hours_actions="continuous", max_hours=60.0)
    assert cont.roles["workers"].action_space.shape == (1,)
    assert cont.hours_grid is None
    assert torch.allclose(cont.action_from_hours(hours), torch.tensor([[[0.4], [39.6], [60.0]]]))
    assert cont.hours_from_action(torch.tensor([[[70.0]]])).tolist() == [[60.0]]
    assert cont.action_from_rates(torch.tensor([[1.5] * 7])).shape == (1, 1, 7)


def test_same_seed_gives_identical_results_twice():
    def run(seed):
        world = make(num_envs=3, seed=seed, skill_source="us_wages")
        return world.skills, random_episode(world, torch.Generator().manual_seed(9))[2]

    skills_a, a = run(11)
    skills_b, b = run(11)
    skills_c, _ = run(12)
    assert torch.equal(skills_a, skills_b) and not torch.equal(skills_a, skills_c)
    for name in a.final_metrics:
        assert torch.equal(a.final_metrics[name], b.final_metrics[name])


def test_skills_fixed_across_episodes_and_redrawn_on_seeded_reset():
    world = make(seed=1)
    skills = world.skills.clone()
    random_episode(world, torch.Generator().manual_seed(0))
    world.reset()
    assert torch.equal(world.skills, skills)
    world.reset(seed=2)
    assert not torch.equal(world.skills, skills)
    assert torch.equal(world.skills, make(seed=2).skills)
    assert torch.equal(world.state.skill[0], world.skills)


def test_episode_tables_shapes():
    world = make(num_envs=2)
    _, _, result = random_episode(world, torch.Generator().manual_seed(5))
    tables = world.episode_tables(result.final_state)
    assert set(tables["agents"]) == {"skill", "hours", "income", "tax", "consumption",
                                     "utility", "marginal_rate"}
    assert all(v.shape == (2, 100) for v in tables["agents"].values())
    assert tables["schedule"]["cutoff"].shape == (2, 7) == tables["schedule"]["rate"].shape


@pytest.mark.parametrize("n", [2, 3, 1_000_000])
def test_worker_counts_from_two_to_a_million(n):
    world = make(num_envs=1, num_workers=n)
    if n > 10_000:
        assert torch.equal(world.skills, foundation_skills(n))
    _, _, result = random_episode(world, torch.Generator().manual_seed(6))
    assert result.final_state.income.shape == (1, n)
    assert all(bool(torch.isfinite(v).all()) for v in result.final_metrics.values())


def test_wrong_action_shape_is_rejected():
    world = make(num_envs=2)
    with pytest.raises(ValueError, match="shape"):
        world.step({"planner": torch.zeros(2, 7, dtype=torch.long)})


BAD_PARAMS = [
    ("num_workers", 1), ("num_workers", 1_000_001), ("num_workers", 2.5),
    ("num_workers", True), ("skill_source", "pareto"), ("brackets", "us1999"),
    ("cutoffs", (0, 10, 5)), ("cutoffs", (1, 2)), ("cutoffs", ()),
    ("rate_actions", "binary"), ("hours_actions", "binary"),
    ("max_hours", 0), ("max_hours", 200), ("max_hours", 10.5),
    ("planner_objective", "happiness"), ("max_rate", 1.5), ("max_rate", -0.1),
    ("usd_scaling", 0.0), ("usd_scaling", float("nan")), ("weeks_per_year", 0),
    ("utility", {"kappa": 1.0}), ("max_hours", "40"), ("max_rate", None),
]


@pytest.mark.parametrize(("field", "value"), BAD_PARAMS)
def test_bad_parameters_raise_config_error_naming_the_field(field, value):
    with pytest.raises(ConfigError) as info:
        OneStepParams(**{field: value})
    assert info.value.field == field


def test_bad_utility_and_env_count():
    with pytest.raises(ConfigError, match="kappa"):
        UtilityParams(kappa=-0.5)
    with pytest.raises(ConfigError, match="num_envs"):
        OneStepEconomy(num_envs=0)
    assert OneStepParams(hours_actions="continuous", max_hours=10.5).max_hours == 10.5
