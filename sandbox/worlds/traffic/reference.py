"""Mesa reference model of the highway world: one agent per vehicle, plain Python floats.

It states the batched world's rules readably, vehicle by vehicle, and tests hold the
batched world to it step by step. Drivers are deterministic here: background vehicles
take the most likely naturalistic action, the AV drives IDM + MOBIL. For small cases only
(every search scans all vehicles).

Rules, per decision step:

1. Every driver looks at the nearest vehicle ahead and behind in its own lane and the
   lanes beside it (forward distance measured around the ring; beyond the sensing range
   a lane counts as empty) and decides on the same snapshot.
2. Lane changes take effect; a changing vehicle occupies both lanes for the step, and a
   changing background vehicle drives the IDM behind the more constraining leader,
   clipped to the acceleration grid.
3. Each vehicle's leaders (one per occupied lane) are fixed; accelerations are held and
   integrated in substeps; a negative gap to a fixed leader is a collision.
"""

from __future__ import annotations

import math
from dataclasses import asdict

import mesa

from sandbox.worlds.traffic.params import DriverParams, HighwayParams

FAR = 1.0e6


def idm(v, gap, v_lead, d: dict, delta: float, reach: float) -> float:
    """IDM acceleration (m/s^2) for speed ``v``, ``gap`` (m) and leader speed ``v_lead``."""
    free = 1.0 - (v / d["desired_speed"]) ** delta
    approach = v * (v - v_lead) / (2.0 * math.sqrt(d["max_accel"] * d["comfort_decel"]))
    s_star = d["min_gap"] + max(0.0, v * d["time_headway"] + approach)
    interaction = (s_star / max(gap, 1e-3)) ** 2 if gap < reach else 0.0
    return d["max_accel"] * (free - interaction)


