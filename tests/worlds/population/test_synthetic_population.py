import dataclasses

import pytest
import torch

from sandbox.core import ConfigError, make_generator
from sandbox.scenario import build_params
from sandbox.worlds.population.data import (
    load_age_table,
    load_archetypes,
    load_establishment_sizes,
    load_household_sizes,
)
from sandbox.worlds.population.params import (
    DiseaseParams,
    EconomyParams,
    EpidemicEconomyParams,
    PlannerParams,
    PopulationParams,
)
from sandbox.worlds.population.synthetic import NO_PLACE, SCHOOL, WORK, generate_population


def population(num_residents=50_000, seed=0, **changes):
    params = PopulationParams(**changes)
    return generate_population(num_residents, params, generator=make_generator(seed))


def test_data_tables_are_distributions():
    for shares in (load_age_table().population_share, load_household_sizes().share,
                   load_establishment_sizes().share, load_archetypes().share):
        assert abs(sum(shares) - 1.0) < 1e-9
        assert min(shares) >= 0
    table = load_age_table()
    assert table.num_groups == 9 and table.adult_groups == (2, 3, 4, 5, 6, 7, 8)
    # every death goes through hospital: IFR <= p_symptomatic * p_hospital at every age
    for sym, hosp, ifr in zip(table.symptomatic_fraction, table.hospitalised_given_symptomatic,
                              table.infection_fatality_ratio):
        assert ifr <= sym * hosp


def test_households_partition_the_residents_in_order():
    pop = population()
    assert int(pop.household_size.sum()) == pop.num_residents == 50_000
    assert bool((pop.household[1:] >= pop.household[:-1]).all())  # laid out by household
    counted = torch.bincount(pop.household.long(), minlength=pop.num_households)
    assert torch.equal(counted.int(), pop.household_size)
    # mean household size of the data (about 2.5)
    assert pop.num_residents / pop.num_households == pytest.approx(load_household_sizes().mean,
                                                                   rel=0.03)


def test_marginals_follow_the_data():
    pop = population(200_000)
    table = load_age_table()
    shares = torch.bincount(pop.age_group.long(), minlength=9).double() / pop.num_residents
    assert torch.allclose(shares, torch.tensor(table.population_share, dtype=torch.float64),
                          atol=0.004)
    for group in (3, 6):
        members = pop.age_group == group
        rate = float(pop.employed[members].double().mean())
        assert rate == pytest.approx(table.employment_rate[group], abs=0.01)
    assert not bool((pop.employed & pop.student).any())
    archetypes = torch.bincount(pop.archetype.long()).double() / pop.num_residents
    assert torch.allclose(archetypes, torch.tensor(load_archetypes().share, dtype=torch.float64),
                          atol=0.005)


def test_every_household_is_headed_by_an_adult():
    pop = population()
    first = torch.cumsum(pop.household_size.long(), 0) - pop.household_size.long()
    assert bool((pop.age_group[first] >= 2).all())


def test_places_group_workers_and_pupils():
    pop = population(class_size=20)
    kind = pop.place_kind[pop.place.long()]
    assert torch.equal(kind == WORK, pop.employed)
    assert torch.equal(kind == SCHOOL, pop.student)
    assert torch.equal(kind == NO_PLACE, ~(pop.employed | pop.student))
    sizes = pop.place_size[pop.place_kind == SCHOOL]
    assert int(sizes.max()) == 20 and int(sizes.sum()) == int(pop.student.sum())
    work = pop.place_size[pop.place_kind == WORK]
    assert int(work.sum()) == int(pop.employed.sum()) and int(work.max()) < 5000
    assert bool((pop.wage[pop.employed] > 0).all()) and bool((pop.wage[~pop.employed] == 0).all())
    # a place's residents share its closure rank
    ranks = torch.zeros(pop.num_places + 1, dtype=torch.long).index_put_(
        (pop.place.long(),), pop.closure_rank.long())
    at_work = pop.employed
    assert torch.equal(ranks[pop.place.long()][at_work], pop.closure_rank.long()[at_work])


def test_tensors_are_lean():
    pop = population(10_000)
    dtypes = {name: t.dtype for name, t in pop.fields().items()}
    assert dtypes["age_group"] == torch.int8 and dtypes["archetype"] == torch.int8
    assert dtypes["household"] == torch.int32 and dtypes["place"] == torch.int32
    assert dtypes["closure_rank"] == torch.uint8 and dtypes["wage"] == torch.float32
    assert pop.nbytes() / pop.num_residents < 32  # bytes per resident, groups included


def test_fixed_household_count_and_neighbourhoods():
    pop = population(10_000, num_households=2_000, neighbourhood_size=1_000)
    assert pop.num_households == 2_000 and int(pop.household_size.min()) >= 1
    assert int(pop.household_size.sum()) == 10_000
    assert 9 <= pop.num_communities <= 11
    # whole households share a community
    per_home = torch.zeros(2_000, dtype=torch.long).index_put_((pop.household.long(),),
                                                               pop.community.long())
    assert torch.equal(per_home[pop.household.long()], pop.community.long())


def test_same_seed_same_city_and_overridden_age_shares():
    a, b = population(5_000, seed=3), population(5_000, seed=3)
    assert all(torch.equal(x, y) for x, y in zip(a.fields().values(), b.fields().values()))
    young = (0.5, 0.5) + (0.0,) * 7
    pop = population(5_000, age_shares=young, num_households=0)
    assert int(pop.age_group.max()) <= 1  # no adults at all: heads fall back to anyone


@pytest.mark.parametrize("make", [
    lambda: DiseaseParams(community_rate=-0.1),
    lambda: DiseaseParams(household_rate=-1.0),
    lambda: DiseaseParams(latent_days=0.5),
    lambda: DiseaseParams(severity_scale=float("nan")),
    lambda: EconomyParams(test_sensitivity=1.5),
    lambda: PlannerParams(testing_levels=(0.0, -0.1)),
    lambda: PlannerParams(mandate_levels=()),
    lambda: PopulationParams(age_shares=(0.2,) * 9),
    lambda: PopulationParams(age_shares=(0.5, 0.5)),
    lambda: PopulationParams(household_size_shares=(1.0, 0.1, 0, 0, 0, 0, 0)),
    lambda: EpidemicEconomyParams(num_residents=100,
                                  population=PopulationParams(num_households=101)),
    lambda: EpidemicEconomyParams(num_residents=1),
    lambda: EpidemicEconomyParams(precision="float16"),
])
def test_bad_parameters_raise_config_errors(make):
    with pytest.raises(ConfigError):
        make()


def test_errors_name_the_field_from_a_scenario_mapping():
    cls = EpidemicEconomyParams
    with pytest.raises(ConfigError, match="disease.community_rate"):
        build_params(cls, {"disease": {"community_rate": -1}}, field="world.params")
    with pytest.raises(ConfigError, match="age_shares.*sum to one"):
        build_params(cls, {"population": {"age_shares": [0.1] * 9}}, field="world.params")
    with pytest.raises(ConfigError, match="num_households.*at most num_residents"):
        build_params(cls, {"num_residents": 10, "population": {"num_households": 11}},
                     field="world.params")
    ok = build_params(cls, {"num_residents": 10, "population": {"num_households": 10}})
    assert dataclasses.asdict(ok)["population"]["num_households"] == 10
