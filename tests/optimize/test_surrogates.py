"""Surrogate combination for adaptive testing: a least-squares fit on the simplex."""

import numpy as np
import pytest
import torch

from sandbox.core.errors import ConfigError
from sandbox.optimize import LeastSquaresQP, combine_surrogates, fit_surrogate_combination
from sandbox.optimize.surrogates import SIMPLEX


def crash_probabilities(rng, n_states, n_surrogates, scale=1e-4):
    return scale * rng.uniform(0.0, 1.0, size=(n_states, n_surrogates))


@pytest.mark.parametrize("seed", range(4))
def test_an_exact_mixture_is_recovered(seed):
    rng = np.random.default_rng(seed)
    criticality = crash_probabilities(rng, 200, 4, scale=1e-7)   # tiny: scaling matters
    mix = rng.dirichlet(np.ones(4))
    coefficients = combine_surrogates(torch.tensor(criticality), torch.tensor(criticality @ mix))
    np.testing.assert_allclose(coefficients, mix, atol=1e-6)


@pytest.mark.parametrize("seed", range(4))
def test_coefficients_are_a_distribution_that_beats_every_vertex_and_the_uniform_mix(seed):
    rng = np.random.default_rng(seed)
    criticality = crash_probabilities(rng, 60, 5)
    target = crash_probabilities(rng, 60, 1)[:, 0]
    weights = rng.uniform(0.5, 2.0, 60)
    coefficients = combine_surrogates(criticality, target, weights)
    assert (coefficients >= 0).all() and coefficients.sum() == pytest.approx(1.0, abs=1e-12)

    def gap(c):
        return weights @ (criticality @ c - target) ** 2

    candidates = list(np.eye(5)) + [np.full(5, 0.2)]
    assert all(gap(coefficients) <= gap(c) * (1 + 1e-9) for c in candidates)


def test_zero_weight_states_are_ignored():
    rng = np.random.default_rng(5)
    criticality, target = crash_probabilities(rng, 30, 3), crash_probabilities(rng, 30, 1)[:, 0]
    weights = np.r_[np.ones(20), np.zeros(10)]
    with_zeros = combine_surrogates(criticality, target, weights)
    dropped = combine_surrogates(criticality[:20], target[:20])
    np.testing.assert_allclose(with_zeros, dropped, atol=1e-8)


def test_one_surrogate_gets_all_the_weight():
    np.testing.assert_allclose(combine_surrogates([[0.1], [0.3]], [5.0, 7.0]), [1.0])


def test_refits_as_states_accumulate_start_warm():
    rng = np.random.default_rng(6)
    problem = LeastSquaresQP()
    criticality = crash_probabilities(rng, 500, 3)
    target = criticality @ np.array([0.6, 0.4, 0.0]) + 1e-6 * rng.normal(size=500)
    first = fit_surrogate_combination(criticality[:100], target[:100], problem=problem)
    later = fit_surrogate_combination(criticality, target, problem=problem)
    assert not first.warm and later.warm
    np.testing.assert_allclose(later.x, combine_surrogates(criticality, target), atol=1e-9)
    assert 2 in later.active[SIMPLEX]        # the unused surrogate sits on its bound


@pytest.mark.parametrize("args, field", [
    ((np.ones(5), np.ones(5)), "surrogate_criticality"),
    ((np.ones((5, 0)), np.ones(5)), "surrogate_criticality"),
    ((np.ones((5, 2)), np.ones(4)), "target"),
    ((np.ones((5, 2)), np.ones((5, 1))), "target"),
    ((np.ones((5, 2)), np.ones(5), np.ones(3)), "weights"),
    ((np.ones((5, 2)), np.ones(5), -np.ones(5)), "weights"),
    ((np.full((5, 2), np.inf), np.ones(5)), "surrogate_criticality"),
])
def test_bad_shapes_name_the_argument(args, field):
    with pytest.raises(ConfigError) as caught:
        combine_surrogates(*args)
    assert caught.value.field == field
