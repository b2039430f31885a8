import pytest
import yaml

from sandbox.core import ConfigError
from sandbox.scenario import execute_run, load_scenario, parse_scenario, plan_runs
from sandbox.scenario.run import validate_scenario
from tests.core import toy_registry  # noqa: F401  (registers the toy world)

BASE = {
    "name": "toy",
    "world": {"name": "toy_counter", "params": {"horizon": 2, "count": 3}, "num_envs": 2},
    "roles": {"workers": [{"policy": "toy_constant", "label": "ones"},
                          {"policy": "toy_constant", "label": "zeros", "params": {"value": 0}}]},
    "evaluation": {"episodes": 2, "seeds": [0, 1]},
}


def test_plan_is_policies_times_seeds_with_stable_distinct_ids():
    spec = parse_scenario(BASE)
    plans = plan_runs(spec)
    assert [(p.variant, p.seed) for p in plans] == [("ones", 0), ("ones", 1), ("zeros", 0),
                                                     ("zeros", 1)]
    assert len({p.run_id for p in plans}) == 4
    assert [p.run_id for p in plan_runs(parse_scenario(BASE))] == [p.run_id for p in plans]
    # defaults are resolved into the config, so the id covers them
    assert plans[0].config["world"]["params"] == {"horizon": 2, "count": 3}


def test_execute_run_records_every_episode_of_every_env():
    spec = parse_scenario(BASE)
    result = execute_run(plan_runs(spec)[0])
    assert result.status == "ok", result.traceback
    assert len(result.episodes) == 2 * 2
    assert result.metrics["total"] == 2 * 3  # 2 steps x 3 workers x action 1
    assert result.steps == 4


def test_failing_run_is_recorded_not_raised():
    data = dict(BASE, evaluation={"episodes": 5, "max_steps": 3})
    result = execute_run(plan_runs(parse_scenario(data))[0])
    assert result.status == "failed"
    assert "max_steps" in result.error and result.traceback


@pytest.mark.parametrize(
    ("change", "field", "hint"),
    [
        ({"world": {"name": "nowhere"}}, "world.name", "known worlds"),
        ({"world": None}, "world", ""),
        ({"name": "bad name!"}, "name", "pattern"),
        ({"evaluation": {"seeds": [1, 1]}}, "evaluation.seeds", "distinct"),
        ({"evaluation": {"episodes": 0}}, "evaluation.episodes", "greater than or equal to 1"),
        ({"colour": "red"}, "colour", "no such field"),
        ({"world": {"name": "toy_counter", "params": {"horizn": 2}}}, "world.params.horizn",
         "known parameter of CounterParams: count, horizon"),
        ({"world": {"name": "toy_counter", "params": {"horizon": "x"}}}, "world.params.horizon",
         "an integer"),
        ({"roles": {"workers": {"policy": "toy_constant", "params": {"value": 7}}}},
         "roles.workers.params.value", "0 or 1"),
        ({"roles": {"workers": {"policy": "nope"}}}, "roles.workers.policy", "known policys"),
        ({"roles": {"drivers": {"policy": "toy_constant"}}}, "roles.drivers", "a role of world"),
    ],
)
def test_bad_scenarios_name_the_field(change, field, hint):
    data = {**BASE, **change}
    with pytest.raises(ConfigError) as info:
        validate_scenario(parse_scenario(data))
    assert info.value.field.startswith(field)
    assert hint in str(info.value)


def test_missing_field_and_non_mapping(tmp_path):
    with pytest.raises(ConfigError, match="world: got '\\(missing\\)'"):
        parse_scenario({"name": "x", "roles": {}})
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="a mapping of scenario fields"):
        load_scenario(path)


def test_non_yaml_file_names_the_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nworld: {name: [unclosed\n")
    with pytest.raises(ConfigError, match=r"valid YAML; it could not be parsed \(line"):
        load_scenario(path)


def test_yaml_round_trip(tmp_path):
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(BASE))
    assert load_scenario(path) == parse_scenario(BASE)
