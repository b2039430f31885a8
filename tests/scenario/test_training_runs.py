"""Background training runs: names, settings and the planners they offer (fast checks).

Starting, stopping and resuming real processes is tested through the Training page
(tests/app/test_training_page.py).
"""

import pytest

from sandbox.core.errors import ConfigError
from sandbox.scenario import load_scenario, parse_scenario
from sandbox.scenario.train import training_config
from sandbox.scenario.training_runs import (
    free_run_name,
    list_planners,
    read_training_log,
    run_folder,
    training_spec,
    training_status,
)

FLAGSHIP = "scenarios/onestep_ai_economist.yaml"


@pytest.mark.parametrize("name", ["../up", "a/b", "", ".hidden", "x" * 65, "sp ace"])
def test_a_run_name_must_be_a_plain_folder_name(tmp_path, name):
    with pytest.raises(ConfigError) as info:
        run_folder(tmp_path, name)
    assert info.value.field == "run name"


def test_free_run_name_skips_names_in_use(tmp_path):
    assert free_run_name(tmp_path, "study") == "study"
    (tmp_path / "study").mkdir()
    (tmp_path / "study-2").mkdir()
    assert free_run_name(tmp_path, "study") == "study-3"
    assert run_folder(tmp_path, free_run_name(tmp_path, "my study!")).name == "my-study-"


def test_training_spec_overrides_only_what_it_is_given():
    spec = load_scenario(FLAGSHIP)
    resolved = training_spec(spec, num_envs=8, phase2_updates=3, seed=None)
    config, seed = training_config(resolved)
    original, original_seed = training_config(spec)
    assert resolved.world.num_envs == 8
    assert (config.phase1_updates, config.phase2_updates) == (original.phase1_updates, 3)
    assert config.rate_cap == original.rate_cap and seed == original_seed


def test_training_spec_names_the_bad_setting():
    spec = load_scenario(FLAGSHIP)
    with pytest.raises(ConfigError) as info:
        training_spec(spec, phase1_updates=-1)
    assert info.value.field == "train.phase1_updates"
    with pytest.raises(ConfigError) as info:
        training_spec(spec, learning_rate=0.1)
    assert info.value.field == "train"
    without = parse_scenario({**spec.model_dump(mode="json"), "train": None})
    with pytest.raises(ConfigError) as info:
        training_spec(without, num_envs=4)
    assert info.value.field == "train"


def test_a_folder_without_a_run_is_new_and_offers_nothing(tmp_path):
    status = training_status(tmp_path / "nothing")
    assert (status.state, status.update, status.checkpoint, status.planner) == \
        ("new", 0, None, None)
    assert read_training_log(tmp_path / "nothing") == []
    assert list_planners(tmp_path) == []
