"""Adaptive testing: re-fit the surrogates' mix as tests accumulate (Yang et al. 2024).

Several surrogate models of the AV each predict a maneuver's challenge: the crash
probability after the maneuver when traffic then drives naturalistically. After every
controlled step the challenge each surrogate gave the drawn maneuver is kept; when the
test ends, its outcome becomes the target of those rows. The rest of the test ran under
the proposal, not naturalistically, so by default (``target="naturalistic"``) a row's
target is the crash times the product of ``p/q`` over the test's later steps, an
unbiased estimate of that naturalistic crash probability; ``target="observed"`` takes
the bare crash (0 or 1), which over-rates maneuvers the proposal then drives further
towards a crash. Every ``refit_every`` finished tests the coefficients are re-fitted by
the least squares

    min_c  sum_rows (challenges_row @ c - target_row)^2   s.t.  c >= 0, sum(c) = 1

(the quadratic program of ``sandbox.optimize.combine_surrogates``, passed in as ``fit``
so that this world package does not import the optimizer layer above it). The mix
changes only between steps and depends only on finished tests, so the estimate stays
unbiased.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from sandbox.core.errors import ConfigError, check_range


class AdaptiveMix:
    """An ``on_step`` callback of :func:`run_campaign` that re-fits a NADE mix.

    Args:
        adversary: the :class:`~sandbox.worlds.traffic.testing.nade.NadeAdversary` whose
            coefficients are re-fitted.
        fit: ``fit(surrogate_challenge [n, S], target [n]) -> coefficients [S]``, e.g.
            ``sandbox.optimize.combine_surrogates``.
        refit_every: finished tests between re-fits.
        min_rows: labelled rows needed before the first fit.
        target: ``"naturalistic"`` (the crash weighted by the later steps' ``p/q``, from
            the campaign's ``log_ratio``) or ``"observed"`` (the bare crash).
    """

    TARGETS = ("naturalistic", "observed")

    def __init__(self, adversary, *, fit: Callable, refit_every: int = 2048,
                 min_rows: int = 64, target: str = "naturalistic"):
        check_range("refit_every", refit_every, low=1)
        check_range("min_rows", min_rows, low=1)
        if target not in self.TARGETS:
            raise ConfigError("target", target, f"one of {', '.join(self.TARGETS)}")
        self.target = target
        self.adversary = adversary
        self.fit = fit
        self.refit_every = int(refit_every)
        self.min_rows = int(min_rows)
        self.history: list[dict] = []
        self._serial: torch.Tensor | None = None
        self._log_weight: torch.Tensor | None = None  # per environment, this test so far
        self._rows: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._outcomes: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._since_fit = 0

    def __call__(self, info: dict) -> None:
        """Record the step's controlled rows and finished tests; re-fit when due."""
        done = info["done"]
        if self._serial is None:
            self._serial = torch.zeros_like(done, dtype=torch.int64)
            self._log_weight = torch.zeros_like(done, dtype=torch.float64)
        if info.get("log_ratio") is not None and self.target == "naturalistic":
            self._log_weight += info["log_ratio"]
        key_scale = done.numel()
        controlled = info.get("controlled")
        if controlled is not None and bool(controlled.any()):
            envs = controlled.nonzero().squeeze(1)
            keys = self._serial[envs] * key_scale + envs
            # the log weight up to this maneuver, its own p/q included
            self._rows.append((keys, info["surrogate_challenge"][envs],
                               self._log_weight[envs].clone()))
        if bool(done.any()):
            envs = done.nonzero().squeeze(1)
            keys = self._serial[envs] * key_scale + envs
            self._outcomes.append((keys, info["env_crash"][envs].to(torch.float64),
                                   self._log_weight[envs].clone()))
            self._log_weight[envs] = 0.0
            self._serial[envs] += 1
            self._since_fit += int(envs.numel())
        if self._since_fit >= self.refit_every:
            self._since_fit = 0
            self.refit()

    def labelled_rows(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(challenges [n, S], target [n])`` of controlled steps whose test has ended."""
        if not self._rows or not self._outcomes:
            n = len(self.adversary.surrogates)
            return torch.zeros(0, n, dtype=torch.float64), torch.zeros(0, dtype=torch.float64)
        row_keys, features, row_log_weight = (torch.cat(part) for part in zip(*self._rows))
        out_keys, outcome, end_log_weight = (torch.cat(part) for part in zip(*self._outcomes))
        order = torch.argsort(out_keys)
        sorted_keys = out_keys[order]
        slot = torch.searchsorted(sorted_keys, row_keys).clamp(max=sorted_keys.numel() - 1)
        known = sorted_keys[slot] == row_keys
        test = order[slot[known]]
        later = (end_log_weight[test] - row_log_weight[known]).exp()  # p/q after the row
        return features[known], outcome[test] * later

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
