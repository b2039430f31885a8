"""The Policy contract: one role's batched decision rule.

Analytic, optimized and learned policies share it, so any role can be driven by any
policy whose spaces fit. Policies that draw random numbers own a ``torch.Generator``
seeded through :meth:`Policy.reset`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch

from sandbox.core.roles import Role
from sandbox.core.seeding import make_generator


class Policy(ABC):
    """Base class of every policy.

    Args:
        role: the role this policy drives (its spaces define the actions).
        device: device of the tensors it receives and returns.
    """

    #: Registry name of the policy (set by subclasses).
    name: str = "policy"

    def __init__(self, role: Role, *, device: str | torch.device = "cpu"):
        self.role = role
        self.device = torch.device(device)
        self.generator = make_generator(0, "policy", device=self.device)

    def reset(self, seed: int | None = None) -> None:
        """Restart the policy's random stream (and any episode memory) from ``seed``."""
        if seed is not None:
            self.generator = make_generator(seed, device=self.device)

    @abstractmethod
    def act(
        self,
        obs: torch.Tensor,
        mask: torch.Tensor | None = None,
        deterministic: bool = False,
    ) -> torch.Tensor:
        """Actions for every agent of the role in every environment.

        Args:
            obs: ``[num_envs, count, obs_dim]`` float32.
            mask: ``[num_envs, count, mask_size]`` bool (True = valid), or None.
            deterministic: take the most likely action instead of sampling.

        Returns:
            ``[num_envs, count, *action_shape]`` actions of the role's dtype.
        """

    def describe(self) -> dict:
        """Parameters worth recording beside results (JSON-serialisable)."""
        return {"policy": self.name}
