import pytest

from sandbox.core import ConfigError
from sandbox.scenario import execute_run, parse_scenario, plan_runs
from sandbox.scenario.sweep import SweepSpec
from tests.core import toy_registry  # noqa: F401
from tests.scenario.test_scenario import BASE


def with_sweep(sweep, **changes):
    return parse_scenario({**BASE, **changes, "sweep": sweep})


def test_grid_is_every_combination_times_policies_times_seeds():
    spec = with_sweep({"design": "grid", "parameters": {
        "world.params.horizon": {"values": [1, 2, 3]},
        "world.params.count": {"min": 1, "max": 4, "steps": 2, "integer": True}}})
    plans = plan_runs(spec)
    assert len(plans) == 3 * 2 * 2 * 2
    points = {tuple(sorted(p.config["sweep_point"].items())) for p in plans}
    assert len(points) == 6
    assert len({p.run_id for p in plans}) == len(plans)
    # the swept values reach the run: total = horizon x count x action(1)
    plan = next(p for p in plans if p.variant == "ones" and p.config["sweep_point"] ==
                {"world.params.horizon": 3, "world.params.count": 4})
    assert execute_run(plan).metrics["total"] == 12


@pytest.mark.parametrize("design", ["random", "latin_hypercube", "sobol"])
def test_sampled_designs_stay_in_range_and_are_reproducible(design):
    sweep = SweepSpec(design=design, samples=32, seed=3, parameters={
        "a": {"min": 0.5, "max": 2.0}, "b": {"min": 1e-3, "max": 1.0, "log": True},
        "c": {"values": ["x", "y"]}})
    points = sweep.points()
    assert len(points) == 32 and points == sweep.points()
    assert all(0.5 <= p["a"] <= 2.0 and 1e-3 <= p["b"] <= 1.0 for p in points)
    assert {p["c"] for p in points} == {"x", "y"}


def test_latin_hypercube_puts_one_point_in_each_stratum():
    points = SweepSpec(design="latin_hypercube", samples=10,
                       parameters={"a": {"min": 0.0, "max": 1.0}}).points()
    strata = sorted(int(p["a"] * 10) for p in points)
    assert strata == list(range(10))


def test_sweep_over_a_missing_path_names_it():
    spec = with_sweep({"parameters": {"world.params.colour": {"values": [1]}}})
    with pytest.raises(ConfigError, match="sweep.parameters.world.params.colour.*count, horizon"):
        plan_runs(spec)


def test_range_with_min_above_max_is_refused():
    with pytest.raises(ConfigError, match=r"sweep.parameters.*min \(3\) must not exceed max"):
        with_sweep({"parameters": {"world.params.horizon": {"min": 3, "max": 1}}})


def test_swept_value_the_world_refuses_is_reported():
    spec = with_sweep({"parameters": {"world.params.horizon": {"values": ["long"]}}})
    with pytest.raises(ConfigError, match="sweep.parameters"):
        plan_runs(spec)
