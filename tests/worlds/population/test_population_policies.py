import pytest
import torch

from sandbox.core import POLICIES, ConfigError
from sandbox.worlds.population.policies import isolation_probabilities
from sandbox.worlds.population.world import PLANNER_FEATURES, WORKER_FEATURES
from tests.core.toy_world import CounterWorld
from tests.worlds.population.helpers import make_world

COLUMN = {name: k for k, name in enumerate(WORKER_FEATURES)}


def worker_obs(rows):
    """``[1, N, 7]`` uint8 from dicts of feature values (missing features are 0)."""
    obs = torch.zeros(1, len(rows), len(WORKER_FEATURES), dtype=torch.uint8)
    for i, row in enumerate(rows):
        for name, value in row.items():
            obs[0, i, COLUMN[name]] = value
    return obs


def test_worker_rules():
    world = make_world(300)
    rows = [{}, {"symptomatic": 1}, {"tested_positive": 1}, {"asked_home": 1}]
    obs = worker_obs(rows)
    never = POLICIES.get("never_isolate")(world, "workers").act(obs)
    when_sick = POLICIES.get("isolate_when_symptomatic")(world, "workers").act(obs)
    assert never.tolist() == [[0, 0, 0, 0]] and never.dtype == torch.int8
    assert when_sick.tolist() == [[0, 1, 1, 0]]


def test_archetype_compliance_frequencies_follow_the_table():
    world = make_world(300)
    policy = POLICIES.get("archetype_compliance")(
        world, "workers", isolate_if_symptomatic=[0.9, 0.5, 0.1],
        comply_with_mandate=[0.8, 0.4, 0.0], stimulus_gain=[0.0, 0.5, 0.5])
    policy.reset(1)
    n = 20_000
    cases = {
        ("sick", 0): ({"symptomatic": 1, "archetype": 0}, 0.9),
        ("asked", 1): ({"asked_home": 1, "archetype": 1}, 0.4),
        ("asked+stimulus", 1): ({"asked_home": 1, "archetype": 1, "stimulus_percent": 100}, 0.9),
        ("both", 2): ({"asked_home": 1, "symptomatic": 1, "archetype": 2,
                       "stimulus_percent": 50}, 0.25),
        ("neither", 0): ({"archetype": 0}, 0.0),
    }
    for (label, _), (row, expected) in cases.items():
        share = float(policy.act(worker_obs([row]).expand(1, n, -1)).double().mean())
        assert share == pytest.approx(expected, abs=0.015), label
    deterministic = policy.act(worker_obs([cases[("sick", 0)][0]]), deterministic=True)
    assert deterministic.tolist() == [[1]]


def test_isolation_probabilities_are_capped_and_take_the_larger_reason():
    table = isolation_probabilities([0.3], [0.8], [0.5], stimulus=1.0)
    assert table == [[0.0, 1.0, 0.3, 1.0]]


def test_planner_rules():
    world = make_world(300)
    obs = torch.zeros(2, 1, len(PLANNER_FEATURES))
    obs[0, 0, PLANNER_FEATURES.index("prevalence")] = 0.05
    rule = POLICIES.get("threshold_mandate")(world, "planner", threshold=0.02, testing_level=1,
                                             stimulus_level=-1)
    assert rule.act(obs).tolist() == [[[2, 1, 2]], [[0, 1, 2]]]
    none = POLICIES.get("no_mandate")(world, "planner", testing_level=2).act(obs)
    assert none.tolist() == [[[0, 2, 0]], [[0, 2, 0]]]
    assert rule.describe()["threshold"] == 0.02


@pytest.mark.parametrize("name, role, params, field", [
    ("never_isolate", "planner", {}, "policies.planner"),
    ("no_mandate", "workers", {}, "policies.workers"),
    ("threshold_mandate", "planner", {"threshold": 2.0}, "threshold"),
    ("threshold_mandate", "planner", {"mandate_level": 3}, "mandate_level"),
    ("no_mandate", "planner", {"stimulus_level": 1.5}, "stimulus_level"),
    ("archetype_compliance", "workers", {"comply_with_mandate": [0.5]}, "comply_with_mandate"),
    ("archetype_compliance", "workers", {"stimulus_gain": [0.1, 0.2, 1.2]}, "stimulus_gain"),
    ("isolate_when_symptomatic", "workers", {"speed": 1}, "params"),
])
def test_bad_policy_parameters_raise_config_errors(name, role, params, field):
    world = make_world(300)
    with pytest.raises(ConfigError, match=field):
        POLICIES.get(name)(world, role, **params)


def test_rules_refuse_other_worlds():
    with pytest.raises(ConfigError, match="epidemic_economy"):
        POLICIES.get("isolate_when_symptomatic")(CounterWorld(), "workers")
