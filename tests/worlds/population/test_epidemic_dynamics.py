"""Known answers of the disease: SIR final size, extinction below R0 = 1, conservation."""

import dataclasses
import math

import pytest
import torch
from scipy.optimize import brentq

from sandbox.worlds.population import disease as dz
from sandbox.worlds.population.disease import expected_infectious_days
from sandbox.worlds.population.params import DiseaseParams, EpidemicEconomyParams
from sandbox.worlds.population.world import EpidemicEconomy
from tests.worlds.population.helpers import make_world, policies_for, rollout

INFECTED = slice(dz.EXPOSED, dz.SYMPTOMATIC + 1)


def homogeneous_world(r0, *, residents, seeded, num_envs=1, seed=0):
    """One community group, no households, workplaces or schools, no severity."""
    base = EpidemicEconomyParams(
        num_residents=residents, horizon_days=5_000,
        disease=DiseaseParams(household_rate=0.0, workplace_rate=0.0, school_rate=0.0,
                              community_rate=1.0, severity_scale=0.0,
                              asymptomatic_infectiousness=1.0, initial_infected=seeded))
    beta = r0 / expected_infectious_days(base)
    params = dataclasses.replace(base, disease=dataclasses.replace(base.disease,
                                                                   community_rate=beta))
    return EpidemicEconomy(params, num_envs=num_envs, seed=seed)


def run_to_extinction(world, *, seed=0, max_days=3_000):
    policies = policies_for(world, workers="never_isolate")
    obs = world.reset(seed=seed)
    initial = 1.0 - world.state.counts[:, dz.SUSCEPTIBLE].double() / world.params.num_residents
    days = 0
    while days < max_days and int(world.state.counts[:, INFECTED].sum()) > 0:
        actions = {r: policies[r].act(obs[r]) for r in world.acting_roles()}
        obs = world.step(actions).obs
        days += 1
    final = 1.0 - world.state.counts[:, dz.SUSCEPTIBLE].double() / world.params.num_residents
    return initial, final, days


def final_size(r0, seeded=0.0):
    """Solution z of z = eps + (1 - eps) (1 - exp(-R0 z)); eps = 0 is z = 1 - exp(-R0 z)."""
    return brentq(lambda z: z - seeded - (1 - seeded) * (1 - math.exp(-r0 * z)), 1e-9, 1.0)


@pytest.mark.parametrize("r0", [1.5, 2.0, 3.0])
def test_final_size_matches_the_sir_relation(r0):
    world = homogeneous_world(r0, residents=50_000, seeded=0.002, seed=int(10 * r0))
    initial, final, _ = run_to_extinction(world)
    expected = final_size(r0, float(initial[0]))
    assert abs(float(final[0]) - expected) < 0.02  # 3 sd at M = 50,000
    assert abs(float(final[0]) - final_size(r0)) < 0.025


@pytest.mark.slow
@pytest.mark.parametrize("r0", [1.5, 2.0, 3.0])
def test_final_size_within_one_point_at_large_population(r0):
    world = homogeneous_world(r0, residents=200_000, seeded=0.0005, num_envs=2, seed=1)
    _, final, _ = run_to_extinction(world)
    assert torch.all((final - final_size(r0)).abs() < 0.01)


def test_below_one_outbreaks_die_out():
    world = homogeneous_world(0.7, residents=50_000, seeded=0.002, num_envs=2, seed=4)
    initial, final, days = run_to_extinction(world)
    # a branching process with mean 0.7 infects about 1 / (1 - 0.7) = 3.3 per seed
    assert days < 400
    assert torch.all(final < 6 * initial) and torch.all(final < 0.02)
    assert int(world.state.counts[:, INFECTED].sum()) == 0


def test_states_always_sum_to_the_population_and_match_a_recount():
    world = make_world(3_000, num_envs=2, disease={"initial_infected": 0.02,
                                                   "severity_scale": 5.0})
    seen = []

    def check(world, actions, result):
        counts = world.state.counts
        assert torch.all(counts.sum(-1) == world.params.num_residents)
        recount = torch.stack([(world.state.disease == k).sum(-1) for k in range(8)], -1)
        assert torch.equal(counts, recount)
        assert torch.all(result.info["daily"]["susceptible"] >= 0)
        seen.append(int(counts[:, dz.DEAD].sum()))

    rollout(world, policies_for(world, planner="threshold_mandate", testing_level=2), 80,
            on_step=check)
    assert seen[-1] > 0  # the run went through every state, deaths included
    assert seen == sorted(seen)  # the dead stay dead


