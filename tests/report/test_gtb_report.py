"""Gather-Trade-Build runs in a batch keep one recorded episode, and reports draw it.

A tiny GTB batch (two planners, one seed) stores ``trajectories/<run_id>.npz`` next to
each run; the report shows the map animation, inventories, trades and taxes of each
policy's episode; the stored arrays equal a direct rerun of the run; a missing or
corrupt file becomes a note and the rest of the report builds.
"""

import json
import shutil

import numpy as np
import pytest
import torch
import yaml

from sandbox.cli import main
from sandbox.core.errors import SandboxError
from sandbox.core.seeding import derive_seed
from sandbox.report import gtb_figures as gf
from sandbox.report.build import build_report
from sandbox.scenario.build import build_policy, build_world
from sandbox.scenario.run import execute_run, plan_runs
from sandbox.scenario.spec import PolicySpec, WorldSpec, load_scenario
from sandbox.worlds.economy.gtb.trajectory import read_trajectory

LENGTH, PERIOD = 30, 10
SCENARIO = {
    "name": "gtb_tiny",
    "world": {"name": "gather_trade_build", "num_envs": 2,
              "params": {"layout": "uniform", "height": 11, "width": 11, "num_workers": 2,
                         "wood_coverage": 0.15, "stone_coverage": 0.15, "starting_coin": 10.0,
                         "episode_length": LENGTH, "tax_period": PERIOD}},
    "roles": {"workers": {"policy": "random"},
              "planner": [{"policy": "free_market"}, {"policy": "us_federal"}]},
    "evaluation": {"episodes": 1, "seeds": [3]},
}
FIGURES = ("map", "inventory", "trades", "tax")


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """The tiny scenario's file and its results folder from ``sandbox batch``."""
    folder = tmp_path_factory.mktemp("gtb_batch")
    scenario = folder / "gtb_tiny.yaml"
    scenario.write_text(yaml.safe_dump(SCENARIO))
    assert main(["batch", str(scenario), "--out", str(folder / "out"), "--workers", "1"]) == 0
    return scenario, folder / "out"


def stored(out):
    """Run id -> stored trajectory arrays."""
    return {p.stem: read_trajectory(p) for p in sorted((out / "trajectories").glob("*.npz"))}


def test_the_report_draws_each_policys_episode(batch, tmp_path):
    _, out = batch
    assert len(stored(out)) == 2
    report = build_report(out, tmp_path / "report.html")
    html = report.html.read_text()
    for k in range(2):
        for name in FIGURES:
            assert f'id="s-gtb_tiny-fig-episode-{k}-{name}"' in html
    assert "Map over time: free_market" in html and "Tax schedule: us_federal" in html
    assert 'data-episode-problem' not in html
    side = json.loads(report.sidecar.read_text())["scenarios"][0]
    drawn = side["episodes"]["episodes"]
    assert [e["variant"] for e in drawn] == ["free_market", "us_federal"]
    assert all(e["steps"] == LENGTH for e in drawn) and side["episodes"]["problems"] == []
    assert "episode-0-map" in side["figures"]
    # self-contained: plotly.js inline, no script fetched from elsewhere
    assert "<script src=" not in html
    assert "Plotly.animate(" not in html  # the map waits at step 0 for Play


def test_the_stored_episode_equals_a_direct_rerun_with_the_same_seed(batch):
    scenario, out = batch
    files = stored(out)
    for plan in plan_runs(load_scenario(scenario)):
        arrays = files[plan.run_id]
        again = execute_run(plan)
        assert again.status == "ok", again.error
        assert set(again.trajectory) == set(arrays)
        for key, value in again.trajectory.items():
            assert np.array_equal(value, arrays[key], equal_nan=value.dtype.kind == "f"), key
        # the record is environment 0's first episode: its metrics and final holdings
        first = next(e for e in again.episodes if e["env"] == 0 and e["episode"] == 0)
        metrics = dict(zip(arrays["metric_names"].tolist(), arrays["metric_values"]))
        assert metrics["productivity"] == pytest.approx(first["productivity"])
        assert arrays["inventory"][-1, :, 2].sum() == pytest.approx(first["productivity"],
                                                                     abs=1e-4)
        assert len(arrays["trade_step"]) == first["trades"]


