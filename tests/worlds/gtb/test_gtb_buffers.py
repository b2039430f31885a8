"""Reused output buffers: an observation a caller still holds is never overwritten."""

import torch

from sandbox.worlds.economy.gtb import GatherTradeBuild, GTBParams
from sandbox.worlds.economy.gtb.buffers import BufferPool
from sandbox.worlds.economy.gtb.observations import local_views
from tests.worlds.gtb.gtb_helpers import random_valid_actions


def test_pool_reuses_only_buffers_nobody_holds():
    pool = BufferPool(size=3)
    first = pool.take((4, 5))
    address = first.data_ptr()
    assert pool.take((4, 5)).data_ptr() != address  # `first` is still held
    del first
    again = pool.take((4, 5))
    if BufferPool._baseline is not None:  # reuse needs this torch's storage use count
        assert again.data_ptr() == address
    view = again[:, 0]
    array = pool.take((4, 5)).numpy()
    kept = [pool.take((4, 5))]
    for _ in range(6):
        fresh = pool.take((4, 5))
        assert fresh.data_ptr() not in {view.data_ptr(), array.ctypes.data,
                                        kept[0].data_ptr()}
        assert pool.take((4, 6)).shape == (4, 6)  # another shape is another buffer


def test_kept_observations_survive_later_steps():
    world = GatherTradeBuild(GTBParams(num_workers=3), num_envs=4, seed=5)
    obs = world.reset()
    generator = torch.Generator().manual_seed(5)
    masks = world.action_masks()
    kept, copies = [obs["workers"]], [obs["workers"].clone()]
    views = []
    for _ in range(12):
        result = world.step({"workers": random_valid_actions(world, masks, generator),
                             "planner": torch.zeros(4, 1, world.params.num_brackets,
                                                    dtype=torch.long)})
        masks = result.masks
        views.append((result.obs["workers"][:, 0], result.obs["workers"][:, 0].clone()))
        kept.append(result.obs["workers"])
        copies.append(result.obs["workers"].clone())
    for held, copy in zip(kept, copies, strict=True):
        assert torch.equal(held, copy)
    for view, copy in views:
        assert torch.equal(view, copy)
    # observations that were dropped are reused and still correct
    for _ in range(3):
        result = world.step({"workers": random_valid_actions(world, result.masks, generator)})
    assert torch.equal(result.obs["workers"], world._observe(world.state)["workers"])


def test_views_equal_bitwise_decoding_of_tile_codes():
    world = GatherTradeBuild(GTBParams(num_workers=4), num_envs=3, seed=2)
    world.reset()
    generator = torch.Generator().manual_seed(2)
    masks = world.action_masks()
    for _ in range(40):
        actions = {"workers": random_valid_actions(world, masks, generator)}
        if "planner" in world.acting_roles():
            actions["planner"] = torch.zeros(3, 1, world.params.num_brackets, dtype=torch.long)
        masks = world.step(actions).masks
    state, radius = world.state, world.params.view_radius
    width = world.setup.padded_width
    views = local_views(state, world.window, radius=radius, padded_width=width)
    b, n = state.pos.shape
    cells = world.window.numel()
    seen = state.tiles.long().gather(1, (state.pos.unsqueeze(-1) + world.window).view(b, -1))
    seen = seen.view(b, n, cells)
    owner = (seen >> 3) - 1
    me = torch.arange(n).view(1, n, 1)
    expected = torch.stack([seen & 1, (seen >> 1) & 1, (seen >> 2) & 1, owner == me,
                            (owner >= 0) & (owner != me)], dim=2).float()
    assert torch.equal(views.view(b, n, 6, cells)[:, :, :5], expected)
