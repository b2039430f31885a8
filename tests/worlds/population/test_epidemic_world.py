"""The world's contract: roles and schedule, determinism, money, metrics, batching."""

import pytest
import torch

from sandbox.core import WORLDS
from sandbox.worlds.population import disease as dz
from sandbox.worlds.population.metrics import SERIES
from sandbox.worlds.population.world import PLANNER_FEATURES, WORKER_FEATURES, EpidemicEconomy
from tests.worlds.population.helpers import make_world, policies_for, rollout


def test_registered_with_roles_spaces_and_weekly_planner():
    assert WORLDS.get("epidemic_economy") is EpidemicEconomy
    world = make_world(500, num_envs=3)
    roles = world.roles
    assert roles["planner"].count == 1 and roles["workers"].count == 500
    assert str(roles["workers"].observation_space.dtype) == "uint8"
    assert roles["planner"].action_space.nvec.tolist() == [3, 3, 3]
    obs = world.reset(seed=0)
    assert obs["workers"].shape == (3, 500, len(WORKER_FEATURES))
    assert obs["workers"].dtype == torch.uint8
    assert obs["planner"].shape == (3, 1, len(PLANNER_FEATURES))
    assert obs["planner"].dtype == torch.float32
    acting = []
    policies = policies_for(world)
    for _ in range(15):
        acting.append(world.acting_roles())
        world.step({r: policies[r].act(world._observe(world.state)[r])
                    for r in world.acting_roles()})
    planner_days = [d for d, roles in enumerate(acting) if "planner" in roles]
    assert planner_days == [0, 7, 14]
    assert all("workers" in roles for roles in acting)


def test_same_seed_identical_and_other_seed_differs():
    def trace(seed):
        world = make_world(1_500, num_envs=2, seed=seed, disease={"initial_infected": 0.01})
        results = rollout(world, policies_for(world, workers="archetype_compliance",
                                              planner="threshold_mandate", testing_level=1),
                          20, seed=seed)
        return torch.stack([r.final_state.disease for r in results]), world.state.income

    first, second, other = trace(5), trace(5), trace(6)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert not torch.equal(first[0], other[0])


def test_net_incomes_add_up_to_output_and_transfers_to_the_tax():
    world = make_world(3_000, num_envs=2, disease={"initial_infected": 0.05})
    policies = policies_for(world, workers="archetype_compliance", planner="threshold_mandate",
                            threshold=0.0, stimulus_level=2)
    before = torch.zeros(2, dtype=torch.float64)
    for result in rollout(world, policies, 10):
        daily = result.info["daily"]
        income = result.final_state.income.double().sum(-1)
        assert torch.allclose(income - before, daily["output"].double(), rtol=1e-4)
        revenue = daily["tax_rate"].double() * daily["output"].double()
        assert torch.allclose(daily["transfers"].double(), revenue, rtol=1e-4)
        assert torch.all(daily["tax_rate"] <= world.params.economy.max_tax_rate + 1e-6)
        before = income
    assert float(daily["transfers"].sum()) > 0  # the mandate made people claim support


def test_isolating_costs_income_unless_supported():
    world = make_world(1_000, disease={"initial_infected": 0.0})
    world.reset(seed=0)
    employed = world.population.employed
    isolate = employed.clone().unsqueeze(0)  # every employed resident stays home
    no_support = world.step({"planner": torch.tensor([[[0, 0, 0]]]), "workers": isolate})
    assert float(no_support.info["daily"]["output"][0]) == 0.0
    assert float(world.state.income.abs().sum()) == 0.0
    mixed = isolate.clone()
    mixed[0, torch.nonzero(employed).flatten()[::2]] = False  # half of them work
    world.reset(seed=0)
    world.step({"planner": torch.tensor([[[0, 0, 2]]]), "workers": mixed})
    paid = world.state.income[0]
    stays = mixed[0] & employed
    assert float(paid[stays].min()) > 0  # supported from the tax on those who worked
    assert float(paid[~employed].abs().max()) == 0.0


