"""The AI Economist's one-step economy, batched: a planner sets bracket rates, workers pick hours.

Model card (full version with sources: ``docs/worlds/onestep_economy.md``). Roles:

- ``planner`` (1): observes ``[phase(2), rate_cap, rates(K), skill at ranks 0/25/50/75/100 %]``;
  acts with one rate per bracket, ``MultiDiscrete([21]*K)`` (masked above the cap) or
  ``Box [0, 1]^K``.
- ``workers`` (N): observe ``[phase(2), own skill, rates(K)]``; act with hours,
  ``Discrete(max_hours + 1)`` or ``Box [0, max_hours]``.

Episode (Foundation's ``one_step_economy``; two steps, lockstep in every env):

- Phase 0 (``acting_roles() == ("planner",)``): the planner's action sets the marginal rates,
  clipped to the rate cap (discrete levels above the cap are masked).
- Phase 1 (``("workers",)``): each worker chooses hours L; income ``z = skill * L``; tax is the
  piecewise-linear bracket schedule; all revenue returns as an equal lump sum;
  consumption ``c = z - T(z) + revenue/N``; utility ``u(c, L)`` (``utility.py``). The episode
  terminates and restarts in the same step. Rewards: phase 0 zeros; phase 1 each worker's
  utility and the planner's ``social_welfare(planner_objective)``.
- Skills (``skills.py``) are drawn when the world is built and on ``reset(seed=s)``, and stay
  fixed across episodes; ``world.skills`` is ``[N]`` sorted ascending.

Parameters: :class:`OneStepParams` (units and defaults per field). Defaults follow
Foundation (US federal brackets / 1,000 dollars per coin, 21 rate levels, 0..100 hours,
eta 0, delta 2) except kappa: 0.015 instead of 1, under which no income would reach the
second scaled bracket.

Shapes: state fields ``[B]`` (phase, lump_sum), ``[B, K]`` (rates) and ``[B, N]`` (skill,
hours, income, tax, consumption, utility), coin and hours. State, observation and mask
tensors are read-only: kernels never write in place, so the world shares them between
steps (``state.skill`` is a broadcast view of ``world.skills``; the fresh episode state and
its observation are built once per skill draw; the settled state's observation is the
workers' step's). Copy before modifying.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from sandbox.core.errors import ConfigError, check_range
from sandbox.core.metrics import MetricSpec
from sandbox.core.registry import WORLDS
from sandbox.core.roles import Role
from sandbox.core.state import TensorState
from sandbox.core.world import World
from sandbox.worlds.economy import social
from sandbox.worlds.economy.labor import settle
from sandbox.worlds.economy.skills import SKILL_SOURCES, draw_skills
from sandbox.worlds.economy.tax_schedule import (
    BRACKET_SETS,
    NUM_RATE_LEVELS,
    BracketRatePlanner,
    BracketSettings,
    marginal_rate,
    validate_cutoffs,
)
from sandbox.worlds.economy.utility import UtilityParams, utility

#: Worker counts the world accepts.
MIN_WORKERS, MAX_WORKERS = 2, 1_000_000
#: Discrete rate levels per bracket: 0, 0.05, ..., 1 (Foundation's grid).
#: Hours in a week: the largest meaningful ``max_hours``.
HOURS_PER_WEEK = 168.0
#: Default worker utility: incomes of Foundation-skilled workers span about 30..300 coin.
DEFAULT_UTILITY = UtilityParams(form="isoelastic", eta=0.0, kappa=0.015, delta=2.0)
#: Phase codes stored in ``state.phase``.
PHASE_RATES, PHASE_HOURS, PHASE_SETTLED = 0, 1, 2
_SKILL_RANKS = (0.0, 0.25, 0.5, 0.75, 1.0)
_CHOICES = ("discrete", "continuous")


@dataclass(frozen=True)
class OneStepParams(BracketSettings):
    """Parameters of the one-step economy.

    Attributes:
        num_workers: workers per environment, 2 .. 1,000,000.
        skill_source: ``"foundation"`` (Foundation's clipped-Pareto order statistics) or
            ``"us_wages"`` (draws from US hourly wages, ``data/wages/``), coin per hour.
        brackets: named US federal bracket set (``tax_schedule.BRACKET_SETS``).
        usd_scaling: dollars per coin: bracket cutoffs and wages are divided by it.
        weeks_per_year: weeks worked a year; converts hourly wages to coin per weekly hour.
        cutoffs: bracket lower cutoffs in coin, starting at 0; overrides ``brackets``.
        rate_actions: ``"discrete"`` (21 levels per bracket) or ``"continuous"`` ([0, 1]).
        hours_actions: ``"discrete"`` (whole hours 0..max_hours) or ``"continuous"``.
        max_hours: largest labour choice, hours per week (whole number when discrete).
        utility: worker utility (``utility.UtilityParams``).
        planner_objective: planner reward, one of ``social.OBJECTIVES``.
        max_rate: initial cap on every marginal rate, in [0, 1] (``set_rate_cap`` anneals it).
        price_taking_rewards: workers' rewards value the transfer as the mean of the other
            workers' taxes, ``(revenue - own tax) / (N - 1)``, instead of the equal share
            ``revenue / N`` (money is conserved either way). A worker's own hours then do
            not move the transfer she is rewarded with, as for the exact best response
            and the search optimum, which take the lump sum as given (a worker among
            many). With the equal share a learned worker also earns back 1/N of her own
            tax, so her marginal rate is in effect ``tau (1 - 1/N)`` and she works more
            than the price-taking best response. State, metrics and the planner's reward
            keep the equal lump sum.
    """

    num_workers: int = 100
    skill_source: str = "foundation"
    brackets: str = "foundation"
    usd_scaling: float = 1000.0
    weeks_per_year: float = 50.0
    cutoffs: tuple[float, ...] | None = None
    rate_actions: str = "discrete"
    hours_actions: str = "discrete"
    max_hours: float = 100.0
    utility: UtilityParams = DEFAULT_UTILITY
    planner_objective: str = "inverse_income_weighted_utility"
    max_rate: float = 1.0
    price_taking_rewards: bool = False

    def __post_init__(self):
        n = self.num_workers
        if isinstance(n, bool) or not isinstance(n, int) or not MIN_WORKERS <= n <= MAX_WORKERS:
            raise ConfigError("num_workers", n, f"an integer from {MIN_WORKERS} to {MAX_WORKERS:,}")
        for field, known in (("skill_source", SKILL_SOURCES), ("brackets", tuple(BRACKET_SETS)),
                             ("rate_actions", _CHOICES), ("hours_actions", _CHOICES),
                             ("planner_objective", social.OBJECTIVES)):
            if getattr(self, field) not in known:
                raise ConfigError(field, getattr(self, field), f"one of {', '.join(known)}")
        for field in ("usd_scaling", "weeks_per_year", "max_hours", "max_rate"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(field, value, "a number")
        check_range("usd_scaling", self.usd_scaling, low=0.0, low_open=True, high=math.inf,
                    high_open=True)
        check_range("weeks_per_year", self.weeks_per_year, low=0.0, low_open=True, high=53.0)
        if self.cutoffs is not None:
            object.__setattr__(self, "cutoffs", tuple(validate_cutoffs(self.cutoffs, "cutoffs")))
        check_range("max_hours", self.max_hours, low=0.0, low_open=True, high=HOURS_PER_WEEK)
        if self.hours_actions == "discrete" and float(self.max_hours) != int(self.max_hours):
            raise ConfigError("max_hours", self.max_hours, "a whole number of hours with "
                              "discrete hours actions")
        if not isinstance(self.utility, UtilityParams):
            raise ConfigError("utility", self.utility, "a UtilityParams instance")
        check_range("max_rate", self.max_rate, low=0.0, high=1.0)
        if not isinstance(self.price_taking_rewards, bool):
            raise ConfigError("price_taking_rewards", self.price_taking_rewards, "true or false")


@dataclass
class OneStepState(TensorState):
    """Batched state of the one-step economy (B envs, N workers, K brackets).

    Attributes:
        phase: ``[B]`` int64, 0 = rates next, 1 = hours next, 2 = settled.
        rates: ``[B, K]`` float32 marginal rates in force.
        skill: ``[B, N]`` float32 coin per hour (a broadcast view of ``world.skills``).
        hours: ``[B, N]`` float32 labour hours chosen.
        income: ``[B, N]`` float32 pre-tax income, coin.
        tax: ``[B, N]`` float32 tax paid, coin.
        lump_sum: ``[B]`` float32 equal transfer per worker, coin.
        consumption: ``[B, N]`` float32 post-tax income plus transfer, coin.
        utility: ``[B, N]`` float32 worker utility.
    """

    phase: torch.Tensor
    rates: torch.Tensor
    skill: torch.Tensor
    hours: torch.Tensor
    income: torch.Tensor
    tax: torch.Tensor
    lump_sum: torch.Tensor
    consumption: torch.Tensor
    utility: torch.Tensor


class OneStepEconomy(BracketRatePlanner, World):
    """Batched one-step tax economy (see the module docstring for the model card).

    Args:
        params: a :class:`OneStepParams` (defaults when None).
        num_envs: environments stepped in lockstep.
        device: torch device.
        seed: seed of the world's stream (skills are drawn from it).
    """

    Params = OneStepParams
    model_card = __doc__
    metrics = tuple(MetricSpec(*spec) for spec in (
        ("productivity", "total pre-tax income of the workers", "coin", True),
        ("equality", "1 - Gini of consumption (Foundation's normalisation)", "share", True),
        ("equality_pretax", "1 - Gini of pre-tax income", "share", None),
        ("equality_times_productivity", "equality x mean consumption", "coin per worker", True),
        ("inverse_income_weighted_utility", "utility weighted by 1/max(income, 1)", "utils", True),
        ("utilitarian_welfare", "mean worker utility", "utils", True),
        ("revenue", "total tax collected, all returned as a lump sum", "coin", None),
        ("average_tax_rate", "revenue / productivity", "share", None),
        ("mean_marginal_rate", "mean marginal rate at the workers' incomes", "share", None),
        ("mean_hours", "mean labour hours", "hours per week", None),
    ))

    def __init__(self, params=None, *, num_envs: int = 1, device="cpu", seed: int = 0):
        super().__init__(params, num_envs=num_envs, device=device, seed=seed)
        p = self.params
        self._init_brackets()
        self.hours_grid = None
        if p.hours_actions == "discrete":
            self.hours_grid = torch.arange(int(p.max_hours) + 1, device=self.device).float()
        self._roles = self._build_roles()
        self._phase_codes = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]], device=self.device)
        self._draw_skills()

    # ------------------------------------------------------------------ roles
    def _build_roles(self) -> dict[str, Role]:
        p, k = self.params, self.params.num_brackets
        if p.rate_actions == "discrete":
            rates = gym.spaces.MultiDiscrete([NUM_RATE_LEVELS] * k)
        else:
            rates = gym.spaces.Box(0.0, 1.0, (k,), np.float32)
        if p.hours_actions == "discrete":
            hours = gym.spaces.Discrete(int(p.max_hours) + 1)
        else:
            hours = gym.spaces.Box(0.0, float(p.max_hours), (1,), np.float32)
        planner_obs = gym.spaces.Box(-np.inf, np.inf, (3 + k + len(_SKILL_RANKS),), np.float32)
        worker_obs = gym.spaces.Box(-np.inf, np.inf, (3 + k,), np.float32)
        return {
            "planner": Role("planner", 1, planner_obs, rates, p.rate_actions == "discrete"),
            "workers": Role("workers", p.num_workers, worker_obs, hours, False),
        }

    @property
    def roles(self) -> dict[str, Role]:
        """``planner`` (1 agent) and ``workers`` (N agents)."""
        return self._roles

    def acting_roles(self) -> tuple[str, ...]:
        """``("planner",)`` in phase 0, ``("workers",)`` in phase 1."""
        phase = PHASE_RATES if self.state is None else int(self.state.phase[0])
        return ("planner",) if phase == PHASE_RATES else ("workers",)

    # --------------------------------------------------------- skills and caps
    def _draw_skills(self) -> None:
        p = self.params
        self.skills = draw_skills(
            p.skill_source, p.num_workers, generator=self.generator,
            weeks_per_year=p.weeks_per_year, usd_scaling=p.usd_scaling, device=self.device,
        )
        ranks = [round(q * (p.num_workers - 1)) for q in _SKILL_RANKS]
        self._skill_summary = self.skills[ranks]
        self._fresh = self._build_initial_state(self.num_envs)
        self._forget_observations()

    def _forget_observations(self) -> None:
        # Memos of tensors shared between steps (read-only, see the module docstring).
        self._fresh_obs = None
        self._latest_obs = None
        self._mask = None

    def reset(self, seed: int | None = None) -> dict[str, torch.Tensor]:
        """Start new episodes; a seed restarts the stream and redraws the skills."""
        obs = super().reset(seed)
        if seed is None:
            return obs
        self._draw_skills()
        self.state = self._initial_state(self.num_envs)
        return self._observe(self.state)

    def _rate_cap_changed(self) -> None:
        self._forget_observations()  # the planner observes the cap; the mask follows it

    def hours_from_action(self, action: torch.Tensor) -> torch.Tensor:
        """Hours ``[B, N]`` float32 of a workers' action (``[B, N]`` int64 or ``[B, N, 1]``)."""
        action = torch.as_tensor(action, device=self.device)
        if self.hours_grid is not None:
            return self.hours_grid[action.long()]
        hours = action.float().clamp(0.0, float(self.params.max_hours))
        return hours[..., 0] if hours.dim() == 3 else hours

    def action_from_hours(self, hours: torch.Tensor) -> torch.Tensor:
        """Workers' action for hours ``[B, N]``: nearest grid point, or clipped ``[B, N, 1]``."""
        hours = torch.as_tensor(hours, dtype=torch.float32, device=self.device)
        hours = hours.clamp(0.0, float(self.params.max_hours))
        if self.hours_grid is not None:
            return torch.round(hours).long()  # the grid is every whole hour from 0
        return hours.unsqueeze(-1)

    # ---------------------------------------------------------------- kernels
    def _initial_state(self, num_envs: int) -> OneStepState:
        if num_envs == self.num_envs:
            return self._fresh  # identical in every episode: skills are fixed
        return self._build_initial_state(num_envs)

    def _build_initial_state(self, num_envs: int) -> OneStepState:
        n, k, dev = self.params.num_workers, self.params.num_brackets, self.device
        zeros = torch.zeros(num_envs, n, device=dev)
        return OneStepState(
            phase=torch.full((num_envs,), PHASE_RATES, dtype=torch.int64, device=dev),
            rates=torch.zeros(num_envs, k, device=dev),
            skill=self.skills.expand(num_envs, n),
            hours=zeros, income=zeros.clone(), tax=zeros.clone(),
            lump_sum=torch.zeros(num_envs, device=dev),
            consumption=zeros.clone(), utility=zeros.clone(),
        )

    def _step_state(self, state: OneStepState, actions: dict[str, torch.Tensor]):
        b, n, dev = self.num_envs, self.params.num_workers, self.device
        if int(state.phase[0]) == PHASE_RATES:
            rates = self.rates_from_action(actions["planner"]).clamp(max=self.rate_cap)
            new = state.replace(phase=torch.full_like(state.phase, PHASE_HOURS), rates=rates)
            rewards = {"planner": torch.zeros(b, 1, device=dev),
                       "workers": torch.zeros(b, n, device=dev)}
            done = torch.zeros(b, dtype=torch.bool, device=dev)
            return new, rewards, done, done.clone(), {}
        outcome = settle(state.skill, self.hours_from_action(actions["workers"]),
                         cutoffs=self.cutoffs, rates=state.rates,
                         utility_params=self.params.utility)
        new = state.replace(
            phase=torch.full_like(state.phase, PHASE_SETTLED), hours=outcome.hours,
            income=outcome.income, tax=outcome.tax, lump_sum=outcome.lump_sum,
            consumption=outcome.consumption, utility=outcome.utility,
        )
        welfare = social.social_welfare(self.params.planner_objective,
                                        consumption=outcome.consumption,
                                        income=outcome.income, utility=outcome.utility)
        rewards = {"planner": welfare.unsqueeze(-1), "workers": outcome.utility}
        if self.params.price_taking_rewards:
            rewards["workers"] = self._price_taking_utility(outcome)
        terminated = torch.ones(b, dtype=torch.bool, device=dev)
        return new, rewards, terminated, torch.zeros_like(terminated), {}

    def _price_taking_utility(self, outcome) -> torch.Tensor:
        """``[B, N]`` utility with the transfer from the other workers' taxes only."""
        n = self.params.num_workers
        others = (outcome.lump_sum.unsqueeze(-1) * n - outcome.tax) / (n - 1)
        consumption = outcome.income - outcome.tax + others
        return utility(consumption, outcome.hours, self.params.utility)

    def _reset_done(self, state: OneStepState, done: torch.Tensor) -> OneStepState:
        # Episodes run in lockstep, so either all environments end or none do.
        if bool(done.all()):
            return self._initial_state(self.num_envs)
        return super()._reset_done(state, done)

    def _observe(self, state: OneStepState) -> dict[str, torch.Tensor]:
        if state is self._fresh:
            if self._fresh_obs is None:
                self._fresh_obs = self._build_observation(state)
            return self._fresh_obs
        # The settled state differs from the workers' step's state only in what workers
        # cannot see before choosing (their outcomes), so both share one observation.
        latest = self._latest_obs
        if latest is not None and latest[0] is state.rates:
            return latest[1]
        obs = self._build_observation(state)
        self._latest_obs = (state.rates, obs)
        return obs

    def _build_observation(self, state: OneStepState) -> dict[str, torch.Tensor]:
        b, n = state.skill.shape
        phase = self._phase_codes[state.phase]  # settled (2) reads as the workers' phase
        cap = torch.full((b, 1), self.rate_cap, device=self.device)
        summary = self._skill_summary.expand(b, -1)
        planner = torch.cat([phase, cap, state.rates, summary], dim=-1).unsqueeze(1)
        workers = torch.cat([
            phase.unsqueeze(1).expand(b, n, 2),
            state.skill.unsqueeze(-1),
            state.rates.unsqueeze(1).expand(b, n, -1),
        ], dim=-1)
        return {"planner": planner, "workers": workers}

    def _action_masks(self, state: OneStepState) -> dict[str, torch.Tensor]:
        if self.params.rate_actions != "discrete":
            return {}
        if self._mask is None:  # depends on the cap only
            allowed = self.rate_levels <= self.rate_cap + 1e-6
            mask = allowed.repeat(self.params.num_brackets)
            self._mask = mask.expand(self.num_envs, 1, -1).contiguous()
        return {"planner": self._mask}

    def _episode_metrics(self, state: OneStepState) -> dict[str, torch.Tensor]:
        productivity = state.income.sum(-1)
        revenue = state.tax.sum(-1)
        equality = social.equality(state.consumption)
        marginal = marginal_rate(state.income, self.cutoffs, state.rates)
        return {
            "productivity": productivity,
            "equality": equality,
            "equality_pretax": social.equality(state.income),
            # social.equality_times_productivity, reusing the equality computed above
            "equality_times_productivity": equality * state.consumption.mean(-1),
            "inverse_income_weighted_utility": social.inverse_income_weighted_utility(
                state.utility, state.income),
            "utilitarian_welfare": state.utility.mean(-1),
            "revenue": revenue,
            # no income means no tax: 0 / tiny = 0
            "average_tax_rate": revenue / productivity.clamp(min=1e-30),
            "mean_marginal_rate": marginal.mean(-1),
            "mean_hours": state.hours.mean(-1),
        }

    def episode_tables(self, state: OneStepState) -> dict[str, dict[str, torch.Tensor]]:
        """Per-worker and per-bracket tables of a settled state (``[B, N]`` and ``[B, K]``)."""
        return {
            "agents": {
                "skill": state.skill, "hours": state.hours, "income": state.income,
                "tax": state.tax, "consumption": state.consumption, "utility": state.utility,
                "marginal_rate": marginal_rate(state.income, self.cutoffs, state.rates),
            },
            "schedule": {
                "cutoff": self.cutoffs.expand(state.rates.shape[0], -1),
                "rate": state.rates,
            },
        }


WORLDS.register("onestep_economy", OneStepEconomy)
