"""Seeding: one integer seed per run, child streams derived from it by name.

Library code never touches global random state. A run's seed is split into named child
seeds (``"world"``, ``"policy/workers"``, ``"solver"``) with a hash, so adding a new
consumer of randomness does not shift the streams of the others.
"""

from __future__ import annotations

import hashlib

import torch

_MASK_63 = (1 << 63) - 1


def derive_seed(seed: int, name: str) -> int:
    """Child seed for the stream ``name`` of a run seeded with ``seed``.

    Args:
        seed: the run's integer seed (any Python int).
        name: the consumer's name, e.g. ``"world"`` or ``"policy/planner"``.

    Returns:
        A non-negative 63-bit integer, the same on every platform and Python version.
    """
    digest = hashlib.blake2b(f"{int(seed)}/{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & _MASK_63


def make_generator(seed: int, name: str | None = None, device: str | torch.device = "cpu"):
    """A ``torch.Generator`` on ``device`` seeded from ``seed`` (and ``name`` if given).

    Args:
        seed: the run's integer seed.
        name: optional stream name; when given the seed is first passed through
            :func:`derive_seed`.
        device: the device the generator draws on (it must match the tensors it fills).
    """
    value = derive_seed(seed, name) if name is not None else int(seed) & _MASK_63
    generator = torch.Generator(device=torch.device(device))
    generator.manual_seed(value)
    return generator