def test_infection_pressure_by_group():
    """Hand-checkable pressure: one infectious resident in a household of three."""
    world = make_world(2_000, disease={"household_rate": 0.3, "workplace_rate": 0.0,
                                       "school_rate": 0.0, "community_rate": 0.0})
    world.reset(seed=0)
    pop = world.population
    home = int(torch.nonzero(pop.household_size == 3)[0])
    members = torch.nonzero(pop.household == home).flatten()
    disease = torch.zeros(1, 2_000, dtype=torch.int32)
    disease[0, members[0]] = dz.SYMPTOMATIC
    isolate = torch.zeros(1, 2_000, dtype=torch.bool)
    p = dz.infection_probability(disease, isolate, world.tables)
    expected = 1 - math.exp(-0.3 * 1.0 / 2)
    assert torch.allclose(p[0, members], torch.full((3,), expected))
    others = torch.ones(2_000, dtype=torch.bool)
    others[members] = False
    assert float(p[0, others].abs().max()) == 0.0


def test_isolation_removes_workplace_and_cuts_community_contact():
    world = make_world(2_000, disease={"household_rate": 0.0, "workplace_rate": 0.5,
                                       "school_rate": 0.0, "community_rate": 0.4,
                                       "isolated_contact": 0.25})
    world.reset(seed=0)
    pop = world.population
    sizes = pop.place_size.long()[pop.place.long()]
    worker = int(torch.nonzero(pop.employed & (sizes > 2))[0])
    coworker = int(torch.nonzero((pop.place == pop.place[worker]) & (torch.arange(2_000)
                                                                      != worker))[0])
    disease = torch.zeros(1, 2_000, dtype=torch.int32)
    disease[0, worker] = dz.SYMPTOMATIC
    isolate = torch.zeros(1, 2_000, dtype=torch.bool)
    lam = -torch.log1p(-dz.infection_probability(disease, isolate, world.tables))
    community = 0.4 / 2_000
    work = 0.5 / (int(pop.place_size[pop.place[worker]]) - 1)
    assert float(lam[0, coworker]) == pytest.approx(work + community, rel=1e-5)
    isolate[0, worker] = True  # the case isolates: no work contact, a quarter of community
    lam = -torch.log1p(-dz.infection_probability(disease, isolate, world.tables))
    assert float(lam[0, coworker]) == pytest.approx(0.25 * community, rel=1e-4)


def test_severity_rises_with_age():
    world = make_world(2_000, disease={"initial_infected": 0.0})
    branch = world.tables.branch.view(8, 9)
    for state in (dz.SYMPTOMATIC, dz.HOSPITALISED):  # to hospital, to death
        assert torch.all(branch[state, 1:] >= branch[state, :-1])
        assert float(branch[state, -1]) > 10 * float(branch[state, 0])
    assert torch.all(branch <= world.tables.leave.view(8, 9))  # a branch is a way of leaving
    # IFR of the 80+: p_sym * p_hosp * p_death_in_hospital = 9.3 % (Report 9)
    severity = dz.severity_by_age(world.params)
    ifr = [s * h * d for s, h, d in zip(severity["symptomatic"], severity["hospitalised"],
                                        severity["dies"])]
    assert ifr[-1] == pytest.approx(0.093) and ifr[0] == pytest.approx(0.00002)


def test_transition_codes_follow_the_disease_graph():
    next_state, flows = dz.transition_tables()
    moves = {(code // 3, int(next_state[code])) for code in range(24) if code % 3}
    assert moves == {(0, 1), (1, 2), (1, 3), (2, 5), (3, 4), (4, 5), (4, 6), (6, 5), (6, 7),
                     (5, 5), (7, 7)}
    assert torch.all(flows.sum(-1) == 0)  # a transition moves one resident
