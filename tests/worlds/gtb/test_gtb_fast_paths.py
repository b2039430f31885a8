"""The step's fast paths agree with their plain forms: packed order keys, reused map
buffers, in-place mechanics."""

import pytest
import torch

from sandbox.worlds.economy.gtb import GatherTradeBuild, GTBParams
from sandbox.worlds.economy.gtb.buffers import BufferPool
from sandbox.worlds.economy.gtb.building import build_houses
from sandbox.worlds.economy.gtb.dynamics import advance
from sandbox.worlds.economy.gtb.movement import gather_resources
from sandbox.worlds.economy.gtb.observations import local_views
from sandbox.worlds.economy.gtb.regeneration import regrow
from sandbox.worlds.economy.gtb.state import EMPTY_ORDER, StepNoise, order_key
from tests.worlds.gtb.gtb_helpers import random_rates, random_valid_actions

BID, ASK = 0, 1


def played_world(steps: int = 60, num_envs: int = 6, **params) -> GatherTradeBuild:
    """A world a few dozen random steps in: houses, a busy book, gathered tiles."""
    params = {"layout": "uniform", "starting_coin": 5.0, "max_price": 3, "max_orders": 2,
              "order_duration": 7, "tax_period": 10, "regen_probability": 0.2, **params}
    world = GatherTradeBuild(GTBParams(**params), num_envs=num_envs, seed=4)
    world.reset()
    generator = torch.Generator().manual_seed(4)
    masks = world.action_masks()
    for _ in range(steps):
        actions = {"workers": random_valid_actions(world, masks, generator, build_bias=0.8)}
        if "planner" in world.acting_roles():
            actions["planner"] = random_rates(world, generator)
        masks = world.step(actions).masks
    return world


def test_order_keys_rank_each_side_best_first_and_decode_to_price_and_sequence():
    world = played_world(steps=0, num_workers=2, max_price=10, max_orders=3)
    seq = torch.tensor([7, 3, 9])
    price = torch.tensor([4, 4, 6])
    book = torch.full_like(world.state.book, EMPTY_ORDER)
    book[0, 0, BID, 0] = order_key(-price, seq)  # bids rank by minus their price
    book[0, 1, ASK, 1] = order_key(price, seq)
    world.state = world.state.replace(book=book)
    bids, asks = world.state.book[0, 0, BID, 0], world.state.book[0, 1, ASK, 1]
    # best bid: the highest price, then the earliest; best ask: the lowest, then earliest
    assert bids.argsort().tolist() == [2, 1, 0]
    assert asks.argsort().tolist() == [1, 0, 2]
    assert bool((bids < EMPTY_ORDER).all() and (asks < EMPTY_ORDER).all())
    assert world.state.book_price[0, 0, BID, 0].tolist() == price.tolist()
    assert world.state.book_price[0, 1, ASK, 1].tolist() == price.tolist()
    assert world.state.book_seq[0, 1, ASK, 1].tolist() == seq.tolist()
    assert int((world.state.book_seq >= 0).sum()) == 6
    assert int(world.state.book_seq[0, 0, ASK].max()) == -1  # empty slots
    assert int(world.state.book_price[0, 0, ASK].abs().max()) == 0
    # the observation's best bid and ask read the keys
    market = world._observe(world.state)["workers"][0, 0, -(8 + world.params.num_brackets
                                                            + 4):][:8]
    assert market[:2].tolist() == [6.0, 11.0]  # wood: best bid 6, no ask (max_price + 1)
    assert market[4:6].tolist() == [-1.0, 4.0]  # stone: no bid, best ask 4


def test_a_step_with_reused_map_buffers_equals_one_with_fresh_copies():
    world = played_world()
    state, before = world.state, world.state.clone()
    generator = torch.Generator().manual_seed(1)
    pool = BufferPool(size=6)
    p = world.params
    used = set()
    for _ in range(4):  # later rounds reuse the buffers the earlier ones dropped
        action = random_valid_actions(world, world.action_masks(), generator)
        noise = StepNoise.draw(world.num_envs, p.num_workers, state.source_cells.shape[1],
                               generator=generator, device="cpu")
        kwargs = {"params": p, "cutoffs": world.cutoffs, "offsets": world.offsets}
        fresh, fresh_log = advance(state, action, noise, **kwargs)
        reused, reused_log = advance(state, action, noise, pool=pool, **kwargs)
        for name, value in fresh.fields().items():
            assert torch.equal(getattr(reused, name), value), name
        assert torch.equal(fresh_log.collected, reused_log.collected)
        for name, value in before.fields().items():  # the input state is left alone
            assert torch.equal(getattr(state, name), value), name
        if BufferPool._baseline is not None:
            pooled = {buffer.data_ptr() for buffer in pool.buffers}
            maps = {reused.owner.data_ptr(), reused.resource.data_ptr(),
                    reused.tiles.data_ptr()}
            assert maps <= pooled
            used |= maps
        del reused, reused_log
    if BufferPool._baseline is not None:
        assert len(used) <= 6  # dropped buffers were handed out again


