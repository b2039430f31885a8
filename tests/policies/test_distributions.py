import math

import pytest
import torch

from sandbox.policies.distributions import (
    BetaBox,
    MaskedCategorical,
    MultiCategorical,
    SquashedGaussian,
    sample_gamma,
)


def gen(seed=0):
    g = torch.Generator()
    g.manual_seed(seed)
    return g


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_masked_categorical_never_samples_invalid_actions(seed):
    g = gen(seed)
    logits = torch.randn(64, 7, 9, generator=g) * 5
    mask = torch.rand(64, 7, 9, generator=g) < 0.4
    mask[..., 0] |= ~mask.any(-1)  # at least one valid action per agent
    dist = MaskedCategorical(logits, mask)
    for _ in range(20):
        action = dist.sample(g)
        assert mask.gather(-1, action.unsqueeze(-1)).all()
    assert mask.gather(-1, dist.mode().unsqueeze(-1)).all()


def test_masked_categorical_entropy_counts_valid_actions_only():
    mask = torch.tensor([[True, False, True, False, True], [True, True, False, False, False]])
    dist = MaskedCategorical(torch.zeros(2, 5), mask)
    assert torch.allclose(dist.entropy(), torch.tensor([math.log(3), math.log(2)]))
    # random logits: entropy equals that of the softmax over the valid subset
    logits = torch.randn(2, 5, generator=gen())
    dist = MaskedCategorical(logits, mask)
    for row in range(2):
        p = torch.softmax(logits[row][mask[row]], -1)
        assert torch.isclose(dist.entropy()[row], -(p * p.log()).sum(), atol=1e-6)
    assert torch.allclose(dist.probs.sum(-1), torch.ones(2))
    assert (dist.probs[~mask] == 0).all()


def test_masked_categorical_gradients_are_finite_with_masks():
    logits = torch.randn(4, 6, requires_grad=True)
    mask = torch.zeros(4, 6, dtype=torch.bool)
    mask[:, :2] = True
    dist = MaskedCategorical(logits, mask)
    (dist.entropy().sum() + dist.log_prob(torch.zeros(4, dtype=torch.long)).sum()).backward()
    assert torch.isfinite(logits.grad).all()
    assert (logits.grad[:, 2:] == 0).all()


def test_masked_categorical_sample_frequencies_match_probabilities():
    logits = torch.tensor([0.0, 1.0, 2.0, 3.0]).expand(20000, 4)
    mask = torch.tensor([True, True, False, True]).expand(20000, 4)
    dist = MaskedCategorical(logits, mask)
    counts = torch.bincount(dist.sample(gen(3)), minlength=4).float() / 20000
    assert torch.allclose(counts, dist.probs[0], atol=0.015)


def test_multi_categorical_block_masks_and_unequal_blocks():
    nvec = (3, 5, 2)
    g = gen(1)
    logits = torch.randn(50, 10, generator=g)
    mask = torch.rand(50, 10, generator=g) < 0.5
    starts = [0, 3, 8]
    for start, n in zip(starts, nvec):
        mask[:, start] |= ~mask[:, start:start + n].any(-1)
    dist = MultiCategorical(logits, mask, nvec)
    for _ in range(10):
        action = dist.sample(g)
        assert action.shape == (50, 3)
        for k, (start, n) in enumerate(zip(starts, nvec)):
            assert (action[:, k] < n).all()
            assert mask[torch.arange(50), start + action[:, k]].all()
    # joint entropy and log-prob are sums over components
    parts = [MaskedCategorical(logits[:, s:s + n], mask[:, s:s + n]) for s, n in zip(starts, nvec)]
    assert torch.allclose(dist.entropy(), sum(p.entropy() for p in parts), atol=1e-5)
    action = dist.sample(g)
    expected = sum(p.log_prob(action[:, k]) for k, p in enumerate(parts))
    assert torch.allclose(dist.log_prob(action), expected, atol=1e-5)


def test_multi_categorical_equal_blocks_matches_components():
    logits = torch.randn(8, 3 * 21, generator=gen(2))
    dist = MultiCategorical(logits, None, (21, 21, 21))
    uniform = MultiCategorical(torch.zeros(1, 63), None, (21, 21, 21))
    assert torch.isclose(uniform.entropy()[0], torch.tensor(3 * math.log(21)))
    assert dist.sample(gen()).shape == (8, 3)


def _integrate_1d(dist_factory, low, high, points=200001):
    grid = torch.linspace(low, high, points)[1:-1].unsqueeze(-1)
    density = dist_factory(len(grid)).log_prob(grid).exp()
    return torch.trapezoid(density, grid.squeeze(-1)).item()


def test_squashed_gaussian_stays_in_box_and_density_integrates_to_one():
    low, high = torch.tensor([-2.0]), torch.tensor([2.0])

    def make(n):
        return SquashedGaussian(torch.full((n, 1), 0.3), torch.tensor([-0.2]), low, high)

    samples = make(5000).sample(gen())
    assert ((samples > -2) & (samples < 2)).all()
    assert abs(_integrate_1d(make, -2.0, 2.0) - 1.0) < 1e-3


def test_beta_box_stays_in_box_density_and_moments():
    low, high = torch.tensor([0.0]), torch.tensor([4.0])

    def make(n):
        return BetaBox(torch.full((n, 1), 2.0), torch.full((n, 1), 3.0), low, high)

    samples = make(40000).sample(gen(5))
    assert ((samples >= 0) & (samples <= 4)).all()
    assert abs(samples.mean().item() - 4 * 2 / 5) < 0.03  # mean of Beta(2, 3) scaled by 4
    assert abs(_integrate_1d(make, 0.0, 4.0) - 1.0) < 1e-3
    assert torch.isclose(make(1).mode(), torch.tensor([[4 * 1 / 3]]))


def test_gamma_sampler_mean_and_variance():
    shape = torch.tensor([1.0, 2.5, 10.0]).repeat(30000, 1)
    draws = sample_gamma(shape, gen(7))
    assert torch.allclose(draws.mean(0), shape[0], rtol=0.03)
    assert torch.allclose(draws.var(0), shape[0], rtol=0.06)


def test_sampling_is_reproducible_from_the_generator():
    logits = torch.randn(10, 5, generator=gen())
    a = MaskedCategorical(logits).sample(gen(11))
    b = MaskedCategorical(logits).sample(gen(11))
    assert torch.equal(a, b)
    box = BetaBox(torch.full((10, 2), 1.5), torch.full((10, 2), 2.0), torch.zeros(2), torch.ones(2))
    assert torch.equal(box.sample(gen(4)), box.sample(gen(4)))
