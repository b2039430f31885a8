"""Registers the toy counter world and a constant policy for scenario and CLI tests."""

import torch

from sandbox.core import POLICIES, WORLDS, ConfigError, Policy
from tests.core.toy_world import CounterWorld


class ConstantAction(Policy):
    name = "toy_constant"

    def __init__(self, role, *, value: int = 1):
        super().__init__(role)
        if value not in (0, 1):
            raise ConfigError("value", value, "0 or 1")
        self.value = value

    def act(self, obs, mask=None, deterministic=False):
        return torch.full(obs.shape[:2], self.value, dtype=torch.long)


if "toy_counter" not in WORLDS:
    WORLDS.register("toy_counter", CounterWorld)
    POLICIES.register(
        "toy_constant", lambda world, role, **kw: ConstantAction(world.roles[role], **kw)
    )
