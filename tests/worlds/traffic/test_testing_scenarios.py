"""The highway testing studies as scenario files: they validate, and a tiny version runs."""

from pathlib import Path

import pytest

from sandbox.core import ConfigError
from sandbox.scenario import evaluate, load_scenario, validate_scenario
from sandbox.scenario.spec import parse_scenario

SCENARIOS = sorted((Path(__file__).parents[3] / "scenarios").glob("highway_*.yaml"))


def tiny(spec):
    """The same scenario with 8 environments, one test each, one seed, short training."""
    data = spec.model_dump(mode="json")
    data["world"]["num_envs"] = 8
    data["evaluation"] = {**data["evaluation"], "episodes": 1, "seeds": [0]}
    variants = data["roles"]["background"]
    for variant in variants if isinstance(variants, list) else [variants]:
        if variant["policy"] == "d2rl":
            variant["params"]["d2rl"] = {"train_tests": 16, "batch_decisions": 8}
    return parse_scenario(data)


def test_every_study_has_a_scenario_file():
    names = {p.stem for p in SCENARIOS}
    assert {"highway_unbiasedness", "highway_efficiency", "highway_adaptive",
            "highway_d2rl"} <= names


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_scenario_validates_and_a_tiny_version_runs(path):
    spec = load_scenario(path)
    validate_scenario(spec)
    results = evaluate(tiny(spec))
    assert results and all(r.status == "ok" for r in results), [r.error for r in results]
    for result in results:
        assert len(result.episodes) == 8
        for row in result.episodes:
            assert row["weighted_crash"] == pytest.approx(row["crash"] * row["weight"])
            assert row["weight"] >= 0
        if result.plan.config["roles"]["background"]["policy"] == "nde":
            assert all(row["weight"] == 1.0 for row in result.episodes)


def test_bad_testing_parameters_name_the_field():
    spec = load_scenario(SCENARIOS[0]).model_dump(mode="json")
    bad = [
        ({"eps": 1.5}, "eps"),
        ({"eps": 0.0}, "eps"),
        ({"surrogates": [{"kind": "lidar"}]}, "surrogates"),
        ({"surrogates": [{"kind": "idm", "reaction": 1.0}]}, "reaction"),
        ({"surrogates": [{"kind": "constant_speed", "max_decel": 2.0}]}, "max_decel"),
        ({"surrogates": []}, "surrogates"),
        ({"max_controls": 0}, "max_controls"),
        ({"vehicles_per_step": 0}, "vehicles_per_step"),
        ({"vehicles_per_step": 9}, "vehicles_per_step"),
        ({"typo": 1}, "typo"),
    ]
    for params, field in bad:
        spec["roles"]["background"] = {"policy": "nade", "params": params}
        with pytest.raises(ConfigError, match=field):
            validate_scenario(parse_scenario(spec))


def test_testing_methods_drive_only_the_background():
    spec = load_scenario(SCENARIOS[0]).model_dump(mode="json")
    spec["roles"]["av"] = {"policy": "nade"}
    with pytest.raises(ConfigError, match="background"):
        validate_scenario(parse_scenario(spec))
