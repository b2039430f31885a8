"""The World contract: ``num_envs`` copies of one environment stepped in lockstep.

A world subclass supplies pure kernels over a :class:`~sandbox.core.state.TensorState`;
this base class owns the random stream, same-step autoreset and the bookkeeping, as
gymnax's ``step`` wraps ``step_env``. Shapes, per role ``r`` with ``count`` agents:

- observations ``[num_envs, count, obs_dim]`` float32
- actions ``[num_envs, count]`` int64 (Discrete), ``[num_envs, count, k]`` int64
  (MultiDiscrete) or ``[num_envs, count, d]`` float32 (Box)
- rewards ``[num_envs, count]`` float32; terminated / truncated ``[num_envs]`` bool
- masks ``[num_envs, count, mask_size]`` bool, True = valid
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch

from sandbox.core.device import resolve_device
from sandbox.core.errors import ConfigError
from sandbox.core.metrics import MetricSpec
from sandbox.core.roles import Role
from sandbox.core.seeding import make_generator
from sandbox.core.state import TensorState
from sandbox.core.step import StepResult


class World(ABC):
    """Base class of every batched world.

    Args:
        params: the world's frozen parameter dataclass (an instance of ``cls.Params``).
        num_envs: independent environments stepped together (>= 1).
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or a ``torch.device``.
        seed: seed of the world's random stream; ``reset(seed=...)`` can restart it.

    Subclasses set ``Params`` (a frozen dataclass with defaults), ``metrics`` and
    implement the underscored kernels below.
    """

    Params: ClassVar[type]
    metrics: ClassVar[tuple[MetricSpec, ...]] = ()
    model_card: ClassVar[str] = ""

    def __init__(self, params=None, *, num_envs: int = 1, device="cpu", seed: int = 0):
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise ConfigError("num_envs", num_envs, "an integer >= 1")
        self.params = params if params is not None else self.Params()
        if not isinstance(self.params, self.Params):
            raise ConfigError("params", params, f"a {self.Params.__name__} instance")
        self.num_envs = num_envs
        self.device = resolve_device(device)
        self.seed = int(seed)
        self.generator = make_generator(self.seed, device=self.device)
        self.state: TensorState | None = None

    # ----------------------------------------------------------------- the contract
    @property
    @abstractmethod
    def roles(self) -> dict[str, Role]:
        """The world's roles by name."""

    @property
    def metric_names(self) -> tuple[str, ...]:
        """Names of the scalar metrics reported for each finished episode."""
        return tuple(m.name for m in self.metrics)

    def acting_roles(self) -> tuple[str, ...]:
        """Roles whose actions the next ``step`` reads (all roles unless overridden).

        Environments run in lockstep, so this is the same for every environment.
        """
        return tuple(self.roles)

    def reset(self, seed: int | None = None) -> dict[str, torch.Tensor]:
        """Start a new episode in every environment.

        Args:
            seed: restart the world's random stream from this seed; None keeps the stream.

        Returns:
            Observations per role, ``[num_envs, count, obs_dim]`` float32.
        """
        if seed is not None:
            self.seed = int(seed)
            self.generator = make_generator(self.seed, device=self.device)
        self.state = self._initial_state(self.num_envs)
        return self._observe(self.state)

    def step(self, actions: dict[str, torch.Tensor]) -> StepResult:
        """Advance every environment by one step; finished episodes restart at once.

        Args:
            actions: per acting role, that role's batched action tensor (see module doc).
                Roles that do not act in this step may be omitted.
        """
        if self.state is None:
            raise RuntimeError("call reset() before step()")
        actions = self._check_actions(actions)
        state, rewards, terminated, truncated, info = self._step_state(self.state, actions)
        done = terminated | truncated
        result = StepResult(
            obs={}, rewards=rewards, terminated=terminated, truncated=truncated,
            final_state=state, info=info,
        )
        if bool(done.any()):
            result.final_obs = self._observe(state)
            metrics = self._episode_metrics(state)
            nan = torch.full_like(done, float("nan"), dtype=torch.float32)
            result.final_metrics = {
                k: torch.where(done, v.float(), nan) for k, v in metrics.items()
            }
            state = self._reset_done(state, done)
        self.state = state
        result.obs = self._observe(state)
        result.masks = self.action_masks()
        return result

    def action_masks(self) -> dict[str, torch.Tensor]:
        """Masks for the next step, per role that has them (True = valid action)."""
        if self.state is None:
            raise RuntimeError("call reset() before action_masks()")
        return self._action_masks(self.state)

    # ------------------------------------------------------------- for subclasses
    @abstractmethod
    def _initial_state(self, num_envs: int) -> TensorState:
        """Fresh episode states for ``num_envs`` environments, drawn from ``self.generator``."""

    @abstractmethod
    def _step_state(self, state: TensorState, actions: dict[str, torch.Tensor]) -> tuple[
        TensorState, dict[str, torch.Tensor], torch.Tensor, torch.Tensor, dict[str, Any]
    ]:
        """Kernel: (state, actions) -> (state, rewards, terminated, truncated, info)."""

    @abstractmethod
    def _observe(self, state: TensorState) -> dict[str, torch.Tensor]:
        """Observations per role for ``state``."""

    def _action_masks(self, state: TensorState) -> dict[str, torch.Tensor]:
        """Action masks per role for ``state`` (none by default)."""
        return {}

    @abstractmethod
    def _episode_metrics(self, state: TensorState) -> dict[str, torch.Tensor]:
        """Per metric name, ``[num_envs]`` values of the episodes ending in ``state``."""

    def episode_tables(self, state: TensorState) -> dict[str, dict[str, torch.Tensor]]:
        """Per-episode tables worth keeping beside the metrics (for distributions, plots).

        Args:
            state: a state at the end of an episode (``StepResult.final_state``).

        Returns:
            Table name -> column name -> ``[num_envs, rows]`` tensor, e.g.
            ``{"agents": {"income": [B, N], ...}, "schedule": {"rate": [B, K], ...}}``.
            Worlds without such tables return ``{}`` (the default).
        """
        return {}

    def _reset_done(self, state: TensorState, done: torch.Tensor) -> TensorState:
        """Replace the finished environments' states by fresh ones.

        The default draws fresh states for every environment and keeps those where
        ``done``; worlds whose episodes end at different times may override it to draw
        only for the finished ones.
        """
        return state.where(done, self._initial_state(self.num_envs))

    def _check_actions(self, actions: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Validate the acting roles' actions: presence, shape and device."""
        checked = dict(actions)
        for name in self.acting_roles():
            role = self.roles[name]
            if name not in actions:
                raise ValueError(f"step() needs actions for role {name!r} in this step")
            action = torch.as_tensor(actions[name], device=self.device)
            expected = (self.num_envs, role.count, *role.action_shape())
            if tuple(action.shape) != expected:
                raise ValueError(
                    f"actions[{name!r}] has shape {tuple(action.shape)}; expected {expected} "
                    "= (num_envs, agents of the role, *action shape)"
                )
            checked[name] = action
        return checked