def test_the_stored_positions_and_holdings_are_the_worlds(batch):
    """Replay the run by hand (same world, policies and seeds as the runner) and compare
    every step of environment 0 with the stored record."""
    scenario, out = batch
    plan = plan_runs(load_scenario(scenario))[1]
    arrays = stored(out)[plan.run_id]
    config = plan.config
    spec = WorldSpec(**{k: config["world"][k] for k in ("name", "num_envs", "device")},
                     params=config["world"]["params"])
    world = build_world(spec, seed=derive_seed(plan.seed, "world"))
    policies = {}
    for role, pconf in config["roles"].items():
        policies[role] = build_policy(world, role, PolicySpec(policy=pconf["policy"]),
                                      field=role)
        policies[role].reset(derive_seed(plan.seed, f"policy/{role}"))
    obs = world.reset(seed=derive_seed(plan.seed, "world"))
    pad, wp = world.setup.pad, world.setup.padded_width
    state = world.state
    for t in range(LENGTH + 1):
        tiles = torch.stack([state.pos[0] // wp - pad, state.pos[0] % wp - pad], -1)
        assert arrays["position"][t].tolist() == tiles.tolist(), t
        held = (state.inventory + state.escrow)[0].numpy()
        np.testing.assert_allclose(arrays["inventory"][t], held, atol=1e-5)
        if t == LENGTH:
            break
        masks = world.action_masks()
        actions = {r: policies[r].act(obs[r], masks.get(r), False)
                   for r in world.acting_roles()}
        assert arrays["actions"][t].tolist() == actions["workers"][0].tolist()
        result = world.step(actions)
        obs, state = result.obs, result.final_state  # the episode's last state, not the next
    assert arrays["map_step"].tolist() == list(range(LENGTH + 1))  # short: every step


def test_a_missing_or_corrupt_episode_is_a_note_and_the_report_builds(batch, tmp_path):
    _, out = batch
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    files = sorted((copy / "trajectories").glob("*.npz"))
    files[0].write_bytes(b"not an archive")
    files[1].unlink()
    report = build_report(copy, tmp_path / "report.html")
    html = report.html.read_text()
    assert html.count("data-episode-problem") == 2
    assert "not a readable trajectory file" in html and "trajectory file not found" in html
    assert "episode-0-map" not in html
    assert 'id="s-gtb_tiny-comparison"' in html  # the rest of the report is there
    side = json.loads(report.sidecar.read_text())["scenarios"][0]
    assert len(side["episodes"]["problems"]) == 2 and side["episodes"]["episodes"] == []


def test_trajectory_files_are_checked(tmp_path):
    with pytest.raises(SandboxError, match="not found"):
        read_trajectory(tmp_path / "none.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"\x00" * 10)
    with pytest.raises(SandboxError, match="not a readable trajectory"):
        read_trajectory(bad)
    other = tmp_path / "other.npz"
    np.savez(other, format=np.array("something else"), version=np.array(1))
    with pytest.raises(SandboxError, match="not a Gather-Trade-Build trajectory"):
        read_trajectory(other)
    old = tmp_path / "old.npz"
    np.savez(old, format=np.array("sandbox.gtb_trajectory"), version=np.array(99))
    with pytest.raises(SandboxError, match="version 99"):
        read_trajectory(old)


def test_long_episodes_keep_a_strided_map_and_draw_it(tmp_path):
    """250 steps keep about 100 map snapshots (every 3rd step, and the last); positions
    and holdings every step. The figure animates the stored snapshots."""
    from sandbox.policies.generic import RandomPolicy
    from sandbox.worlds.economy.gtb import GatherTradeBuild, GTBParams
    from sandbox.worlds.economy.planners import us_federal

    world = GatherTradeBuild(GTBParams(num_workers=2, episode_length=250, tax_period=50),
                             num_envs=1, seed=2)
    obs = world.reset(2)
    recorder = world.episode_recorder()
    workers = RandomPolicy(world.roles["workers"])
    planner = us_federal(world)
    while not recorder.finished:
        masks = world.action_masks()
        actions = {"workers": workers.act(obs["workers"], masks["workers"])}
        if "planner" in world.acting_roles():
            actions["planner"] = planner.act(obs["planner"])
        result = world.step(actions)
        recorder.record(actions, result)
        obs = result.obs
    arrays = recorder.arrays()
    assert arrays["map_step"].tolist() == list(range(0, 250, 3)) + [250]
    assert arrays["terrain"].shape == (85, 25, 25) and arrays["position"].shape == (251, 2, 2)
    episode = gf.episode_from_arrays(arrays)
    assert episode.map_step is not None and episode.steps == 250
    assert episode.map_index(250) == 84 and episode.map_index(4) == 1
    fig = gf.map_figure(episode, max_frames=None)
    assert [f.name for f in fig.frames] == [str(s) for s in arrays["map_step"]]
    last = fig.frames[-1].data
    assert np.array_equal(np.asarray(last[0]["z"]), arrays["terrain"][-1])
    assert list(last[2]["x"]) == arrays["position"][250, :, 1].tolist()
    assert gf.episode_summary(episode)["productivity"] == pytest.approx(
        float(arrays["inventory"][-1, :, 2].sum()))
