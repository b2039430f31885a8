"""Adaptive testing: re-fit the surrogates' mix as tests accumulate (Yang et al. 2024).

Several surrogate models of the AV each predict a maneuver's challenge. After every
controlled step the challenge each surrogate gave the drawn maneuver is kept; when the
test ends, its outcome (crash or not) becomes the target of those rows. Every
``refit_every`` finished tests the coefficients are re-fitted by the least squares

    min_c  sum_rows (challenges_row @ c - crash_row)^2   s.t.  c >= 0, sum(c) = 1

(the quadratic program of ``sandbox.optimize.combine_surrogates``, passed in as ``fit``
so that this world package does not import the optimizer layer above it). The mix
changes only between steps and depends only on finished tests, so the estimate stays
unbiased.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from sandbox.core.errors import check_range


class AdaptiveMix:
    """An ``on_step`` callback of :func:`run_campaign` that re-fits a NADE mix.

    Args:
        adversary: the :class:`~sandbox.worlds.traffic.testing.nade.NadeAdversary` whose
            coefficients are re-fitted.
        fit: ``fit(surrogate_challenge [n, S], target [n]) -> coefficients [S]``, e.g.
            ``sandbox.optimize.combine_surrogates``.
        refit_every: finished tests between re-fits.
        min_rows: labelled rows needed before the first fit.
    """

    def __init__(self, adversary, *, fit: Callable, refit_every: int = 2048,
                 min_rows: int = 64):
        check_range("refit_every", refit_every, low=1)
        check_range("min_rows", min_rows, low=1)
        self.adversary = adversary
        self.fit = fit
        self.refit_every = int(refit_every)
        self.min_rows = int(min_rows)
        self.history: list[dict] = []
        self._serial: torch.Tensor | None = None
        self._rows: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._outcomes: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._since_fit = 0

    def __call__(self, info: dict) -> None:
        """Record the step's controlled rows and finished tests; re-fit when due."""
        done = info["done"]
        if self._serial is None:
            self._serial = torch.zeros_like(done, dtype=torch.int64)
        key_scale = done.numel()
        controlled = info.get("controlled")
        if controlled is not None and bool(controlled.any()):
            envs = controlled.nonzero().squeeze(1)
            keys = self._serial[envs] * key_scale + envs
            self._rows.append((keys, info["surrogate_challenge"][envs]))
        if bool(done.any()):
            envs = done.nonzero().squeeze(1)
            keys = self._serial[envs] * key_scale + envs
            self._outcomes.append((keys, info["env_crash"][envs].to(torch.float64)))
            self._serial[envs] += 1
            self._since_fit += int(envs.numel())
        if self._since_fit >= self.refit_every:
            self._since_fit = 0
            self.refit()

    def labelled_rows(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(challenges [n, S], crash [n])`` of controlled steps whose test has ended."""
        if not self._rows or not self._outcomes:
            n = len(self.adversary.surrogates)
            return torch.zeros(0, n, dtype=torch.float64), torch.zeros(0, dtype=torch.float64)
        row_keys = torch.cat([k for k, _ in self._rows])
        features = torch.cat([f for _, f in self._rows])
        out_keys = torch.cat([k for k, _ in self._outcomes])
        outcome = torch.cat([o for _, o in self._outcomes])
        order = torch.argsort(out_keys)
        sorted_keys = out_keys[order]
        slot = torch.searchsorted(sorted_keys, row_keys).clamp(max=sorted_keys.numel() - 1)
        known = sorted_keys[slot] == row_keys
        return features[known], outcome[order][slot[known]]

    def refit(self) -> np.ndarray | None:
        """Fit the coefficients to the labelled rows and hand them to the adversary."""
        features, target = self.labelled_rows()
        if features.shape[0] < self.min_rows or float(target.sum()) == 0.0:
            return None
        coefficients = np.asarray(self.fit(features.cpu().numpy(), target.cpu().numpy()),
                                  dtype=np.float64)
        self.adversary.set_coefficients(coefficients)
        self.history.append({"rows": int(features.shape[0]), "crashes": float(target.sum()),
                             "coefficients": coefficients.tolist()})
        return coefficients