def test_in_place_mechanics_equal_their_copying_forms():
    world = played_world()
    state = world.state
    generator = torch.Generator().manual_seed(2)
    wants = torch.rand(state.pos.shape, generator=generator) < 0.7
    inventory = state.inventory + 1.0  # enough wood and stone to build
    owner, built = build_houses(inventory, state.owner, state.source, state.pos, wants)
    owner_copy = state.owner.clone()
    owner_in_place, built_in_place = build_houses(inventory, owner_copy, state.source,
                                                  state.pos, wants, inplace=True)
    assert bool(built.any()) and torch.equal(built, built_in_place)
    assert torch.equal(owner, owner_in_place) and owner_in_place is owner_copy
    assert not torch.equal(owner, state.owner)  # the copying form left its input alone
    # every worker moved onto its own tile: it collects whatever lies there
    lying = state.resource.clone()
    lying.view(lying.shape[0], 2, -1)[:, 0].scatter_(1, state.pos, 1)
    moved = torch.ones_like(wants)
    bonus = torch.rand(state.pos.shape, generator=generator) < 0.5
    resource, collected = gather_resources(lying, state.pos, moved, bonus)
    resource_copy = lying.clone()
    in_place, collected_in_place = gather_resources(resource_copy, state.pos, moved, bonus,
                                                    inplace=True)
    assert float(collected.sum()) >= state.pos.numel()
    assert torch.equal(collected, collected_in_place) and torch.equal(resource, in_place)
    assert int(lying.sum()) - int(resource.sum()) == int((collected > 0).sum())
    draws = torch.rand(state.source_cells.shape, generator=generator)
    bare = torch.zeros_like(resource)  # every source empty: each may regrow
    grown, regrown = regrow(bare, state.source_cells, draws, 0.5)
    grown_in_place, regrown_in_place = regrow(bare.clone(), state.source_cells, draws, 0.5,
                                              inplace=True)
    assert int(bare.sum()) == 0 and int(grown.sum()) == int(regrown.sum())
    assert bool(regrown.any()) and torch.equal(regrown, regrown_in_place)
    assert torch.equal(grown, grown_in_place)


def test_copy_of_gives_an_equal_buffer_that_nothing_else_holds():
    pool = BufferPool(size=2)
    source = torch.arange(12, dtype=torch.int16).view(3, 4)
    first = pool.copy_of(source)
    second = pool.copy_of(source)
    assert torch.equal(first, source) and torch.equal(second, source)
    assert len({first.data_ptr(), second.data_ptr(), source.data_ptr()}) == 3
    first.add_(1)  # a held copy is never handed out again
    third = pool.copy_of(source)
    assert third.data_ptr() not in {first.data_ptr(), second.data_ptr()}
    assert torch.equal(first, source + 1)


@pytest.mark.parametrize("num_envs", [1, 5])
def test_market_summary_matches_a_direct_reading_of_the_book(num_envs):
    world = played_world(steps=40, num_envs=num_envs)
    state = world.state
    seq, price = state.book_seq, state.book_price
    open_ = seq >= 0
    best_bid = torch.where(open_[:, :, BID], price[:, :, BID], -1).amax((-1, -2))
    best_ask = torch.where(open_[:, :, ASK], price[:, :, ASK],
                           world.params.max_price + 1).amin((-1, -2))
    k = world.params.num_brackets
    market = world._observe(state)["workers"][..., -(8 + k + 4):-(k + 4)]  # [B, N, 8]
    market = market.view(state.pos.shape[0], -1, 2, 4)  # per resource
    assert torch.equal(market[..., 0], best_bid.float().unsqueeze(1).expand_as(market[..., 0]))
    assert torch.equal(market[..., 1], best_ask.float().unsqueeze(1).expand_as(market[..., 1]))
    assert torch.equal(market[..., 2], open_[:, :, BID].sum(-1).float().transpose(1, 2))
    assert torch.equal(market[..., 3], open_[:, :, ASK].sum(-1).float().transpose(1, 2))
    assert int(open_.sum()) > 0


@pytest.mark.parametrize("radius,workers", [(1, 6), (3, 8)])
def test_other_workers_channel_equals_a_row_and_column_reading(radius, workers):
    # a small map, so that many workers stand close and some at the edges
    world = played_world(steps=20, num_workers=workers, view_radius=radius, height=9,
                         width=9, num_envs=4)
    state, side = world.state, 2 * radius + 1
    width = world.setup.padded_width
    views = local_views(state, world.window, radius=radius, padded_width=width)
    b, n = state.pos.shape
    others = views.view(b, n, 6, side, side)[:, :, 5]
    expected = torch.zeros_like(others)
    rows, cols = (state.pos // width).tolist(), (state.pos % width).tolist()
    for env in range(b):
        for i in range(n):
            for j in range(n):
                dy, dx = rows[env][j] - rows[env][i], cols[env][j] - cols[env][i]
                if j != i and abs(dy) <= radius and abs(dx) <= radius:
                    expected[env, i, dy + radius, dx + radius] = 1.0
    assert torch.equal(others, expected)
    assert float(expected.sum()) > 0
