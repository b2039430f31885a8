"""Properties over seeded random valid actions: conservation, no negative holdings, determinism."""

import pytest
import torch

from sandbox.core import POLICIES
from sandbox.worlds.economy.gtb import GatherTradeBuild, GTBParams
from sandbox.worlds.economy.gtb.observations import tile_code
from tests.worlds.gtb.gtb_helpers import holdings, random_rates, random_valid_actions


@pytest.mark.parametrize("seed, workers, layout", [(0, 4, "quadrant"), (1, 2, "uniform"),
                                                   (2, 7, "uniform"), (3, 1, "quadrant")])
def test_coin_and_resources_are_conserved_except_builds_gathering_and_taxes(seed, workers,
                                                                            layout):
    params = GTBParams(num_workers=workers, layout=layout, tax_period=30, order_duration=25,
                       regen_probability=0.05, starting_coin=3.0)
    world = GatherTradeBuild(params, num_envs=8, seed=seed)
    world.reset()
    generator = torch.Generator().manual_seed(seed)
    masks = world.action_masks()
    for _ in range(150):
        before = world.state
        actions = {"workers": random_valid_actions(world, masks, generator)}
        if "planner" in world.acting_roles():
            actions["planner"] = random_rates(world, generator)
        result = world.step(actions)
        after, log = world.state, result.info["log"]
        built = log.built.float().sum(1)
        collected = log.collected.sum(1)  # [B, 2]
        change = holdings(after) - holdings(before)
        assert torch.allclose(change[:, 0], collected[:, 0] - built, atol=1e-5)
        assert torch.allclose(change[:, 1], collected[:, 1] - built, atol=1e-5)
        payments = (log.built.float() * before.payment).sum(1)
        assert torch.allclose(change[:, 2], payments, atol=1e-3)  # trades and taxes move coin
        assert torch.allclose(log.tax.sum(1), log.lump_sum * workers, atol=1e-3)
        for held in (after.inventory, after.escrow):
            assert float(held.min()) >= -1e-4
        # the view code kept in the state matches the maps
        assert torch.equal(after.tiles, tile_code(after.resource, after.water, after.owner))
        # escrow is exactly what the open orders hold
        open_ = after.book_seq >= 0
        assert torch.allclose(after.escrow[..., 2],
                              (open_[:, :, 0] * after.book_price[:, :, 0]).sum((1, 3)).float())
        assert torch.equal(after.escrow[..., :2], open_[:, :, 1].sum(-1).transpose(1, 2).float())
        masks = result.masks
    if workers > 1:  # a lone worker has nobody to trade with
        assert float(world.state.trades.sum()) > 0 and float(world.state.houses.sum()) > 0


def rollout(seed, steps=60):
    world = GatherTradeBuild(GTBParams(layout="uniform", tax_period=20), num_envs=4, seed=seed)
    obs = world.reset()
    generator = torch.Generator().manual_seed(seed)
    masks, trace = world.action_masks(), [obs]
    for _ in range(steps):
        actions = {"workers": random_valid_actions(world, masks, generator)}
        if "planner" in world.acting_roles():
            actions["planner"] = random_rates(world, generator)
        result = world.step(actions)
        masks = result.masks
        trace += [result.obs, result.rewards]
    return trace


def flatten(trace):
    return [v for item in trace for v in item.values()]


def test_same_seed_gives_the_same_trajectory_and_another_seed_does_not():
    first, again, other = rollout(4), rollout(4), rollout(5)
    assert all(torch.equal(a, b) for a, b in zip(flatten(first), flatten(again)))
    assert not all(torch.equal(a, b) for a, b in zip(flatten(first), flatten(other)))


def test_rewards_sum_to_the_change_in_utility_and_welfare_and_episodes_reset():
    world = GatherTradeBuild(GTBParams(episode_length=40, tax_period=10), num_envs=3, seed=2)
    world.reset()
    start_utility, start_welfare = world.state.utility, world.state.welfare
    generator = torch.Generator().manual_seed(0)
    masks = world.action_masks()
    total = {"workers": 0.0, "planner": 0.0}
    for _ in range(40):
        actions = {"workers": random_valid_actions(world, masks, generator)}
        if "planner" in world.acting_roles():
            actions["planner"] = random_rates(world, generator)
        result = world.step(actions)
        total = {r: total[r] + result.rewards[r] for r in total}
        masks = result.masks
    assert bool(result.truncated.all()) and int(world.state.t[0]) == 0
    final = result.final_state
    assert torch.allclose(total["workers"], final.utility - start_utility, atol=1e-4)
    assert torch.allclose(total["planner"][:, 0], final.welfare - start_welfare, atol=1e-4)
    assert set(result.final_metrics) == set(world.metric_names)
    assert torch.allclose(result.final_metrics["productivity"], final.coin_total.sum(1))


def test_planner_acts_only_at_the_start_of_each_tax_period():
    world = GatherTradeBuild(GTBParams(tax_period=5), num_envs=2, seed=0)
    world.reset()
    acting = []
    for _ in range(12):
        acting.append("planner" in world.acting_roles())
        actions = {"workers": torch.zeros(2, 4, dtype=torch.int64)}
        if acting[-1]:
            actions["planner"] = torch.full((2, 1, 7), 4)
        world.step(actions)
    assert acting == [t % 5 == 0 for t in range(12)]
    assert torch.allclose(world.state.rates, torch.full((2, 7), 0.2))


@pytest.mark.parametrize("name, rates", [("free_market", [0.0] * 7),
                                         ("us_federal", [0.1, 0.12, 0.22, 0.24, 0.32, 0.35,
                                                         0.37])])
def test_the_one_step_economys_planners_drive_the_gtb_planner(name, rates):
    world = GatherTradeBuild(num_envs=2, seed=0)
    obs = world.reset()
    planner = POLICIES.get(name)(world, "planner")
    action = planner.act(obs["planner"], world.action_masks()["planner"])
    world.step({"planner": action, "workers": torch.zeros(2, 4, dtype=torch.int64)})
    on_grid = [round(r * 20) / 20 for r in rates]  # discrete actions: 21 levels
    assert world.state.rates.tolist() == [pytest.approx(on_grid)] * 2
