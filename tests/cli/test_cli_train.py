import csv

import pytest
import yaml

from sandbox.cli import main

SCENARIO = {
    "name": "train_study",
    "world": {"name": "onestep_economy", "params": {"num_workers": 4}, "num_envs": 8},
    "roles": {"workers": {"policy": "best_response"}, "planner": {"policy": "free_market"}},
    "train": {"seed": 0, "phase1_updates": 2, "phase2_updates": 3, "checkpoint_every": 2,
              "rate_cap": {"start_value": 0.0, "end_value": 1.0, "end_update": 2}},
}


def write(tmp_path, scenario):
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(scenario))
    return path


def test_train_writes_log_checkpoints_and_policies(tmp_path, capsys):
    out = tmp_path / "training"
    assert main(["train", str(write(tmp_path, SCENARIO)), "--out", str(out)]) == 0
    rows = list(csv.DictReader((out / "log.csv").open()))
    assert [int(r["update"]) for r in rows] == [1, 2, 3, 4, 5]
    assert (out / "planner.pt").is_file() and (out / "workers.pt").is_file()
    checkpoints = sorted(p.name for p in (out / "checkpoints").glob("*.pt"))
    assert checkpoints == ["update_000002.pt", "update_000004.pt", "update_000005.pt"]
    assert "planner:" in capsys.readouterr().out


@pytest.mark.parametrize(("change", "field"), [
    ({"workers": {"learning_rate": -0.1}}, "train.workers.learning_rate"),
    ({"rate_cap": {"start_value": 0.0, "end_value": 1.0, "start_update": 5, "end_update": 2}},
     "train.rate_cap.end_update"),
    ({"phase1_updates": -1}, "train.phase1_updates"),
    ({"colour": 1}, "train.colour"),
])
def test_bad_training_sections_name_the_field(tmp_path, capsys, change, field):
    scenario = {**SCENARIO, "train": {**SCENARIO["train"], **change}}
    assert main(["train", str(write(tmp_path, scenario)), "--out", str(tmp_path / "t")]) == 2
    assert field in capsys.readouterr().err


def test_missing_train_section_and_bad_resume(tmp_path, capsys):
    scenario = {k: v for k, v in SCENARIO.items() if k != "train"}
    assert main(["train", str(write(tmp_path, scenario))]) == 2
    assert "train:" in capsys.readouterr().err
    out = tmp_path / "training"
    path = write(tmp_path, SCENARIO)
    assert main(["train", str(path), "--out", str(out)]) == 0
    good = out / "checkpoints" / "update_000004.pt"
    broken = tmp_path / "broken.pt"
    broken.write_bytes(good.read_bytes()[:100])
    assert main(["train", str(path), "--out", str(out), "--resume", str(broken)]) == 2
    assert "checkpoint" in capsys.readouterr().err.lower()
    assert good.stat().st_size > 100  # earlier checkpoints are intact
