"""Driver models as tensor kernels: IDM, its equilibrium, MOBIL, and the naturalistic model.

Every function broadcasts over its tensor arguments (any shape, e.g. ``[B, V]``); speeds
are m/s, gaps m (bumper to bumper), accelerations m/s^2. Gaps at or beyond the sensing
range count as a free road, so a missing leader is any gap beyond it (the world uses
:data:`~sandbox.worlds.traffic.neighbours.FAR`).
"""

from __future__ import annotations

import torch

#: Gap used in place of a touching or overlapping one, m (keeps (s*/s)^2 finite).
_TINY_GAP = 1e-3


def idm_acceleration(
    speed: torch.Tensor,
    gap: torch.Tensor,
    leader_speed: torch.Tensor,
    *,
    max_accel,
    comfort_decel,
    min_gap,
    time_headway,
    desired_speed,
    delta,
    sensing_range: float = float("inf"),
) -> torch.Tensor:
    """Intelligent Driver Model acceleration (Treiber et al. 2000).

    ``acc = a [1 - (v/v0)^delta - (s*/s)^2]``, ``s* = s0 + max(0, v T + v dv / (2 sqrt(a b)))``
    with ``dv = v - v_leader``. The dynamic part of ``s*`` is kept non-negative, as Treiber
    and Kesting recommend, which leaves the equilibrium gap unchanged.

    Args:
        speed: own speed, m/s.
        gap: bumper-to-bumper gap to the leader, m (a missing leader is a gap beyond the
            sensing range, e.g. ``neighbours.FAR``).
        leader_speed: the leader's speed, m/s (ignored where there is no leader).
        max_accel: ``a``, m/s^2 (tensor broadcastable to ``speed``, or float).
        comfort_decel: ``b``, m/s^2.
        min_gap: ``s0``, m.
        time_headway: ``T``, s.
        desired_speed: ``v0``, m/s.
        delta: the acceleration exponent (a float: one value for the whole world).
        sensing_range: gaps at or beyond it are a free road, m.

    Returns:
        Acceleration, m/s^2, shaped like the broadcast of the inputs.
    """
    free = 1.0 - power(speed / desired_speed, delta)
    approach = speed * (speed - leader_speed) / (2.0 * (max_accel * comfort_decel) ** 0.5)
    desired_gap = min_gap + torch.clamp(speed * time_headway + approach, min=0.0)
    # masks by multiplication: torch.where is several times slower on the CPU
    seen = gap < sensing_range
    interaction = (desired_gap / gap.clamp(min=_TINY_GAP)) ** 2 * seen
    return max_accel * (free - interaction)


def power(x: torch.Tensor, exponent: float) -> torch.Tensor:
    """``x ** exponent`` by repeated multiplication for small whole exponents (IDM's 4).

    ``torch.pow`` with a non-trivial exponent is an order of magnitude slower on the CPU.

    Args:
        x: tensor.
        exponent: a float; whole values 1..8 take the fast path.

    Returns:
        Tensor like ``x``.
    """
    whole = float(exponent)
    if not (whole.is_integer() and 1 <= whole <= 8):
        return x ** exponent
    n, result, base = int(whole), None, x
    while n:
        if n & 1:
            result = base if result is None else result * base
        n >>= 1
        if n:
            base = base * base
    return result


def equilibrium_gap(speed, *, min_gap, time_headway, desired_speed, delta):
    """IDM equilibrium gap ``(s0 + v T) / sqrt(1 - (v/v0)^delta)`` behind an equal-speed leader.

    Args:
        speed: m/s, below ``desired_speed``.
        min_gap: ``s0``, m.
        time_headway: ``T``, s.
        desired_speed: ``v0``, m/s.
        delta: the acceleration exponent.

    Returns:
        Gap, m (same shape as ``speed``).
    """
    return (min_gap + speed * time_headway) / torch.sqrt(1.0 - power(speed / desired_speed, delta))


def equilibrium_speed(gap, *, min_gap, time_headway, desired_speed, delta, iterations=30):
    """Speed at which ``gap`` is the IDM equilibrium gap (inverse of :func:`equilibrium_gap`).

    The equilibrium gap rises from ``s0`` at rest to infinity at ``v0``, so bisection on
    ``[0, v0]`` converges; gaps at or below ``s0`` give speed 0.

    Args:
        gap: bumper-to-bumper gap, m.
        min_gap: ``s0``, m (tensor or float).
        time_headway: ``T``, s.
        desired_speed: ``v0``, m/s.
        delta: the acceleration exponent.
        iterations: bisection halvings (30 gives ``v0 / 2^30`` precision).

    Returns:
        Speed, m/s (same shape as ``gap``).
    """
    v0 = torch.as_tensor(desired_speed, dtype=gap.dtype, device=gap.device)
    low = torch.zeros_like(gap)
    high = torch.zeros_like(gap) + v0
    for _ in range(iterations):
        mid = 0.5 * (low + high)
        s_e = equilibrium_gap(mid, min_gap=min_gap, time_headway=time_headway,
                              desired_speed=desired_speed, delta=delta)
        too_fast = s_e > gap
        high = torch.where(too_fast, mid, high)
        low = torch.where(too_fast, low, mid)
    return low


