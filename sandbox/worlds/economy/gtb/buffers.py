"""Output tensors reused once nobody holds them any more.

A batch of observations is megabytes; allocating it afresh every step makes the
operating system map and zero new pages each time (the previous step's observation is
usually still alive, so the allocator cannot hand its memory back). A
:class:`BufferPool` keeps a few output tensors and hands one out again only when no
other reference to it or its storage exists: no tensor, view, numpy array or container
outside the pool. Results are therefore never shared with anything a caller kept.
Without the (private) storage use count of this torch version, the pool always
allocates afresh.
"""

from __future__ import annotations

import sys

import torch

_use_count = getattr(torch._C, "_storage_Use_Count", None)


def _references(buffer: torch.Tensor) -> tuple[int, int]:
    """(Python references, storage users) of ``buffer`` as seen from :meth:`BufferPool.take`."""
    return sys.getrefcount(buffer), _use_count(buffer.untyped_storage()._cdata)


def _free_baseline() -> tuple[int, int] | None:
    """The counts of a buffer that only the pool holds, measured on a probe pool."""
    if _use_count is None:
        return None
    probe = [torch.empty(1)]
    for buffer in probe:
        return _references(buffer)
    return None


class BufferPool:
    """At most ``size`` reusable output tensors.

    Args:
        size: buffers kept; when all are in use, :meth:`take` allocates a fresh tensor.
    """

    _baseline = _free_baseline()

    def __init__(self, size: int = 4):
        self.size = size
        self.buffers: list[torch.Tensor] = []

    def take(self, shape: tuple[int, ...], *, dtype=torch.float32, device="cpu") -> torch.Tensor:
        """An uninitialised tensor of ``shape`` that nothing outside the pool references."""
        shape = tuple(shape)
        device = torch.device(device)
        if self._baseline is not None:
            for buffer in self.buffers:
                if (buffer.shape == shape and buffer.dtype == dtype
                        and buffer.device == device and _references(buffer) == self._baseline):
                    return buffer
        fresh = torch.empty(shape, dtype=dtype, device=device)
        if self._baseline is not None:
            if len(self.buffers) >= self.size:
                self.buffers.pop(0)
            self.buffers.append(fresh)
        return fresh

    def copy_of(self, tensor: torch.Tensor) -> torch.Tensor:
        """A copy of ``tensor`` in a buffer that nothing outside the pool references.

        For state maps that a step changes in place (``dynamics.advance``): the copy
        goes into memory the pool already holds instead of a fresh allocation.
        """
        return self.take(tensor.shape, dtype=tensor.dtype, device=tensor.device).copy_(tensor)
