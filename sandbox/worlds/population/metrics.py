"""State, daily series, the planner's observation and episode metrics of the epidemic economy."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from sandbox.core.metrics import MetricSpec
from sandbox.core.state import TensorState
from sandbox.worlds.economy.social import gini
from sandbox.worlds.population.data import load_age_table
from sandbox.worlds.population.disease import DEAD, STATE_NAMES, SUSCEPTIBLE

#: Columns of the daily series: end-of-day counts of each disease state, then the day's
#: events (counts), output, transfers and tax rate (dollars, share), the planner's levers
#: and its loss per resident.
SERIES = STATE_NAMES + (
    "new_infections", "new_deaths", "tests", "positives", "working", "isolating",
    "output", "transfers", "tax_rate", "mandate", "testing_rate", "stimulus", "planner_loss",
)
_COL = {name: k for k, name in enumerate(SERIES)}
_INFECTED = [_COL[s] for s in ("exposed", "asymptomatic", "presymptomatic", "symptomatic",
                               "hospitalised")]
_INFECTIOUS = [_COL[s] for s in ("asymptomatic", "presymptomatic", "symptomatic")]

EPISODE_METRICS = (
    MetricSpec("infections", "share of residents ever infected (attack rate)", "share", False),
    MetricSpec("deaths", "deaths over the episode", "per 100,000 residents", False),
    MetricSpec("peak_prevalence", "largest share of residents infected on one day",
               "share", False),
    MetricSpec("employment_rate", "mean daily share of employed residents at work", "share", True),
    MetricSpec("output", "income produced (wages earned)", "dollars per resident per day", True),
    MetricSpec("economic_loss", "lost output plus test costs, as a share of potential output",
               "share", False),
    MetricSpec("transfers", "isolation support paid", "dollars per resident per day", None),
    MetricSpec("income_gini", "Gini of employed residents' cumulative net income", "", False),
    MetricSpec("planner_loss", "planner's weighted loss over the episode",
               "worker-days per resident", False),
)


class DailyRow(Mapping):
    """The day's row of the series as a read-only mapping: name -> ``[B]`` float32.

    Columns are views of the row, made when read (most steps read none of them).
    """

    def __init__(self, row: torch.Tensor):
        self.row = row

    def __getitem__(self, name: str) -> torch.Tensor:
        return self.row[:, _COL[name]]

    def __iter__(self):
        return iter(SERIES)

    def __len__(self) -> int:
        return len(SERIES)


@dataclass
class EpidemicState(TensorState):
    """State of the epidemic economy, batched over B environments (M residents, T days).

    Attributes:
        day: ``[B]`` int64 days elapsed (equal in every environment).
        disease: ``[B, M]`` int8 disease state (codes in ``disease.py``).
        positive_days: ``[B, M]`` int8 days a positive test is still known (0 = none).
        income: ``[B, M]`` float cumulative net income this episode, dollars.
        levers: ``[B, 3]`` int64 menu indices of (mandate, testing, stimulus) in force.
        counts: ``[B, 8]`` int64 residents in each disease state.
        latest: ``[B, K]`` float32 the last day's row of the series (day 0: initial counts).
        series: ``[B, T, K]`` float32 daily rows (:data:`SERIES`), zero for days to come.
    """

    day: torch.Tensor
    disease: torch.Tensor
    positive_days: torch.Tensor
    income: torch.Tensor
    levers: torch.Tensor
    counts: torch.Tensor
    latest: torch.Tensor
    series: torch.Tensor


def planner_feature_map(world) -> tuple[torch.Tensor, torch.Tensor]:
    """``(weights [K, 12], bias [12])``: the planner's features as ``latest @ weights + bias``.

    Every feature but the day and last week's positive tests is an affine function of the
    latest daily row; those two are added by :func:`planner_observation`.
    """
    names = world.PLANNER_FEATURES
    weights = torch.zeros(len(SERIES), len(names))
    bias = torch.zeros(len(names))
    residents = float(world.params.num_residents)

    def put(feature: str, columns, scale: float) -> None:
        for column in columns:
            weights[_COL[column], names.index(feature)] = scale

    put("prevalence", [SERIES[k] for k in _INFECTED], 1.0 / residents)
    put("infectious", [SERIES[k] for k in _INFECTIOUS], 1.0 / residents)
    put("hospitalised", ["hospitalised"], 1.0 / residents)
    put("ever_infected", ["susceptible"], -1.0 / residents)
    bias[names.index("ever_infected")] = 1.0
    put("deaths_per_1000", ["dead"], 1000.0 / residents)
    put("employment_rate", ["working"], 1.0 / max(world.num_employed, 1))
    put("output_share", ["output"], 1.0 / max(world.potential_output, 1e-12))
    put("mandate", ["mandate"], 1.0)
    put("testing_rate", ["testing_rate"], 1.0)
    put("stimulus", ["stimulus"], 1.0)
    return weights.to(world.device), bias.to(world.device)


def planner_observation(world, state: EpidemicState) -> torch.Tensor:
    """``[B, 1, 12]`` float32, the features named in ``world.PLANNER_FEATURES`` order.

    Shares are of residents; deaths and last week's positive tests per 1,000 residents;
    employment as a share of employed residents; output as a share of potential output;
    the levers in force.
    """
    p = world.params
    day = world._day(state)
    obs = torch.addmm(world.planner_bias, state.latest, world.planner_weights)
    obs[:, 0] = day / p.horizon_days  # environments run in lockstep
    week = state.series[:, max(0, day - 7):day, _COL["positives"]].sum(-1)
    obs[:, world.PLANNER_FEATURES.index("positives_week_per_1000")] = week.mul_(
        1000.0 / p.num_residents)
    return obs.unsqueeze(1)


def episode_metrics(world, state: EpidemicState) -> dict[str, torch.Tensor]:
    """Per metric of :data:`EPISODE_METRICS`, ``[B]`` values for episodes ending in ``state``."""
    p = world.params
    residents, days = float(p.num_residents), max(int(state.day[0]), 1)
    rows = state.series[:, :days].double()
    susceptible = state.counts[:, SUSCEPTIBLE].double()
    dead = state.counts[:, DEAD].double()
    prevalence = rows[:, :, _INFECTED].sum(-1).amax(-1) / residents
    output = rows[:, :, _COL["output"]].sum(-1)
    tests = rows[:, :, _COL["tests"]].sum(-1)
    potential = world.potential_output * days
    income = state.income.index_select(1, world.employed_index)
    return {
        "infections": 1.0 - susceptible / residents,
        "deaths": dead * 1e5 / residents,
        "peak_prevalence": prevalence,
        "employment_rate": rows[:, :, _COL["working"]].mean(-1) / max(world.num_employed, 1),
        "output": output / (days * residents),
        "economic_loss": (potential - output + p.economy.test_cost * tests)
        / max(potential, 1e-12),
        "transfers": rows[:, :, _COL["transfers"]].sum(-1) / (days * residents),
        "income_gini": gini(income.double()),
        "planner_loss": rows[:, :, _COL["planner_loss"]].sum(-1),
    }


def episode_tables(world, state: EpidemicState) -> dict[str, dict[str, torch.Tensor]]:
    """Per-episode tables: ``daily`` series ``[B, T]`` and counts ``by_age`` ``[B, 9]``.

    ``daily`` has one column per name in :data:`SERIES`; ``by_age`` has ``residents``,
    ``infected`` (ever) and ``deaths`` per age group.
    """
    groups = load_age_table().num_groups
    age = world.population.age_group.long()
    batch = state.disease.shape[0]

    def by_age(mask: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(batch, groups, device=mask.device)
        return out.index_add_(1, age, mask.float())

    residents = torch.bincount(age, minlength=groups).float().expand(batch, -1)
    return {
        "daily": {name: state.series[:, :, k] for k, name in enumerate(SERIES)},
        "by_age": {
            "residents": residents.clone(),
            "infected": by_age(state.disease != SUSCEPTIBLE),
            "deaths": by_age(state.disease == DEAD),
        },
    }
