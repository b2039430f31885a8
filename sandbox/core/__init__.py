"""Contracts every layer shares: worlds, roles, policies, step results, seeding, registry."""

from sandbox.core.device import resolve_device
from sandbox.core.errors import CheckpointError, ConfigError, SandboxError, check_range
from sandbox.core.metrics import MetricSpec
from sandbox.core.policy import Policy
from sandbox.core.registry import POLICIES, SOLVERS, WORLDS, Registry, load_builtin
from sandbox.core.roles import Role, action_mask_size, spaces_match
from sandbox.core.seeding import derive_seed, make_generator
from sandbox.core.state import TensorState
from sandbox.core.step import StepResult
from sandbox.core.world import World

__all__ = [
    "POLICIES", "SOLVERS", "WORLDS", "CheckpointError", "ConfigError", "MetricSpec",
    "Policy", "Registry", "Role", "SandboxError", "StepResult", "TensorState", "World",
    "action_mask_size", "check_range", "derive_seed", "load_builtin", "make_generator",
    "resolve_device", "spaces_match",
]