class VehicleAgent(mesa.Agent):
    """One vehicle: kinematics, driver parameters, and its decision rule.

    Args:
        model: the :class:`HighwayModel`.
        index: position in the batched world's vehicle axis (0 = AV).
        position: front bumper, m. lane: 0 = rightmost. speed: m/s.
        driver: its :class:`DriverParams`.
    """

    def __init__(self, model, *, index, position, lane, speed, driver: DriverParams):
        super().__init__(model)
        self.index, self.position, self.lane, self.speed = index, position, lane, speed
        self.driver = asdict(driver)
        self.length = driver.length
        self.accel = 0.0
        self.old_lane = None  # lane also occupied during a change

    @property
    def is_av(self) -> bool:
        """Whether this vehicle is the automated vehicle under test."""
        return self.index == 0

    def nearest(self, lane, *, ahead: bool, occupants=None):
        """Nearest vehicle ahead or behind in ``lane`` and the gap to it (m), or (None, FAR)."""
        road = self.model.params.road_length
        best, best_distance = None, math.inf
        for other, other_lane in occupants or self.model.occupants():
            if other is self or other_lane != lane:
                continue
            if ahead:
                distance = (other.position - self.position) % road
            else:
                distance = (self.position - other.position) % road
            if distance < best_distance:
                best, best_distance = other, distance
        if best is None:
            return None, FAR
        return best, best_distance - (best.length if ahead else self.length)

    def view(self):
        """(leader, gap, follower, gap) in the own, left and right lanes; unseen = None."""
        reach = self.model.params.sensing_range
        rows = []
        for lane in (self.lane, self.lane + 1, self.lane - 1):
            if not 0 <= lane < self.model.params.n_lanes:
                rows.append((None, FAR, None, FAR, False))
                continue
            lead, lead_gap = self.nearest(lane, ahead=True)
            follow, follow_gap = self.nearest(lane, ahead=False)
            lead = lead if lead_gap < reach else None
            follow = follow if follow_gap < reach else None
            rows.append((lead, lead_gap, follow, follow_gap, True))
        return rows

    def idm_and_advice(self, own: dict, assumed_follower: dict | None = None):
        """IDM acceleration and MOBIL advice (+1 left, -1 right, 0) from the current view."""
        p = self.model.params
        delta, reach = p.background.delta, p.sensing_range
        rows = self.view()

        def speed_of(vehicle):
            return vehicle.speed if vehicle is not None else self.speed

        def follower_accel(follower, gap, v_lead):
            if follower is None:
                return 0.0
            params = assumed_follower or follower.driver
            return idm(follower.speed, gap, v_lead, params, delta, reach)

        lead, lead_gap, follow, follow_gap, _ = rows[0]
        acc_now = idm(self.speed, lead_gap, speed_of(lead), own, delta, reach)
        old_now = follower_accel(follow, follow_gap, self.speed)
        old_after = follower_accel(follow, follow_gap + self.length + lead_gap, speed_of(lead))
        best, best_gain = 0, 0.0
        for side, (t_lead, t_gap, t_follow, t_fgap, exists) in zip((1, -1), rows[1:]):
            if not exists or t_gap <= 0 or t_fgap <= 0:
                continue
            acc_after = idm(self.speed, t_gap, speed_of(t_lead), own, delta, reach)
            new_after = follower_accel(t_follow, t_fgap, self.speed)
            new_now = follower_accel(t_follow, t_fgap + self.length + t_gap, speed_of(t_lead))
            if new_after < -own["safe_decel"]:
                continue
            gain = acc_after - acc_now + own["politeness"] * (
                new_after - new_now + old_after - old_now) - own["gain_threshold"]
            if gain > 0 and (best == 0 or gain > best_gain):
                best, best_gain = side, gain
        return acc_now, best

    def decide(self):
        """Choose this step's (acceleration, lane change) on the current snapshot."""
        p = self.model.params
        if self.is_av:
            own = {**self.driver, **self.model.av_overrides}
            acc, advice = self.idm_and_advice(own, asdict(p.background))
            acc = min(max(acc, -self.model.av_max_decel), p.av_accel_high)
            return min(max(acc, p.av_accel_low), p.av_accel_high), advice
        acc, advice = self.idm_and_advice(self.driver)
        grid = [p.accel_min + k * p.accel_step for k in range(p.n_accels)]
        logits = [-0.5 * ((g - acc) / p.accel_noise) ** 2 for g in grid]
        weights = [math.exp(z - max(logits)) for z in logits]
        fits = [exists and gap > p.cut_in_min_gap and follow_gap > p.cut_in_min_gap
                for _, gap, _, follow_gap, exists in self.view()[1:]]
        change = [p.lane_change_prob if advice == side else
                  (p.cut_in_prob if fit else 0.0) for side, fit in zip((1, -1), fits)]
        probs = [(1.0 - sum(change)) * w / sum(weights) for w in weights] + change
        best = max(range(len(probs)), key=lambda k: probs[k])
        if best >= len(grid):
            return None, (1, -1)[best - len(grid)]
        return grid[best], 0


