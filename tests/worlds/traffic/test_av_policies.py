"""The AV under test: IDM + MOBIL with a reaction delay, and a fleet of variants."""

import pytest
import torch

from sandbox.core import POLICIES, ConfigError
from sandbox.worlds.traffic import (
    FleetPolicy,
    HighwayParams,
    HighwayWorld,
    IdmMobilPolicy,
    NaturalisticPolicy,
)
from sandbox.worlds.traffic.observation import feature

SMALL = HighwayParams(n_background=14, road_length=500.0, av_start=100.0, av_end=300.0)


def rollout(world, av, steps, *, seed=0):
    """Observations of the AV and the AV's actions over ``steps`` steps."""
    obs = world.reset(seed=seed)
    nat = NaturalisticPolicy(world)
    nat.reset(seed)
    av.reset(seed)
    seen, acted = [], []
    for _ in range(steps):
        action = av.act(obs["av"])
        seen.append(obs["av"])
        acted.append(action)
        obs = world.step({"av": action, "background": nat.act(obs["background"])}).obs
    return seen, acted


def test_a_delayed_av_applies_the_previous_decision_and_starts_each_test_fresh():
    world = HighwayWorld(SMALL, num_envs=6, seed=3)
    late = IdmMobilPolicy(world, reaction_delay=1)
    prompt = IdmMobilPolicy(world)
    seen, acted = rollout(world, late, 20)
    decided = [prompt.act(obs) for obs in seen]
    starts = torch.stack([obs[:, 0, feature("time")] == 0 for obs in seen])
    assert int(starts[1:].sum()) > 0, "no test restarted: the check below would be empty"
    for t in range(len(seen)):
        expected = decided[t] if t == 0 else torch.where(
            starts[t].view(-1, 1, 1), decided[t], decided[t - 1])
        torch.testing.assert_close(acted[t], expected)
    # it does lag: some steps' applied and freshly decided accelerations differ
    assert any(not torch.allclose(a, d) for a, d in zip(acted[1:], decided[1:]))


def test_a_reset_forgets_decisions_not_yet_applied():
    world = HighwayWorld(SMALL, num_envs=2, seed=0)
    late = IdmMobilPolicy(world, reaction_delay=2)
    first = rollout(world, late, 5, seed=1)[1]
    again = rollout(world, late, 5, seed=1)[1]
    for a, b in zip(first, again):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("value", [-1, 1.5, True, "1"])
def test_reaction_delay_must_be_a_whole_number_of_steps(value):
    world = HighwayWorld(SMALL, num_envs=1, seed=0)
    with pytest.raises(ConfigError, match="reaction_delay"):
        IdmMobilPolicy(world, reaction_delay=value)


SLOW, FAST = {"desired_speed": 20.0}, {"desired_speed": 40.0}


def test_each_test_drives_one_variant_from_start_to_end():
    world = HighwayWorld(SMALL, num_envs=64, seed=2)
    fleet = FleetPolicy(world, variants=[SLOW, FAST])
    seen, acted = rollout(world, fleet, 24)
    slow, fast = IdmMobilPolicy(world, **SLOW), IdmMobilPolicy(world, **FAST)
    which = []
    for obs, action in zip(seen, acted):
        is_slow = (action - slow.act(obs)).abs().amax((1, 2)) < 1e-6
        is_fast = (action - fast.act(obs)).abs().amax((1, 2)) < 1e-6
        assert bool((is_slow | is_fast).all()), "an action matches neither variant"
        distinct = (slow.act(obs) - fast.act(obs)).abs().amax((1, 2)) > 1e-6
        which.append(torch.where(distinct, is_fast.long(), torch.full_like(is_fast.long(), -1)))
    starts = [obs[:, 0, feature("time")] == 0 for obs in seen]
    switched = 0
    for env in range(world.num_envs):
        current = None
        for t in range(len(seen)):
            if starts[t][env]:
                current = None
            label = int(which[t][env])
            if label < 0:
                continue
            if current is not None and label != current:
                pytest.fail(f"environment {env} changed variant within a test at step {t}")
            switched += current is None and t > 0
            current = label
    assert switched > 0, "no test restarted with an identifiable variant"


def test_variants_are_drawn_with_their_shares_and_reproducibly():
    world = HighwayWorld(SMALL, num_envs=4096, seed=0)
    fleet = FleetPolicy(world, variants=[SLOW, FAST], shares=[0.25, 0.75])
    obs = world.reset(seed=5)
    fleet.reset(7)
    fleet.act(obs["av"])
    share_slow = float((fleet._variant == 0).double().mean())
    assert abs(share_slow - 0.25) < 4 * (0.25 * 0.75 / 4096) ** 0.5
    first = fleet._variant.clone()
    fleet.reset(7)
    fleet.act(obs["av"])
    assert torch.equal(first, fleet._variant)
    fleet.reset(8)
    fleet.act(obs["av"])
    assert not torch.equal(first, fleet._variant)


def test_fleet_bad_input_names_the_problem():
    world = HighwayWorld(SMALL, num_envs=1, seed=0)
    with pytest.raises(ConfigError, match="variants"):
        FleetPolicy(world, variants=[SLOW])
    with pytest.raises(ConfigError, match="shares"):
        FleetPolicy(world, variants=[SLOW, FAST], shares=[0.5, 0.6])
    with pytest.raises(ConfigError, match="shares"):
        FleetPolicy(world, variants=[SLOW, FAST], shares=[1.0, 0.0])
    with pytest.raises(ConfigError, match="idm_mobil.speed"):
        FleetPolicy(world, variants=[SLOW, {"speed": 3.0}])
    with pytest.raises(ConfigError, match="role"):
        FleetPolicy(world, "background", variants=[SLOW, FAST])
    assert POLICIES.get("av_fleet") is FleetPolicy
