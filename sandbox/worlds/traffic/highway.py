"""Highway world: an automated vehicle tested in naturalistic multi-lane traffic.

Model card (full version: ``docs/worlds/highway.md``; sources: ``data/traffic/README.md``)

Road: a straight highway of ``n_lanes`` lanes (default 3) and ``road_length`` m (1,200),
closed into a ring so that the number of vehicles is constant: a vehicle passing the end
re-enters at 0. Each test drives the AV from ``av_start`` (400 m) over
``av_end - av_start`` (400 m), as in NADE and D2RL; the seam of the ring is far from it.

Roles (``B`` environments, ``V = n_background + 1`` vehicles, vehicle 0 is the AV):

==============  =====================  ==============================================
role            count                  action
==============  =====================  ==============================================
``av``          1                      ``Box(2)``: acceleration (m/s^2, clipped to
                                       ``[av_accel_low, av_accel_high]``), lane change
                                       (rounded: +1 left, -1 right, 0 stay)
``background``  ``n_background``       ``Discrete(n_accels + 2)``: index ``k`` holds
                                       acceleration ``accel_min + k * accel_step``;
                                       ``n_accels`` changes left, ``n_accels + 1``
                                       right (masked at the road's edges)
==============  =====================  ==============================================

Observations: ``[B, count, 25]`` float32 per role, the features of
:mod:`sandbox.worlds.traffic.observation` (own kinematics; gaps and speeds of leaders and
followers in the own, left and right lanes; IDM acceleration and MOBIL advice with the
vehicle's own parameters; position relative to the AV; test progress).

Dynamics: actions are chosen every ``decision_dt`` (1 s) and held while the motion is
integrated in ``substep_dt`` (0.1 s) substeps. A lane change is taken at the start of a
step; during that step the vehicle occupies both lanes (see
:mod:`sandbox.worlds.traffic.dynamics`). A background vehicle that changes lane drives
the IDM behind the more constraining of its two leaders, clipped to the grid.

Naturalistic model (the background's ``p(u|s)``, :meth:`HighwayWorld.naturalistic_probabilities`):
``N(a_IDM, accel_noise^2)`` on the acceleration grid, a MOBIL-advised lane change
with probability ``lane_change_prob`` (0.01) per step, and optionally an unadvised
change (a cut-in) into each adjacent lane the vehicle fits into with probability
``cut_in_prob`` (default 0).

A test ends (terminated) at the first footprint overlap of any two vehicles or when the
AV has driven the test length; it is truncated at ``time_limit`` (60 s). Metrics per
test: ``crash`` (the AV was in a collision), ``any_crash``, ``distance`` (m),
``mean_speed`` (m/s), ``min_ttc`` (the AV's smallest time-to-collision, s, capped),
``duration`` (s). Rewards: the AV earns its progress (fraction of the test length) minus
1 for a crash; each background vehicle earns 1 in the step the AV crashes (the
adversarial signal of dense-learning testing; naturalistic drivers ignore it).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch

from sandbox.core.metrics import MetricSpec
from sandbox.core.roles import Role
from sandbox.core.world import World
from sandbox.worlds.traffic.drivers import idm_acceleration, naturalistic_probabilities
from sandbox.worlds.traffic.dynamics import (
    change_lanes,
    integrate,
    leader_gaps,
    step_neighbours,
)
from sandbox.worlds.traffic.neighbours import Neighbours, take
from sandbox.worlds.traffic.observation import OBS_DIM, observe
from sandbox.worlds.traffic.params import HighwayParams
from sandbox.worlds.traffic.scene import (
    Scene,
    compute_scene,
    driver_params,
    idm_kwargs,
    merge_rows,
)
from sandbox.worlds.traffic.state import HighwayState, layout_state, random_state


class HighwayWorld(World):
    """Batched multi-lane highway with one AV under test and naturalistic background traffic.

    Args:
        params: :class:`HighwayParams` (defaults: 3 lanes, 1,200 m, 49 background vehicles).
        num_envs: independent highways (one test each at a time).
        device: torch device.
        seed: seed of the world's random stream (initial layouts).
    """

    Params = HighwayParams
    metrics = (
        MetricSpec("crash", "the AV collided during the test", "crashes per test", False),
        MetricSpec("any_crash", "some vehicles collided (the AV or not)", "per test", False),
        MetricSpec("distance", "distance the AV drove", "m", None),
        MetricSpec("mean_speed", "the AV's mean speed over the test", "m/s", True),
        MetricSpec("min_ttc", "the AV's smallest time-to-collision (capped)", "s", True),
        MetricSpec("duration", "length of the test", "s", None),
    )
    model_card = __doc__

    def __init__(self, params=None, *, num_envs: int = 1, device="cpu", seed: int = 0):
        super().__init__(params, num_envs=num_envs, device=device, seed=seed)
        self.grid = self.params.accel_grid(self.device)
        self._scene_cache: tuple[HighwayState, Scene] | None = None

    # ------------------------------------------------------------------ roles
    @property
    def roles(self) -> dict[str, Role]:
        """``av`` (count 1) and ``background`` (count ``n_background``)."""
        p = self.params
        obs = gym.spaces.Box(-np.inf, np.inf, (OBS_DIM,), np.float32)
        av_action = gym.spaces.Box(np.array([p.av_accel_low, -1.0], np.float32),
                                   np.array([p.av_accel_high, 1.0], np.float32))
        return {
            "av": Role("av", 1, obs, av_action),
            "background": Role("background", p.n_background, obs,
                               gym.spaces.Discrete(p.n_background_actions), has_mask=True),
        }

    # ------------------------------------------------------------------ public helpers
    def scene(self, state: HighwayState | None = None) -> Scene:
        """The drivers' view of ``state`` (default: the current state), computed once."""
        state = self.state if state is None else state
        if self._scene_cache is None or self._scene_cache[0] is not state:
            self._scene_cache = (state, compute_scene(state, self.params))
        return self._scene_cache[1]

    def naturalistic_probabilities(self, state: HighwayState | None = None, *,
                                   vehicles: torch.Tensor | None = None) -> torch.Tensor:
        """The naturalistic model's ``p(u|s)`` for every background vehicle, or some.

        Args:
            state: default the current state.
            vehicles: ``[B, K]`` int64 world indices (0..V-1) of the vehicles wanted; None
                for every background vehicle (``1..V-1``).

        Returns:
            ``[B, n_background or K, n_accels + 2]`` float32, rows summing to 1 (zero on
            masked lane changes).
        """
        scene = self.scene(state)
        if vehicles is None:
            idm, advice, fits = scene.idm_accel[:, 1:], scene.advice[:, 1:], scene.fits[:, 1:]
        else:
            idm, advice = scene.idm_accel.gather(1, vehicles), scene.advice.gather(1, vehicles)
            fits = scene.fits.gather(1, vehicles.unsqueeze(-1).expand(-1, -1, 2))
        return naturalistic_probabilities(
            idm, advice, grid=self.grid, noise=self.params.accel_noise,
            lane_change_prob=self.params.lane_change_prob,
            cut_in_prob=self.params.cut_in_prob, fits=fits,
        )

    def set_layout(self, *, position, lane, speed) -> dict[str, torch.Tensor]:
        """Start every environment from a given layout instead of a random one.

        Args:
            position: ``[V]`` or ``[B, V]`` front-bumper positions, m (AV first).
            lane: ``[V]`` or ``[B, V]`` lanes.
            speed: ``[V]`` or ``[B, V]`` speeds, m/s.

        Returns:
            Observations per role, as :meth:`reset` returns them.
        """
        state = layout_state(self.params, position=position, lane=lane, speed=speed,
                             device=self.device)
        if state.position.shape[0] == 1 and self.num_envs > 1:
            state = state.replace(**{k: v.expand(self.num_envs, *v.shape[1:]).clone()
                                     for k, v in state.fields().items()})
        self.state = state
        return self._observe(state)

    # ------------------------------------------------------------------ kernels
    def _initial_state(self, num_envs: int) -> HighwayState:
        return random_state(self.params, num_envs, generator=self.generator, device=self.device)

    def _reset_done(self, state: HighwayState, done: torch.Tensor) -> HighwayState:
        """Draw fresh tests only for the finished environments (and update the scene alike)."""
        index = done.nonzero().squeeze(1)
        fresh = self._initial_state(int(index.numel()))
        new = merge_rows(state, index, fresh)
        self._scene_cache = (new, merge_rows(self.scene(state), index,
                                             compute_scene(fresh, self.params)))
        return new

    def _decode(self, actions: dict[str, torch.Tensor]):
        """Accelerations ``[B, V]`` (m/s^2), lane changes ``[B, V]`` and background changers."""
        p = self.params
        av = actions["av"].to(p.torch_dtype)
        bg = actions["background"].long()
        if not bool(torch.isfinite(av).all()):
            raise ValueError("actions['av'] contains NaN or infinite values")
        if bool(((bg < 0) | (bg >= p.n_background_actions)).any()):
            raise ValueError(f"actions['background'] must lie in [0, {p.n_background_actions})")
        av_accel = av[..., 0].clamp(p.av_accel_low, p.av_accel_high)
        av_change = torch.round(av[..., 1].clamp(-1.0, 1.0)).long()
        bg_accel = self.grid[bg.clamp(max=p.n_accels - 1)]
        bg_change = (bg == p.n_accels).long() - (bg == p.n_accels + 1).long()
        accel = torch.cat([av_accel, bg_accel], 1)
        lane_change = torch.cat([av_change, bg_change], 1)
        idm_driven = torch.cat([torch.zeros_like(av_change, dtype=torch.bool), bg_change != 0], 1)
        return accel, lane_change, idm_driven

    def _step_state(self, state: HighwayState, actions: dict[str, torch.Tensor]) -> tuple[
        HighwayState, dict[str, torch.Tensor], torch.Tensor, torch.Tensor, dict[str, Any]
    ]:
        p = self.params
        accel, lane_change, idm_driven = self._decode(actions)
        new_lane, changing = change_lanes(state.lane, lane_change, n_lanes=p.n_lanes)
        nb = self._step_neighbours(state, new_lane, changing)
        idm_driven = idm_driven & changing
        if bool(idm_driven.any()):
            accel = torch.where(idm_driven, self._changer_accel(state, nb), accel)
        motion = integrate(state.position, state.speed, accel, length=state.length,
                           neighbours=nb, params=p)
        new = state.replace(
            position=motion.position, lane=new_lane, speed=motion.speed, accel=accel,
            time=state.time + 1, av_travelled=state.av_travelled + motion.av_advance,
            av_min_ttc=torch.minimum(state.av_min_ttc, motion.av_min_ttc),
            av_crash=state.av_crash | motion.av_crash,
            any_crash=state.any_crash | motion.any_crash,
        )
        finished = new.av_travelled >= p.test_length
        terminated = new.any_crash | finished
        truncated = ~terminated & (new.time >= p.max_steps)
        crash = motion.av_crash.float()
        rewards = {
            "av": (motion.av_advance / p.test_length - crash).unsqueeze(1),
            "background": crash.unsqueeze(1).expand(-1, p.n_background),
        }
        info = {"av_crash": motion.av_crash, "crash": motion.any_crash,
                "lane_changed": changing}
        return new, rewards, terminated, truncated, info

    def _step_neighbours(self, state, new_lane, changing) -> Neighbours:
        """The step's fixed neighbours (``[B, V, 2]``): searched again only where lanes change.

        Without lane changes in an environment, the step's neighbours are the scene's
        own-lane ones (and none in a second lane), so only environments with a changing
        vehicle pay for a new search.
        """
        p = self.params
        scene = self.scene(state)
        own = scene.neighbours
        none = torch.full_like(own.leader[..., :1], -1)
        zero = torch.zeros_like(own.leader_offset[..., :1])
        nb = Neighbours(
            torch.cat([own.leader[..., :1], none], -1),
            torch.cat([own.leader_offset[..., :1], zero], -1),
            torch.cat([own.follower[..., :1], none], -1),
            torch.cat([own.follower_offset[..., :1], zero], -1),
        )
        index = changing.any(1).nonzero().squeeze(1)
        if index.numel() == 0:
            return nb
        part = step_neighbours(
            scene.order[index], scene.rank[index], state.lane[index], new_lane[index],
            changing[index], n_lanes=p.n_lanes, road_length=p.road_length,
        )
        return merge_rows(nb, index, part)

    def _changer_accel(self, state, nb) -> torch.Tensor:
        """IDM acceleration ``[B, V]`` behind the more constraining of a changer's leaders."""
        p = self.params
        gaps = leader_gaps(state.position, state.length, nb.leader, nb.leader_offset)
        leader_speed = take(state.speed, nb.leader, missing=state.speed.unsqueeze(-1))
        own = {k: v.unsqueeze(-1) for k, v in idm_kwargs(driver_params(state)).items()}
        acc = idm_acceleration(state.speed.unsqueeze(-1), gaps, leader_speed, **own,
                               delta=p.background.delta, sensing_range=p.sensing_range)
        return acc.amin(-1).clamp(p.accel_min, p.accel_max)

    def _observe(self, state: HighwayState) -> dict[str, torch.Tensor]:
        rows = observe(state, self.scene(state), self.params)
        return {"av": rows[:, :1], "background": rows[:, 1:]}

    def _action_masks(self, state: HighwayState) -> dict[str, torch.Tensor]:
        p = self.params
        lane = state.lane[:, 1:]
        mask = torch.ones(*lane.shape, p.n_background_actions, dtype=torch.bool,
                          device=self.device)
        mask[..., p.n_accels] = lane + 1 < p.n_lanes
        mask[..., p.n_accels + 1] = lane > 0
        return {"background": mask}

    def _episode_metrics(self, state: HighwayState) -> dict[str, torch.Tensor]:
        p = self.params
        duration = state.time.float() * p.decision_dt
        return {
            "crash": state.av_crash.float(),
            "any_crash": state.any_crash.float(),
            "distance": state.av_travelled,
            "mean_speed": state.av_travelled / duration.clamp(min=1e-9),
            "min_ttc": state.av_min_ttc.clamp(max=p.ttc_cap),
            "duration": duration,
        }
