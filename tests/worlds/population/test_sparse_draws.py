"""The sparse draws of a day have the distribution of the dense per-resident uniforms."""

import pytest
import torch

from sandbox.worlds.population import disease as dz
from sandbox.worlds.population.sampling import geometric_hits
from tests.worlds.population.helpers import force_torch_arrays, make_world


@pytest.mark.parametrize("use_numpy", [True, False])
def test_geometric_hits_are_thresholded_uniforms(use_numpy):
    generator = torch.Generator().manual_seed(0)
    first = torch.tensor([0, 50, 1_050, 1_060, 1_060])
    size = torch.tensor([50, 1_000, 10, 0, 2_000])
    q = torch.tensor([0.3, 0.002, 1.0, 0.5, 0.0], dtype=torch.float64)
    hits = torch.zeros(3_060)
    rounds = 1_500
    for _ in range(rounds):
        slot, segment = geometric_hits(first, size, hazard=-torch.log1p(-q),
                                       generator=generator, use_numpy=use_numpy)
        assert slot.unique().numel() == slot.numel()  # a slot is hit at most once
        assert torch.all((slot >= first[segment]) & (slot < first[segment] + size[segment]))
        hits.index_add_(0, slot, torch.ones(slot.shape[0]))
    rate = hits / rounds
    assert abs(float(rate[:50].mean()) - 0.3) < 0.006  # sd 0.0017
    assert abs(float(rate[50:1_050].mean()) - 0.002) < 0.0003  # sd 0.00004
    assert float(rate[1_050:1_060].min()) == 1.0 and float(rate[1_060:].max()) == 0.0
    # evenly spread: the first and second half of the long segment are hit alike
    assert abs(float(rate[50:550].mean() - rate[550:1_050].mean())) < 0.0005


@pytest.mark.parametrize("use_numpy", [True, False])
def test_budget_overruns_continue_exactly(use_numpy):
    # no spare gaps: budgets run out about every other round and later rounds carry on
    generator = torch.Generator().manual_seed(1)
    first, size = torch.tensor([0, 10_000, 10_005]), torch.tensor([10_000, 5, 400])
    q = torch.tensor([0.6, 0.5, 0.01], dtype=torch.float64)
    hits = torch.zeros(10_405)
    for _ in range(200):
        slot, segment = geometric_hits(first, size, hazard=-torch.log1p(-q),
                                       generator=generator, spare=(0.0, 1.0),
                                       use_numpy=use_numpy)
        assert slot.unique().numel() == slot.numel()
        assert torch.equal(segment, torch.searchsorted(first, slot, right=True) - 1)
        hits.index_add_(0, slot, torch.ones(slot.shape[0]))
    rate = hits / 200
    assert abs(float(rate[:10_000].mean()) - 0.6) < 0.002  # sd 0.00025
    assert abs(float(rate[10_000:10_005].mean()) - 0.5) < 0.12
    assert abs(float(rate[10_005:].mean()) - 0.01) < 0.004
    # the end of the long segment (reached only by later rounds) is hit like its start
    assert abs(float(rate[9_000:10_000].mean() - rate[:1_000].mean())) < 0.01


@pytest.mark.parametrize("arrays", ["numpy", "torch"])
def test_sparse_day_exposes_with_the_dense_probability(arrays, monkeypatch):
    """Exposures drawn sparsely match 1 - exp(-lambda) resident by resident, on average."""
    if arrays == "torch":  # the kernels' path on devices other than the CPU
        force_torch_arrays(monkeypatch)
    world = make_world(2_000, disease={"community_rate": 0.3})
    world.reset(seed=0)
    draw = torch.Generator().manual_seed(2)
    state = torch.randint(dz.ASYMPTOMATIC, dz.SYMPTOMATIC + 1, (1, 2_000), generator=draw)
    state = torch.where(torch.rand(1, 2_000, generator=draw) < 0.04, state, dz.SUSCEPTIBLE)
    state = state.to(torch.int8)
    isolate = torch.rand(state.shape, generator=draw) < 0.3
    p = dz.infection_probability(state.int(), isolate, world.tables)[0].double()
    p = torch.where(state[0] == dz.SUSCEPTIBLE, p, 0.0)
    isolating = isolate.to(torch.uint8)
    exposed = torch.zeros(2_000, dtype=torch.float64)
    rounds = 400
    zero = torch.zeros(1)
    for _ in range(rounds):
        day = dz.advance_day(state, isolating, world.tables,
                             testing=dz.Testing.at(zero, sensitivity=0.8),
                             generator=world.generator)
        exposed[day.exposed] += 1
        assert int(day.flows[0, 1]) == day.exposed.numel()
    expected = float(p.sum()) * rounds
    assert abs(float(exposed.sum()) - expected) < 4 * expected ** 0.5
    # residents of households with an infectious member are exposed far more often
    high, low = p > 0.05, (p > 0) & (p < 0.02)
    assert high.any() and low.any()
    for chosen in (high, low):
        observed, wanted = float(exposed[chosen].sum()), float(p[chosen].sum()) * rounds
        assert abs(observed - wanted) < 4 * wanted ** 0.5 + 1
    assert float(exposed[p == 0].sum()) == 0.0


@pytest.mark.parametrize("arrays", ["numpy", "torch"])
def test_sparse_draws_keep_environments_apart(arrays, monkeypatch):
    """Infectious residents of one environment never expose anyone in another."""
    if arrays == "torch":
        force_torch_arrays(monkeypatch)
    world = make_world(1_500, num_envs=3, disease={"initial_infected": 0.0,
                                                   "community_rate": 0.5})
    world.reset(seed=0)
    state = world.state.disease.clone()
    state[1, ::10] = dz.SYMPTOMATIC  # an epidemic in environment 1 only
    isolating = torch.zeros_like(state, dtype=torch.uint8)
    rate = torch.tensor([0.3, 0.0, 0.3])
    for _ in range(20):
        day = dz.advance_day(state, isolating, world.tables,
                             testing=dz.Testing.at(rate, sensitivity=1.0),
                             generator=world.generator)
        env = day.exposed // 1_500
        assert day.exposed.numel() > 0 and bool((env == 1).all())
        assert torch.equal(day.flows[:, 1], torch.bincount(env, minlength=3))
        assert int(day.tests[1]) == 0 and 300 < int(day.tests[0]) < 600
        assert day.positive.numel() == 0  # nobody infected where tests are taken
        state = day.disease
