"""Device choice: ``"auto"`` picks CUDA when present, otherwise the CPU."""

from __future__ import annotations

import torch

from sandbox.core.errors import ConfigError


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn a device name into a ``torch.device``, failing clearly when it is unavailable.

    Args:
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or a ``torch.device``.
    """
    if isinstance(device, torch.device):
        name = str(device)
    else:
        name = str(device).strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(name)
    except RuntimeError as exc:
        raise ConfigError("device", device, "'auto', 'cpu', 'cuda' or 'cuda:N'") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", device, "'cpu' or 'auto': no CUDA device is available here")
    if resolved.type not in ("cpu", "cuda"):
        raise ConfigError("device", device, "'auto', 'cpu', 'cuda' or 'cuda:N'")
    return resolved
