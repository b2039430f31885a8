"""Solvers that serve every world: PPO and two-level planner/worker co-adaptation.

Registered in :data:`sandbox.core.registry.SOLVERS` by name: ``"ppo"``
(:class:`~sandbox.solvers.ppo.PPO`, one role of any world) and ``"two_level"``
(:class:`~sandbox.solvers.two_level.TwoLevel`, a planner and its workers co-adapting).
"""

from __future__ import annotations

from sandbox.core.registry import SOLVERS
from sandbox.solvers.ppo import PPO, PPOConfig, compute_gae
from sandbox.solvers.rollout import RoleBatch, RolloutCollector
from sandbox.solvers.schedules import Anneal
from sandbox.solvers.two_level import TrainingError, TwoLevel, TwoLevelConfig

__all__ = ["PPO", "Anneal", "PPOConfig", "RoleBatch", "RolloutCollector", "TrainingError",
           "TwoLevel", "TwoLevelConfig", "compute_gae"]

SOLVERS.register("ppo", PPO)
SOLVERS.register("two_level", TwoLevel)
