"""Bad input to `sandbox run` on the flagship economy: exit 2, one paragraph, nothing written."""

import pytest
import yaml

from sandbox.cli import main

BASE = {
    "name": "economy_errors",
    "world": {"name": "onestep_economy", "params": {"num_workers": 10}},
    "roles": {"workers": {"policy": "best_response"},
              "planner": {"policy": "fixed_rates",
                          "params": {"rates": [0.1, 0.1, 0.2, 0.2, 0.3, 0.3, 0.4]}}},
}


def with_change(path, value):
    data = yaml.safe_load(yaml.safe_dump(BASE))
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return data


@pytest.mark.parametrize(("path", "value", "field"), [
    (("roles", "planner", "params", "rates"), [-0.1, 0.1, 0.2, 0.2, 0.3, 0.3, 0.4],
     "roles.planner.params.rates"),
    (("world", "params", "cutoffs"), [0.0, 50.0, 20.0], "world.params.cutoffs"),
    (("world", "params", "num_workers"), 1, "world.params.num_workers"),
    (("world", "name"), "onestep_econmy", "world.name"),
    (("roles", "planner", "policy"), "sаez", "roles.planner.policy"),
])
def test_bad_economy_scenarios_exit_2_naming_the_field(tmp_path, capsys, path, value, field):
    scenario = tmp_path / "bad.yaml"
    scenario.write_text(yaml.safe_dump(with_change(path, value), allow_unicode=True))
    out = tmp_path / "out"
    assert main(["run", str(scenario), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert field in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_non_yaml_file(tmp_path, capsys):
    scenario = tmp_path / "notes.yaml"
    scenario.write_text("name: [this is not\n  closed: {")
    assert main(["run", str(scenario), "--out", str(tmp_path / "out")]) == 2
    assert "valid YAML" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_flagship_scenario_runs(tmp_path, capsys):
    scenario = tmp_path / "ok.yaml"
    scenario.write_text(yaml.safe_dump(BASE))
    assert main(["run", str(scenario), "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "figures.html").stat().st_size > 100_000
