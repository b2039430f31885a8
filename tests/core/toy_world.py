"""A tiny world for contract tests: a counter that ends after ``horizon`` steps."""

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from sandbox.core import MetricSpec, Role, TensorState, World


@dataclass(frozen=True)
class CounterParams:
    horizon: int = 3
    count: int = 2


@dataclass
class CounterState(TensorState):
    t: torch.Tensor
    total: torch.Tensor
    noise: torch.Tensor


class CounterWorld(World):
    """Workers add their action to a running total; episodes last ``horizon`` steps."""

    Params = CounterParams
    metrics = (MetricSpec("total", "sum of actions over the episode"),)

    @property
    def roles(self):
        box = gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)
        return {"workers": Role("workers", self.params.count, box, gym.spaces.Discrete(3), True)}

    def _initial_state(self, num_envs):
        noise = torch.rand(num_envs, generator=self.generator, device=self.device)
        zeros = torch.zeros(num_envs, device=self.device)
        return CounterState(t=zeros.long(), total=zeros, noise=noise)

    def _step_state(self, state, actions):
        total = state.total + actions["workers"].float().sum(-1)
        t = state.t + 1
        reward = actions["workers"].float()
        terminated = t >= self.params.horizon
        new = state.replace(t=t, total=total)
        return new, {"workers": reward}, terminated, torch.zeros_like(terminated), {}

    def _observe(self, state):
        obs = torch.stack([state.t.float(), state.total], -1)
        return {"workers": obs.unsqueeze(1).expand(-1, self.params.count, -1)}

    def _action_masks(self, state):
        mask = torch.ones(self.num_envs, self.params.count, 3, dtype=torch.bool)
        mask[..., 2] = False
        return {"workers": mask}

    def _episode_metrics(self, state):
        return {"total": state.total}