class HighwayModel(mesa.Model):
    """The highway as a Mesa model for one environment.

    Args:
        params: the world's :class:`HighwayParams`.
        position: per vehicle front bumper, m (AV first). lane: per vehicle. speed: m/s.
        av_overrides: IDM/MOBIL fields replacing the AV's (as the ``idm_mobil`` policy's).
        av_max_decel: hardest braking the AV applies, m/s^2.
    """

    def __init__(self, params: HighwayParams, *, position, lane, speed,
                 av_overrides: dict | None = None, av_max_decel: float = 8.0):
        super().__init__()
        self.params = params
        self.av_overrides = dict(av_overrides or {})
        self.av_max_decel = av_max_decel
        self.vehicles = [
            VehicleAgent(self, index=i, position=float(x), lane=int(lane_), speed=float(v),
                         driver=params.av if i == 0 else params.background)
            for i, (x, lane_, v) in enumerate(zip(position, lane, speed, strict=True))
        ]
        self.time, self.av_travelled = 0, 0.0
        self.av_crash = self.any_crash = False

    def occupants(self):
        """(vehicle, lane) pairs: each vehicle in its lane, changers also in their old lane."""
        pairs = [(v, v.lane) for v in self.vehicles]
        return pairs + [(v, v.old_lane) for v in self.vehicles if v.old_lane is not None]

    def step(self):
        """Advance one decision step (all drivers decide on the same snapshot)."""
        p = self.params
        decisions = [v.decide() for v in self.vehicles]
        for vehicle, (_, change) in zip(self.vehicles, decisions):
            vehicle.old_lane = None
            if change and 0 <= vehicle.lane + change < p.n_lanes:
                vehicle.old_lane, vehicle.lane = vehicle.lane, vehicle.lane + change
        occupants = self.occupants()
        leaders = {}
        for vehicle in self.vehicles:
            lanes = [vehicle.lane] + ([vehicle.old_lane] if vehicle.old_lane is not None else [])
            found = [vehicle.nearest(lane, ahead=True, occupants=occupants)[0] for lane in lanes]
            leaders[vehicle] = [lead for lead in found if lead is not None]
        for vehicle, (acc, _) in zip(self.vehicles, decisions):
            if acc is None or (vehicle.old_lane is not None and not vehicle.is_av):
                acc = self._changer_accel(vehicle, leaders[vehicle])
            vehicle.accel = acc
        self._integrate(leaders)
        for vehicle in self.vehicles:
            vehicle.position %= p.road_length
            vehicle.old_lane = None
        self.time += 1

    def _changer_accel(self, vehicle, leaders) -> float:
        """IDM behind the more constraining of a changing vehicle's leaders, on the grid range."""
        p = self.params
        accs = [idm(vehicle.speed, self._gap(vehicle, lead), lead.speed, vehicle.driver,
                    p.background.delta, p.sensing_range) for lead in leaders]
        free = idm(vehicle.speed, FAR, vehicle.speed, vehicle.driver, p.background.delta,
                   p.sensing_range)
        return min(max(min(accs, default=free), p.accel_min), p.accel_max)

    def _gap(self, vehicle, lead) -> float:
        """Gap from ``vehicle`` to ``lead`` measured forward around the ring, m."""
        ahead = (lead.position - vehicle.position) % self.params.road_length
        return ahead - lead.length

    def _integrate(self, leaders):
        """Substeps with held accelerations; leaders' ring offsets are fixed at the start."""
        p = self.params
        road = p.road_length
        offsets = {(v, lead): (road if lead.position < v.position else 0.0)
                   for v, leads in leaders.items() for lead in leads}
        start = self.vehicles[0].position
        for _ in range(p.n_substeps):
            for v in self.vehicles:
                new_speed = min(max(v.speed + v.accel * p.substep_dt, p.speed_min), p.speed_max)
                v.position += 0.5 * (v.speed + new_speed) * p.substep_dt
                v.speed = new_speed
            for v, leads in leaders.items():
                for lead in leads:
                    gap = lead.position + offsets[(v, lead)] - lead.length - v.position
                    if gap < 0:
                        self.any_crash = True
                        self.av_crash |= v.is_av or lead.is_av
        self.av_travelled += self.vehicles[0].position - start

    @property
    def done(self) -> bool:
        """The test has ended: a collision, the AV past the test length, or the time limit."""
        p = self.params
        return (self.any_crash or self.av_travelled >= p.test_length
                or self.time >= p.max_steps)

    def snapshot(self) -> dict[str, list]:
        """Positions (m), lanes and speeds (m/s) per vehicle, AV first."""
        return {
            "position": [v.position for v in self.vehicles],
            "lane": [v.lane for v in self.vehicles],
            "speed": [v.speed for v in self.vehicles],
        }
