"""The batched world against the Mesa reference model, step by step."""

import dataclasses

import torch

from sandbox.worlds.traffic import DriverParams, HighwayParams, HighwayWorld
from sandbox.worlds.traffic.policies import IdmMobilPolicy, NaturalisticPolicy
from sandbox.worlds.traffic.reference import HighwayModel

# eager background drivers (every MOBIL advice is taken) so that lanes change often
PARAMS = HighwayParams(
    n_background=14, road_length=500.0, av_start=100.0, av_end=450.0, lane_change_prob=1.0,
    initial_gap_spread=0.9, background=DriverParams(gain_threshold=0.0, politeness=0.0),
    dtype="float64",  # so that no decision near a threshold flips on rounding
)


def compare(params, *, seed, steps, av_overrides=None, av_max_decel=8.0, layout=None):
    world = HighwayWorld(params, num_envs=3, seed=seed)
    obs = world.reset() if layout is None else world.set_layout(**layout)
    nat = NaturalisticPolicy(world)
    av = IdmMobilPolicy(world, **(av_overrides or {}), max_decel=av_max_decel)
    state = world.state
    models = [
        HighwayModel(params, position=state.position[b].tolist(), lane=state.lane[b].tolist(),
                     speed=state.speed[b].tolist(), av_overrides=av_overrides,
                     av_max_decel=av_max_decel)
        for b in range(3)
    ]
    live = [True] * 3
    changes = crashes = 0
    for _ in range(steps):
        result = world.step({"av": av.act(obs["av"], deterministic=True),
                             "background": nat.act(obs["background"], deterministic=True)})
        obs = result.obs
        final = result.final_state
        changes += int(result.info["lane_changed"].sum())
        for b, model in enumerate(models):
            if not live[b]:
                continue
            model.step()
            snap = model.snapshot()
            assert final.lane[b].tolist() == snap["lane"]
            gap = (final.position[b] - torch.tensor(snap["position"], dtype=torch.float64)).abs()
            assert torch.minimum(gap, params.road_length - gap).max() < 1e-8, gap.max()
            assert torch.allclose(final.speed[b], torch.tensor(snap["speed"],
                                                               dtype=torch.float64), atol=1e-9)
            assert bool(final.av_crash[b]) == model.av_crash
            assert bool(final.any_crash[b]) == model.any_crash
            assert bool(result.done[b]) == model.done
            crashes += model.av_crash
            live[b] = not model.done
    return changes, crashes


def test_world_follows_the_reference_through_lane_changes():
    changes = sum(compare(PARAMS, seed=seed, steps=10)[0] for seed in (3, 8))
    # the comparison covers lane changes, not only car following
    assert changes >= 30


def test_world_and_reference_crash_alike():
    # a weak-braking AV closing on slow traffic in every lane, other vehicles around
    n = PARAMS.n_vehicles
    position = [(100.0 + 31.0 * i) % 500.0 for i in range(n)]
    lane = [i % 3 for i in range(n)]
    speed = [30.0] + [2.0 + (i % 3) for i in range(1, n)]
    _, crashes = compare(PARAMS, seed=0, steps=10, av_max_decel=1.0,
                         layout=dict(position=position, lane=lane, speed=speed))
    assert crashes >= 1


def test_world_follows_the_reference_with_a_tuned_av():
    tuned = dict(desired_speed=38.0, time_headway=0.8, min_gap=1.0)
    changes, _ = compare(PARAMS, seed=5, steps=10, av_overrides=tuned, av_max_decel=3.0)
    assert changes >= 10


def test_world_follows_the_reference_through_cut_ins():
    # unadvised changes are the mode (0.4 per fitting side, the accelerations share 0.1 or
    # less), so the deterministic drivers cut in wherever they fit
    params = dataclasses.replace(PARAMS, lane_change_prob=0.1, cut_in_prob=0.4)
    changes, _ = compare(params, seed=4, steps=10)
    assert changes >= 30


def test_world_follows_the_reference_through_cut_ins_with_an_accepted_gap():
    params = dataclasses.replace(PARAMS, lane_change_prob=0.1, cut_in_prob=0.4,
                                 cut_in_min_gap=12.0)
    changes, _ = compare(params, seed=4, steps=10)
    anywhere, _ = compare(dataclasses.replace(params, cut_in_min_gap=0.0), seed=4, steps=10)
    assert 0 < changes < anywhere
