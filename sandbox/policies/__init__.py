"""Policies that serve every world: neural actor-critics, random, constant, checkpoints.

Registered in :data:`sandbox.core.registry.POLICIES` as ``factory(world, role, **params)``:

- ``"random"``: uniform over the valid actions (no parameters).
- ``"constant"``: a fixed action (``action``: int, or list for MultiDiscrete / Box).
- ``"checkpoint"``: a :class:`NeuralPolicy` loaded from ``path`` (a file written by
  :meth:`NeuralPolicy.save`); its spaces must fit the role.
"""

from __future__ import annotations

import os

from sandbox.core.errors import ConfigError
from sandbox.core.registry import POLICIES
from sandbox.core.roles import Role
from sandbox.policies.generic import ConstantPolicy, RandomPolicy
from sandbox.policies.networks import ActorCritic, NetworkConfig
from sandbox.policies.neural import Decision, NeuralPolicy

__all__ = ["ActorCritic", "ConstantPolicy", "Decision", "NetworkConfig", "NeuralPolicy",
           "RandomPolicy", "role_of"]


def role_of(world, role: str) -> Role:
    """The world's role called ``role``, or a ConfigError listing its roles."""
    roles = world.roles
    if role not in roles:
        raise ConfigError("role", role, f"one of the world's roles {sorted(roles)}")
    return roles[role]


def _no_params(name: str, role: str, params: dict) -> None:
    if params:
        raise ConfigError(f"policies.{role}.params", sorted(params), f"no parameters for {name!r}")


def random_policy(world, role: str, **params) -> RandomPolicy:
    """Factory of ``"random"``: uniform over the role's valid actions."""
    _no_params("random", role, params)
    return RandomPolicy(role_of(world, role), device=world.device)


def constant_policy(world, role: str, *, action=None, **params) -> ConstantPolicy:
    """Factory of ``"constant"``: every agent of the role takes ``action``."""
    _no_params("constant", role, params)
    if action is None:
        raise ConfigError(f"policies.{role}.action", None, "the fixed action to take")
    return ConstantPolicy(role_of(world, role), action=action, device=world.device)


def checkpoint_policy(world, role: str, *, path=None, **params) -> NeuralPolicy:
    """Factory of ``"checkpoint"``: a neural policy loaded from ``path``."""
    _no_params("checkpoint", role, params)
    if not isinstance(path, str | os.PathLike) or not str(path):
        raise ConfigError(f"policies.{role}.path", path, "the path of a policy checkpoint file")
    return NeuralPolicy.load(path, role=role_of(world, role), device=world.device)


POLICIES.register("random", random_policy)
POLICIES.register("constant", constant_policy)
POLICIES.register("checkpoint", checkpoint_policy)
