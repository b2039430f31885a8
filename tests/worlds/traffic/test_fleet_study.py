"""The adaptive mix's studies: surrogates that each call harmless cut-ins the other rates."""

import torch

from sandbox.worlds.traffic import HighwayWorld
from sandbox.worlds.traffic.testing.studies import (
    FLEET_AV,
    FLEET_CHALLENGE,
    FLEET_CUT_IN_PROB,
    LATE_AV,
    cut_in_env,
    fleet_surrogates,
    one_side_surrogates,
)
from sandbox.worlds.traffic.testing.surrogates import maneuver_challenge


def cut_in_challenges(world, surrogates):
    """Each surrogate's challenge of cut-ins ahead of an AV at 30 m/s, over gaps of 1-40 m
    and closing speeds of 0-12 m/s (the vehicle cutting in holds its speed)."""
    gap, closing = torch.meshgrid(torch.arange(1.0, 40.5, 0.5, dtype=torch.float64),
                                  torch.arange(0.0, 12.5, 0.5, dtype=torch.float64),
                                  indexing="ij")
    zero = torch.zeros_like(gap)
    speed = torch.full_like(gap, 30.0)
    return gap, closing, [maneuver_challenge(
        gap=gap, av_speed=speed, other_speed=speed - closing,
        other_ahead=torch.ones_like(gap, dtype=torch.bool), other_accel=zero,
        other_accel_after=zero, av_accel=zero, surrogate=s, settings=FLEET_CHALLENGE,
        params=world.params) for s in surrogates]


def test_fleet_surrogates_model_one_variant_each():
    world = HighwayWorld(cut_in_env(FLEET_CUT_IN_PROB), num_envs=1, seed=0)
    late, weak = fleet_surrogates(world)
    late_variant, weak_variant = FLEET_AV["variants"]
    assert late.late_steps == late_variant["reaction_delay"] == 1
    assert late.max_decel == 8.0  # the default AV's braking limit
    assert weak.late_steps == 0 and weak.max_decel == weak_variant["max_decel"]


def test_each_surrogate_calls_harmless_some_cut_ins_the_other_calls_crashes():
    world = HighwayWorld(cut_in_env(FLEET_CUT_IN_PROB), num_envs=1, seed=0)
    gap, closing, (late, weak) = cut_in_challenges(world, fleet_surrogates(world))
    # the deterministic rollout's challenge is a crash indicator
    assert set(late.unique().tolist()) <= {0.0, 1.0} and set(weak.unique().tolist()) <= {0.0, 1.0}
    late_only, weak_only = (late > 0) & (weak == 0), (weak > 0) & (late == 0)
    # late reaction hurts at small gaps and closing speeds, weak braking at large ones
    assert bool(late_only.any()) and bool(weak_only.any())
    assert float(closing[late_only].max()) < float(closing[weak_only].min()) + 1.0
    assert float(gap[weak_only].max()) > float(gap[late_only].max())
    # and both crash when the gap is tiny, neither when it is large and speeds equal
    assert float(late[0, 4]) == float(weak[0, 4]) == 1.0
    assert float(late[-1, 0]) == float(weak[-1, 0]) == 0.0


def test_one_side_surrogates_are_each_late_for_one_side_and_the_own_lane():
    world = HighwayWorld(cut_in_env(FLEET_CUT_IN_PROB), num_envs=1, seed=0)
    left, right = one_side_surrogates(world)
    assert (left.late_steps, right.late_steps) == (1, 1) == (LATE_AV["reaction_delay"],) * 2
    assert set(left.late_for) == {"lane", "left"} and set(right.late_for) == {"lane", "right"}
    assert left.max_decel == right.max_decel == 8.0
