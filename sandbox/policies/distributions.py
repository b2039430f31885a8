"""Action distributions for neural policies, sampled from explicit ``torch.Generator`` s.

``torch.distributions`` draws from the global random stream, which the sandbox never
uses; these classes draw every random number from a generator passed to ``sample``.
All of them share one small interface: ``sample(generator)``, ``mode()``,
``log_prob(action)`` and ``entropy()``, each batched over any leading dimensions.

- :class:`MaskedCategorical`: one discrete choice among ``n``; invalid actions get a
  logit of ``finfo.min`` so their probability is exactly 0, they are never sampled, and
  the entropy counts valid actions only (uniform logits over 3 valid of 5 actions give
  ``log 3``).
- :class:`MultiCategorical`: one sub-action per component (e.g. one rate per tax
  bracket) with the block masks of :mod:`sandbox.core.roles`; log-probabilities and
  entropies add up over components.
- :class:`SquashedGaussian`: a Gaussian pushed through ``tanh`` and rescaled to the
  box ``[low, high]`` (log-probability with the change-of-variables term).
- :class:`BetaBox`: a Beta distribution rescaled to ``[low, high]``; Gamma variates by
  Marsaglia and Tsang's method (ACM TOMS 26(3), 2000).
"""

from __future__ import annotations

import math

import torch

#: Keeps squashed actions strictly inside the box so ``atanh`` and ``log`` stay finite.
BOUNDARY_EPS = 1e-6


