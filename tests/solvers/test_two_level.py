import csv

import pytest
import torch

from sandbox.core import SOLVERS, CheckpointError, ConfigError
from sandbox.policies import NetworkConfig, NeuralPolicy
from sandbox.solvers import Anneal, PPOConfig, TrainingError, TwoLevel, TwoLevelConfig
from sandbox.worlds.economy.best_response import best_response_hours
from sandbox.worlds.economy.onestep import OneStepEconomy, OneStepParams

SMALL = NetworkConfig(hidden_sizes=(32, 32))


def config(phase1=2, phase2=2, every=2, **kwargs):
    workers = PPOConfig(learning_rate=3e-3, update_epochs=2, num_minibatches=2,
                        reward_scale=0.01, network=SMALL)
    planner = PPOConfig(learning_rate=3e-3, update_epochs=2, num_minibatches=2,
                        reward_scale=0.1, network=SMALL)
    return TwoLevelConfig(workers=workers, planner=planner, phase1_updates=phase1,
                          phase2_updates=phase2, checkpoint_every=every,
                          rate_cap=Anneal(0.0, 1.0, 0, phase2, name="rate_cap"),
                          planner_entropy=Anneal(0.5, 0.05, 0, phase2, name="planner_entropy"),
                          **kwargs)


def world(num_workers=4, num_envs=8):
    return OneStepEconomy(OneStepParams(num_workers=num_workers), num_envs=num_envs, seed=0)


def parameters(solver):
    return {f"{role}/{k}": v.clone() for role, learner in (("w", solver.workers),
                                                         ("p", solver.planner))
            for k, v in learner.policy.module.state_dict().items()}


def test_resume_continues_exactly_as_an_uninterrupted_run(tmp_path):
    full = TwoLevel(world(), config(), seed=3, out_dir=tmp_path / "full")
    full.train(progress=False)
    checkpoints = sorted((tmp_path / "full" / "checkpoints").iterdir())
    assert [p.name for p in checkpoints] == ["update_000002.pt", "update_000004.pt"]
    resumed = TwoLevel(world(), config(), seed=3, out_dir=tmp_path / "resumed")
    resumed.train(resume=checkpoints[0], progress=False)
    assert resumed.update == full.update == 4
    expected, got = parameters(full), parameters(resumed)
    for key in expected:
        assert torch.equal(expected[key], got[key]), key
    rows_full, rows_resumed = (list(csv.DictReader((tmp_path / run / "log.csv").open()))
                               for run in ("full", "resumed"))
    assert [r["update"] for r in rows_full] == ["1", "2", "3", "4"]
    assert [r["update"] for r in rows_resumed] == ["3", "4"]
    for a_row, b_row in zip(rows_full[2:], rows_resumed):
        assert a_row["workers_policy_loss"] == b_row["workers_policy_loss"]
        assert a_row["productivity"] == b_row["productivity"]
    # the final policies load through the checkpoint policy
    loaded = NeuralPolicy.load(tmp_path / "full" / "planner.pt", role=full.world.roles["planner"])
    head = full.planner.policy.module.actor_head.weight
    assert torch.equal(loaded.module.actor_head.weight, head)


def test_resume_is_exact_with_planner_every_and_a_settle_phase(tmp_path):
    def make(folder):
        return TwoLevel(world(), config(phase1=1, phase2=3, every=3, planner_every=2,
                                        settle_updates=2), seed=5, out_dir=tmp_path / folder)

    full = make("full")
    full.train(progress=False)
    resumed = make("resumed")  # from update 3: mid phase 2, between planner updates
    resumed.train(resume=tmp_path / "full" / "checkpoints" / "update_000003.pt",
                  progress=False)
    assert resumed.update == full.update == 6
    assert resumed.planner.updates == full.planner.updates == 2
    expected, got = parameters(full), parameters(resumed)
    for key in expected:
        assert torch.equal(expected[key], got[key]), key


def test_resume_in_the_same_folder_drops_rows_after_the_checkpoint(tmp_path):
    solver = TwoLevel(world(), config(), seed=0, out_dir=tmp_path)
    solver.train(progress=False)
    again = TwoLevel(world(), config(), seed=0, out_dir=tmp_path)
    again.train(resume=tmp_path / "checkpoints" / "update_000002.pt", progress=False)
    with (tmp_path / "log.csv").open() as stream:
        assert [r["update"] for r in csv.DictReader(stream)] == ["1", "2", "3", "4"]


