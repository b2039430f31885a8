"""A Gymnasium view of one role of a world: that role learns, the others follow policies.

The world runs one environment (``num_envs == 1``). Steps in which the learning role
does not act (e.g. the planner's step in the one-step economy, seen from the workers)
are taken by the other roles' policies inside ``reset`` and ``step``; rewards earned
meanwhile are added to the next reward the learning role receives.

Spaces: a role with one agent keeps its own spaces. A role with ``count > 1`` is seen
as one centralised agent: observations ``[count, obs_dim]``, and actions of every
agent at once (``MultiDiscrete([n] * count)`` for ``Discrete(n)``, stacked boxes...).
The reward of a role with several agents is the sum of its agents' rewards.
Conversions to numpy happen here only, at the edge.
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import numpy as np
import torch

from sandbox.core.policy import Policy
from sandbox.core.roles import Role
from sandbox.core.world import World


def joint_action_space(role: Role) -> gym.spaces.Space:
    """The action space of all ``role.count`` agents of a role taken together."""
    space, count = role.action_space, role.count
    if count == 1:
        return space
    if isinstance(space, gym.spaces.Discrete):
        return gym.spaces.MultiDiscrete(np.full(count, space.n, dtype=np.int64))
    if isinstance(space, gym.spaces.MultiDiscrete):
        return gym.spaces.MultiDiscrete(np.tile(space.nvec, (count, 1)))
    low = np.broadcast_to(space.low, (count, *space.shape))
    high = np.broadcast_to(space.high, (count, *space.shape))
    return gym.spaces.Box(low, high, dtype=space.dtype)


def joint_observation_space(role: Role) -> gym.spaces.Box:
    """The observation space of all agents of a role: ``[count, obs_dim]`` (or one agent's)."""
    space = role.observation_space
    if role.count == 1:
        return space
    low = np.broadcast_to(space.low, (role.count, *space.shape))
    high = np.broadcast_to(space.high, (role.count, *space.shape))
    return gym.spaces.Box(low, high, dtype=space.dtype)


class RoleEnv(gym.Env):
    """One role of a one-environment world as a ``gymnasium.Env``.

    Args:
        make_world: builds the world (called once, with no arguments).
        role: the learning role.
        others: the policies of every other role.
    """

    metadata = {"render_modes": []}

    def __init__(self, make_world: Callable[[], World], role: str, others: dict[str, Policy]):
        self.world = make_world()
        if self.world.num_envs != 1:
            raise ValueError("RoleEnv needs a world with num_envs == 1")
        if role not in self.world.roles:
            raise ValueError(f"unknown role {role!r}; the world has {list(self.world.roles)}")
        missing = [r for r in self.world.roles if r != role and r not in others]
        if missing:
            raise ValueError(f"policies needed for the other roles: {missing}")
        self.role = role
        self.others = others
        spec = self.world.roles[role]
        self.observation_space = joint_observation_space(spec)
        self.action_space = joint_action_space(spec)
        self._obs: dict[str, torch.Tensor] = {}
        self._masks: dict[str, torch.Tensor] = {}

    def _view(self, obs: dict[str, torch.Tensor]) -> np.ndarray:
        value = obs[self.role][0].detach().cpu().numpy().astype(self.observation_space.dtype)
        return value[0] if self.world.roles[self.role].count == 1 else value

    def _info(self) -> dict:
        mask = self._masks.get(self.role)
        return {} if mask is None else {"action_mask": mask[0].cpu().numpy()}

    def _advance_others(self, reward: float):
        """Let the other roles act until the learning role acts or an episode ends."""
        while self.role not in self.world.acting_roles():
            actions = {r: self.others[r].act(self._obs[r], self._masks.get(r))
                       for r in self.world.acting_roles()}
            result = self.world.step(actions)
            reward += float(result.rewards[self.role][0].sum())
            self._obs, self._masks = result.obs, result.masks
            if bool(result.done[0]):
                return result, reward
        return None, reward

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start an episode; returns the learning role's first observation and info."""
        super().reset(seed=seed)
        self._obs = self.world.reset(seed=seed)
        self._masks = self.world.action_masks()
        for policy in self.others.values():
            policy.reset(seed)
        self._advance_others(0.0)
        return self._view(self._obs), self._info()

    def step(self, action):
        """Apply the learning role's action, then let the others act until its next turn."""
        spec = self.world.roles[self.role]
        shape = (1, spec.count, *spec.action_shape())
        tensor = torch.as_tensor(np.asarray(action), dtype=spec.action_dtype()).reshape(shape)
        actions = {self.role: tensor.to(self.world.device)}
        for name in self.world.acting_roles():
            if name != self.role:
                actions[name] = self.others[name].act(self._obs[name], self._masks.get(name))
        result = self.world.step(actions)
        self._obs, self._masks = result.obs, result.masks
        reward = float(result.rewards[self.role][0].sum())
        if not bool(result.done[0]):
            ended, reward = self._advance_others(reward)
            result = ended or result
        if bool(result.done[0]):
            obs = self._view(result.final_obs) if result.final_obs else self._view(self._obs)
            return obs, reward, bool(result.terminated[0]), bool(result.truncated[0]), {}
        return self._view(self._obs), reward, False, False, self._info()
