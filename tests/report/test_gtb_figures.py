"""Figures of a Gather-Trade-Build episode: they build, and they draw the world's numbers."""

import numpy as np
import pytest
import torch

from sandbox.core.errors import ConfigError
from sandbox.policies.generic import RandomPolicy
from sandbox.report import gtb_figures as gf
from sandbox.worlds.economy.gtb import GatherTradeBuild, GTBParams
from sandbox.worlds.economy.planners import us_federal

LENGTH, PERIOD = 40, 10


def make_world(**params):
    params = {"episode_length": LENGTH, "tax_period": PERIOD, "starting_coin": 20.0,
              "num_workers": 3, **params}
    return GatherTradeBuild(GTBParams(**params), num_envs=2, seed=0)


def policies(world):
    return {"workers": RandomPolicy(world.roles["workers"]), "planner": us_federal(world)}


@pytest.fixture(scope="module")
def episode():
    """A whole short episode (the world's metrics come with its last step)."""
    world = make_world()
    return gf.record_episode(world, policies(world), seed=4, env=1)


def test_record_shapes(episode):
    n, h, w = 3, 25, 25
    assert episode.steps == LENGTH
    assert episode.terrain.shape == (LENGTH + 1, h, w)
    assert episode.owner.shape == (LENGTH + 1, h, w)
    assert episode.position.shape == (LENGTH + 1, n, 2)
    assert episode.inventory.shape == (LENGTH + 1, n, 3)
    assert episode.rates.shape == (LENGTH // PERIOD, 7)
    assert np.all(episode.inventory >= 0)
    assert np.all((episode.position >= 0) & (episode.position < 25))
    # workers never stand on water
    rows, cols = episode.position[..., 0], episode.position[..., 1]
    steps = np.arange(LENGTH + 1)[:, None]
    assert not np.any(episode.terrain[steps, rows, cols] == gf.WATER)


def test_record_agrees_with_episode_metrics(episode):
    m = episode.metrics
    assert episode.final_coin.sum() == pytest.approx(m["productivity"], rel=1e-5, abs=1e-4)
    assert len(episode.trade_step) == m["trades"]
    assert np.nansum(episode.period_tax) == pytest.approx(m["revenue"], rel=1e-5, abs=1e-4)
    houses = (episode.owner[-1] >= 0).sum()
    assert houses == m["houses_built"]
    assert episode.labour[-1].mean() == pytest.approx(m["mean_labour"], rel=1e-5)


def test_inventory_traces_equal_the_worlds_state():
    """Replaying the recorded actions in a fresh world gives the recorded holdings at
    every step, and the figure's traces are exactly those holdings."""
    world = make_world()
    record = gf.record_episode(world, policies(world), steps=25, seed=7, env=0)
    replay = make_world()
    replay.reset(7)
    planner = us_federal(replay)
    for t in range(record.steps):
        held = (replay.state.inventory + replay.state.escrow)[0].numpy()
        np.testing.assert_allclose(record.inventory[t], held, rtol=0, atol=1e-5)
        actions = {"workers": torch.as_tensor(record.actions[t]).expand(2, -1).clone()}
        if "planner" in replay.acting_roles():
            actions["planner"] = planner.act(torch.zeros(2, 1, 1))
        replay.step(actions)
    final = (replay.state.inventory + replay.state.escrow)[0].numpy()
    np.testing.assert_allclose(record.inventory[-1], final, atol=1e-5)
    np.testing.assert_allclose(record.final_coin, world.state.coin_total[0].numpy(), atol=1e-5)
    fig = gf.inventory_figure(record)
    assert len(fig.data) == 3 * 3  # wood, stone, coin panels x 3 agents
    for k, trace in enumerate(fig.data):
        row, agent = divmod(k, 3)
        np.testing.assert_array_equal(trace.y, record.inventory[:, agent, row])
        assert trace.name == f"agent {agent}"


def test_map_has_one_frame_per_step(episode):
    fig = gf.map_figure(episode, max_frames=None)
    assert len(fig.frames) == episode.steps + 1
    assert len(fig.layout.sliders[0].steps) == episode.steps + 1
    for s in (0, 17, LENGTH):
        frame = fig.frames[s]
        assert frame.name == str(s)
        np.testing.assert_array_equal(np.asarray(frame.data[0].z), episode.terrain[s])
        agents = frame.data[2]
        np.testing.assert_array_equal(agents.x, episode.position[s, :, 1])
        np.testing.assert_array_equal(agents.y, episode.position[s, :, 0])
        houses = frame.data[1]
        assert len(houses.x) == int((episode.owner[s] >= 0).sum())


def test_map_frames_are_strided_for_long_episodes(episode):
    steps = gf.frame_steps(episode, max_frames=8)
    assert steps[0] == 0 and steps[-1] == LENGTH and len(steps) == 8
    assert len(gf.map_figure(episode, max_frames=8).frames) == 8


def test_trades_and_tax_figures(episode):
    assert len(episode.trade_step) > 0, "the test episode should hold trades"
    fig = gf.trades_figure(episode)
    prices = [t for t in fig.data if t.type == "scatter"]
    volumes = [t for t in fig.data if t.type == "bar"]
    assert sum(len(t.x) for t in prices) == len(episode.trade_step)
    assert sum(int(np.sum(t.y)) for t in volumes) == len(episode.trade_step)
    for trace in prices:
        assert np.all((np.asarray(trace.y) >= 0) & (np.asarray(trace.y) <= 10))
    tax = gf.tax_figure(episode)
    assert len(tax.data) == LENGTH // PERIOD
    for rates, trace in zip(episode.rates, tax.data):
        np.testing.assert_allclose(np.asarray(trace.y)[:-1], rates * 100, rtol=1e-6)
    figures = gf.episode_figures(episode, max_frames=10)
    assert set(figures) == {"map", "inventory", "trades", "tax"}


def test_us_federal_rates_are_recorded(episode):
    from sandbox.worlds.economy.tax_schedule import us_federal_brackets
    _, rates = us_federal_brackets("foundation")
    levels = np.round(np.asarray(rates) * 20) / 20  # the world's discrete rate grid
    np.testing.assert_allclose(episode.rates, np.tile(levels, (LENGTH // PERIOD, 1)), atol=1e-6)


def test_bad_input_names_the_field():
    world = make_world()
    with pytest.raises(ConfigError, match="steps"):
        gf.record_episode(world, policies(world), steps=0)
    with pytest.raises(ConfigError, match="steps"):
        gf.record_episode(world, policies(world), steps=LENGTH + 1)
    with pytest.raises(ConfigError, match="env"):
        gf.record_episode(world, policies(world), env=2)
    with pytest.raises(ConfigError, match="policies"):
        gf.record_episode(world, {"workers": RandomPolicy(world.roles["workers"])})
