"""A large-population epidemic economy: a health planner and residents who work or isolate.

Model card (full version with equations and sources: ``docs/worlds/epidemic_economy.md``).

Roles (environments run in lockstep; episodes last ``horizon_days`` days):

- ``planner`` (1): acts on days 0, 7, 14, ... (``acting_roles()``) with
  ``MultiDiscrete([mandate, testing, stimulus])``: indices into the menus
  ``planner.mandate_levels`` (stay-home mandate strength), ``planner.testing_levels``
  (share tested per day) and ``planner.stimulus_levels`` (wage share paid to the employed
  who isolate, financed by a flat tax). Observes ``[B, 1, 12]`` float32
  (:data:`PLANNER_FEATURES`). Reward each day: minus its loss per resident,
  ``(death_weight * deaths + infection_weight * infections + economic_weight *
  (lost output + test costs) / mean wage) / M``.
- ``workers`` (M residents): act every day with ``Discrete(2)``: 0 go out (work, school,
  community), 1 isolate; any integer or bool dtype (nonzero = isolate), e.g. ``[B, M]``
  int8. Observe ``[B, M, 7]`` **uint8** (:data:`WORKER_FEATURES`: symptomatic, tested
  positive, asked home by the mandate, stimulus percent, age group, archetype,
  employed), 7 bytes per resident. Reward: net income in days of the mean wage minus
  ``infection_cost`` on the day of infection.

Day t: the planner's levers (if it acts) and the residents' choices apply; infection
pressure by household, workplace or class, and community (``disease.py``); S-E-A/I-R with
hospital and death, geometric durations, severity by age (Ferguson et al. 2020, Report 9);
random testing; wages, isolation support and its tax (``economics.py``). One pass over
the state bytes lists the residents in E, A, P, I, H or D and those who isolate; the
rest of the day works on that list. Randomness is drawn sparsely, only where something
can happen (transitions of the listed residents; exposures over the groups with an
infectious member; random tests by geometric gaps: ``contacts.py``, ``sampling.py``);
``step_with_uniforms`` takes instead a dense ``[5, B, M]`` uniform tensor
(``draw_uniforms``) and reads the same outcomes from it, for common-random-number
comparisons with the Mesa reference.

The population (``synthetic.py``, data in ``data/population/``) is drawn once per world
from ``population.seed`` and shared by every environment; state tensors are
``[B, M]`` int8 (disease, days a positive test is known) and float (cumulative income),
plus ``[B, T, K]`` float32 daily series (:data:`SERIES`), returned by ``episode_tables``
and, for the current day, in ``info["daily"]``. Memory: about 40 bytes per resident for
the city and the kernel's constants, 12 bytes more for the residents listed group by group
and 12 for their group numbers, 6 bytes per resident-environment of state, and some 20
bytes per resident-environment of step temporaries (byte masks, incomes, rewards).

Metrics: infections (share ever infected), deaths (per 100,000), peak prevalence,
employment rate, output and transfers (dollars per resident per day), economic loss
(share of potential output), income Gini (employed, cumulative net income) and the
planner's loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from sandbox.core.errors import ConfigError
from sandbox.core.registry import WORLDS
from sandbox.core.roles import Role
from sandbox.core.seeding import make_generator
from sandbox.core.world import World
from sandbox.worlds.population import disease as dz
from sandbox.worlds.population.economics import PayTables, Support, settle_day
from sandbox.worlds.population.groups import count_per_env
from sandbox.worlds.population.metrics import (
    EPISODE_METRICS,
    SERIES,
    DailyRow,
    EpidemicState,
    episode_metrics,
    episode_tables,
    planner_feature_map,
    planner_observation,
)
from sandbox.worlds.population.params import EpidemicEconomyParams
from sandbox.worlds.population.synthetic import CLOSURE_LEVELS, Population, generate_population

WORKER_FEATURES = ("symptomatic", "tested_positive", "asked_home", "stimulus_percent",
                   "age_group", "archetype", "employed")
PLANNER_FEATURES = ("day_fraction", "prevalence", "infectious", "hospitalised",
                    "ever_infected", "deaths_per_1000", "positives_week_per_1000",
                    "employment_rate", "output_share", "mandate", "testing_rate", "stimulus")
#: Largest value of each planner feature (shares are at most 1; per-1,000 counts bounded).
PLANNER_BOUNDS = dict.fromkeys(PLANNER_FEATURES, 1.0) | {
    "deaths_per_1000": 1000.0, "positives_week_per_1000": 7000.0}
_COLUMN = {name: k for k, name in enumerate(SERIES)}
#: Worker action codes.
WORK, ISOLATE = 0, 1
#: Rows of the day's dense uniforms (``draw_uniforms``): transitions, then the draws of
#: the home, place, community and testing channels.
UNIFORM_ROWS = 5


@dataclass
class LeversInForce:
    """The planner's levers as the day's kernels read them, for one choice of levers.

    Attributes:
        key: the menu indices, flattened (``[B, 3]``).
        values: ``[B, 3]`` float64 mandate strength, testing rate and stimulus.
        rows: ``[B, 5, M]`` uint8 observation rows: asked home, stimulus percent, and the
            static features (age group, archetype, employed).
        testing: the day's random testing (``disease.Testing``).
        support: the stimulus (``economics.Support``).
    """

    key: tuple
    values: torch.Tensor
    rows: torch.Tensor
    testing: dz.Testing
    support: Support

    @classmethod
    def of(cls, world: EpidemicEconomy, levers: torch.Tensor, key: tuple) -> LeversInForce:
        """For ``levers`` ``[B, 3]`` menu indices of ``world``."""
        p = world.params
        batch, residents = levers.shape[0], p.num_residents
        values = world.lever_values(levers).double()
        rows = torch.empty(batch, 5, residents, dtype=torch.uint8, device=world.device)
        rows[:, 0] = world._asked_home.index_select(0, levers[:, 0])
        rows[:, 1] = torch.round(values[:, 2] * 100).to(torch.uint8).unsqueeze(-1)
        rows[:, 2:] = world._static_obs
        return cls(key, values, rows,
                   dz.Testing.at(values[:, 1], sensitivity=p.economy.test_sensitivity,
                                 dtype=p.dtype),
                   Support.at(values[:, 2].contiguous()))


class EpidemicEconomy(World):
    """Batched epidemic economy (see the module's model card).

    Args:
        params: :class:`EpidemicEconomyParams`.
        num_envs: environments run in lockstep.
        device: torch device.
        seed: seed of the world's random stream (epidemic draws).
        population: an already drawn city of ``params.num_residents`` residents; None
            draws one from ``params.population`` (seeded by ``population.seed``).
    """

    Params = EpidemicEconomyParams
    metrics = EPISODE_METRICS
    model_card = __doc__
    WORKER_FEATURES = WORKER_FEATURES
    PLANNER_FEATURES = PLANNER_FEATURES

    def __init__(self, params=None, *, num_envs: int = 1, device="cpu", seed: int = 0,
                 population: Population | None = None):
        super().__init__(params, num_envs=num_envs, device=device, seed=seed)
        p = self.params
        if num_envs * p.num_residents >= 2**31:
            raise ConfigError("num_envs", num_envs, "num_envs * num_residents below 2**31 "
                              "(int32 indices over the batch)")
        if population is None:
            generator = make_generator(p.population.seed, "population")
            population = generate_population(p.num_residents, p.population, generator=generator)
        elif population.num_residents != p.num_residents:
            raise ConfigError("population", population.num_residents,
                              f"a population of num_residents = {p.num_residents}")
        self.population = population.to(self.device)
        self.tables = dz.build_tables(p, self.population, num_envs=num_envs)
        menus = p.planner
        menu_size = max(menus.action_sizes)
        self.lever_table = torch.tensor(
            [list(m) + [0.0] * (menu_size - len(m)) for m in
             (menus.mandate_levels, menus.testing_levels, menus.stimulus_levels)],
            dtype=p.dtype, device=self.device)
        self._mandate_cutoffs = torch.tensor(
            [round(m * CLOSURE_LEVELS) for m in menus.mandate_levels], device=self.device)
        pop = self.population
        self.employed_index = torch.nonzero(pop.employed).flatten()
        self.num_employed = int(self.employed_index.shape[0])
        wage = torch.where(pop.employed, pop.wage.double(), 0.0)
        self.wage = wage.to(p.dtype)
        self.potential_output = float(wage.sum())
        self.mean_wage = self.potential_output / max(self.num_employed, 1)
        self._static_obs = torch.stack([pop.age_group.to(torch.uint8),
                                        pop.archetype.to(torch.uint8),
                                        pop.employed.to(torch.uint8)])
        self._employed_bytes = pop.employed.to(torch.uint8)
        states = range(dz.NUM_STATES)
        self._pay_tables = PayTables.build(
            [s <= dz.RECOVERED for s in states], [s != dz.DEAD for s in states],
            potential_output=self.potential_output, num_employed=self.num_employed,
            max_tax_rate=p.economy.max_tax_rate, dtype=p.dtype, device=self.device)
        # per mandate level, 1 for the residents it asks home (closure rank below the cut-off)
        self._asked_home = torch.stack([(pop.closure_rank < int(c)).to(torch.uint8)
                                        for c in self._mandate_cutoffs])
        self._supplied: torch.Tensor | None = None
        self._lever_cache: LeversInForce | None = None
        self._day_of: tuple[object, int] = (None, 0)
        self._roles = self._make_roles()
        self.planner_weights, self.planner_bias = planner_feature_map(self)
        self._event_codes = torch.tensor([3 * dz.SUSCEPTIBLE + 1, 3 * dz.HOSPITALISED + 2],
                                         device=self.device)
        self._loss_weights = self._loss_row()
        self._ones = torch.ones(num_envs, 1, dtype=torch.float64, device=self.device)
        self._infection_cost = torch.tensor(-p.economy.infection_cost, dtype=torch.float32,
                                            device=self.device)

    def lever_values(self, levers: torch.Tensor) -> torch.Tensor:
        """``[B, 3]`` mandate strength, testing rate and stimulus of menu indices ``[B, 3]``."""
        return self.lever_table.gather(1, levers.t()).t()

    # ----------------------------------------------------------------- roles
    def _make_roles(self) -> dict[str, Role]:
        p = self.params
        worker_obs = gym.spaces.Box(0, 255, (len(WORKER_FEATURES),), np.uint8)
        high = np.array([PLANNER_BOUNDS[name] for name in PLANNER_FEATURES], dtype=np.float32)
        planner_obs = gym.spaces.Box(np.zeros_like(high), high, dtype=np.float32)
        planner_act = gym.spaces.MultiDiscrete(np.array(p.planner.action_sizes, dtype=np.int64))
        return {
            "planner": Role("planner", 1, planner_obs, planner_act),
            "workers": Role("workers", p.num_residents, worker_obs, gym.spaces.Discrete(2)),
        }

    @property
    def roles(self) -> dict[str, Role]:
        """``planner`` (1) and ``workers`` (``num_residents``)."""
        return self._roles

    def acting_roles(self) -> tuple[str, ...]:
        """Workers every day; the planner too on days 0, 7, 14, ... (its interval)."""
        day = 0 if self.state is None else self._day(self.state)
        if day % self.params.planner.decision_interval == 0:
            return ("planner", "workers")
        return ("workers",)

    def _day(self, state: EpidemicState) -> int:
        """The day of ``state`` as a Python int (read once per state: a host sync)."""
        if self._day_of[0] is not state:
            self._day_of = (state, int(state.day[0]))
        return self._day_of[1]

    # ------------------------------------------------------------- randomness
    def draw_uniforms(self) -> torch.Tensor:
        """Dense uniforms ``[5, B, M]`` in the world's dtype for one day, from its generator.

        Row 0 drives disease transitions, rows 1-4 the home, place, community and testing
        draws (``contacts.py``). ``step`` does not draw these: it draws the same
        distribution of outcomes sparsely, only where something can happen.
        """
        shape = (UNIFORM_ROWS, self.num_envs, self.params.num_residents)
        return torch.rand(shape, generator=self.generator, dtype=self.params.dtype,
                          device=self.device)

    def step_with_uniforms(self, actions: dict[str, torch.Tensor], uniforms: torch.Tensor):
        """``step`` with the day's dense uniforms given (common random numbers).

        Args:
            actions: as for ``step``.
            uniforms: ``[5, B, M]`` in [0, 1), the world's dtype (rows as in
                :meth:`draw_uniforms`).
        """
        shape = (UNIFORM_ROWS, self.num_envs, self.params.num_residents)
        if tuple(uniforms.shape) != shape or uniforms.dtype != self.params.dtype:
            raise ValueError(f"uniforms must be {shape} {self.params.dtype}; got "
                             f"{tuple(uniforms.shape)} {uniforms.dtype}")
        self._supplied = uniforms.to(self.device)
        try:
            return self.step(actions)
        finally:
            self._supplied = None

    # ------------------------------------------------------------------ kernels
    def _initial_state(self, num_envs: int) -> EpidemicState:
        p, residents = self.params, self.params.num_residents
        draw = torch.rand(num_envs, residents, generator=self.generator, dtype=p.dtype,
                          device=self.device)
        disease = torch.where(draw < p.disease.initial_infected, dz.EXPOSED, dz.SUSCEPTIBLE)
        disease = disease.to(torch.int8)
        levers = torch.zeros(num_envs, 3, dtype=torch.int64, device=self.device)
        latest = torch.zeros(num_envs, len(SERIES), device=self.device)
        counts = torch.stack([count_per_env(disease == k) for k in range(dz.NUM_STATES)], -1)
        latest[:, :dz.NUM_STATES] = counts.float()
        latest[:, SERIES.index("working")] = float(self.num_employed)
        latest[:, SERIES.index("output")] = self.potential_output
        latest[:, _COLUMN["mandate"]:_COLUMN["stimulus"] + 1] = self.lever_values(levers).float()
        return EpidemicState(
            day=torch.zeros(num_envs, dtype=torch.int64, device=self.device),
            disease=disease,
            positive_days=torch.zeros_like(disease),
            income=torch.zeros(num_envs, residents, dtype=p.dtype, device=self.device),
            levers=levers,
            counts=counts,
            latest=latest,
            series=torch.zeros(num_envs, p.horizon_days, len(SERIES), device=self.device),
        )

    def _checked_levers(self, action: torch.Tensor) -> torch.Tensor:
        levers = torch.as_tensor(action, device=self.device).reshape(self.num_envs, 3).long()
        sizes = torch.tensor(self.params.planner.action_sizes, device=self.device)
        if bool(((levers < 0) | (levers >= sizes)).any()):
            raise ValueError(f"planner action out of range: each of (mandate, testing, "
                             f"stimulus) must be in [0, n) for n = {tuple(sizes.tolist())}")
        return levers

    def _step_state(self, state: EpidemicState, actions):
        p = self.params
        day = self._day(state)
        levers = state.levers
        if day % p.planner.decision_interval == 0 and "planner" in actions:
            levers = self._checked_levers(actions["planner"])
        isolate = self._isolation_mask(actions["workers"])
        force = self._levers_in_force(levers)
        moved = dz.advance_day(state.disease, isolate, self.tables, testing=force.testing,
                               generator=self.generator, uniforms=self._supplied)
        pay = settle_day(moved.listed, moved.code, wage=self.wage, employed=self._employed_bytes,
                         support=force.support, tables=self._pay_tables)
        known = torch.sub(state.positive_days, 1).clamp_(min=0)
        known.view(-1).index_fill_(0, moved.positive, p.economy.isolation_days)
        counts = state.counts + moved.change
        row = self._daily_row(counts, moved, pay, force.values)
        series = state.series.clone()
        series[:, day] = row
        new = state.replace(day=state.day + 1, disease=moved.disease, positive_days=known,
                            income=pay.add_to(state.income, self.wage), levers=levers,
                            counts=counts, latest=row, series=series)
        self._day_of = (new, day + 1)
        rewards = {"planner": row[:, -1:].neg(),
                   "workers": self._worker_rewards(pay, moved)}
        truncated = new.day >= p.horizon_days
        info = {"day": day, "daily": DailyRow(row)}
        return new, rewards, torch.zeros_like(truncated), truncated, info

    def _daily_row(self, counts, moved, pay, lever_values):
        """``[B, K]`` float32 row of the daily series (:data:`SERIES`), with the planner's loss.

        The loss per resident is ``(death_weight * deaths + infection_weight * infections +
        economic_weight * (potential - output + test costs) / mean wage) / M``: an affine
        function of the row (:attr:`_loss_weights`, its constant against a column of
        ones in the loss's place), computed in float64 from the row as reported (float32).
        """
        # (one dtype per cat: concatenating mixed dtypes is several times slower)
        events = torch.cat([counts, moved.flows.index_select(1, self._event_codes),
                            moved.tested], -1).double()
        row = torch.cat([events, *pay.columns, lever_values, self._ones], -1).float()
        row[:, -1] = torch.mv(row.double(), self._loss_weights)
        return row

    def _loss_row(self) -> torch.Tensor:
        """``[K]`` float64: weights of the planner's loss on the row (its last entry: constant)."""
        p, w = self.params, self.params.planner
        scale = w.economic_weight / self.mean_wage / p.num_residents
        weights = torch.zeros(len(SERIES), dtype=torch.float64, device=self.device)
        weights[_COLUMN["new_deaths"]] = w.death_weight / p.num_residents
        weights[_COLUMN["new_infections"]] = w.infection_weight / p.num_residents
        weights[_COLUMN["output"]] = -scale
        weights[_COLUMN["tests"]] = scale * p.economy.test_cost
        weights[-1] = scale * self.potential_output  # the planner_loss column: the constant
        return weights

    def _worker_rewards(self, pay, moved: dz.DiseaseDay) -> torch.Tensor:
        """``[B, M]`` float32: net income in mean-wage days, minus the cost of infection."""
        reward = pay.net_income(self.wage, scale=1.0 / self.mean_wage).float()
        reward.view(-1).index_put_((moved.exposed,), self._infection_cost, accumulate=True)
        return reward

    @staticmethod
    def _isolation_mask(isolate: torch.Tensor) -> torch.Tensor:
        """``[B, M]`` uint8, 1 = isolate, of the workers' actions (nonzero = isolate).

        Bool actions, and byte actions holding only 0 and 1, are read without a copy.
        """
        if isolate.dtype == torch.bool:
            return isolate.view(torch.uint8)
        if isolate.dtype in (torch.int8, torch.uint8) and isolate.is_contiguous():
            as_bytes = isolate.view(torch.uint8)  # a negative int8 reads as 128 or more
            if int(as_bytes.max()) <= 1:
                return as_bytes
        return (isolate != 0).view(torch.uint8)

    def _observe(self, state: EpidemicState) -> dict[str, torch.Tensor]:
        return {"workers": self._worker_observation(state),
                "planner": planner_observation(self, state)}

    def _worker_observation(self, state: EpidemicState) -> torch.Tensor:
        """``[B, M, 7]`` uint8 (WORKER_FEATURES), a transposed view of ``[B, 7, M]`` storage.

        Each feature is contiguous in memory, so that building it and reading one feature
        (``obs[..., k]``) are fast; call ``.contiguous()`` for the other layout. Built from
        a comparison (NumPy's on the CPU), a clamp and a copy of the rows kept per lever choice.
        """
        batch, residents = state.disease.shape
        features = torch.empty(batch, len(WORKER_FEATURES), residents, dtype=torch.uint8,
                               device=self.device)
        if features.device.type == "cpu":  # NumPy's comparison is several times faster
            np.equal(state.disease.numpy(), dz.SYMPTOMATIC,
                     out=features[:, 0].numpy().view(np.bool_))
        else:
            torch.eq(state.disease, dz.SYMPTOMATIC, out=features[:, 0].view(torch.bool))
        torch.clamp(state.positive_days.view(torch.uint8), max=1, out=features[:, 1])
        features[:, 2:] = self._levers_in_force(state.levers).rows
        return features.transpose(1, 2)

    def _levers_in_force(self, levers: torch.Tensor) -> LeversInForce:
        """What the kernels read of ``levers`` ``[B, 3]`` (menu indices).

        They change only with the levers (weekly at most), so the last are kept.
        """
        key = tuple(levers.reshape(-1).tolist())
        if self._lever_cache is None or self._lever_cache.key != key:
            self._lever_cache = LeversInForce.of(self, levers, key)
        return self._lever_cache

    def _episode_metrics(self, state: EpidemicState) -> dict[str, torch.Tensor]:
        return episode_metrics(self, state)

    def episode_tables(self, state: EpidemicState) -> dict[str, dict[str, torch.Tensor]]:
        """``daily``: each of :data:`SERIES` ``[B, T]``; ``by_age``: counts ``[B, 9]``."""
        return episode_tables(self, state)

    def _reset_done(self, state: EpidemicState, done: torch.Tensor) -> EpidemicState:
        # Environments run in lockstep with one horizon, so they all end together.
        fresh = self._initial_state(self.num_envs)
        return fresh if bool(done.all()) else state.where(done, fresh)


WORLDS.register("epidemic_economy", EpidemicEconomy)
