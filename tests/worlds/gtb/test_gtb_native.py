"""The compiled CPU kernels equal the torch rules bit for bit, and their build fails safe."""

import shutil

import pytest
import torch

from sandbox.core import native
from sandbox.worlds.economy.gtb import GatherTradeBuild, GTBParams
from sandbox.worlds.economy.gtb import native as gtb_native
from sandbox.worlds.economy.gtb.actions import ActionLayout
from sandbox.worlds.economy.gtb.auction import submit_orders
from sandbox.worlds.economy.gtb.masks import worker_masks
from sandbox.worlds.economy.gtb.observations import local_views
from tests.worlds.gtb.gtb_helpers import random_rates, random_valid_actions

needs_compiler = pytest.mark.skipif(shutil.which("cc") is None,
                                    reason="no C compiler: the compiled kernels cannot be built")


def _episode(params: dict, *, steps: int, num_envs: int, seed: int):
    """States, step results and masks of a random episode on the current path."""
    world = GatherTradeBuild(GTBParams(**params), num_envs=num_envs, seed=seed)
    world.reset()
    generator = torch.Generator().manual_seed(seed)
    masks, record = world.action_masks(), []
    for _ in range(steps):
        actions = {"workers": random_valid_actions(world, masks, generator, build_bias=0.7)}
        if "planner" in world.acting_roles():
            actions["planner"] = random_rates(world, generator)
        result = world.step(actions)
        masks = result.masks
        trades = result.info["log"].trades
        record.append([result.obs["workers"], result.obs["planner"], result.rewards["workers"],
                       result.rewards["planner"], masks["workers"], trades.traded,
                       trades.placed, trades.price.nan_to_num(-1.0), world.state.book,
                       world.state.inventory, world.state.escrow, world.state.earned,
                       world.state.tiles])
    return record


@needs_compiler
@pytest.mark.parametrize("params", [
    {"layout": "uniform", "starting_coin": 5.0, "max_price": 3, "max_orders": 2,
     "order_duration": 7, "tax_period": 10, "regen_probability": 0.2, "episode_length": 40},
    {"num_workers": 6, "view_radius": 3, "max_orders": 3, "episode_length": 60,
     "starting_coin": 20.0},
], ids=["busy-market", "six-workers"])
def test_compiled_and_torch_paths_give_identical_episodes(kernels, params):
    if kernels == "torch":
        pytest.skip("compares the two paths itself")
    assert gtb_native.applies(torch.empty(0)), "the kernels should build where cc exists"
    compiled = _episode(params, steps=90, num_envs=16, seed=3)
    with native.disabled():
        assert not gtb_native.applies(torch.empty(0))
        plain = _episode(params, steps=90, num_envs=16, seed=3)
    traded = sum(int(step[5].sum()) for step in compiled)
    assert traded > 20  # the market was exercised (and episodes reset within the run)
    for step, (ours, theirs) in enumerate(zip(compiled, plain)):
        for index, (a, b) in enumerate(zip(ours, theirs)):
            assert a.dtype == b.dtype and torch.equal(a, b), (step, index)


@needs_compiler
def test_each_kernel_equals_its_torch_rule_on_crowded_random_states(kernels):
    if kernels == "torch":
        pytest.skip("compares the two paths itself")
    world = GatherTradeBuild(GTBParams(layout="uniform", max_price=4, max_orders=2,
                                       starting_coin=6.0), num_envs=64, seed=8)
    world.reset()
    generator = torch.Generator().manual_seed(8)
    layout = ActionLayout(world.params.max_price)
    masks = world.action_masks()
    for _ in range(40):  # fill the book
        masks = world.step({"workers": random_valid_actions(world, masks, generator),
                            **({"planner": random_rates(world, generator)}
                               if "planner" in world.acting_roles() else {})}).masks
    state, p = world.state, world.params
    # orders at every price, side and resource, affordable or not
    action = torch.randint(layout.first_trade, layout.first_move, (64, p.num_workers),
                           generator=generator)
    turn_order = torch.rand(64, p.num_workers, generator=generator).argsort(1)
    args = (state.book, state.inventory, state.escrow, state.earned)
    kwargs = {"orders": layout.decode_trade(action), "turn_order": turn_order, "step": state.t}
    compiled = submit_orders(*args, **kwargs)
    with native.disabled():
        plain = submit_orders(*args, **kwargs)
        plain_masks = worker_masks(state, offsets=world.offsets, max_orders=p.max_orders,
                                   max_price=p.max_price)
        plain_views = local_views(state, world.window, radius=p.view_radius,
                                  padded_width=world.setup.padded_width)
    for a, b in zip(compiled[:4], plain[:4]):
        assert torch.equal(a, b)
    for name in ("traded", "placed", "resource"):
        assert torch.equal(getattr(compiled[4], name), getattr(plain[4], name))
    assert torch.equal(compiled[4].price.nan_to_num(-1), plain[4].price.nan_to_num(-1))
    assert 0 < int(compiled[4].traded.sum()) < int(compiled[4].placed.sum())
    assert torch.equal(worker_masks(state, offsets=world.offsets, max_orders=p.max_orders,
                                    max_price=p.max_price), plain_masks)
    assert torch.equal(local_views(state, world.window, radius=p.view_radius,
                                   padded_width=world.setup.padded_width), plain_views)
    assert torch.equal(state.book, world.state.book)  # inputs untouched
