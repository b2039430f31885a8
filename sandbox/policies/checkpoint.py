"""Checkpoint files: torch state dicts plus JSON metadata, written atomically.

A checkpoint is one file written by ``torch.save`` holding only plain data: a format
tag, a JSON string of metadata and a dict of tensors. It is read with
``torch.load(weights_only=True)``, so nothing is unpickled from a user's file. Writes go
to a temporary file in the same folder which is then renamed over the target, so a
crash mid-write never leaves a half-written checkpoint under the real name.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from sandbox.core.errors import CheckpointError


def atomic_torch_save(payload: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``payload`` with ``torch.save`` to ``path`` atomically (temp file + rename).

    Args:
        payload: plain data (tensors, numbers, strings, lists and dicts of them).
        path: target file; its folder is created when missing.

    Returns:
        The target path.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                         dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            torch.save(payload, stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def read_torch_file(path: str | os.PathLike, *, kind: str, device="cpu") -> dict[str, Any]:
    """Load a file written by :func:`atomic_torch_save`, with ``weights_only=True``.

    Args:
        path: the file.
        kind: the expected ``"format"`` tag, e.g. ``"sandbox.neural_policy"``.
        device: where tensors are mapped.

    Raises:
        CheckpointError: the file is missing, unreadable, truncated, or of another kind.
    """
    source = Path(path)
    if not source.is_file():
        raise CheckpointError(f"checkpoint {str(source)!r} does not exist")
    try:
        payload = torch.load(source, map_location=device, weights_only=True)
    except Exception as exc:  # torch raises several types for damaged files
        raise CheckpointError(
            f"checkpoint {str(source)!r} is corrupt or truncated and cannot be read "
            f"({type(exc).__name__}); restore it from an earlier copy or train again"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != kind:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(
            f"checkpoint {str(source)!r} is not a {kind} file (its format is {found!r})"
        )
    return payload


def _numbers(values: np.ndarray) -> list:
    """Array to nested lists with non-finite numbers as strings (strict JSON)."""
    return [v if np.isfinite(v) else str(v) for v in values.astype(np.float64).ravel().tolist()]


def space_to_json(space: gym.spaces.Space) -> dict[str, Any]:
    """A JSON-serialisable description of a ``Discrete``, ``MultiDiscrete`` or ``Box``."""
    if isinstance(space, gym.spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, gym.spaces.MultiDiscrete):
        return {"type": "MultiDiscrete", "nvec": [int(n) for n in space.nvec.ravel()],
                "shape": list(space.nvec.shape)}
    if isinstance(space, gym.spaces.Box):
        return {"type": "Box", "shape": list(space.shape), "dtype": str(space.dtype),
                "low": _numbers(space.low), "high": _numbers(space.high)}
    raise CheckpointError(f"cannot describe space {space!r}: only Discrete, MultiDiscrete, Box")


def space_from_json(data: dict[str, Any]) -> gym.spaces.Space:
    """The space described by :func:`space_to_json` output."""
    try:
        kind = data["type"]
        if kind == "Discrete":
            return gym.spaces.Discrete(int(data["n"]), start=int(data["start"]))
        if kind == "MultiDiscrete":
            return gym.spaces.MultiDiscrete(np.array(data["nvec"]).reshape(data["shape"]))
        if kind == "Box":
            shape, dtype = tuple(data["shape"]), np.dtype(data["dtype"])
            low = np.array([float(v) for v in data["low"]], dtype=dtype).reshape(shape)
            high = np.array([float(v) for v in data["high"]], dtype=dtype).reshape(shape)
            return gym.spaces.Box(low, high, shape, dtype=dtype)
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint metadata has a malformed space {data!r}") from exc
    raise CheckpointError(f"checkpoint metadata has an unknown space type {data.get('type')!r}")


def encode_metadata(metadata: dict[str, Any]) -> str:
    """Metadata as a strict JSON string (no NaN or infinity)."""
    return json.dumps(metadata, sort_keys=True, allow_nan=False)


def decode_metadata(text: Any, *, path: str | os.PathLike) -> dict[str, Any]:
    """Metadata dict from the JSON string stored in a checkpoint."""
    try:
        metadata = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {str(path)!r} has unreadable metadata") from exc
    if not isinstance(metadata, dict):
        raise CheckpointError(f"checkpoint {str(path)!r} has unreadable metadata")
    return metadata
