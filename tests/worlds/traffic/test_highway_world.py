import math

import pytest
import torch

from sandbox.core import POLICIES, WORLDS, ConfigError
from sandbox.worlds.traffic import (
    DriverParams,
    HighwayParams,
    HighwayWorld,
    IdmMobilPolicy,
    NaturalisticPolicy,
)
from sandbox.worlds.traffic.observation import feature

SMALL = HighwayParams(n_background=14, road_length=500.0, av_start=100.0, av_end=300.0)


def drive(world, steps, *, seed=0):
    """Run naturalistic traffic and the default AV; return the final states of every step."""
    obs = world.reset(seed=seed)
    nat, av = NaturalisticPolicy(world), IdmMobilPolicy(world)
    nat.reset(seed)
    states, results = [], []
    for _ in range(steps):
        result = world.step({"av": av.act(obs["av"]), "background": nat.act(obs["background"])})
        obs = result.obs
        states.append(result.final_state)
        results.append(result)
    return states, results


def test_registered_names_resolve():
    assert WORLDS.get("highway") is HighwayWorld
    assert POLICIES.get("naturalistic") is NaturalisticPolicy
    assert POLICIES.get("idm_mobil") is IdmMobilPolicy


def test_roles_shapes_and_masks_at_the_road_edges():
    world = HighwayWorld(SMALL, num_envs=3, seed=1)
    obs = world.reset()
    roles = world.roles
    assert roles["av"].count == 1 and roles["background"].count == 14
    assert roles["background"].action_space.n == SMALL.n_accels + 2 == 33
    assert obs["av"].shape == (3, 1, 25) and obs["background"].shape == (3, 14, 25)
    mask = world.action_masks()["background"]
    lane = world.state.lane[:, 1:]
    assert torch.equal(mask[..., 31], lane < 2)
    assert torch.equal(mask[..., 32], lane > 0)
    assert mask[..., :31].all()


def test_random_start_fits_the_ring_without_overlap():
    params = HighwayParams()
    world = HighwayWorld(params, num_envs=16, seed=4)
    world.reset()
    s = world.state
    assert torch.allclose(s.position[:, 0], torch.full((16,), params.av_start))
    assert ((s.position >= 0) & (s.position < params.road_length)).all()
    scene = world.scene()
    own_gap = scene.leader_gap[..., 0]
    assert (own_gap >= params.background.min_gap * 0.4).all()
    # per lane: vehicle lengths plus gaps to the leader add up to the ring length
    for lane in range(params.n_lanes):
        in_lane = (s.lane == lane).float()
        total = ((own_gap + s.length) * in_lane).sum(1)
        assert torch.allclose(total, torch.full((16,), params.road_length), rtol=1e-4)
    counts = torch.stack([(s.lane == k).sum(1) for k in range(3)], 1)
    assert (counts.max(1).values - counts.min(1).values <= 1).all()


def test_same_seed_same_trajectory_and_other_seed_differs():
    first, _ = drive(HighwayWorld(SMALL, num_envs=4), 12, seed=5)
    second, _ = drive(HighwayWorld(SMALL, num_envs=4), 12, seed=5)
    other, _ = drive(HighwayWorld(SMALL, num_envs=4), 12, seed=6)
    for a, b in zip(first, second):
        for name, value in a.fields().items():
            assert torch.equal(value, getattr(b, name)), name
    assert not torch.equal(first[-1].position, other[-1].position)


def test_test_ends_when_the_av_has_driven_the_test_length():
    world = HighwayWorld(SMALL, num_envs=4, seed=2)
    _, results = drive(world, 14, seed=2)
    ended = [r for r in results if r.done.any()]
    assert ended, "a 200 m test at about 30 m/s ends within 14 s"
    first = ended[0]
    done = first.done
    metrics = first.final_metrics
    assert (metrics["distance"][done] >= SMALL.test_length).all()
    assert torch.allclose(metrics["mean_speed"][done],
                          metrics["distance"][done] / metrics["duration"][done])
    assert torch.isnan(metrics["crash"][~done]).all()
    assert (metrics["crash"][done] == 0).all()
    # finished environments restart at the AV's start (same step); the others keep driving
    progress = feature("progress")
    assert (first.final_obs["av"][done, 0, progress] >= 1.0).all()
    assert (first.obs["av"][done, 0, progress] == 0.0).all()
    assert (first.obs["av"][~done, 0, progress] > 0.0).all()


def one_lane(**changes):
    base = dict(n_lanes=1, n_background=1, road_length=1000.0, av_start=0.0, av_end=900.0)
    base.update(changes)
    return HighwayParams(**base)


def bg_action(params, accel):
    return torch.tensor([[int(round((accel - params.accel_min) / params.accel_step))]])


