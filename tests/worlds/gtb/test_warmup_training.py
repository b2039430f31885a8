"""``sandbox train`` on a tiny Gather-Trade-Build scenario: the labour-cost warm-up advances
with the updates, resuming a run continues it exactly, and bad rollouts are refused."""

import csv
import math

import pytest
import torch
import yaml

from sandbox.core.errors import ConfigError
from sandbox.scenario.spec import load_scenario
from sandbox.scenario.train import train_scenario
from sandbox.solvers.two_level import TwoLevel

LENGTH, CONSTANT, COST = 10, 2.0, 0.3


def tiny_scenario(tmp_path, **train):
    """The study's scenario file, shrunk: 11 x 11 map, 4 environments, 10-step episodes."""
    data = yaml.safe_load(open("scenarios/gtb_ai_economist.yaml"))
    data["world"]["params"].update(
        layout="uniform", height=11, width=11, num_workers=2, episode_length=LENGTH,
        tax_period=5, labour_cost=COST, labour_warmup_constant=CONSTANT,
        labour_warmup_method="decay")
    data["world"]["num_envs"] = 4
    small = {"hidden_sizes": [16], "activation": "tanh"}
    data["train"].update({"rollout_steps": LENGTH, "phase1_updates": 2,
                          "phase2_updates": 2, "checkpoint_every": 2, **train})
    data["train"]["rate_cap"].update(end_update=1)
    data["train"]["planner_entropy"].update(end_update=2)
    data["train"]["workers"]["network"] = {**small, "shared_torso": True}
    data["train"]["planner"]["network"] = small
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_scenario(path)


def log_rows(folder):
    return list(csv.DictReader((folder / "log.csv").open()))


def test_sandbox_train_advances_the_warm_up_and_resumes_it_exactly(tmp_path):
    spec = tiny_scenario(tmp_path)
    full = train_scenario(spec, out_dir=tmp_path / "full", progress=False)
    rows = log_rows(tmp_path / "full")
    # one episode per environment and update: update u ran after u - 1 completed episodes
    costs = [float(r["effective_labour_cost"]) for r in rows]
    assert costs == pytest.approx([COST * (1 - math.exp(-u / CONSTANT)) for u in range(4)],
                                  abs=1e-6)
    assert costs[0] == 0.0 and costs[-1] > costs[1] > 0.0

    checkpoint = tmp_path / "full" / "checkpoints" / "update_000002.pt"
    payload = torch.load(checkpoint, weights_only=True)
    assert payload["collector"]["world/state/episodes_done"].tolist() == [2] * 4
    resumed = train_scenario(spec, out_dir=tmp_path / "resumed", resume=checkpoint,
                             progress=False)
    again = log_rows(tmp_path / "resumed")
    assert [r["update"] for r in again] == ["3", "4"]
    for a, b in zip(rows[2:], again):
        for key in ("effective_labour_cost", "productivity", "workers_policy_loss",
                    "return_workers"):
            assert a[key] == b[key], key
    assert resumed.last_row["update"] == full.last_row["update"] == 4
    for name in ("workers.pt", "planner.pt"):
        a = torch.load(tmp_path / "full" / name, weights_only=True)["state_dict"]
        b = torch.load(tmp_path / "resumed" / name, weights_only=True)["state_dict"]
        assert all(torch.equal(a[k], b[k]) for k in a), name


def test_rollouts_must_hold_whole_episodes(tmp_path):
    spec = tiny_scenario(tmp_path, rollout_steps=LENGTH + 5)
    with pytest.raises(ConfigError, match="train.rollout_steps") as caught:
        train_scenario(spec, out_dir=tmp_path / "out", progress=False)
    assert "multiple of the world's episode_length (10)" in str(caught.value)
    assert not (tmp_path / "out").exists()


def test_the_warm_up_is_in_the_trainers_world_state(tmp_path):
    """The trainer needs no hook: the world's state carries the count through the
    collector's resets at every update."""
    from sandbox.scenario.build import build_world
    from sandbox.scenario.train import training_config

    spec = tiny_scenario(tmp_path)
    config, _ = training_config(spec)
    world = build_world(spec.world, seed=0)
    trainer = TwoLevel(world, config, seed=0)
    trainer.collector.reset(world.seed)
    for update in range(3):
        assert world.state.episodes_done.tolist() == [update] * 4
        trainer.step()


def test_the_study_continues_the_warm_up_in_its_branch_worlds(tmp_path):
    """``benchmarks/two_level_gtb.py`` hands phase 1's warm-up to its phase-2 branch worlds
    (the counters survive the collector's reset) and evaluates at the full cost."""
    import importlib.util
    from pathlib import Path

    from sandbox.scenario.build import build_world

    path = Path(__file__).resolve().parents[3] / "benchmarks" / "two_level_gtb.py"
    module_spec = importlib.util.spec_from_file_location("two_level_gtb", path)
    bench = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(bench)
    spec = tiny_scenario(tmp_path)
    world = build_world(spec.world, seed=1)
    progress = {"episodes_done": torch.full((4,), 6), "positive_steps": torch.zeros(4).long()}
    bench.continue_warmup(world, progress)
    world.reset(seed=5)
    expected = COST * (1 - math.exp(-6 / CONSTANT))
    assert world.labour_coefficient(world.state).tolist() == pytest.approx([expected] * 4)
    evaluation = build_world(bench.full_cost(spec.world), seed=1)
    evaluation.reset()
    assert evaluation.labour_coefficient(evaluation.state).tolist() == pytest.approx([COST] * 4)


def test_evaluations_run_at_the_full_labour_cost(tmp_path):
    """The warm-up is a training curriculum: ``sandbox run`` and batches evaluate with
    ``GTBParams.for_evaluation()`` (no warm-up), while the run's config keeps the file's
    parameters."""
    from sandbox.scenario.run import evaluate

    spec = tiny_scenario(tmp_path)
    results = evaluate(spec)
    assert results and all(r.status == "ok" for r in results)
    for result in results:
        assert result.metrics["effective_labour_cost"] == pytest.approx(COST)
        assert result.plan.config["world"]["params"]["labour_warmup_constant"] == CONSTANT
    params = build_params_of(spec)
    evaluated = params.for_evaluation()
    assert evaluated.labour_warmup_constant == 0.0 and evaluated.labour_cost == COST
    assert evaluated.for_evaluation() is evaluated  # nothing left to switch off


def build_params_of(spec):
    from sandbox.scenario.build import build_world

    return build_world(spec.world, seed=0).params
