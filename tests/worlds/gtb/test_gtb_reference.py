"""The batched world equals the per-agent Mesa reference step by step (same map, actions, draws)."""

import pytest
import torch

from sandbox.worlds.economy.gtb import GatherTradeBuild, GTBParams
from sandbox.worlds.economy.gtb.mesa_reference import RESOURCE_NAMES, GTBReferenceModel
from tests.worlds.gtb.gtb_helpers import random_rates, random_valid_actions


def noise_of(noise, env):
    return {"order": noise.order[env].tolist(), "bonus": noise.bonus[env].tolist(),
            "regen": noise.regen[env].tolist()}


def assert_same(world, models):
    state, pad, wp = world.state, world.setup.pad, world.setup.padded_width
    for env, model in enumerate(models):
        for w in model.workers:
            i = w.index
            tile = divmod(int(state.pos[env, i]), wp)
            assert (tile[0] - pad, tile[1] - pad) == w.tile
            have = state.inventory[env, i].tolist()
            escrow = state.escrow[env, i].tolist()
            assert have == pytest.approx([w.have["wood"], w.have["stone"], w.have["coin"]],
                                         abs=1e-3)
            assert escrow == pytest.approx([w.escrow[k] for k in ("wood", "stone", "coin")],
                                           abs=1e-3)
            assert float(state.labour[env, i]) == pytest.approx(w.labour, abs=1e-4)
            assert float(state.earned[env, i]) == pytest.approx(w.earned, abs=1e-3)
            assert float(state.utility[env, i]) == pytest.approx(w.utility(), abs=1e-3)
        owners = state.owner[env].tolist()
        houses = {(q // wp - pad, q % wp - pad): o for q, o in enumerate(owners) if o >= 0}
        assert houses == model.houses
        lying = state.resource[env].sum(0)
        for _, r, c in model.source_tiles:
            assert int(lying[world.setup.padded_index(r, c)]) == model.lying[r][c]
        book = state.book_seq[env] >= 0
        assert int(book.sum()) == len(model.book)
        for order in model.book:
            slots = state.book_seq[env, order.resource, order.side, order.owner]
            hit = (slots == order.seq).nonzero()
            assert hit.numel() == 1
            price = state.book_price[env, order.resource, order.side, order.owner, hit[0, 0]]
            assert int(price) == order.price
        assert float(state.trades[env]) == model.trades


# a crowded market: few price levels (many crossings and equal prices), full books,
# frequent expiry and tax periods
CROWDED = {"max_price": 3, "max_orders": 2, "order_duration": 7, "tax_period": 10,
           "num_workers": 5}


@pytest.mark.parametrize("layout,overrides,steps", [
    ("quadrant", {}, 240), ("uniform", {}, 240), ("uniform", CROWDED, 120)],
    ids=["quadrant", "uniform", "uniform-crowded"])
def test_batched_world_equals_the_mesa_reference(layout, overrides, steps):
    settings = {"tax_period": 25, "order_duration": 20, **overrides}
    params = GTBParams(layout=layout, regen_probability=0.05, starting_coin=5.0,
                       skills="pareto", **settings)
    world = GatherTradeBuild(params, num_envs=3, seed=11)
    world.reset()
    models = [GTBReferenceModel.from_world(world, env) for env in range(world.num_envs)]
    generator = torch.Generator().manual_seed(5)
    masks = world.action_masks()
    totals = {"builds": 0, "trades": 0, "expired": 0}
    for _ in range(steps):
        for env, model in enumerate(models):  # masks agree with the reference's rules
            for w in model.workers:
                assert masks["workers"][env, w.index].tolist() == model.valid_actions(w)
        action = random_valid_actions(world, masks, generator)
        actions = {"workers": action}
        rates = None
        if "planner" in world.acting_roles():
            actions["planner"] = random_rates(world, generator)
            rates = world.rates_from_action(actions["planner"])
        houses_before = float(world.state.houses.sum())
        result = world.step(actions)
        totals["builds"] += float(world.state.houses.sum()) - houses_before
        for env, model in enumerate(models):
            model.step(action[env].tolist(), noise_of(world.last_noise, env),
                       rates=None if rates is None else rates[env].tolist())
        assert_same(world, models)
        masks = result.masks
    totals["trades"] = float(world.state.trades.sum())
    assert totals["builds"] >= 3 and totals["trades"] >= 20
    assert sum(m.revenue for m in models) > 0
    assert RESOURCE_NAMES == ("wood", "stone")
