"""Tiny worlds for solver tests: alternating roles, and a time limit."""

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from sandbox.core import MetricSpec, Role, TensorState, World

OBS = gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)


@dataclass(frozen=True)
class AlternatingParams:
    followers: int = 2


@dataclass
class AlternatingState(TensorState):
    phase: torch.Tensor
    lead: torch.Tensor


class AlternatingWorld(World):
    """Leader acts in phase 0, followers in phase 1; the episode ends after phase 1.

    Rewards: phase 0 -> leader 1, followers 5 (credited to nobody: no follower decision is
    open in a new episode); phase 1 -> leader 10 * its action, each follower its action.
    """

    Params = AlternatingParams
    metrics = (MetricSpec("lead", "leader's action"),)

    @property
    def roles(self):
        return {"leader": Role("leader", 1, OBS, gym.spaces.Discrete(2)),
                "followers": Role("followers", self.params.followers, OBS, gym.spaces.Discrete(3))}

    def acting_roles(self):
        phase = 0 if self.state is None else int(self.state.phase[0])
        return ("leader",) if phase == 0 else ("followers",)

    def _initial_state(self, num_envs):
        zeros = torch.zeros(num_envs, dtype=torch.int64, device=self.device)
        return AlternatingState(phase=zeros, lead=zeros.clone())

    def _step_state(self, state, actions):
        b, n = self.num_envs, self.params.followers
        if int(state.phase[0]) == 0:
            lead = actions["leader"][:, 0]
            rewards = {"leader": torch.ones(b, 1), "followers": torch.full((b, n), 5.0)}
            done = torch.zeros(b, dtype=torch.bool)
            return state.replace(phase=state.phase + 1, lead=lead), rewards, done, done.clone(), {}
        follow = actions["followers"].float()
        rewards = {"leader": 10.0 * state.lead.float().unsqueeze(-1), "followers": follow}
        done = torch.ones(b, dtype=torch.bool)
        return state.replace(phase=state.phase + 1), rewards, done, torch.zeros_like(done), {}

    def _observe(self, state):
        obs = torch.stack([state.phase.float(), state.lead.float()], -1)
        return {"leader": obs.unsqueeze(1),
                "followers": obs.unsqueeze(1).expand(-1, self.params.followers, -1)}

    def _episode_metrics(self, state):
        return {"lead": state.lead.float()}


@dataclass(frozen=True)
class LimitParams:
    limit: int = 3


@dataclass
class LimitState(TensorState):
    t: torch.Tensor


class TimeLimitWorld(World):
    """One agent earns 1 per step; episodes are truncated (not terminated) after ``limit``."""

    Params = LimitParams
    metrics = ()

    @property
    def roles(self):
        return {"agent": Role("agent", 1, OBS, gym.spaces.Discrete(2))}

    def _initial_state(self, num_envs):
        return LimitState(t=torch.zeros(num_envs, dtype=torch.int64))

    def _step_state(self, state, actions):
        t = state.t + 1
        truncated = t >= self.params.limit
        reward = torch.ones(self.num_envs, 1)
        return state.replace(t=t), {"agent": reward}, torch.zeros_like(truncated), truncated, {}

    def _observe(self, state):
        obs = torch.stack([state.t.float(), torch.ones_like(state.t, dtype=torch.float32)], -1)
        return {"agent": obs.unsqueeze(1)}

    def _episode_metrics(self, state):
        return {}
