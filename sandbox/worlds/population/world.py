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
random testing; wages, isolation support and its tax (``economics.py``). Randomness: one
``[2, B, M]`` uniform tensor per day (``draw_uniforms``; the testing row is skipped on days
without testing), which ``step_with_uniforms`` accepts from outside for common-random-number
comparisons with the Mesa reference.

The population (``synthetic.py``, data in ``data/population/``) is drawn once per world
from ``population.seed`` and shared by every environment; state tensors are
``[B, M]`` int8 (disease, days a positive test is known) and float (cumulative income),
plus ``[B, T, K]`` float32 daily series (:data:`SERIES`), returned by ``episode_tables``
and, for the current day, in ``info["daily"]``. Memory: about 40 bytes per resident for
the city, the kernel's constants and caches, 6 bytes per resident-environment of state,
and about 60 bytes per resident-environment of step temporaries. The largest temporaries
live in scratch buffers reused from step to step (fresh 40 MB tensors cost as much in page
faults as several passes over them); states, observations and rewards are always new.

Metrics: infections (share ever infected), deaths (per 100,000), peak prevalence,
employment rate, output and transfers (dollars per resident per day), economic loss
(share of potential output), income Gini (employed, cumulative net income) and the
planner's loss.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

from sandbox.core.errors import ConfigError
from sandbox.core.registry import WORLDS
from sandbox.core.roles import Role
from sandbox.core.seeding import make_generator
from sandbox.core.world import World
from sandbox.worlds.population import disease as dz
from sandbox.worlds.population.economics import settle_day
from sandbox.worlds.population.groups import Scratch, count_per_env
from sandbox.worlds.population.metrics import (
    EPISODE_METRICS,
    SERIES,
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
        self.wage = pop.wage.to(p.dtype)
        self.potential_output = float(pop.wage.double().sum())
        self.mean_wage = self.potential_output / max(self.num_employed, 1)
        self._static_obs = torch.stack([pop.age_group.to(torch.uint8),
                                        pop.archetype.to(torch.uint8),
                                        pop.employed.to(torch.uint8)])
        self._supplied: torch.Tensor | None = None
        self._scratch = Scratch()  # the step's large temporaries, reused across steps
        self._penalty_by_code = torch.zeros(3 * dz.NUM_STATES, dtype=p.dtype, device=self.device)
        self._penalty_by_code[3 * dz.SUSCEPTIBLE + 1] = -p.economy.infection_cost
        self._roles = self._make_roles()
        self.planner_weights, self.planner_bias = planner_feature_map(self)

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
        day = 0 if self.state is None else int(self.state.day[0])
        if day % self.params.planner.decision_interval == 0:
            return ("planner", "workers")
        return ("workers",)

    # ------------------------------------------------------------- randomness
    def draw_uniforms(self) -> torch.Tensor:
        """The next day's uniforms ``[2, B, M]`` in the world's dtype, from its generator.

        (``step`` draws the same, except the testing row on days without testing.)
        """
        shape = (2, self.num_envs, self.params.num_residents)
        return torch.rand(shape, generator=self.generator, dtype=self.params.dtype,
                          device=self.device)

    def _draw_into_scratch(self, *, testing: bool) -> torch.Tensor:
        """The same draw as :meth:`draw_uniforms`, written into a reused buffer.

        On days when no environment tests (testing rate 0), the testing row is not
        drawn: it would not be read, and the draw is a large share of a day's work.
        """
        shape = (2, self.num_envs, self.params.num_residents)
        out = self._scratch.get("uniforms", shape, self.params.dtype, self.device)
        rows = out if testing else out[:1]
        torch.rand(rows.shape, generator=self.generator, dtype=self.params.dtype,
                   device=self.device, out=rows)
        return out

    def step_with_uniforms(self, actions: dict[str, torch.Tensor], uniforms: torch.Tensor):
        """``step`` with the day's uniforms given (common random numbers).

        Args:
            actions: as for ``step``.
            uniforms: ``[2, B, M]`` in [0, 1), the world's dtype: row 0 drives disease
                transitions, row 1 testing.
        """
        shape = (2, self.num_envs, self.params.num_residents)
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
        day = int(state.day[0])
        levers = state.levers
        if day % p.planner.decision_interval == 0 and "planner" in actions:
            levers = self._checked_levers(actions["planner"])
        isolate = self._isolation_mask(actions["workers"])
        values = self.lever_values(levers)
        uniforms = self._supplied
        if uniforms is None:
            uniforms = self._draw_into_scratch(testing=bool((values[:, 1] > 0).any()))
        scratch, shape = self._scratch, state.disease.shape
        # int32: the index type of the kernel's table lookups
        dawn = scratch.get("dawn", shape, torch.int32, self.device).copy_(state.disease)
        p_infect = dz.infection_probability(dawn, isolate, self.tables, scratch=scratch)
        moved = dz.progress(dawn, p_infect, uniforms[0], self.tables, scratch=scratch,
                            state8=state.disease)
        del p_infect
        at_large = torch.le(state.disease, dz.RECOVERED,
                            out=scratch.get("at_large", shape, torch.bool, self.device))
        tests, positive = dz.run_tests(state.disease, uniforms[1], testing_rate=values[:, 1],
                                       sensitivity=p.economy.test_sensitivity,
                                       at_large=at_large)
        employed = self.population.employed
        works = torch.logical_and(at_large, employed,
                                  out=scratch.get("works", shape, torch.bool, self.device))
        works.logical_and_(torch.logical_not(isolate, out=scratch.get(
            "going_out", shape, torch.bool, self.device)))
        claims = torch.ne(state.disease, dz.DEAD,
                          out=scratch.get("claims_mask", shape, torch.bool, self.device))
        # alive and employed, but not at work (works is a subset of alive and employed)
        claims.logical_and_(employed).logical_xor_(works)
        pay = settle_day(works, claims, wage=self.wage, stimulus=values[:, 2],
                         max_tax_rate=p.economy.max_tax_rate, scratch=scratch)
        known = torch.sub(state.positive_days, 1).clamp_(min=0)
        if positive is not None:  # a new positive restarts the count (max: no branch)
            torch.maximum(known, positive.view(torch.int8) * p.economy.isolation_days,
                          out=known)
        isolating = count_per_env(torch.logical_and(isolate, at_large, out=claims))
        counts = state.counts + moved.change
        row = self._daily_row(counts, moved, pay, values, tests=tests,
                              positives=(count_per_env(positive) if positive is not None
                                         else torch.zeros_like(tests)),
                              isolating=isolating)
        series = state.series.clone()
        series[:, day] = row
        new = state.replace(day=state.day + 1, disease=moved.disease, positive_days=known,
                            income=state.income + pay.net_income, levers=levers,
                            counts=counts, latest=row, series=series)
        planner_loss = row[:, _COLUMN["planner_loss"]]
        rewards = {"planner": -planner_loss.unsqueeze(-1),
                   "workers": self._worker_rewards(pay.net_income, moved)}
        truncated = new.day >= p.horizon_days
        info = {"day": day, "daily": {name: row[:, k] for k, name in enumerate(SERIES)}}
        return new, rewards, torch.zeros_like(truncated), truncated, info

    def _daily_row(self, counts, moved, pay, lever_values, *, tests, positives, isolating):
        """``[B, K]`` float32 row of the daily series (:data:`SERIES`), with the planner's loss.

        The loss per resident is ``(death_weight * deaths + infection_weight * infections +
        economic_weight * (potential - output + test costs) / mean wage) / M``.
        """
        p, w = self.params, self.params.planner
        new_infections = moved.flows[:, 3 * dz.SUSCEPTIBLE + 1]
        new_deaths = moved.flows[:, 3 * dz.HOSPITALISED + 2]
        lost = (self.potential_output - pay.output.double() + p.economy.test_cost * tests) \
            / self.mean_wage
        loss = (w.death_weight * new_deaths + w.infection_weight * new_infections
                + w.economic_weight * lost) / p.num_residents
        daily = torch.stack([new_infections, new_deaths, tests, positives, pay.working,
                             isolating, pay.output, pay.transfers, pay.tax_rate], -1)
        return torch.cat([counts, daily, lever_values, loss.unsqueeze(-1)], -1).float()

    def _worker_rewards(self, net_income: torch.Tensor, moved: dz.Progression) -> torch.Tensor:
        """``[B, M]`` float32: net income in mean-wage days, minus the cost of infection.

        Writes into ``net_income`` (not used afterwards).
        """
        reward = net_income.mul_(1.0 / self.mean_wage)
        if bool(moved.flows[:, 3 * dz.SUSCEPTIBLE + 1].any()):
            # a table lookup by transition code: dense, but no branch and no nonzero() scan
            penalty = self._scratch.get("penalty", reward.shape, reward.dtype, self.device)
            torch.index_select(self._penalty_by_code, 0, moved.index.view(-1),
                               out=penalty.view(-1))
            reward.add_(penalty)
        return reward.float()

    @staticmethod
    def _isolation_mask(isolate: torch.Tensor) -> torch.Tensor:
        """``[B, M]`` bool (True = isolate) of the workers' actions (nonzero = isolate).

        Byte actions holding only 0 and 1 are read as bool without a copy.
        """
        if isolate.dtype == torch.bool:
            return isolate
        if isolate.dtype in (torch.int8, torch.uint8) and isolate.is_contiguous():
            low, high = torch.aminmax(isolate)
            if int(low) >= 0 and int(high) <= 1:
                return isolate.view(torch.bool)
        return isolate != 0

    def _observe(self, state: EpidemicState) -> dict[str, torch.Tensor]:
        return {"workers": self._worker_observation(state),
                "planner": planner_observation(self, state)}

    def _worker_observation(self, state: EpidemicState) -> torch.Tensor:
        """``[B, M, 7]`` uint8 (WORKER_FEATURES), a transposed view of ``[B, 7, M]`` storage.

        Each feature is contiguous in memory, so that building it and reading one feature
        (``obs[..., k]``) are fast; call ``.contiguous()`` for the other layout.
        """
        batch, residents = state.disease.shape
        features = torch.empty(batch, len(WORKER_FEATURES), residents, dtype=torch.uint8,
                               device=self.device)
        # uint8 cutoffs (at most 255): comparing with a wider integer would first widen
        # every resident's closure rank
        cutoff = self._mandate_cutoffs[state.levers[:, 0]].to(torch.uint8).unsqueeze(-1)

        percent = torch.round(self.lever_values(state.levers)[:, 2] * 100)
        torch.eq(state.disease, dz.SYMPTOMATIC, out=features[:, 0].view(torch.bool))
        torch.gt(state.positive_days, 0, out=features[:, 1].view(torch.bool))
        asked = features[:, 2].view(torch.bool)
        if batch == 1:
            torch.lt(self.population.closure_rank, int(cutoff), out=asked[0])
        else:
            torch.lt(self.population.closure_rank, cutoff, out=asked)
        features[:, 3] = percent.to(torch.uint8).unsqueeze(-1)
        features[:, 4:] = self._static_obs
        return features.transpose(1, 2)

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