def test_rear_end_collision_is_a_crash_and_ends_the_test():
    params = one_lane()
    world = HighwayWorld(params)
    world.set_layout(position=[0.0, 40.0], lane=[0, 0], speed=[30.0, 0.0])
    coast = torch.zeros(1, 1, 2)
    result = world.step({"av": coast, "background": bg_action(params, 0.0)})
    assert not result.done.any()
    result = world.step({"av": coast, "background": bg_action(params, 0.0)})
    assert result.terminated.all() and result.info["av_crash"].all()
    assert result.final_metrics["crash"].item() == 1.0
    assert result.final_metrics["min_ttc"].item() == 0.0


def test_time_to_collision_of_constant_speeds():
    params = one_lane()
    world = HighwayWorld(params)
    world.set_layout(position=[0.0, 55.0], lane=[0, 0], speed=[30.0, 20.0])
    world.step({"av": torch.zeros(1, 1, 2), "background": bg_action(params, 0.0)})
    # gap 50 m closing at 10 m/s: after the step's last substep the gap is 40 m
    assert world.state.av_min_ttc.item() == pytest.approx(4.0, rel=1e-4)


def test_cut_in_beside_the_av_collides_in_both_lanes():
    params = HighwayParams(n_lanes=2, n_background=1, road_length=1000.0)
    world = HighwayWorld(params)
    world.set_layout(position=[400.0, 402.0], lane=[0, 1], speed=[30.0, 30.0])
    change_right = torch.tensor([[params.n_accels + 1]])
    result = world.step({"av": torch.zeros(1, 1, 2), "background": change_right})
    assert result.info["lane_changed"][0, 1]
    assert result.terminated.all() and result.final_metrics["crash"].item() == 1.0


def test_changing_vehicle_still_blocks_its_old_lane():
    # vehicle 2 changes right in front of vehicle 1's old-lane follower, the AV behind it
    params = HighwayParams(n_lanes=2, n_background=2, road_length=1000.0)
    world = HighwayWorld(params)
    world.set_layout(position=[400.0, 420.0, 300.0], lane=[1, 1, 0], speed=[30.0, 10.0, 30.0])
    change_right = torch.tensor([[params.n_accels + 1, bg_action(params, 0.0).item()]])
    result = world.step({"av": torch.zeros(1, 1, 2), "background": change_right})
    # 15 m gap closing at 20 m/s: the AV hits vehicle 1 in its old lane within the step
    assert result.final_metrics["crash"].item() == 1.0


@pytest.mark.parametrize(
    "make, field",
    [
        (lambda: DriverParams(length=-4.5), "length"),
        (lambda: DriverParams(desired_speed=-30.0), "desired_speed"),
        (lambda: HighwayParams(speed_min=-1.0), "speed_min"),
        (lambda: HighwayParams(n_background=400), "n_background"),
        (lambda: HighwayParams(n_lanes=0), "n_lanes"),
        (lambda: HighwayParams(decision_dt=1.0, substep_dt=0.3), "decision_dt"),
        (lambda: HighwayParams(av_end=300.0), "av_end"),
        (lambda: HighwayParams(av=DriverParams(delta=2.0)), "av.delta"),
        (lambda: HighwayParams(lane_change_prob=1.5), "lane_change_prob"),
    ],
)
def test_bad_parameters_name_the_field(make, field):
    with pytest.raises(ConfigError, match=field):
        make()


def test_too_many_vehicles_says_how_many_fit():
    with pytest.raises(ConfigError, match=r"at most \d+ background vehicles"):
        HighwayParams(n_lanes=3, road_length=100.0, n_background=40, av_start=10.0,
                      av_end=90.0)


def test_bad_layouts_are_refused():
    world = HighwayWorld(one_lane())
    with pytest.raises(ConfigError, match="speed"):
        world.set_layout(position=[0.0, 50.0], lane=[0, 0], speed=[-1.0, 20.0])
    with pytest.raises(ConfigError, match="position"):
        world.set_layout(position=[0.0, 3.0], lane=[0, 0], speed=[20.0, 20.0])
    with pytest.raises(ConfigError, match="lane"):
        world.set_layout(position=[0.0, 50.0], lane=[0, 1], speed=[20.0, 20.0])


def test_bad_actions_and_policy_roles_are_refused():
    world = HighwayWorld(SMALL, num_envs=2)
    world.reset()
    bg = torch.zeros(2, 14, dtype=torch.long)
    with pytest.raises(ValueError, match="background"):
        world.step({"av": torch.zeros(2, 1, 2), "background": bg + 33})
    with pytest.raises(ValueError, match="NaN"):
        world.step({"av": torch.full((2, 1, 2), math.nan), "background": bg})
    with pytest.raises(ConfigError, match="role"):
        NaturalisticPolicy(world, "av")
    with pytest.raises(ConfigError, match="role"):
        IdmMobilPolicy(world, "background")
    with pytest.raises(ConfigError, match="idm_mobil.reaction"):
        IdmMobilPolicy(world, reaction=1.0)
    with pytest.raises(ConfigError, match="inattention"):
        IdmMobilPolicy(world, inattention=2.0)