def test_planner_reward_weighs_deaths_infections_and_loss():
    world = make_world(2_000, disease={"initial_infected": 0.03})
    policies = policies_for(world)
    results = rollout(world, policies, 5)
    p = world.params.planner
    for result in results:
        d = result.info["daily"]
        lost = (world.potential_output - d["output"].double()
                + world.params.economy.test_cost * d["tests"].double()) / world.mean_wage
        loss = (p.death_weight * d["new_deaths"].double()
                + p.infection_weight * d["new_infections"].double()
                + p.economic_weight * lost) / 2_000
        assert torch.allclose(-result.rewards["planner"][:, 0].double(), loss, rtol=1e-4)
        assert result.rewards["workers"].shape == (1, 2_000)


def test_episode_ends_at_horizon_with_metrics_series_and_reset():
    world = make_world(2_000, num_envs=2, horizon_days=30,
                       disease={"initial_infected": 0.02, "severity_scale": 3.0})
    results = rollout(world, policies_for(world, planner="threshold_mandate", testing_level=1),
                      30)
    last = results[-1]
    assert not any(bool(r.done.any()) for r in results[:-1])
    assert bool(last.truncated.all()) and not bool(last.terminated.any())
    metrics = last.final_metrics
    assert set(metrics) == set(world.metric_names)
    assert all(torch.isfinite(v).all() for v in metrics.values())
    tables = world.episode_tables(last.final_state)
    daily = tables["daily"]
    assert set(daily) == set(SERIES) and daily["new_infections"].shape == (2, 30)
    infected = 1 - last.final_state.counts[:, dz.SUSCEPTIBLE].double() / 2_000
    assert torch.allclose(metrics["infections"].double(), infected)
    prevalence = sum(daily[s] for s in ("exposed", "asymptomatic", "presymptomatic",
                                        "symptomatic", "hospitalised")) / 2_000
    assert torch.allclose(metrics["peak_prevalence"], prevalence.amax(-1))
    assert torch.all((metrics["employment_rate"] > 0) & (metrics["employment_rate"] <= 1))
    assert torch.all((metrics["income_gini"] > 0.1) & (metrics["income_gini"] < 0.6))
    deaths = tables["by_age"]["deaths"].sum(-1)
    assert torch.allclose(metrics["deaths"], deaths * 1e5 / 2_000)
    # same-step reset: the world is at day 0 of a fresh episode
    assert int(world.state.day[0]) == 0 and int(world.state.counts[:, dz.DEAD].sum()) == 0


def test_batched_environments_equal_separate_runs():
    """Env b of a batch follows the same path as a one-env world given env b's numbers."""
    batched = make_world(800, num_envs=3, seed=2, disease={"initial_infected": 0.05})
    single = make_world(800, num_envs=1, seed=2, disease={"initial_infected": 0.05})
    batched.reset(seed=2)
    single.reset(seed=2)
    single.state = single.state.replace(**{
        k: v[1:2].clone() for k, v in batched.state.fields().items()})
    gen = torch.Generator().manual_seed(0)
    isolate_when = policies_for(batched)["workers"]
    for day in range(25):
        obs = batched._observe(batched.state)
        actions = {"workers": isolate_when.act(obs["workers"])}
        if "planner" in batched.acting_roles():
            actions["planner"] = torch.tensor([[[0, 1, 1]], [[2, 2, 2]], [[1, 0, 0]]])
        uniforms = torch.rand(5, 3, 800, generator=gen)
        batched.step_with_uniforms(actions, uniforms)
        one = {"workers": actions["workers"][1:2]}
        if "planner" in actions:
            one["planner"] = actions["planner"][1:2]
        single.step_with_uniforms(one, uniforms[:, 1:2].contiguous())
        assert torch.equal(batched.state.disease[1:2], single.state.disease), day
    assert torch.allclose(batched.state.income[1:2], single.state.income)


