import pytest
import torch

from sandbox.worlds.traffic.dynamics import change_lanes, step_neighbours
from sandbox.worlds.traffic.neighbours import (
    neighbours_at,
    scan_lanes,
    sort_by_position,
)

ROAD = 300.0


def brute_force(position, occupied_lanes, vehicle, lane, *, ahead):
    """Nearest other vehicle occupying ``lane`` ahead of (behind) ``vehicle`` on the ring."""
    best, best_distance, wraps = -1, float("inf"), False
    x = position[vehicle]
    for other, lanes in enumerate(occupied_lanes):
        if other == vehicle or lane not in lanes:
            continue
        y = position[other]
        distance = (y - x) % ROAD if ahead else (x - y) % ROAD
        if distance < best_distance:
            best, best_distance = other, distance
            wraps = (y < x) if ahead else (y > x)
    return best, wraps


def random_layout(seed, batch=6, n_veh=14, n_lanes=3):
    g = torch.Generator().manual_seed(seed)
    position = torch.rand(batch, n_veh, generator=g) * ROAD
    lane = torch.randint(n_lanes, (batch, n_veh), generator=g)
    return position, lane


@pytest.mark.parametrize("seed", range(4))
def test_scene_search_matches_brute_force_in_own_and_side_lanes(seed):
    position, lane = random_layout(seed)
    if seed == 3:  # a lane holding a single vehicle and an empty lane
        lane[:] = 0
        lane[:, 5] = 1
    order, rank = sort_by_position(position)
    lanes = scan_lanes(lane.gather(1, order), order, n_lanes=3)
    query = lane.unsqueeze(-1) + torch.tensor([0, 1, -1])
    nb = neighbours_at(lanes, slot=rank, query_lane=query, road_length=ROAD)
    for b in range(position.shape[0]):
        occupied = [{int(k)} for k in lane[b]]
        for v in range(position.shape[1]):
            for q in range(3):
                target = int(query[b, v, q])
                for ahead, index, offset in ((True, nb.leader, nb.leader_offset),
                                             (False, nb.follower, nb.follower_offset)):
                    want, wraps = brute_force(position[b].tolist(), occupied, v, target,
                                              ahead=ahead)
                    assert int(index[b, v, q]) == want
                    expected = (ROAD if ahead else -ROAD) if (wraps and want >= 0) else 0.0
                    assert float(offset[b, v, q]) == expected


@pytest.mark.parametrize("seed", range(3))
def test_step_search_sees_changers_in_both_lanes(seed):
    position, lane = random_layout(seed + 10)
    g = torch.Generator().manual_seed(seed)
    wish = torch.randint(-1, 2, lane.shape, generator=g) * (torch.rand(lane.shape, generator=g)
                                                              < 0.4)
    new_lane, changing = change_lanes(lane, wish, n_lanes=3)
    assert changing.any() and (~changing).any()
    order, rank = sort_by_position(position)
    nb = step_neighbours(order, rank, lane, new_lane, changing, n_lanes=3, road_length=ROAD)
    for b in range(position.shape[0]):
        occupied = [{int(new_lane[b, v])} | ({int(lane[b, v])} if changing[b, v] else set())
                    for v in range(lane.shape[1])]
        for v in range(lane.shape[1]):
            want, _ = brute_force(position[b].tolist(), occupied, v, int(new_lane[b, v]),
                                  ahead=True)
            assert int(nb.leader[b, v, 0]) == want
            want_old = -1
            if changing[b, v]:
                want_old, _ = brute_force(position[b].tolist(), occupied, v, int(lane[b, v]),
                                          ahead=True)
            assert int(nb.leader[b, v, 1]) == want_old
            want_follower, _ = brute_force(position[b].tolist(), occupied, v,
                                           int(new_lane[b, v]), ahead=False)
            assert int(nb.follower[b, v, 0]) == want_follower


def test_lane_changes_off_the_road_are_ignored():
    lane = torch.tensor([[0, 2, 1]])
    new_lane, changing = change_lanes(lane, torch.tensor([[-1, 1, 1]]), n_lanes=3)
    assert new_lane.tolist() == [[0, 2, 2]]
    assert changing.tolist() == [[False, False, True]]