def mobil_incentive(
    own: dict,
    *,
    acc_now: torch.Tensor,
    acc_after: torch.Tensor,
    new_follower_now: torch.Tensor,
    new_follower_after: torch.Tensor,
    old_follower_now: torch.Tensor,
    old_follower_after: torch.Tensor,
    target_gaps_ok: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """MOBIL's safety criterion and incentive for one side (Kesting et al. 2007).

    Safe when the new follower's acceleration after the change is at least ``-b_safe``
    and neither target-lane gap overlaps. Incentive:
    ``acc_after - acc_now + p (new_follower_after - new_follower_now
    + old_follower_after - old_follower_now) - threshold``. Missing followers contribute
    0 to both their terms (pass equal now/after values).

    Args:
        own: the changer's parameters with keys ``politeness``, ``gain_threshold``,
            ``safe_decel`` (tensors or floats).
        acc_now: own IDM acceleration behind the current leader, m/s^2.
        acc_after: own IDM acceleration behind the target-lane leader, m/s^2.
        new_follower_now: target-lane follower's acceleration now, m/s^2.
        new_follower_after: its acceleration behind the changer, m/s^2.
        old_follower_now: current follower's acceleration behind the changer, m/s^2.
        old_follower_after: its acceleration behind the changer's leader, m/s^2.
        target_gaps_ok: bool, both target-lane gaps positive and the lane exists.

    Returns:
        ``(safe, incentive)``: bool and m/s^2, broadcast shape.
    """
    safe = target_gaps_ok & (new_follower_after >= -own["safe_decel"])
    gain = (acc_after - acc_now) + own["politeness"] * (
        (new_follower_after - new_follower_now) + (old_follower_after - old_follower_now)
    )
    return safe, gain - own["gain_threshold"]


def lane_change_choice(safe_left, gain_left, safe_right, gain_right) -> torch.Tensor:
    """MOBIL's advice: +1 (left), -1 (right) or 0, the side with the larger positive incentive.

    Args:
        safe_left: bool, the left change is safe (and the lane exists).
        gain_left: incentive to the left, m/s^2 (advised when > 0).
        safe_right: bool, as for the left.
        gain_right: incentive to the right, m/s^2.

    Returns:
        int64 advice, same shape as the inputs.
    """
    go_left = safe_left & (gain_left > 0)
    go_right = safe_right & (gain_right > 0)
    left_wins = go_left & (~go_right | (gain_left >= gain_right))
    return left_wins.long() - (go_right & ~left_wins).long()


def grid_weights(idm_accel: torch.Tensor, *, grid: torch.Tensor, noise: float) -> torch.Tensor:
    """Unnormalised ``exp(-(u - a_IDM)^2 / (2 noise^2))`` on the grid, largest entry near 1.

    The exponent is shifted by its value at ``a_IDM`` clipped into the grid, which is the
    grid's largest entry when ``a_IDM`` lies outside it (and within ``(step/2/noise)^2 / 2``
    of it inside), so no row underflows to all zeros; a shift cancels on normalising.

    Args:
        idm_accel: ``[...]`` IDM acceleration, m/s^2.
        grid: ``[n_accels]`` acceleration grid, m/s^2 (ascending).
        noise: standard deviation, m/s^2.

    Returns:
        ``[..., n_accels]`` float32 weights.
    """
    # -((u - a)^2 - (n - a)^2) / (2 s^2) = -(u - n) (u + n - 2 a) / (2 s^2) with n = a
    # clipped into the grid: no term of order a^2 / s^2, whose float32 rounding made the
    # expanded form inaccurate for large |a| (and NaN for a vehicle all but touching its
    # leader, whose IDM asks for -1e5 m/s^2 and more)
    nearest = idm_accel.clamp(float(grid[0]), float(grid[-1])).unsqueeze(-1)
    span = (grid + nearest).sub_(2.0 * idm_accel.unsqueeze(-1))
    exponent = (grid - nearest).mul_(span).mul_(-0.5 / noise**2)
    return exponent.exp_()


def lane_change_shares(
    advice: torch.Tensor,
    *,
    lane_change_prob: float,
    cut_in_prob: float = 0.0,
    fits: torch.Tensor | None = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Probabilities of changing left and right in one decision step.

    The side MOBIL advises gets ``lane_change_prob``; each other side where the vehicle
    fits (``fits``: the lane exists and the gaps to its leader and follower there are
    positive) gets ``cut_in_prob``, an unadvised change (an aggressive or inattentive
    cut-in, which MOBIL would call unsafe or not worth it).

    Args:
        advice: ``[...]`` int64 MOBIL advice (+1 left, -1 right, 0 none).
        lane_change_prob: probability of an advised change per decision step.
        cut_in_prob: probability per decision step and side of an unadvised change.
        fits: ``[..., 2]`` bool, the vehicle fits into the (left, right) lane; needed
            when ``cut_in_prob > 0``.
        dtype: of the result.

    Returns:
        ``(left [...], right [...])`` probabilities.
    """
    left = (advice == 1).to(dtype) * lane_change_prob
    right = (advice == -1).to(dtype) * lane_change_prob
    if cut_in_prob > 0.0:
        if fits is None:
            raise ValueError("cut_in_prob > 0 needs `fits`, where each vehicle fits beside it")
        left = left + ((advice != 1) & fits[..., 0]).to(dtype) * cut_in_prob
        right = right + ((advice != -1) & fits[..., 1]).to(dtype) * cut_in_prob
    return left, right


def naturalistic_probabilities(
    idm_accel: torch.Tensor,
    advice: torch.Tensor,
    *,
    grid: torch.Tensor,
    noise: float,
    lane_change_prob: float,
    cut_in_prob: float = 0.0,
    fits: torch.Tensor | None = None,
) -> torch.Tensor:
    """The naturalistic model's action probabilities ``p(u | s)``.

    Accelerations: ``N(a_IDM, noise^2)`` evaluated on the grid and normalised there.
    Lane changes: ``lane_change_prob`` on the side MOBIL advises and ``cut_in_prob`` on
    each other side the vehicle fits into (:func:`lane_change_shares`); the acceleration
    probabilities share the remaining mass.

    Args:
        idm_accel: ``[...]`` IDM acceleration of each driver, m/s^2.
        advice: ``[...]`` int64 MOBIL advice (+1 left, -1 right, 0 none).
        grid: ``[n_accels]`` acceleration grid, m/s^2.
        noise: standard deviation of the stochastic IDM, m/s^2.
        lane_change_prob: probability of an advised change per decision step.
        cut_in_prob: probability per step and side of an unadvised change (default 0).
        fits: ``[..., 2]`` bool, the vehicle fits into the (left, right) lane.

    Returns:
        ``[..., n_accels + 2]`` float32 probabilities (grid, left, right), rows sum to 1.
    """
    weights = grid_weights(idm_accel, grid=grid, noise=noise)
    left, right = lane_change_shares(advice, lane_change_prob=lane_change_prob,
                                     cut_in_prob=cut_in_prob, fits=fits, dtype=weights.dtype)
    keep = 1.0 - left - right
    accel = weights * (keep / weights.sum(-1)).unsqueeze(-1)
    return torch.cat([accel, left.unsqueeze(-1), right.unsqueeze(-1)], -1)


def sample_naturalistic(
    idm_accel: torch.Tensor,
    advice: torch.Tensor,
    *,
    grid: torch.Tensor,
    noise: float,
    lane_change_prob: float,
    generator: torch.Generator,
    cut_in_prob: float = 0.0,
    fits: torch.Tensor | None = None,
) -> torch.Tensor:
    """Draw actions from :func:`naturalistic_probabilities` without building its rows.

    First a lane change (left with its probability, else right with its), otherwise a
    grid acceleration by inverting the cumulative weights: the same distribution, fewer
    operations than sampling the full rows.

    Args:
        idm_accel: ``[...]`` IDM acceleration, m/s^2.
        advice: ``[...]`` int64 MOBIL advice.
        grid: ``[n_accels]`` acceleration grid, m/s^2.
        noise: standard deviation of the stochastic IDM, m/s^2.
        lane_change_prob: probability of an advised change per decision step.
        generator: the random stream.
        cut_in_prob: probability per step and side of an unadvised change (default 0).
        fits: ``[..., 2]`` bool, the vehicle fits into the (left, right) lane.

    Returns:
        ``[...]`` int64 actions: grid index, ``n_accels`` (left) or ``n_accels + 1`` (right).
    """
    n_accels = grid.shape[0]
    cdf = grid_weights(idm_accel, grid=grid, noise=noise).cumsum(-1)
    draws = torch.rand((2, *idm_accel.shape), generator=generator, device=idm_accel.device)
    target = (draws[1] * cdf[..., -1]).unsqueeze(-1)
    index = torch.searchsorted(cdf, target, right=True).squeeze(-1).clamp(max=n_accels - 1)
    left, right = lane_change_shares(advice, lane_change_prob=lane_change_prob,
                                     cut_in_prob=cut_in_prob, fits=fits, dtype=draws.dtype)
    go_left = draws[0] < left
    go_right = ~go_left & (draws[0] < left + right)
    index = torch.where(go_left, torch.full_like(index, n_accels), index)
    return torch.where(go_right, torch.full_like(index, n_accels + 1), index)
