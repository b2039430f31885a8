"""One test per mechanic of Gather-Trade-Build, on hand-built maps."""

import pytest
import torch

from sandbox.worlds.economy.gtb.actions import BUILD, BUY, NOOP, SELL, STONE, WOOD
from sandbox.worlds.economy.gtb.observations import tile_code
from sandbox.worlds.economy.tax_schedule import tax_owed
from tests.worlds.gtb.gtb_helpers import ACTIONS, act, give, place, small_world

MAP = ["....",
       ".@..",
       "....",
       "W..S"]
LEFT, RIGHT, UP, DOWN = (ACTIONS.move(d) for d in range(4))
FIXED = {"skills": "fixed", "fixed_payments": (11.33, 22.25)}


def tile_of(world, worker, env=0):
    r, c = divmod(int(world.state.pos[env, worker]), world.setup.padded_width)
    return r - world.setup.pad, c - world.setup.pad


def test_moves_into_water_off_map_or_onto_a_worker_are_masked_and_fail(tmp_path):
    world = small_world(tmp_path, MAP)
    place(world, [(0, 1), (0, 2)])
    mask = world.action_masks()["workers"][0, 0]
    assert not mask[DOWN] and not mask[UP] and not mask[RIGHT] and mask[LEFT]
    act(world, DOWN, NOOP)  # forced anyway: nothing happens, no labour
    assert tile_of(world, 0) == (0, 1) and float(world.state.labour[0, 0]) == 0.0
    act(world, RIGHT, NOOP)
    assert tile_of(world, 0) == (0, 1)
    act(world, LEFT, DOWN)
    assert tile_of(world, 0) == (0, 0) and tile_of(world, 1) == (1, 2)
    assert world.state.labour[0].tolist() == [1.0, 1.0]


def test_a_tile_left_earlier_in_the_turn_order_is_free_for_later_movers(tmp_path):
    world = small_world(tmp_path, MAP, num_envs=64, seed=3)
    place(world, [(2, 1), (2, 2)])  # worker 1 moves right, worker 0 follows into its tile
    act(world, RIGHT, RIGHT)
    first = world.last_noise.order.argsort(1)[:, 0]
    moved0 = world.state.pos[:, 0] == world.setup.padded_index(2, 2)
    assert torch.equal(moved0, first == 1)  # only when worker 1 went first
    assert bool(moved0.any()) and not bool(moved0.all())


@pytest.mark.parametrize("bonus, units", [(0.0, 1.0), (1.0, 2.0)])
def test_landing_on_a_resource_collects_it_with_the_bonus_unit(tmp_path, bonus, units):
    world = small_world(tmp_path, MAP, fixed_bonus_probability=bonus, regen_probability=0.0,
                        **FIXED)
    place(world, [(3, 1), (0, 3)])
    wood_tile = world.setup.padded_index(3, 0)
    assert int(world.state.resource[0, WOOD, wood_tile]) == 1
    act(world, LEFT, NOOP)
    assert float(world.state.inventory[0, 0, WOOD]) == units
    assert int(world.state.resource[0, WOOD, wood_tile]) == 0
    assert float(world.state.labour[0, 0]) == 2.0  # move + gather
    act(world, RIGHT, NOOP)
    act(world, LEFT, NOOP)  # the tile is empty now: nothing more to collect
    assert float(world.state.inventory[0, 0, WOOD]) == units


def test_resources_regrow_on_empty_source_tiles(tmp_path):
    world = small_world(tmp_path, MAP, regen_probability=1.0)
    place(world, [(3, 1), (0, 3)])
    act(world, LEFT, NOOP)
    assert int(world.state.resource[0, WOOD, world.setup.padded_index(3, 0)]) == 1


def test_build_consumes_one_wood_and_one_stone_and_pays_the_skill_price(tmp_path):
    world = small_world(tmp_path, MAP, **FIXED)
    place(world, [(0, 0), (2, 0)])
    give(world, 1, wood=2, stone=1)
    assert not world.action_masks()["workers"][0, 0, BUILD]  # nothing to build with
    assert world.action_masks()["workers"][0, 1, BUILD]
    act(world, NOOP, BUILD)
    assert world.state.inventory[0, 1].tolist() == pytest.approx([1.0, 0.0, 22.25])
    assert float(world.state.labour[0, 1]) == 10.0
    assert float(world.state.earned[0, 1]) == pytest.approx(22.25)
    assert int(world.state.owner[0, world.setup.padded_index(2, 0)]) == 1
    assert not world.action_masks()["workers"][0, 1, BUILD]  # no stone, and a house here
    give(world, 1, stone=1)
    assert not world.action_masks()["workers"][0, 1, BUILD]  # the tile has a house


