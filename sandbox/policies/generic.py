"""Policies that fit any role: uniform random over valid actions, and a fixed action."""

from __future__ import annotations

from collections.abc import Sequence

import gymnasium as gym
import numpy as np
import torch

from sandbox.core.errors import ConfigError
from sandbox.core.policy import Policy
from sandbox.core.roles import Role
from sandbox.policies.distributions import MaskedCategorical, MultiCategorical


class RandomPolicy(Policy):
    """Uniform over the valid actions (masks respected), drawn from the policy's generator.

    ``Box`` actions are uniform in ``[low, high]`` and need finite bounds.

    Args:
        role: the role it drives.
        device: device of the tensors it receives and returns.
    """

    name = "random"

    def __init__(self, role: Role, *, device="cpu"):
        super().__init__(role, device=device)
        space = role.action_space
        if isinstance(space, gym.spaces.Box) and not (
            np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high))
        ):
            raise ConfigError(f"policies.{role.name}", "random",
                              "a role whose Box actions have finite bounds")

    def act(self, obs, mask=None, deterministic=False):
        """Uniform valid actions ``[B, count, *action_shape]`` (``deterministic`` is ignored).

        Args:
            obs: ``[B, count, obs_dim]`` float32 (only its shape is used).
            mask: ``[B, count, mask_size]`` bool (True = valid) or None.
            deterministic: ignored: a random policy has no most likely action.
        """
        space = self.role.action_space
        batch = obs.shape[:2]
        if isinstance(space, gym.spaces.Box):
            low = torch.as_tensor(space.low, dtype=torch.float32, device=self.device)
            high = torch.as_tensor(space.high, dtype=torch.float32, device=self.device)
            unit = torch.rand(*batch, *space.shape, generator=self.generator, device=self.device)
            return low + unit * (high - low)
        size = self.role.mask_size
        logits = torch.zeros(*batch, size, device=self.device)
        if mask is not None and not bool(mask.reshape(-1, size).any(-1).all()):
            raise ValueError(f"role {self.role.name!r}: some agent has no valid action")
        if isinstance(space, gym.spaces.Discrete):
            return MaskedCategorical(logits, mask).sample(self.generator) + int(space.start)
        nvec = tuple(int(n) for n in space.nvec)
        return MultiCategorical(logits, mask, nvec).sample(self.generator)


class ConstantPolicy(Policy):
    """Every agent takes the same fixed action every time (masks are not consulted).

    Args:
        role: the role it drives.
        action: an int for ``Discrete``; a list of ints (one per component) for
            ``MultiDiscrete``; a list of numbers (or one number for every dimension)
            for ``Box``.
        device: device of the tensors it returns.
    """

    name = "constant"

    def __init__(self, role: Role, *, action, device="cpu"):
        super().__init__(role, device=device)
        self.action = _validated_action(role, action)
        self._tensor = torch.as_tensor(self.action, dtype=role.action_dtype(), device=self.device)

    def act(self, obs, mask=None, deterministic=False):
        """The fixed action, expanded to ``[B, count, *action_shape]``."""
        shape = (*obs.shape[:2], *self.role.action_shape())
        return self._tensor.expand(shape).clone()

    def describe(self) -> dict:
        """The policy's name and its action."""
        return {"policy": self.name, "action": self.action}


def _validated_action(role: Role, action) -> int | list:
    """The action as plain Python numbers, or ConfigError naming what fits the role."""
    space = role.action_space
    field = f"policies.{role.name}.action"
    if isinstance(space, gym.spaces.Discrete):
        low, high = int(space.start), int(space.start + space.n - 1)
        if isinstance(action, bool) or not isinstance(action, int | np.integer) or not (
            low <= action <= high
        ):
            raise ConfigError(field, action, f"an integer in [{low}, {high}]")
        return int(action)
    if isinstance(space, gym.spaces.MultiDiscrete):
        nvec = [int(n) for n in space.nvec]
        ok = isinstance(action, Sequence) and len(action) == len(nvec) and all(
            isinstance(a, int | np.integer) and not isinstance(a, bool) and 0 <= a < n
            for a, n in zip(action, nvec)
        )
        if not ok:
            raise ConfigError(field, action,
                              f"{len(nvec)} integers, each in [0, n) for n in {nvec}")
        return [int(a) for a in action]
    if isinstance(space, gym.spaces.Box):
        dims = int(np.prod(space.shape))
        values = [action] * dims if isinstance(action, int | float) else action
        try:
            array = np.asarray(values, dtype=np.float64).reshape(space.shape)
        except (TypeError, ValueError):
            raise ConfigError(field, action, f"{dims} numbers") from None
        if not (np.all(array >= space.low) and np.all(array <= space.high)):
            raise ConfigError(field, action, f"numbers within [{space.low}, {space.high}]")
        return array.tolist()
    raise ConfigError(field, action, "a role with Discrete, MultiDiscrete or Box actions")
