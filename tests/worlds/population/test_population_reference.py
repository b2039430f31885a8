"""The batched world follows the per-resident Mesa model given common random numbers."""

import mesa
import pytest
import torch

from sandbox.core import make_generator
from sandbox.worlds.population.reference import EpidemicEconomyModel, Resident
from tests.worlds.population.helpers import force_torch_arrays, make_world, policies_for

DAYS = 45


def run_side_by_side(world, workers, planner_params, *, days=DAYS, seed=0):
    """Step the world and the Mesa model on the same uniforms; check them every day."""
    policies = policies_for(world, workers=workers, planner="threshold_mandate",
                            **planner_params)
    policies["workers"].reset(seed)
    decisions = make_generator(seed)  # replays the worker policy's own stream
    draws = make_generator(seed + 1)
    obs = world.reset(seed=seed)
    model = EpidemicEconomyModel.from_world(world, worker_rule=workers)
    residents = world.params.num_residents
    for day in range(days):
        actions = {r: policies[r].act(obs[r]) for r in world.acting_roles()}
        decision_uniforms = torch.rand(1, residents, generator=decisions)
        uniforms = torch.rand(5, 1, residents, generator=draws, dtype=torch.float64)
        result = world.step_with_uniforms(actions, uniforms)
        planner = actions["planner"][0, 0].tolist() if "planner" in actions else None
        model.step(uniforms=uniforms[:, 0].tolist(), planner_action=planner,
                   decision_uniforms=decision_uniforms[0].tolist())
        isolating = [r.isolating for r in model.residents]
        assert isolating == (actions["workers"][0] != 0).tolist(), f"choices, day {day}"
        assert model.states() == world.state.disease[0].tolist(), f"states, day {day}"
        assert [r.positive_days for r in model.residents] == world.state.positive_days[0].tolist()
        daily = result.info["daily"]
        for key in ("new_infections", "new_deaths", "tests", "positives", "working",
                    "isolating"):
            assert model.history[-1][key] == int(daily[key][0]), f"{key}, day {day}"
        obs = result.obs
    income = torch.tensor([r.income for r in model.residents], dtype=torch.float64)
    assert torch.allclose(income, world.state.income[0], rtol=1e-12, atol=1e-6)
    return model


@pytest.mark.parametrize(("workers", "arrays"), [("isolate_when_symptomatic", "numpy"),
                                                  ("archetype_compliance", "numpy"),
                                                  ("archetype_compliance", "torch")])
def test_same_trajectories_with_common_random_numbers(workers, arrays, monkeypatch):
    if arrays == "torch":  # the kernels' path on devices other than the CPU
        force_torch_arrays(monkeypatch)
    world = make_world(1_000, precision="float64", horizon_days=DAYS + 1, seed=3,
                       disease={"initial_infected": 0.02, "community_rate": 0.35,
                                "severity_scale": 8.0})
    model = run_side_by_side(world, workers, {"threshold": 0.01, "testing_level": 2,
                                              "stimulus_level": 1})
    assert len(model.agents) == 1_000 and all(isinstance(a, Resident) for a in model.agents)
    assert isinstance(model, mesa.Model)
    totals = {k: sum(day[k] for day in model.history) for k in ("new_infections", "tests")}
    assert totals["new_infections"] > 50 and totals["tests"] > 0  # a real epidemic was compared
    assert any(day["new_deaths"] for day in model.history)


def test_same_trajectories_with_neighbourhoods_and_no_isolation():
    # neighbourhoods exercise the grouped community path of the kernel
    world = make_world(1_000, precision="float64", horizon_days=31, seed=4,
                       population={"neighbourhood_size": 200}, disease={"initial_infected": 0.03})
    assert world.population.num_communities == 5
    run_side_by_side(world, "never_isolate", {"threshold": 0.02}, days=30)


def test_unknown_rule_is_refused():
    world = make_world(50)
    world.reset(seed=0)
    with pytest.raises(ValueError, match="worker_rule"):
        EpidemicEconomyModel.from_world(world, worker_rule="sometimes")
