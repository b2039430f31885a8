"""The AI Economist's Gather-Trade-Build economy, batched.

Model card with sources: ``docs/worlds/gather_trade_build.md``. Roles:

- ``workers`` (N, default 4): one ``Discrete(50)`` action each (``actions.py``), masked
  (``masks.py``); observation layout in ``observations.py``. Reward: the change in
  utility ``u = ((c^(1-eta) - 1) / (1-eta)) - labour_cost * w * labour`` of the coin
  endowment ``c`` (available plus escrowed) and the episode's labour, where ``w`` is 1
  or, with a labour-cost warm-up, ``1 - exp(-n / labour_warmup_constant)`` (``n``:
  completed episodes or steps with a positive mean worker reward, per environment; see
  ``GTBParams`` and the state's ``episodes_done`` / ``positive_steps``).
- ``planner`` (1): acts only in the first step of each tax period
  (``acting_roles()``), with one rate per bracket (``MultiDiscrete([21]*K)``, masked
  above the rate cap, or ``Box [0, 1]^K``). Reward every step: the change in the chosen
  social welfare (default equality x productivity of coin endowments).

An episode is ``episode_length`` steps (truncated, then reset in the same step in every
environment: episodes run in lockstep). Step order and rules: ``dynamics.py`` and the
mechanic modules. The step's random numbers (``StepNoise``) are kept in
``world.last_noise`` and the step's events in ``StepResult.info["log"]``.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

from sandbox.core.metrics import MetricSpec
from sandbox.core.registry import WORLDS
from sandbox.core.roles import Role
from sandbox.core.world import World
from sandbox.worlds.economy import social
from sandbox.worlds.economy.gtb import observations
from sandbox.worlds.economy.gtb.buffers import BufferPool
from sandbox.worlds.economy.gtb.dynamics import advance
from sandbox.worlds.economy.gtb.masks import worker_masks
from sandbox.worlds.economy.gtb.movement import move_offsets
from sandbox.worlds.economy.gtb.params import GTBParams
from sandbox.worlds.economy.gtb.setup import MapSetup, initial_state
from sandbox.worlds.economy.gtb.state import GTBState, StepNoise
from sandbox.worlds.economy.tax_schedule import (
    NUM_RATE_LEVELS,
    BracketRatePlanner,
    marginal_rate,
)
from sandbox.worlds.economy.utility import UtilityParams, consumption_utility


class GatherTradeBuild(BracketRatePlanner, World):
    """Batched Gather-Trade-Build (see the module docstring and the model card).

    Args:
        params: a :class:`GTBParams` (defaults when None).
        num_envs: environments stepped in lockstep.
        device: torch device.
        seed: seed of the world's stream (maps, placements, skills and every step's draws).
    """

    Params = GTBParams
    model_card = __doc__
    metrics = tuple(MetricSpec(*spec) for spec in (
        ("productivity", "total coin endowment of the workers at the end", "coin", True),
        ("equality", "1 - Gini of the coin endowments (Foundation's normalisation)", "share",
         True),
        ("equality_times_productivity", "equality x mean coin endowment", "coin per worker",
         True),
        ("inverse_income_weighted_utility", "utility weighted by 1/max(income, 1)", "utils",
         True),
        ("utilitarian_welfare", "mean worker utility", "utils", True),
        ("revenue", "total tax collected, all returned as lump sums", "coin", None),
        ("average_tax_rate", "revenue / total pre-tax income", "share", None),
        ("houses_built", "houses built by all workers", "houses", None),
        ("trades", "trades in both markets", "trades", None),
        ("mean_labour", "mean labour per worker", "labour", None),
        ("effective_labour_cost", "labour cost per unit of labour in effect at the end of "
         "the episode (labour_cost after the warm-up)", "utils per labour", None),
    ))

    def __init__(self, params=None, *, num_envs: int = 1, device="cpu", seed: int = 0):
        super().__init__(params, num_envs=num_envs, device=device, seed=seed)
        p = self.params
        self.setup = MapSetup(p, device=self.device)
        self._init_brackets()
        self.offsets = move_offsets(self.setup.padded_width, self.device)
        self.window = observations.view_window(p.view_radius, self.setup.padded_width,
                                               self.device)
        self.utility_params = UtilityParams(form="isoelastic", eta=p.eta)
        self.last_noise: StepNoise | None = None
        self._obs_pool = BufferPool(size=8)
        self._map_pool = BufferPool(size=12)  # three maps per state, a few states alive
        self._roles = self._build_roles()

    # ------------------------------------------------------------------ roles
    def _build_roles(self) -> dict[str, Role]:
        p, k = self.params, self.params.num_brackets
        if p.rate_actions == "discrete":
            rates = gym.spaces.MultiDiscrete([NUM_RATE_LEVELS] * k)
        else:
            rates = gym.spaces.Box(0.0, 1.0, (k,), np.float32)
        worker_obs = observations.worker_dim(p.num_workers, k, p.view_radius)
        planner_obs = observations.planner_dim(p.num_workers, k)

        def box(dim):
            return gym.spaces.Box(-np.inf, np.inf, (dim,), np.float32)

        return {
            "planner": Role("planner", 1, box(planner_obs), rates, p.rate_actions == "discrete"),
            "workers": Role("workers", p.num_workers, box(worker_obs),
                            gym.spaces.Discrete(p.num_actions), True),
        }

    @property
    def roles(self) -> dict[str, Role]:
        """``planner`` (1 agent) and ``workers`` (N agents)."""
        return self._roles

    def acting_roles(self) -> tuple[str, ...]:
        """Both roles in the first step of a tax period, the workers alone otherwise."""
        t = 0 if self.state is None else int(self.state.t[0])
        return ("planner", "workers") if t % self.params.tax_period == 0 else ("workers",)

    @property
    def skills(self) -> torch.Tensor:
        """``[B, N]`` build payments of the current episodes, coin per house."""
        return self.state.payment if self.state is not None else torch.zeros(0)


    # ---------------------------------------------------------------- kernels
    def labour_coefficient(self, state: GTBState) -> torch.Tensor:
        """``[B]`` float32 effective labour cost of ``state`` (utils per unit of labour).

        ``labour_cost`` times the warm-up weight ``1 - exp(-n / labour_warmup_constant)``
        (Foundation's ``energy_weight``), ``n`` = ``episodes_done`` (``"decay"``) or
        ``positive_steps`` (``"auto"``); ``labour_cost`` itself without warm-up.
        """
        p = self.params
        if not p.warms_up:
            return torch.full_like(state.welfare, p.labour_cost)
        progress = (state.episodes_done if p.labour_warmup_method == "decay"
                    else state.positive_steps)
        weight = 1.0 - torch.exp(-progress.to(torch.float64) / p.labour_warmup_constant)
        return (p.labour_cost * weight).to(torch.float32)

    def utility_of(self, state: GTBState) -> torch.Tensor:
        """``[B, N]`` worker utility of ``state``'s coin endowments and labour."""
        gain = consumption_utility(state.coin_total, self.utility_params)
        if not self.params.warms_up:
            return gain - self.params.labour_cost * state.labour
        return gain - self.labour_coefficient(state).unsqueeze(-1) * state.labour

    def welfare_of(self, state: GTBState, utility: torch.Tensor) -> torch.Tensor:
        """``[B]`` the planner objective of ``state``."""
        return social.social_welfare(self.params.planner_objective,
                                     consumption=state.coin_total, income=state.earned,
                                     utility=utility)

    def _initial_state(self, num_envs: int, *, episodes_done: torch.Tensor | None = None,
                       positive_steps: torch.Tensor | None = None) -> GTBState:
        state = initial_state(self.setup, num_envs, generator=self.generator)
        # The warm-up counters outlive episodes and reset() (as Foundation's completion
        # count and warm-up integrator outlive its env.reset()); a new world starts at 0.
        held = self.state if self.state is not None and self.state.t.shape[0] == num_envs \
            else None
        zeros = torch.zeros(num_envs, dtype=torch.int64, device=self.device)
        if episodes_done is None:
            episodes_done = held.episodes_done if held is not None else zeros
        if positive_steps is None:
            positive_steps = held.positive_steps if held is not None else zeros
        state = state.replace(episodes_done=episodes_done.clone(),
                              positive_steps=positive_steps.clone())
        utility = self.utility_of(state)
        return state.replace(utility=utility, welfare=self.welfare_of(state, utility))

    def _step_state(self, state: GTBState, actions: dict[str, torch.Tensor]):
        p = self.params
        if "planner" in self.acting_roles():
            rates = self.rates_from_action(actions["planner"]).clamp(max=self.rate_cap)
            state = state.replace(rates=rates.to(torch.float32))
        noise = StepNoise.draw(self.num_envs, p.num_workers, state.source_cells.shape[1],
                               generator=self.generator, device=self.device)
        self.last_noise = noise
        action = actions["workers"].long()
        new, log = advance(state, action, noise, params=p, cutoffs=self.cutoffs,
                           offsets=self.offsets, pool=self._map_pool)
        utility = self.utility_of(new)
        welfare = self.welfare_of(new, utility)
        rewards = {"workers": utility - state.utility,
                   "planner": (welfare - state.welfare).unsqueeze(-1)}
        new = new.replace(utility=utility, welfare=welfare)
        if p.warms_up and p.labour_warmup_method == "auto":
            # Foundation counts after this step's rewards, so they use the old weight.
            positive = (rewards["workers"].mean(-1) > 0).long()
            new = new.replace(positive_steps=new.positive_steps + positive)
        truncated = new.t >= p.episode_length
        return new, rewards, torch.zeros_like(truncated), truncated, {"log": log}

    def _reset_done(self, state: GTBState, done: torch.Tensor) -> GTBState:
        # An episode that ends counts as completed for the "decay" warm-up (Foundation
        # counts it after the last step's rewards: the next episode has the new weight).
        finished = state.episodes_done + done.long()
        # Episodes run in lockstep, so either every environment ends or none does.
        if bool(done.all()):
            return self._initial_state(self.num_envs, episodes_done=finished,
                                       positive_steps=state.positive_steps)
        fresh = self._initial_state(self.num_envs, episodes_done=finished,
                                    positive_steps=state.positive_steps)
        return state.where(done, fresh).replace(episodes_done=finished)

    def _observe(self, state: GTBState) -> dict[str, torch.Tensor]:
        p = self.params
        return observations.observe(
            state, window=self.window, radius=p.view_radius,
            padded_width=self.setup.padded_width, map_shape=p.map_shape,
            max_price=p.max_price, tax_period=p.tax_period,
            episode_length=p.episode_length, rate_cap=self.rate_cap, pool=self._obs_pool)

    def _action_masks(self, state: GTBState) -> dict[str, torch.Tensor]:
        p = self.params
        masks = {"workers": worker_masks(state, offsets=self.offsets,
                                         max_orders=p.max_orders, max_price=p.max_price)}
        if p.rate_actions == "discrete":
            allowed = self.rate_levels <= self.rate_cap + 1e-6
            masks["planner"] = allowed.repeat(p.num_brackets).expand(
                state.t.shape[0], 1, -1).contiguous()
        return masks

    def _episode_metrics(self, state: GTBState) -> dict[str, torch.Tensor]:
        coin = state.coin_total
        equality = social.equality(coin)
        revenue = state.tax_paid.sum(-1)
        taxable = state.earned.sum(-1).clamp(min=0.0)
        return {
            "productivity": coin.sum(-1),
            "equality": equality,
            "equality_times_productivity": equality * coin.mean(-1),
            "inverse_income_weighted_utility": social.inverse_income_weighted_utility(
                state.utility, state.earned),
            "utilitarian_welfare": state.utility.mean(-1),
            "revenue": revenue,
            "average_tax_rate": revenue / taxable.clamp(min=1e-30),
            "houses_built": state.houses.sum(-1),
            "trades": state.trades,
            "mean_labour": state.labour.mean(-1),
            "effective_labour_cost": self.labour_coefficient(state),
        }

    def episode_recorder(self, *, env: int = 0):
        """A recorder of environment ``env``'s episode from the current state.

        It keeps the map every ``trajectory.default_map_every(episode_length)`` steps;
        batches store its record next to each run's results (see ``trajectory.py``).
        """
        from sandbox.worlds.economy.gtb.trajectory import EpisodeRecorder, default_map_every

        return EpisodeRecorder(self, env=env,
                               map_every=default_map_every(self.params.episode_length))

    def episode_tables(self, state: GTBState) -> dict[str, dict[str, torch.Tensor]]:
        """Per-worker and per-bracket tables (``[B, N]`` and ``[B, K]``)."""
        return {
            "agents": {
                "build_payment": state.payment, "bonus_probability": state.bonus_prob,
                "wood": state.inventory[..., 0] + state.escrow[..., 0],
                "stone": state.inventory[..., 1] + state.escrow[..., 1],
                "coin": state.coin_total, "labour": state.labour, "income": state.earned,
                "tax": state.tax_paid, "transfers": state.transfers, "houses": state.houses,
                "utility": state.utility,
                "marginal_rate": marginal_rate(state.last_income.clamp(min=0.0),
                                               self.cutoffs, state.rates),
            },
            "schedule": {
                "cutoff": self.cutoffs.expand(state.rates.shape[0], -1),
                "rate": state.rates,
            },
        }


WORLDS.register("gather_trade_build", GatherTradeBuild)