def test_houses_block_other_workers_but_not_their_owner(tmp_path):
    world = small_world(tmp_path, MAP, **FIXED)
    place(world, [(2, 0), (2, 1)])
    give(world, 1, wood=1, stone=1)
    act(world, NOOP, BUILD)
    act(world, NOOP, RIGHT)  # the builder steps off its house
    mask = world.action_masks()["workers"][0]
    assert not mask[0, RIGHT] and mask[1, LEFT]
    act(world, RIGHT, NOOP)  # forced: blocked
    assert tile_of(world, 0) == (2, 0)
    act(world, NOOP, LEFT)
    assert tile_of(world, 1) == (2, 1)


def test_no_build_on_a_source_tile(tmp_path):
    world = small_world(tmp_path, MAP)
    place(world, [(3, 3), (0, 0)])
    give(world, 0, wood=1, stone=1)
    assert not world.action_masks()["workers"][0, 0, BUILD]


def test_crossing_orders_trade_at_the_earlier_price_with_escrow(tmp_path):
    world = small_world(tmp_path, MAP)
    place(world, [(0, 0), (2, 0)])
    give(world, 0, coin=10)
    give(world, 1, wood=1)
    act(world, NOOP, ACTIONS.trade(WOOD, SELL, 3))  # the ask rests, its unit escrowed
    assert world.state.inventory[0, 1, WOOD] == 0 and world.state.escrow[0, 1, WOOD] == 1
    assert float(world.state.labour[0, 1]) == 0.25
    act(world, ACTIONS.trade(WOOD, BUY, 7), NOOP)  # crosses: trade at 3, not 7
    assert world.state.inventory[0, 0].tolist() == [1.0, 0.0, 7.0]
    assert world.state.inventory[0, 1].tolist() == [0.0, 0.0, 3.0]
    assert float(world.state.escrow.abs().sum()) == 0.0
    assert int((world.state.book_seq >= 0).sum()) == 0
    assert float(world.state.trades[0]) == 1


def test_a_resting_bid_escrows_its_price_and_pays_it(tmp_path):
    world = small_world(tmp_path, MAP)
    place(world, [(0, 0), (2, 0)])
    give(world, 0, coin=10)
    give(world, 1, stone=1)
    act(world, ACTIONS.trade(STONE, BUY, 6), NOOP)
    assert world.state.inventory[0, 0, 2] == 4 and world.state.escrow[0, 0, 2] == 6
    act(world, NOOP, ACTIONS.trade(STONE, SELL, 2))  # trades at the bid's 6
    assert world.state.inventory[0, 0].tolist() == [0.0, 1.0, 4.0]
    assert world.state.inventory[0, 1].tolist() == [0.0, 0.0, 6.0]
    assert float(world.state.escrow.abs().sum()) == 0.0


def test_same_step_orders_trade_at_the_price_of_the_one_placed_first(tmp_path):
    world = small_world(tmp_path, MAP, num_envs=64, seed=1)
    place(world, [(0, 0), (2, 0)])
    give(world, 0, coin=10)
    give(world, 1, wood=1)
    act(world, ACTIONS.trade(WOOD, BUY, 7), ACTIONS.trade(WOOD, SELL, 3))
    bid_first = world.last_noise.order.argsort(1)[:, 0] == 0
    expected = torch.where(bid_first, 7.0, 3.0)
    assert torch.equal(world.state.inventory[:, 1, 2], expected)
    assert torch.equal(world.state.inventory[:, 0, 2], 10.0 - expected)
    assert bool(bid_first.any()) and not bool(bid_first.all())


def test_a_worker_never_trades_with_itself(tmp_path):
    world = small_world(tmp_path, MAP)
    place(world, [(0, 0), (2, 0)])
    give(world, 0, wood=1, coin=10)
    act(world, ACTIONS.trade(WOOD, SELL, 3), NOOP)
    act(world, ACTIONS.trade(WOOD, BUY, 5), NOOP)
    assert float(world.state.trades[0]) == 0 and int((world.state.book_seq >= 0).sum()) == 2
    assert world.state.escrow[0, 0].tolist() == [1.0, 0.0, 5.0]


def test_orders_expire_after_their_duration_and_are_refunded(tmp_path):
    world = small_world(tmp_path, MAP, order_duration=50)
    place(world, [(0, 0), (2, 0)])
    give(world, 0, coin=10)
    act(world, ACTIONS.trade(WOOD, BUY, 8), NOOP)  # placed in step 0
    for _ in range(48):
        act(world, NOOP, NOOP)
    assert int((world.state.book_seq >= 0).sum()) == 1  # 49 steps done: still open
    assert world.state.escrow[0, 0, 2] == 8
    act(world, NOOP, NOOP)  # the 50th step
    assert int((world.state.book_seq >= 0).sum()) == 0
    assert world.state.inventory[0, 0, 2] == 10 and world.state.escrow[0, 0, 2] == 0


