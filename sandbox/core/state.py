"""Batched world state: a dataclass of tensors whose first dimension is the environment."""

from __future__ import annotations

import dataclasses

import torch


@dataclasses.dataclass
class TensorState:
    """Base class for a world's state: every field is a tensor ``[num_envs, ...]``.

    Subclasses are plain dataclasses; these helpers act on every field, so cloning,
    moving and partial resets are complete by construction.
    """

    def fields(self) -> dict[str, torch.Tensor]:
        """The state's tensors by field name."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def clone(self):
        """A deep copy (new storage for every tensor)."""
        return dataclasses.replace(self, **{k: v.clone() for k, v in self.fields().items()})

    def to(self, device: str | torch.device):
        """The same state on ``device``."""
        return dataclasses.replace(self, **{k: v.to(device) for k, v in self.fields().items()})

    def replace(self, **changes: torch.Tensor):
        """A copy with some fields replaced (the others shared, not copied)."""
        return dataclasses.replace(self, **changes)

    def where(self, env_mask: torch.Tensor, other):
        """Per environment, ``other``'s fields where ``env_mask`` is True, else this state's.

        Args:
            env_mask: ``[num_envs]`` bool.
            other: a state of the same class and shapes.
        """
        merged = {}
        for name, value in self.fields().items():
            mask = env_mask.view(-1, *([1] * (value.dim() - 1)))
            merged[name] = torch.where(mask, getattr(other, name), value)
        return dataclasses.replace(self, **merged)