@pytest.mark.parametrize(("role", "bad"), [("workers", float("nan")),
                                         ("planner", float("inf"))])
def test_nan_rewards_stop_with_update_and_role_and_no_broken_checkpoint(tmp_path, role, bad):
    w = world()
    original = w._step_state
    calls = {"n": 0}

    def poisoned(state, actions):
        new, rewards, terminated, truncated, info = original(state, actions)
        calls["n"] += 1
        if calls["n"] > 4:  # from the third update on (two world steps per update)
            rewards = {**rewards, role: torch.full_like(rewards[role], bad)}
        return new, rewards, terminated, truncated, info

    w._step_state = poisoned
    solver = TwoLevel(w, config(phase1=2, phase2=2, every=1), seed=0, out_dir=tmp_path)
    with pytest.raises(TrainingError, match=rf"update 3: role '{role}'.*non-finite rewards"):
        solver.train(progress=False)
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["update_000001.pt", "update_000002.pt"]
    fresh = TwoLevel(world(), config(phase1=2, phase2=2, every=1), seed=0)
    fresh.load_checkpoint(tmp_path / "checkpoints" / names[-1])  # earlier ones are intact
    assert fresh.update == 2


def test_checkpoint_for_another_world_or_a_damaged_file_is_rejected(tmp_path):
    solver = TwoLevel(world(), config(), seed=0, out_dir=tmp_path)
    solver.train(progress=False)
    path = tmp_path / "checkpoints" / "update_000004.pt"
    other = TwoLevel(world(num_workers=5), config(), seed=0)
    with pytest.raises(CheckpointError, match="params"):
        other.load_checkpoint(path)
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        TwoLevel(world(), config(), seed=0).load_checkpoint(damaged)
    policy_file = tmp_path / "planner.pt"
    with pytest.raises(CheckpointError, match="not a sandbox.two_level"):
        TwoLevel(world(), config(), seed=0).load_checkpoint(policy_file)


def test_bad_training_settings_are_rejected():
    with pytest.raises(ConfigError, match="end_update"):
        Anneal(0.0, 1.0, 10, 5, name="rate_cap")
    with pytest.raises(ConfigError, match="learning_rate"):
        PPOConfig(learning_rate=-1.0)
    with pytest.raises(ConfigError, match="phase1_updates"):
        TwoLevelConfig(phase1_updates=-1)
    with pytest.raises(ConfigError, match="rate_cap"):
        TwoLevelConfig(rate_cap=Anneal(0.0, 1.5, 0, 10))
    with pytest.raises(ConfigError, match="roles"):
        TwoLevel(world(), TwoLevelConfig(planner_role="government"))
    with pytest.raises(ConfigError, match="planner_every"):
        TwoLevelConfig(planner_every=0)
    with pytest.raises(ConfigError, match="settle_updates"):
        TwoLevelConfig(settle_updates=-2)
    with pytest.raises(ConfigError, match="planner_entropy.end_update"):
        Anneal(0.5, 0.0, 4, 1, name="planner_entropy")


def test_schedules_follow_the_curriculum():
    solver = TwoLevel(world(), config(phase1=3, phase2=4), seed=0)
    assert solver.schedule_at(0) == (1, 0.0, 0.0)
    assert solver.schedule_at(3) == (2, 0.0, 0.5)
    phase, cap, entropy = solver.schedule_at(5)
    assert phase == 2 and cap == pytest.approx(0.5) and entropy == pytest.approx(0.275)
    assert solver.schedule_at(7)[1:] == (1.0, 0.05)
    assert SOLVERS.get("two_level") is TwoLevel


def test_planner_every_and_settle_phase():
    solver = TwoLevel(world(), config(phase1=1, phase2=4, planner_every=2, settle_updates=2),
                      seed=0)
    assert solver.config.total_updates == 7
    assert solver.schedule_at(5) == (3, 1.0, 0.05)  # settle: final cap, planner fixed
    solver.collector.reset(solver.world.seed)
    planner_updates, phases = [], []
    while solver.update < solver.config.total_updates:
        before = solver.planner.updates
        phases.append(solver.step()["phase"])
        planner_updates.append(solver.planner.updates - before)
    assert phases == [1, 2, 2, 2, 2, 3, 3]
    assert planner_updates == [0, 1, 0, 1, 0, 0, 0]
    assert solver.workers.updates == 7


