"""Parameters of the epidemic economy: population, disease, economy and planner levers.

Frozen dataclasses with real defaults; every field is checked in ``__post_init__`` and bad
values raise :class:`~sandbox.core.errors.ConfigError` naming the field. Sources of the
defaults are in ``docs/worlds/epidemic_economy.md`` and ``data/population/README.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from sandbox.core.errors import ConfigError, check_range
from sandbox.worlds.population.data import load_age_table, load_household_sizes

#: Largest population the world accepts (int32 group indices, int8 states).
MAX_RESIDENTS = 50_000_000
#: Tolerance on shares that must sum to one.
SHARE_TOLERANCE = 1e-6
PRECISIONS = {"float32": torch.float32, "float64": torch.float64}


def check_shares(name: str, values: tuple[float, ...], length: int) -> None:
    """Raise ConfigError unless ``values`` is empty or ``length`` shares summing to one."""
    if not values:
        return
    if len(values) != length:
        raise ConfigError(name, values, f"{length} shares (one per class) or () for the data file")
    if any(not (v >= 0) for v in values) or abs(sum(values) - 1.0) > SHARE_TOLERANCE:
        raise ConfigError(name, values, "non-negative shares that sum to one")


def check_levels(name: str, values: tuple[float, ...]) -> None:
    """Raise ConfigError unless ``values`` is a non-empty tuple of numbers in [0, 1]."""
    if not values or any(not (0.0 <= v <= 1.0) for v in values):
        raise ConfigError(name, values, "a non-empty list of numbers in [0, 1]")


@dataclass(frozen=True)
class PopulationParams:
    """How the synthetic city is built (distributions from ``data/population/``).

    Attributes:
        num_households: households to form; 0 draws household sizes from the size
            distribution until every resident has a home (about residents / 2.5).
        neighbourhood_size: residents per community group (whole households, in
            household order); 0 makes the community one city-wide group.
        class_size: pupils per school class (a school contact group), >= 1.
        age_shares: share of residents per ten-year age group (9 values summing to
            one); empty takes ``age_groups.csv``.
        household_size_shares: share of households with 1..7 persons (7 values summing
            to one); empty takes ``household_sizes.csv``.
        median_daily_wage: median wage of employed residents, dollars per working day.
        wage_log_sd: standard deviation of log wages (lognormal wages), >= 0.
        seed: seed of the population draw: the city is fixed by it, and episodes of
            every environment and world seed share it.
    """

    num_households: int = 0
    neighbourhood_size: int = 0
    class_size: int = 25
    age_shares: tuple[float, ...] = ()
    household_size_shares: tuple[float, ...] = ()
    median_daily_wage: float = 220.0
    wage_log_sd: float = 0.6
    seed: int = 0

    def __post_init__(self):
        check_range("num_households", self.num_households, low=0)
        check_range("neighbourhood_size", self.neighbourhood_size, low=0)
        check_range("class_size", self.class_size, low=1)
        check_shares("age_shares", self.age_shares, load_age_table().num_groups)
        check_shares("household_size_shares", self.household_size_shares,
                     len(load_household_sizes().share))
        check_range("median_daily_wage", self.median_daily_wage, low=0.0, low_open=True)
        check_range("wage_log_sd", self.wage_log_sd, low=0.0, high=5.0)

    @property
    def age_distribution(self) -> tuple[float, ...]:
        """The age shares in use (the data file's unless overridden)."""
        return self.age_shares or load_age_table().population_share

    @property
    def household_distribution(self) -> tuple[float, ...]:
        """The household-size shares in use (the data file's unless overridden)."""
        return self.household_size_shares or load_household_sizes().share


@dataclass(frozen=True)
class DiseaseParams:
    """S-E-I-R with asymptomatic, hospitalised and dead states; daily hazards.

    Attributes:
        household_rate: transmission rate within a household, per day, per infectious
            housemate, divided by the other members (household size - 1).
        workplace_rate: the same within a workplace, among residents who go to work.
        school_rate: the same within a school class, among pupils who attend.
        community_rate: rate of community mixing, per day, times the infectious share
            of the community group (this alone is SIR's beta).
        latent_days: mean days exposed before becoming infectious (>= 1; the daily
            hazard of leaving is 1 / latent_days, so durations are geometric).
        presymptomatic_days: mean days infectious before symptom onset, for cases that
            will be symptomatic, >= 1.
        infectious_days: mean days infectious for asymptomatic cases, and after symptom
            onset for symptomatic ones, >= 1.
        hospital_days: mean days in hospital before discharge or death, >= 1.
        asymptomatic_infectiousness: infectiousness of an asymptomatic case relative
            to a symptomatic one, in [0, 1].
        isolated_contact: share of community contact kept by an isolating resident,
            in [0, 1] (isolating residents also skip work or school).
        severity_scale: multiplies hospitalisation and fatality by age (0 gives a
            disease without hospital or deaths), >= 0.
        initial_infected: share of residents exposed on day 0 (each independently).
    """

    household_rate: float = 0.20
    workplace_rate: float = 0.23
    school_rate: float = 0.26
    community_rate: float = 0.26
    latent_days: float = 2.5
    presymptomatic_days: float = 2.0
    infectious_days: float = 3.5
    hospital_days: float = 8.0
    asymptomatic_infectiousness: float = 0.67
    isolated_contact: float = 0.1
    severity_scale: float = 1.0
    initial_infected: float = 0.001

    def __post_init__(self):
        for name in ("household_rate", "workplace_rate", "school_rate", "community_rate",
                     "severity_scale"):
            check_range(name, getattr(self, name), low=0.0, high=1e6)
        for name in ("latent_days", "presymptomatic_days", "infectious_days", "hospital_days"):
            check_range(name, getattr(self, name), low=1.0, high=1e6)
        for name in ("asymptomatic_infectiousness", "isolated_contact", "initial_infected"):
            check_range(name, getattr(self, name), low=0.0, high=1.0)


@dataclass(frozen=True)
class EconomyParams:
    """Wages, isolation support, its tax, and testing costs.

    Attributes:
        max_tax_rate: cap on the flat income tax that finances the stimulus, in [0, 1];
            when the cap binds, payments are scaled down so the budget balances daily.
        test_cost: dollars per test (counted as economic loss).
        test_sensitivity: probability that a test of an infected resident (exposed,
            asymptomatic or symptomatic) is positive, in [0, 1]; no false positives.
        isolation_days: days a positive test is known to its resident (0..127).
        infection_cost: a worker's own cost of being infected, in days of its wage
            (subtracted from the worker's reward), >= 0.
    """

    max_tax_rate: float = 0.5
    test_cost: float = 25.0
    test_sensitivity: float = 0.8
    isolation_days: int = 10
    infection_cost: float = 5.0

    def __post_init__(self):
        check_range("max_tax_rate", self.max_tax_rate, low=0.0, high=1.0)
        check_range("test_cost", self.test_cost, low=0.0)
        check_range("test_sensitivity", self.test_sensitivity, low=0.0, high=1.0)
        check_range("isolation_days", self.isolation_days, low=0, high=127)
        check_range("infection_cost", self.infection_cost, low=0.0)


@dataclass(frozen=True)
class PlannerParams:
    """The health authority's levers (discrete menus) and objective weights.

    Attributes:
        mandate_levels: stay-home mandate strengths in [0, 1]: at strength m, residents
            whose workplace or school (or, without one, themselves) ranks in the lowest
            share m are asked to stay home; 1 asks everyone.
        testing_levels: shares of residents tested per day, in [0, 1].
        stimulus_levels: shares of the wage paid to employed residents who isolate or
            are in hospital, in [0, 1], financed by the flat income tax.
        decision_interval: days between planner decisions (7: weekly, acting on days
            0, 7, 14, ...).
        death_weight: loss per death, in worker-days of output.
        infection_weight: loss per new infection, in worker-days of output.
        economic_weight: weight of lost output and testing costs, in worker-days.
    """

    mandate_levels: tuple[float, ...] = (0.0, 0.5, 1.0)
    testing_levels: tuple[float, ...] = (0.0, 0.005, 0.02)
    stimulus_levels: tuple[float, ...] = (0.0, 0.5, 1.0)
    decision_interval: int = 7
    death_weight: float = 10_000.0
    infection_weight: float = 10.0
    economic_weight: float = 1.0

    def __post_init__(self):
        check_levels("mandate_levels", self.mandate_levels)
        check_levels("testing_levels", self.testing_levels)
        check_levels("stimulus_levels", self.stimulus_levels)
        check_range("decision_interval", self.decision_interval, low=1)
        for name in ("death_weight", "infection_weight", "economic_weight"):
            check_range(name, getattr(self, name), low=0.0)

    @property
    def action_sizes(self) -> tuple[int, int, int]:
        """Menu sizes of the planner's MultiDiscrete action (mandate, testing, stimulus)."""
        return len(self.mandate_levels), len(self.testing_levels), len(self.stimulus_levels)


@dataclass(frozen=True)
class EpidemicEconomyParams:
    """Parameters of the epidemic economy world.

    Attributes:
        num_residents: residents M per environment (workers role count).
        horizon_days: days per episode (every environment ends together).
        population: how the synthetic city is built.
        disease: transmission and disease progression.
        economy: wages, support, tax and testing.
        planner: the planner's levers and objective weights.
        precision: ``"float32"`` (default, lean) or ``"float64"`` (reference tests)
            for rates, probabilities, uniforms and incomes.
    """

    num_residents: int = 100_000
    horizon_days: int = 120
    population: PopulationParams = field(default_factory=PopulationParams)
    disease: DiseaseParams = field(default_factory=DiseaseParams)
    economy: EconomyParams = field(default_factory=EconomyParams)
    planner: PlannerParams = field(default_factory=PlannerParams)
    precision: str = "float32"

    def __post_init__(self):
        if isinstance(self.num_residents, bool) or not isinstance(self.num_residents, int):
            raise ConfigError("num_residents", self.num_residents, "an integer")
        check_range("num_residents", self.num_residents, low=2, high=MAX_RESIDENTS)
        check_range("horizon_days", self.horizon_days, low=1, high=100_000)
        if self.population.num_households > self.num_residents:
            raise ConfigError("population.num_households", self.population.num_households,
                              f"at most num_residents = {self.num_residents} households "
                              "(every household needs a resident)")
        if self.precision not in PRECISIONS:
            raise ConfigError("precision", self.precision, f"one of {sorted(PRECISIONS)}")

    @property
    def dtype(self) -> torch.dtype:
        """Floating dtype of rates, probabilities, uniforms and incomes."""
        return PRECISIONS[self.precision]

    @property
    def decision_days(self) -> int:
        """Planner decisions per episode."""
        return math.ceil(self.horizon_days / self.planner.decision_interval)
