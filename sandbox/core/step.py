"""The result of one batched step of a world."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class StepResult:
    """What ``World.step`` returns, every tensor batched over environments.

    Attributes:
        obs: per role, ``[num_envs, count, obs_dim]`` float32: the next observation. For
            environments whose episode ended in this step it is already the first
            observation of the next episode (same-step autoreset).
        rewards: per role, ``[num_envs, count]`` float32 reward earned in this step.
        terminated: ``[num_envs]`` bool, the episode reached a terminal state.
        truncated: ``[num_envs]`` bool, the episode was cut by a time limit.
        masks: per role with masks, ``[num_envs, count, mask_size]`` bool for the next
            step (True = valid); roles without masks are absent.
        final_obs: per role, the last observation of the episode that ended (rows are
            meaningful only where ``done``).
        final_metrics: per metric name, ``[num_envs]`` float32 value of the episode that
            ended (NaN where no episode ended).
        final_state: the world state at the end of the step, before any reset (for
            per-agent series such as incomes); None if the world does not keep it.
        info: anything else a world reports, by name.
    """

    obs: dict[str, torch.Tensor]
    rewards: dict[str, torch.Tensor]
    terminated: torch.Tensor
    truncated: torch.Tensor
    masks: dict[str, torch.Tensor] = field(default_factory=dict)
    final_obs: dict[str, torch.Tensor] = field(default_factory=dict)
    final_metrics: dict[str, torch.Tensor] = field(default_factory=dict)
    final_state: object | None = None
    info: dict[str, object] = field(default_factory=dict)

    @property
    def done(self) -> torch.Tensor:
        """``[num_envs]`` bool: the episode ended (terminated or truncated)."""
        return self.terminated | self.truncated