def test_tensorboard_scalars_match_the_csv_log(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    TwoLevel(world(), config(), seed=0, out_dir=tmp_path).train(progress=False)
    events = list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    assert len(events) == 1 and events[0].stat().st_size > 0
    accumulator = EventAccumulator(str(tmp_path / "tensorboard"))
    accumulator.Reload()
    rows = list(csv.DictReader((tmp_path / "log.csv").open()))
    for key in ("rate_cap", "workers_policy_loss", "productivity"):
        scalars = accumulator.Scalars(key)
        assert [s.step for s in scalars] == [int(r["update"]) for r in rows]
        assert [s.value for s in scalars] == pytest.approx([float(r[key]) for r in rows],
                                                           rel=1e-6)


def _best_response_gap(solver) -> float:
    w = solver.world
    w.set_rate_cap(1.0)
    obs = w.reset()
    planner = solver.planner.policy.act(obs["planner"], w.action_masks()["planner"],
                                        deterministic=True)
    result = w.step({"planner": planner})
    hours = w.hours_from_action(solver.workers.policy.act(result.obs["workers"],
                                                          deterministic=True))
    best = best_response_hours(w.skills, cutoffs=w.cutoffs, rates=w.state.rates, lump_sum=0.0,
                               utility_params=w.params.utility, hours_grid=w.hours_grid)
    return float(((hours - best).abs() / best.clamp(min=1.0)).mean())


def test_short_run_raises_welfare_and_lowers_the_best_response_gap():
    solver = TwoLevel(world(num_workers=10, num_envs=32), config(phase1=6, phase2=6), seed=0)
    gap_before = _best_response_gap(solver)
    solver.collector.reset(solver.world.seed)
    welfare = []
    while solver.update < solver.config.total_updates:
        welfare.append(solver.step()["return_planner"])
    assert _best_response_gap(solver) < 0.7 * gap_before
    assert max(welfare[-3:]) > welfare[0]


def test_fixed_workers_leave_only_the_planner_learning(tmp_path):
    from sandbox.core import POLICIES

    w = world()
    fixed = POLICIES.get("best_response")(w, "workers")
    solver = TwoLevel(w, config(phase1=0, phase2=3, every=3, learn_workers=False),
                      seed=0, out_dir=tmp_path, workers_policy=fixed)
    before = parameters(solver)
    solver.train(progress=False)
    after = parameters(solver)
    workers_same = all(torch.equal(before[k], after[k]) for k in before if k.startswith("w/"))
    planner_moved = any(not torch.equal(before[k], after[k]) for k in before if k.startswith("p/"))
    assert workers_same and planner_moved
    assert (tmp_path / "planner.pt").is_file() and not (tmp_path / "workers.pt").exists()
    with open(tmp_path / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["workers_policy_loss"] for r in rows] == ["", "", ""]
    assert all(r["planner_policy_loss"] != "" for r in rows)


def test_fixed_workers_settings_are_checked():
    from sandbox.core import POLICIES

    w = world()
    fixed = POLICIES.get("best_response")(w, "workers")
    with pytest.raises(ConfigError, match="train.phase1_updates"):
        config(phase1=2, learn_workers=False)
    with pytest.raises(ConfigError, match="train.settle_updates"):
        config(phase1=0, settle_updates=1, learn_workers=False)
    with pytest.raises(ConfigError, match="a fixed policy for the workers"):
        TwoLevel(w, config(phase1=0, learn_workers=False))
    with pytest.raises(ConfigError, match="false when the workers are given a fixed policy"):
        TwoLevel(w, config(), workers_policy=fixed)


def test_a_scenario_trains_its_planner_against_its_rule_following_residents(tmp_path):
    import yaml

    from sandbox.scenario.spec import load_scenario
    from sandbox.scenario.train import train_scenario

    data = yaml.safe_load(open("scenarios/epidemic_planner_training.yaml"))
    data["world"]["params"]["num_residents"] = 500
    data["world"]["params"]["horizon_days"] = 14
    data["world"]["num_envs"] = 2
    data["train"].update(rollout_steps=14, phase2_updates=2, checkpoint_every=2)
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(data))
    outcome = train_scenario(load_scenario(path), out_dir=tmp_path / "out", progress=False)
    assert outcome.workers is None and outcome.planner.is_file()
    assert outcome.last_row["update"] == 2 and outcome.last_row["workers_policy_loss"] == ""
    data["roles"]["workers"] = [{"policy": "archetype_compliance"}, {"policy": "never_isolate"}]
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="roles.workers"):
        train_scenario(load_scenario(path), out_dir=tmp_path / "again", progress=False)
