"""The fast local views equal a plain construction from the state's maps, step after step.

The reference reads the separate maps (resource, water, owner, positions), not the tile
codes the fast path decodes, and builds each channel with plain comparisons, so it
checks the code decoding, the window read and the other-workers channel together,
through episode resets and with houses on the map.
"""

import pytest
import torch

from sandbox.worlds.economy.gtb import GatherTradeBuild, GTBParams
from sandbox.worlds.economy.gtb.observations import VIEW_CHANNELS, local_views, view_codes
from tests.worlds.gtb.gtb_helpers import random_valid_actions


def reference_views(state, *, radius: int, padded_width: int) -> torch.Tensor:
    """``[B, N, 6, V*V]`` float32 local views, written plainly."""
    b, n = state.pos.shape
    steps = torch.arange(-radius, radius + 1)
    offsets = (steps.view(-1, 1) * padded_width + steps.view(1, -1)).reshape(-1)
    tiles = (state.pos.unsqueeze(-1) + offsets).view(b, -1)  # [B, N * V*V]

    def seen(layer):
        return layer.gather(1, tiles).view(b, n, -1)

    owner = seen(state.owner.long())
    me = torch.arange(n).view(1, n, 1)
    # worker j is in i's view where j's tile is one of i's view tiles (j != i)
    others = torch.zeros(b, n, offsets.numel(), dtype=torch.bool)
    for j in range(n):
        stands = torch.zeros_like(state.water).scatter(1, state.pos[:, j:j + 1], True)
        in_view = seen(stands)
        in_view[:, j] = False
        others |= in_view
    return torch.stack([
        seen(state.resource[:, 0].long()) > 0, seen(state.resource[:, 1].long()) > 0,
        seen(state.water), owner == me, (owner >= 0) & (owner != me), others,
    ], dim=2).float()


@pytest.mark.parametrize("num_workers, radius", [(4, 5), (7, 2)])
def test_views_match_plain_reference_through_resets(num_workers, radius):
    params = GTBParams(num_workers=num_workers, view_radius=radius, episode_length=40,
                       tax_period=10)
    world = GatherTradeBuild(params, num_envs=16, seed=11)
    obs = world.reset()
    generator = torch.Generator().manual_seed(4)
    masks = world.action_masks()
    width = world.setup.padded_width
    cells = (2 * radius + 1) ** 2
    houses = 0.0
    for step in range(100):  # two and a half episodes
        expected = reference_views(world.state, radius=radius, padded_width=width)
        got = obs["workers"][..., :len(VIEW_CHANNELS) * cells].view(16, num_workers, 6, cells)
        assert torch.equal(got, expected), f"step {step}"
        if step % 5 == 0:  # wood and stone to build with, so that houses appear
            inventory = world.state.inventory.clone()
            inventory[..., :2] += 2
            world.state = world.state.replace(inventory=inventory)
            masks = world.action_masks()
        actions = {"workers": random_valid_actions(world, masks, generator)}
        if "planner" in world.acting_roles():
            actions["planner"] = torch.zeros(16, 1, params.num_brackets, dtype=torch.long)
        result = world.step(actions)
        obs, masks = result.obs, result.masks
        houses = max(houses, float((world.state.owner >= 0).sum()))
    assert houses > 0  # the house channels were exercised


def test_view_codes_read_each_workers_window():
    world = GatherTradeBuild(GTBParams(num_workers=3, view_radius=2), num_envs=5, seed=3)
    world.reset()
    state, width = world.state, world.setup.padded_width
    codes = view_codes(state, radius=2, padded_width=width)
    assert codes.shape == (15, 5, 5) and codes.dtype == state.tiles.dtype
    for env in range(5):
        for worker in range(3):
            row, column = divmod(int(state.pos[env, worker]), width)
            window = state.tiles[env].view(-1, width)[row - 2:row + 3, column - 2:column + 3]
            assert torch.equal(codes[env * 3 + worker], window)


def test_views_without_buffers_or_pool_equal_pooled():
    world = GatherTradeBuild(GTBParams(num_workers=4), num_envs=3, seed=1)
    obs = world.reset()
    p = world.params
    alone = local_views(world.state, world.window, radius=p.view_radius,
                        padded_width=world.setup.padded_width)
    assert torch.equal(alone, obs["workers"][..., :alone.shape[-1]])
