import pytest
import torch

from sandbox.core import ConfigError, derive_seed, make_generator
from tests.core.toy_world import CounterWorld


def test_episode_autoresets_in_the_same_step_and_keeps_final_metrics():
    world = CounterWorld(num_envs=4)
    world.reset(seed=1)
    ones = torch.ones(4, 2, dtype=torch.long)
    for _ in range(2):
        result = world.step({"workers": ones})
        assert not result.done.any()
        assert result.final_metrics == {}
    result = world.step({"workers": ones})
    assert result.done.all()
    assert torch.equal(result.final_metrics["total"], torch.full((4,), 6.0))
    assert torch.equal(result.final_obs["workers"][..., 0], torch.full((4, 2), 3.0))
    # the next observation is already the first one of a new episode
    assert torch.equal(result.obs["workers"][..., 0], torch.zeros(4, 2))
    assert result.masks["workers"].shape == (4, 2, 3)


def test_same_seed_same_stream_and_reset_without_seed_keeps_stream():
    a, b = CounterWorld(num_envs=3), CounterWorld(num_envs=3)
    a.reset(seed=7)
    b.reset(seed=7)
    assert torch.equal(a.state.noise, b.state.noise)
    first = a.state.noise.clone()
    a.reset()
    assert not torch.equal(a.state.noise, first)
    a.reset(seed=7)
    assert torch.equal(a.state.noise, first)


def test_wrong_action_shape_names_role_and_expected_shape():
    world = CounterWorld(num_envs=2)
    world.reset(seed=0)
    with pytest.raises(ValueError, match=r"workers.*expected \(2, 2\)"):
        world.step({"workers": torch.zeros(2, 3, dtype=torch.long)})
    with pytest.raises(ValueError, match="needs actions for role 'workers'"):
        world.step({})


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_num_envs_must_be_a_positive_integer(bad):
    with pytest.raises(ConfigError, match="num_envs"):
        CounterWorld(num_envs=bad)


def test_state_clone_is_deep_and_where_merges_per_env():
    world = CounterWorld(num_envs=3)
    world.reset(seed=0)
    state = world.state
    copy = state.clone()
    copy.total += 5
    assert torch.equal(state.total, torch.zeros(3))
    merged = state.where(torch.tensor([True, False, True]), copy)
    assert merged.total.tolist() == [5.0, 0.0, 5.0]


def test_derived_seeds_are_stable_and_distinct():
    assert derive_seed(0, "world") == derive_seed(0, "world")
    assert derive_seed(0, "world") != derive_seed(0, "policy")
    assert derive_seed(0, "world") != derive_seed(1, "world")
    g1, g2 = make_generator(3, "x"), make_generator(3, "x")
    assert torch.equal(torch.rand(5, generator=g1), torch.rand(5, generator=g2))
