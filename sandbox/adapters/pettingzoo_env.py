"""A PettingZoo ``ParallelEnv`` view of a one-environment world.

Every agent of every role is a PettingZoo agent named ``"<role>_<index>"`` (a role with
one agent is named by the role alone, e.g. ``"planner"``). All agents observe and send
an action at every step; the world reads only the acting roles' actions (others are
ignored), which is how Foundation's environments present turn-taking roles. Action
masks travel in ``infos[agent]["action_mask"]``. When the world's episode ends every
agent terminates (or truncates) together.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from pettingzoo.utils.env import ParallelEnv

from sandbox.core.world import World


class WorldParallelEnv(ParallelEnv):
    """PettingZoo parallel API over a world built by ``make_world`` (``num_envs == 1``)."""

    metadata = {"name": "sandbox_world", "render_modes": []}

    def __init__(self, make_world: Callable[[], World]):
        self.world = make_world()
        if self.world.num_envs != 1:
            raise ValueError("WorldParallelEnv needs a world with num_envs == 1")
        self._roles = dict(self.world.roles)  # the same space objects on every call
        self._slots: dict[str, tuple[str, int]] = {}
        for name, role in self._roles.items():
            for i in range(role.count):
                self._slots[name if role.count == 1 else f"{name}_{i}"] = (name, i)
        self.possible_agents = list(self._slots)
        self.agents: list[str] = []
        self._masks: dict[str, torch.Tensor] = {}

    def observation_space(self, agent: str):
        """One agent's observation space."""
        return self._roles[self._slots[agent][0]].observation_space

    def action_space(self, agent: str):
        """One agent's action space."""
        return self._roles[self._slots[agent][0]].action_space

    def _split(self, obs: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
        arrays = {r: o[0].detach().cpu().numpy() for r, o in obs.items()}
        return {a: arrays[r][i].astype(self.observation_space(a).dtype)
                for a, (r, i) in self._slots.items()}

    def _infos(self) -> dict[str, dict]:
        acting = self.world.acting_roles()
        infos = {}
        for agent, (role, i) in self._slots.items():
            info = {"acting": role in acting}
            if role in self._masks:
                info["action_mask"] = self._masks[role][0, i].cpu().numpy().astype(np.int8)
            infos[agent] = info
        return infos

    def reset(self, seed: int | None = None, options: dict | None = None):
        """Start an episode; returns ``(observations, infos)`` keyed by agent."""
        obs = self.world.reset(seed=seed)
        self._masks = self.world.action_masks()
        self.agents = list(self.possible_agents)
        return self._split(obs), self._infos()

    def _gather(self, actions: dict) -> dict[str, torch.Tensor]:
        batched = {}
        for name in self.world.acting_roles():
            role = self._roles[name]
            default = np.asarray(role.action_space.sample()) * 0
            values = []
            for i in range(role.count):
                agent = name if role.count == 1 else f"{name}_{i}"
                values.append(np.asarray(actions.get(agent, default)))
            stacked = torch.as_tensor(np.stack(values), dtype=role.action_dtype())
            batched[name] = stacked.reshape(1, role.count, *role.action_shape())
        return batched

    def step(self, actions: dict):
        """Advance one world step; returns PettingZoo's five dictionaries keyed by agent."""
        result = self.world.step(self._gather(actions))
        self._masks = result.masks
        rewards_by_role = {r: v[0].cpu().numpy() for r, v in result.rewards.items()}
        rewards = {a: float(rewards_by_role[r][i]) if r in rewards_by_role else 0.0
                   for a, (r, i) in self._slots.items()}
        done = bool(result.done[0])
        obs = self._split(result.final_obs if done else result.obs)
        terminated = {a: bool(result.terminated[0]) for a in self.agents}
        truncated = {a: bool(result.truncated[0]) and not terminated[a] for a in self.agents}
        infos = self._infos()
        if done:
            self.agents = []
        return obs, rewards, terminated, truncated, infos
