"""The sweep section: designs, dotted paths into world and policy parameters, bad input."""

import pytest

from sandbox.core import ConfigError
from sandbox.scenario import execute_run, parse_scenario, plan_runs
from sandbox.scenario.sweep import SweepSpec
from tests.core import toy_registry  # noqa: F401  (registers the toy world)
from tests.scenario.test_scenario import BASE


def with_sweep(sweep, **changes):
    return parse_scenario({**BASE, **changes, "sweep": sweep})


def test_policy_parameter_of_one_compared_policy_by_label_position_or_name():
    for which in ("zeros", "1"):
        spec = with_sweep({"parameters": {f"roles.workers.{which}.params.value":
                                          {"values": [0, 1]}}})
        plans = plan_runs(spec)
        assert len(plans) == 2 * 2 * 2  # points x compared policies x seeds
        zeros = [p for p in plans if p.variant == "zeros"]
        totals = {p.config["sweep_point"][f"roles.workers.{which}.params.value"]:
                  execute_run(p).metrics["total"] for p in zeros}
        assert totals == {0: 0.0, 1: 6.0}  # the swept value reached the policy
        ones = {execute_run(p).metrics["total"] for p in plans if p.variant == "ones"}
        assert ones == {6.0}  # the other compared policy is untouched


def test_policy_parameter_of_a_single_policy_role_may_be_a_default():
    data = dict(BASE, roles={"workers": {"policy": "toy_constant"}})
    spec = parse_scenario({**data, "sweep": {"parameters": {
        "roles.workers.params.value": {"values": [0, 1]}}}})
    assert sorted(execute_run(p).metrics["total"] for p in plan_runs(spec)) == [0, 0, 6, 6]


def test_ids_are_hashes_of_the_resolved_config_and_stable():
    sweep = {"design": "sobol", "samples": 8, "seed": 5,
             "parameters": {"world.params.count": {"min": 1, "max": 9, "integer": True}}}
    first, again = plan_runs(with_sweep(sweep)), plan_runs(with_sweep(sweep))
    assert [p.run_id for p in first] == [p.run_id for p in again]
    assert all(p.config["world"]["params"]["count"] == p.config["sweep_point"][
        "world.params.count"] for p in first)
    other = plan_runs(with_sweep(dict(sweep, seed=6)))
    assert {p.run_id for p in other} != {p.run_id for p in first}


def test_grid_steps_and_log_scale():
    points = SweepSpec(parameters={"a": {"min": 1.0, "max": 100.0, "steps": 3, "log": True},
                                   "b": {"values": ["x", "y"]}}).points()
    assert [round(p["a"], 9) for p in points[::2]] == [1.0, 10.0, 100.0]
    assert len(points) == 6


def test_a_point_drawn_twice_is_one_run():
    sweep = SweepSpec(design="random", samples=50, parameters={"c": {"values": ["x", "y"]}})
    assert sweep.points() == [{"c": "x"}, {"c": "y"}] or sweep.points() == [{"c": "y"},
                                                                          {"c": "x"}]
    spec = with_sweep({"parameters": {"world.params.count": {"values": [2, 2, 3]}}})
    plans = plan_runs(spec)
    assert len(plans) == len({p.run_id for p in plans}) == 2 * 2 * 2


def test_sampled_log_range_is_uniform_in_the_log():
    points = SweepSpec(design="latin_hypercube", samples=100, parameters={
        "a": {"min": 1e-3, "max": 1e3, "log": True}}).points()
    below_one = sum(p["a"] < 1.0 for p in points)
    assert below_one == 50  # one point per stratum: half the log range lies below 1


@pytest.mark.parametrize("path, message", [
    ("world.params.colour", "world.params has count, horizon"),
    ("world.colour.x", "world has device, name, num_envs, params"),
    ("roles.workers.twos.params.value", "list of policies .ones, zeros."),
    ("roles.nobody.params.value", "roles has workers"),
])
def test_a_path_that_does_not_exist_names_the_field_and_what_exists(path, message):
    spec = with_sweep({"parameters": {path: {"values": [1]}}})
    with pytest.raises(ConfigError, match=rf"sweep\.parameters\.{path}.*{message}"):
        plan_runs(spec)


@pytest.mark.parametrize("sweep, message", [
    ({"parameters": {"world.params.horizon": {"min": 3, "max": 1}}},
     r"sweep.parameters.world.params.horizon.*min \(3\) must not exceed max \(1\)"),
    ({"parameters": {"world.params.horizon": {"min": 0, "max": 1, "log": True}}},
     "log range needs min > 0"),
    ({"parameters": {"world.params.horizon": {"min": 1}}}, "both min and max"),
    ({"design": "sobol", "parameters": {"world.params.horizon": {"min": 1, "max": 2,
                                                                  "steps": 2}}},
     "steps applies to the grid design only"),
    ({"samples": 4, "parameters": {"world.params.horizon": {"values": [1]}}},
     "samples applies to random"),
    ({"design": "halton", "parameters": {"world.params.horizon": {"values": [1]}}},
     "sweep.design"),
])
def test_bad_ranges_and_designs_are_refused_when_the_file_is_read(sweep, message):
    with pytest.raises(ConfigError, match=message):
        with_sweep(sweep)