def test_bad_actions_and_uniforms_are_refused():
    world = make_world(300)
    world.reset(seed=0)
    workers = torch.zeros(1, 300, dtype=torch.int8)
    with pytest.raises(ValueError, match="planner action out of range"):
        world.step({"planner": torch.tensor([[[3, 0, 0]]]), "workers": workers})
    with pytest.raises(ValueError, match="uniforms must be"):
        world.step_with_uniforms({"planner": torch.zeros(1, 1, 3, dtype=torch.long),
                                  "workers": workers}, torch.rand(2, 1, 299))
    with pytest.raises(ValueError, match="needs actions for role 'planner'"):
        world.step({"workers": workers})


def test_many_environments_count_like_few():
    from sandbox.worlds.population.groups import ROW_BY_ROW, count_per_env

    mask = torch.rand(ROW_BY_ROW + 4, 300, generator=torch.Generator().manual_seed(0)) < 0.3
    assert torch.equal(count_per_env(mask), mask.sum(-1))
    assert torch.equal(count_per_env(mask[:3]), mask[:3].sum(-1))
    world = make_world(200, num_envs=ROW_BY_ROW + 2, disease={"initial_infected": 0.05})
    rollout(world, policies_for(world), 10)
    recount = torch.stack([(world.state.disease == k).sum(-1) for k in range(8)], -1)
    assert torch.equal(world.state.counts, recount)
    assert int(world.state.counts[:, dz.SUSCEPTIBLE].min()) < 200  # the epidemic moved


def test_planner_observation_reads_the_state():
    world = make_world(2_000, num_envs=2, disease={"initial_infected": 0.05})
    rollout(world, policies_for(world, planner="threshold_mandate", threshold=0.0,
                                testing_level=2, stimulus_level=1), 10)
    obs = world._observe(world.state)["planner"][:, 0]
    feature = {name: obs[:, k] for k, name in enumerate(PLANNER_FEATURES)}
    disease = world.state.disease
    infected = ((disease >= dz.EXPOSED) & (disease <= dz.SYMPTOMATIC)) | (
        disease == dz.HOSPITALISED)
    assert torch.allclose(feature["prevalence"], infected.double().mean(-1).float())
    assert torch.allclose(feature["deaths_per_1000"],
                          (disease == dz.DEAD).sum(-1).float() * 1000 / 2_000)
    week = world.state.series[:, 3:10, SERIES.index("positives")].sum(-1)
    assert torch.allclose(feature["positives_week_per_1000"], week * 1000 / 2_000)
    assert torch.allclose(feature["day_fraction"], torch.full((2,), 10 / 120))
    assert feature["mandate"].tolist() == [1.0, 1.0] and feature["stimulus"].tolist() == [0.5, 0.5]
    assert torch.allclose(feature["testing_rate"], torch.full((2,), 0.02))
    assert world.roles["planner"].observation_space.contains(obs[0].numpy())


def test_results_do_not_share_memory_with_later_steps():
    """The world caches observation rows; what a step returns must stay as it was."""
    world = make_world(1_000, disease={"initial_infected": 0.05})
    policies = policies_for(world, planner="threshold_mandate", threshold=0.0, testing_level=2)
    first = rollout(world, policies, 3)[-1]
    kept = {"rewards": {k: v.clone() for k, v in first.rewards.items()},
            "state": first.final_state.clone(), "obs": {k: v.clone() for k, v in first.obs.items()}}
    obs = first.obs
    for _ in range(3):
        obs = world.step({r: policies[r].act(obs[r]) for r in world.acting_roles()}).obs
    for role, reward in first.rewards.items():
        assert torch.equal(reward, kept["rewards"][role])
        assert torch.equal(first.obs[role], kept["obs"][role])
    for name, value in first.final_state.fields().items():
        assert torch.equal(value, getattr(kept["state"], name)), name
