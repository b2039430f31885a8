"""The array functions of the sparse kernels, on NumPy views (CPU) or on torch.

A day at 1e5 residents is mostly small operations on a few thousand entries (the listed
residents, the day's hits): there torch's cost per call (several microseconds) outweighs
the work, and NumPy's (about one) does not. So on the CPU the sparse kernels
(``sampling.geometric_hits``, ``contacts.draw_hits`` and ``contacts.meet``) compute on
NumPy views of the tensors (no copies) and hand tensors back; on another device they run
the same code on torch. Random numbers always come from the world's ``torch.Generator``.
Each kernel is written once against :class:`Arrays`, with operators and indexing that
both libraries share.
"""

from __future__ import annotations

import numpy as np
import torch

from sandbox.worlds.population.groups import flat_indices


class Arrays:
    """NumPy-named array functions on NumPy (``use_numpy``) or torch.

    Args:
        device: the tensors' device.
        generator: the stream random numbers come from.
        use_numpy: compute on NumPy views (CPU tensors only).
        views: where :meth:`const` keeps the views of constant tensors (owned by the
            tables they belong to, so that they live as long as those).
    """

    def __init__(self, device: torch.device, generator: torch.Generator | None,
                 use_numpy: bool, views: dict | None = None):
        self.device, self.generator, self.numpy = device, generator, use_numpy
        self.views = {} if views is None else views

    @classmethod
    def on(cls, device: torch.device, generator: torch.Generator | None = None,
           use_numpy: bool | None = None, views: dict | None = None) -> Arrays:
        """NumPy on the CPU unless ``use_numpy`` says otherwise; torch elsewhere."""
        return cls(device, generator, device.type == "cpu" if use_numpy is None else use_numpy,
                   views)

    # ------------------------------------------------------------- conversions
    def array(self, x):
        """``x`` (a tensor, or already an array of this backend) as an array of it."""
        return x.numpy() if self.numpy and isinstance(x, torch.Tensor) else x

    def const(self, x: torch.Tensor):
        """:meth:`array` of a tensor that never changes, its view made once and kept."""
        if not self.numpy:
            return x
        kept = self.views.get(id(x))
        if kept is None or kept[0] is not x:
            kept = self.views[id(x)] = (x, x.numpy())  # the tensor pins its id
        return kept[1]

    def tensor(self, x) -> torch.Tensor:
        """A backend array as a tensor (no copy)."""
        return torch.from_numpy(x) if self.numpy else x

    def int64(self, x):
        """``x`` as int64."""
        return x.astype(np.int64) if self.numpy else x.long()

    def float64(self, x):
        """``x`` as float64."""
        return x.astype(np.float64) if self.numpy else x.double()

    # ------------------------------------------------------------- functions
    def rand(self, n: int, dtype=torch.float64):
        """``n`` uniforms in [0, 1) from the generator."""
        draw = torch.rand(n, generator=self.generator, dtype=dtype, device=self.device)
        return draw.numpy() if self.numpy else draw

    def log1p(self, x):
        """``log(1 + x)``."""
        return np.log1p(x) if self.numpy else torch.log1p(x)

    def expm1(self, x):
        """``exp(x) - 1``."""
        return np.expm1(x) if self.numpy else torch.expm1(x)

    def minimum(self, x, y):
        """Elementwise minimum."""
        return np.minimum(x, y) if self.numpy else torch.minimum(x, y)

    def repeat(self, counts, total: int):
        """Index ``s`` repeated ``counts[s]`` times (``total`` in all)."""
        if self.numpy:
            return np.repeat(np.arange(counts.shape[0]), counts)
        return torch.repeat_interleave(counts, output_size=total)

    def flatnonzero(self, mask):
        """Positions of the True entries of a flat bool array, ascending."""
        return np.flatnonzero(mask) if self.numpy else flat_indices(mask)

    def unique(self, x):
        """Distinct entries, ascending."""
        return np.unique(x) if self.numpy else torch.unique(x)

    def bincount(self, x, *, minlength: int, weights=None):
        """Occurrences (or summed ``weights``) of each non-negative integer of ``x``."""
        return np.bincount(x, weights, minlength) if self.numpy \
            else torch.bincount(x, weights, minlength)

    def astype(self, x, like):
        """``x`` in the dtype of ``like`` (an array of this backend)."""
        return x.astype(like.dtype) if self.numpy else x.to(like.dtype)

    def concatenate(self, parts):
        """Arrays joined along their first axis."""
        return np.concatenate(parts) if self.numpy else torch.cat(parts)

    def stack(self, parts, axis: int = 0):
        """Arrays stacked along a new ``axis``."""
        return np.stack(parts, axis) if self.numpy else torch.stack(parts, axis)

    def arange(self, n: int):
        """``0, 1, ..., n - 1``."""
        return np.arange(n) if self.numpy else torch.arange(n, device=self.device)

    def zeros(self, n: int):
        """``n`` int64 zeros."""
        return np.zeros(n, dtype=np.int64) if self.numpy \
            else torch.zeros(n, dtype=torch.int64, device=self.device)