def test_order_limits_and_affordability_are_masked(tmp_path):
    world = small_world(tmp_path, MAP, max_orders=5)
    place(world, [(0, 0), (2, 0)])
    give(world, 0, wood=7, coin=4)
    mask = world.action_masks()["workers"][0, 0]
    bids = [ACTIONS.trade(WOOD, BUY, p) for p in range(11)]
    assert mask[bids].tolist() == [p <= 4 for p in range(11)]
    assert not mask[ACTIONS.trade(STONE, SELL, 0)]  # no stone
    for price in range(5):
        assert world.action_masks()["workers"][0, 0, ACTIONS.trade(WOOD, SELL, price)]
        act(world, ACTIONS.trade(WOOD, SELL, price), NOOP)
    mask = world.action_masks()["workers"][0, 0]
    assert not mask[ACTIONS.trade(WOOD, SELL, 9)]  # five open asks on wood
    assert mask[ACTIONS.trade(WOOD, BUY, 0)]  # bids on wood are another side
    act(world, ACTIONS.trade(WOOD, SELL, 9), NOOP)  # forced: refused, no labour
    assert float(world.state.inventory[0, 0, WOOD]) == 2.0
    assert float(world.state.labour[0, 0]) == 5 * 0.25


def test_taxes_conserve_coin_and_return_revenue_as_equal_lump_sums(tmp_path):
    world = small_world(tmp_path, MAP, tax_period=10, **FIXED)
    place(world, [(0, 0), (2, 0)])
    give(world, 1, wood=1, stone=1)
    rates = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7])
    act(world, NOOP, BUILD, rates=rates)
    before = float(world.state.coin_total.sum())
    for _ in range(9):
        act(world, NOOP, NOOP)
    tax = float(tax_owed(torch.tensor([[22.25]]), world.cutoffs, rates.unsqueeze(0)))
    assert tax > 0
    assert float(world.state.tax_paid.sum()) == pytest.approx(tax)
    assert float(world.state.transfers.sum()) == pytest.approx(tax)  # revenue == lump sums
    assert float(world.state.coin_total.sum()) == pytest.approx(before)
    assert world.state.coin_total[0].tolist() == pytest.approx([tax / 2, 22.25 - tax / 2])
    assert float(world.state.last_income[0, 1]) == pytest.approx(22.25)


def test_a_tax_larger_than_available_coin_cancels_the_workers_bids_first(tmp_path):
    world = small_world(tmp_path, MAP, tax_period=3, **FIXED)
    place(world, [(0, 0), (2, 0)])
    give(world, 1, wood=1, stone=1)
    act(world, NOOP, BUILD, rates=torch.ones(7))
    act(world, NOOP, ACTIONS.trade(STONE, BUY, 10))  # 10 of 22.25 escrowed
    act(world, NOOP, NOOP)  # period ends: tax 22.25 > 12.25 available
    assert float(world.state.escrow.abs().sum()) == 0.0
    assert int((world.state.book_seq >= 0).sum()) == 0
    assert world.state.coin_total[0].tolist() == pytest.approx([11.125, 11.125])
    assert float(world.state.inventory.min()) >= 0.0


def test_the_local_view_shows_water_houses_and_other_workers(tmp_path):
    world = small_world(tmp_path, MAP)
    place(world, [(0, 1), (0, 2)])
    owner = world.state.owner.clone()
    owner[0, world.setup.padded_index(1, 0)] = 0
    owner[0, world.setup.padded_index(1, 2)] = 1
    tiles = tile_code(world.state.resource, world.state.water, owner)
    world.state = world.state.replace(owner=owner, tiles=tiles)
    give(world, 0, wood=2, coin=5)
    obs = world._observe(world.state)["workers"][0, 0]
    view = obs[:54].view(6, 9)  # wood, stone, water, own house, other house, workers
    assert view[2].tolist() == [1, 1, 1, 0, 0, 0, 0, 1, 0]  # off-map row and (1, 1)
    assert view[3].tolist() == [0, 0, 0, 0, 0, 0, 1, 0, 0]
    assert view[4].tolist() == [0, 0, 0, 0, 0, 0, 0, 0, 1]
    assert view[5].tolist() == [0, 0, 0, 0, 0, 1, 0, 0, 0]
    assert float(view[:2].sum()) == 0.0
    assert obs[54:60].tolist() == [2.0, 0.0, 5.0, 0.0, 0.0, 0.0]  # holdings, escrow
    corner = world._observe(world.state)["workers"][0, 1][:54].view(6, 9)
    assert corner[5].tolist() == [0, 0, 0, 1, 0, 0, 0, 0, 0]  # worker 0 to its left