def _gumbel(shape: torch.Size, generator: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    """Standard Gumbel noise ``-log(-log U)``, shape ``shape``, dtype/device of ``like``."""
    uniform = torch.rand(shape, generator=generator, dtype=like.dtype, device=like.device)
    tiny = torch.finfo(like.dtype).tiny
    return -torch.log(-torch.log(uniform.clamp_min(tiny)))


class MaskedCategorical:
    """Categorical over the last dimension with optional validity masks.

    Args:
        logits: ``[..., n]`` float unnormalised log-probabilities.
        mask: ``[..., n]`` bool, True = valid, or None (all valid). Every row must have
            at least one valid action.
    """

    def __init__(self, logits: torch.Tensor, mask: torch.Tensor | None = None):
        if mask is not None:
            logits = logits.masked_fill(~mask, torch.finfo(logits.dtype).min)
        self.mask = mask
        self.log_probs = torch.log_softmax(logits, dim=-1)

    @property
    def probs(self) -> torch.Tensor:
        """``[..., n]`` probabilities (exactly 0 for invalid actions)."""
        return self.log_probs.exp()

    def sample(self, generator: torch.Generator) -> torch.Tensor:
        """``[...]`` int64 actions by the Gumbel-max trick (never an invalid one)."""
        scores = self.log_probs + _gumbel(self.log_probs.shape, generator, self.log_probs)
        if self.mask is not None:
            scores = scores.masked_fill(~self.mask, float("-inf"))
        return scores.argmax(-1)

    def mode(self) -> torch.Tensor:
        """``[...]`` int64 most likely valid actions."""
        return self.log_probs.argmax(-1)

    def log_prob(self, action: torch.Tensor) -> torch.Tensor:
        """``[...]`` log-probability of ``action`` (``[...]`` int64)."""
        return self.log_probs.gather(-1, action.long().unsqueeze(-1)).squeeze(-1)

    def entropy(self) -> torch.Tensor:
        """``[...]`` entropy in nats over the valid actions."""
        terms = self.probs * self.log_probs  # 0 * finfo.min == 0 for invalid actions
        return -terms.sum(-1)


class MultiCategorical:
    """Independent categoricals, one per component, from one flat logit vector.

    Args:
        logits: ``[..., sum(nvec)]`` float, the components' logits one block after the other.
        mask: ``[..., sum(nvec)]`` bool block masks (True = valid), or None.
        nvec: choices per component, e.g. ``(21, 21, 21)``.
    """

    def __init__(self, logits: torch.Tensor, mask: torch.Tensor | None, nvec: tuple[int, ...]):
        widest = max(nvec)
        lead = logits.shape[:-1]
        if all(n == widest for n in nvec):
            padded = logits.reshape(*lead, len(nvec), widest)
            full_mask = None if mask is None else mask.reshape(*lead, len(nvec), widest)
        else:
            # Pad every block to the widest one; padding entries are never valid.
            layout = torch.arange(widest, device=logits.device) < torch.as_tensor(
                nvec, device=logits.device
            ).unsqueeze(-1)
            padded = logits.new_zeros(*lead, len(nvec), widest)
            padded[..., layout] = logits
            full_mask = layout.expand(*lead, len(nvec), widest).clone()
            if mask is not None:
                full_mask[..., layout] = mask
        self.components = MaskedCategorical(padded, full_mask)

    def sample(self, generator: torch.Generator) -> torch.Tensor:
        """``[..., K]`` int64 sub-actions."""
        return self.components.sample(generator)

    def mode(self) -> torch.Tensor:
        """``[..., K]`` int64 most likely sub-actions."""
        return self.components.mode()

    def log_prob(self, action: torch.Tensor) -> torch.Tensor:
        """``[...]`` joint log-probability of ``action`` (``[..., K]`` int64)."""
        return self.components.log_prob(action).sum(-1)

    def entropy(self) -> torch.Tensor:
        """``[...]`` joint entropy (sum over components, valid sub-actions only)."""
        return self.components.entropy().sum(-1)


class SquashedGaussian:
    """Diagonal Gaussian squashed by ``tanh`` into the box ``[low, high]``.

    Args:
        mean: ``[..., d]`` float, mean before squashing.
        log_std: ``[..., d]`` or ``[d]`` float, log standard deviation before squashing.
        low: ``[d]`` float lower bounds of the box.
        high: ``[d]`` float upper bounds of the box.
    """

    def __init__(self, mean, log_std, low: torch.Tensor, high: torch.Tensor):
        self.mean = mean
        self.log_std = log_std.expand_as(mean)
        self.low = low
        self.half_width = (high - low) / 2

    def _to_box(self, squashed: torch.Tensor) -> torch.Tensor:
        return self.low + (squashed + 1) * self.half_width

    def sample(self, generator: torch.Generator) -> torch.Tensor:
        """``[..., d]`` float actions inside the box."""
        noise = torch.randn(
            self.mean.shape, generator=generator, dtype=self.mean.dtype, device=self.mean.device
        )
        squashed = torch.tanh(self.mean + self.log_std.exp() * noise)
        return self._to_box(squashed.clamp(-1 + BOUNDARY_EPS, 1 - BOUNDARY_EPS))

    def mode(self) -> torch.Tensor:
        """``[..., d]`` the squashed mean."""
        return self._to_box(torch.tanh(self.mean))

    def log_prob(self, action: torch.Tensor) -> torch.Tensor:
        """``[...]`` log-density of ``action`` (``[..., d]``) in the box's units."""
        squashed = ((action - self.low) / self.half_width - 1).clamp(
            -1 + BOUNDARY_EPS, 1 - BOUNDARY_EPS
        )
        pre = torch.atanh(squashed)
        z = (pre - self.mean) / self.log_std.exp()
        gaussian = -0.5 * z.pow(2) - self.log_std - 0.5 * math.log(2 * math.pi)
        jacobian = torch.log1p(-squashed.pow(2)) + torch.log(self.half_width)
        return (gaussian - jacobian).sum(-1)

    def entropy(self) -> torch.Tensor:
        """``[...]`` entropy of the Gaussian before squashing.

        The squashed distribution has no closed-form entropy; the pre-squash entropy is
        the usual stand-in for the entropy bonus (it rises and falls with the spread).
        """
        return (self.log_std + 0.5 * (1 + math.log(2 * math.pi))).sum(-1)


def sample_gamma(concentration: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Gamma(concentration, 1) variates for concentrations >= 1 (Marsaglia-Tsang).

    Args:
        concentration: ``[...]`` float, every entry >= 1.
        generator: the random stream.

    Returns:
        ``[...]`` positive float variates. Each round accepts over 95% of the candidates;
        rounds repeat until all are accepted.
    """
    d = concentration - 1.0 / 3.0
    c = 1.0 / torch.sqrt(9.0 * d)
    result = torch.zeros_like(concentration)
    pending = torch.ones_like(concentration, dtype=torch.bool)
    kwargs = {"generator": generator, "dtype": d.dtype, "device": d.device}
    while bool(pending.any()):
        x = torch.randn(d.shape, **kwargs)
        u = torch.rand(d.shape, **kwargs).clamp_min(torch.finfo(d.dtype).tiny)
        v = (1 + c * x).pow(3)
        safe_v = v.clamp_min(torch.finfo(d.dtype).tiny)
        accept = (v > 0) & (torch.log(u) < 0.5 * x * x + d - d * safe_v + d * torch.log(safe_v))
        take = accept & pending
        result = torch.where(take, d * safe_v, result)
        pending = pending & ~accept
    return result


class BetaBox:
    """Beta distribution rescaled to the box ``[low, high]``, per dimension.

    Args:
        alpha: ``[..., d]`` float concentrations >= 1 (unimodal).
        beta: ``[..., d]`` float concentrations >= 1.
        low: ``[d]`` float lower bounds of the box.
        high: ``[d]`` float upper bounds of the box.
    """

    def __init__(self, alpha, beta, low: torch.Tensor, high: torch.Tensor):
        self.alpha = alpha
        self.beta = beta
        self.low = low
        self.width = high - low
        self._dist = torch.distributions.Beta(alpha, beta, validate_args=False)

    def sample(self, generator: torch.Generator) -> torch.Tensor:
        """``[..., d]`` float actions inside the box."""
        a = sample_gamma(self.alpha, generator)
        b = sample_gamma(self.beta, generator)
        unit = (a / (a + b)).clamp(BOUNDARY_EPS, 1 - BOUNDARY_EPS)
        return self.low + unit * self.width

    def mode(self) -> torch.Tensor:
        """``[..., d]`` the mode ``(alpha-1)/(alpha+beta-2)`` (the middle when both are 1)."""
        spread = self.alpha + self.beta - 2
        unit = torch.where(spread > 0, (self.alpha - 1) / spread.clamp_min(1e-12), 0.5)
        return self.low + unit * self.width

    def log_prob(self, action: torch.Tensor) -> torch.Tensor:
        """``[...]`` log-density of ``action`` (``[..., d]``) in the box's units."""
        unit = ((action - self.low) / self.width).clamp(BOUNDARY_EPS, 1 - BOUNDARY_EPS)
        return (self._dist.log_prob(unit) - torch.log(self.width)).sum(-1)

    def entropy(self) -> torch.Tensor:
        """``[...]`` differential entropy in the box's units."""
        return (self._dist.entropy() + torch.log(self.width)).sum(-1)
