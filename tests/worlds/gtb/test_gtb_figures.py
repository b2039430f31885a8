"""The episode figures build for a short episode and show what was recorded."""

import numpy as np
import pytest

from sandbox.worlds.economy.gtb import GatherTradeBuild, GTBParams
from sandbox.worlds.economy.gtb.figures import (
    HOUSE,
    WATER,
    inventory_figure,
    map_figure,
    record_episode,
    tax_figure,
    trades_figure,
)

pytest.importorskip("plotly")


def test_figures_of_a_short_episode():
    world = GatherTradeBuild(GTBParams(tax_period=10, starting_coin=5.0), num_envs=2, seed=1)
    record = record_episode(world, steps=100, seed=1)
    assert record.tiles.shape == (101, 25, 25) and record.positions.shape == (101, 4, 2)
    water = world.params.file_layout.water
    assert np.array_equal(record.tiles[0] == WATER, water)
    assert int((record.tiles[-1] == HOUSE).sum()) == int(world.state.houses[0].sum())
    assert len(record.trades) == int(world.state.trades[0]) > 0
    figure = map_figure(record, every=25)
    assert len(figure.frames) == 5 and len(figure.layout.sliders[0].steps) == 5
    assert np.array_equal(np.asarray(figure.frames[-1].data[0].z), record.tiles[100])
    assert np.array_equal(np.asarray(figure.frames[2].data[1].x), record.positions[50, :, 1])
    inventory = inventory_figure(record)
    assert len(inventory.data) == 3 * 4
    assert len(trades_figure(record).data) == 2
    tax = tax_figure(record)
    assert len(tax.data) == 7
    assert np.allclose(np.asarray(tax.data[0].y), record.rates[:, 0])
