"""Roles: who acts in a world, how many of them, and what they see and do.

Spaces describe **one agent** of the role (gymnasium spaces); batched tensors add the
leading ``[num_envs, count]`` dimensions. Action masks, where a role has them, are
boolean tensors ``[num_envs, count, mask_size]`` with True for a valid action:
``mask_size`` is ``n`` for ``Discrete(n)`` and ``sum(nvec)`` for ``MultiDiscrete(nvec)``
(one block of sub-actions after the other).
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch


@dataclass(frozen=True)
class Role:
    """One role of a world.

    Attributes:
        name: the role's name, e.g. ``"planner"`` or ``"workers"``.
        count: agents of this role in each environment.
        observation_space: one agent's observation (a ``gymnasium.spaces.Box``).
        action_space: one agent's action (``Discrete``, ``MultiDiscrete`` or ``Box``).
        has_mask: whether the world provides action masks for this role.
    """

    name: str
    count: int
    observation_space: gym.spaces.Box
    action_space: gym.spaces.Space
    has_mask: bool = False

    @property
    def obs_dim(self) -> int:
        """Length of one agent's flat observation vector."""
        return int(np.prod(self.observation_space.shape))

    @property
    def mask_size(self) -> int:
        """Length of one agent's action mask (0 for continuous actions)."""
        return action_mask_size(self.action_space)

    def action_shape(self) -> tuple[int, ...]:
        """Trailing shape of one agent's action tensor: () for Discrete, (k,) otherwise."""
        space = self.action_space
        if isinstance(space, gym.spaces.Discrete):
            return ()
        if isinstance(space, gym.spaces.MultiDiscrete):
            return (len(space.nvec),)
        return tuple(space.shape)

    def action_dtype(self) -> torch.dtype:
        """Torch dtype of this role's actions (int64 for discrete, float32 otherwise)."""
        discrete = (gym.spaces.Discrete, gym.spaces.MultiDiscrete)
        return torch.int64 if isinstance(self.action_space, discrete) else torch.float32


def action_mask_size(space: gym.spaces.Space) -> int:
    """Mask length for ``space``: n, sum(nvec), or 0 for continuous spaces."""
    if isinstance(space, gym.spaces.Discrete):
        return int(space.n)
    if isinstance(space, gym.spaces.MultiDiscrete):
        return int(np.sum(space.nvec))
    return 0


def spaces_match(a: gym.spaces.Space, b: gym.spaces.Space) -> bool:
    """True when two spaces have the same type, shape and bounds (used to check fits)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, gym.spaces.Discrete):
        return a.n == b.n and a.start == b.start
    if isinstance(a, gym.spaces.MultiDiscrete):
        return a.nvec.shape == b.nvec.shape and bool(np.all(a.nvec == b.nvec))
    if isinstance(a, gym.spaces.Box):
        return (
            a.shape == b.shape
            and bool(np.allclose(a.low, b.low, equal_nan=True))
            and bool(np.allclose(a.high, b.high, equal_nan=True))
        )
    return a == b
