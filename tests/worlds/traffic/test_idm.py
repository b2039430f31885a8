import pytest
import torch

from sandbox.worlds.traffic import HighwayParams, HighwayWorld, IdmMobilPolicy
from sandbox.worlds.traffic.drivers import (
    equilibrium_gap,
    equilibrium_speed,
    idm_acceleration,
    power,
)
from sandbox.worlds.traffic.params import AV_DRIVER, BACKGROUND_DRIVER


def idm_of(driver):
    return dict(max_accel=driver.max_accel, comfort_decel=driver.comfort_decel,
                min_gap=driver.min_gap, time_headway=driver.time_headway,
                desired_speed=driver.desired_speed, delta=driver.delta)


@pytest.mark.parametrize("driver", [BACKGROUND_DRIVER, AV_DRIVER])
def test_acceleration_is_zero_at_the_analytic_equilibrium_gap(driver):
    speed = torch.linspace(0.0, 0.95 * driver.desired_speed, 20)
    params = idm_of(driver)
    gap = equilibrium_gap(speed, **{k: params[k] for k in
                                    ("min_gap", "time_headway", "desired_speed", "delta")})
    expected = (driver.min_gap + speed * driver.time_headway) / torch.sqrt(
        1 - (speed / driver.desired_speed) ** driver.delta)
    assert torch.allclose(gap, expected)
    acc = idm_acceleration(speed, gap, speed, **params)
    assert acc.abs().max() < 1e-5


def test_equilibrium_speed_inverts_the_equilibrium_gap():
    shape = dict(min_gap=5.0, time_headway=1.5, desired_speed=35.0, delta=4.0)
    speed = torch.linspace(1.0, 33.0, 17, dtype=torch.float64)
    gap = equilibrium_gap(speed, **shape)
    assert torch.allclose(equilibrium_speed(gap, **shape), speed, atol=1e-6)
    assert torch.allclose(equilibrium_speed(torch.tensor([4.0, 5.0]), **shape), torch.zeros(2),
                          atol=1e-6)


def test_free_road_and_monotone_in_gap():
    params = idm_of(BACKGROUND_DRIVER)
    v = torch.tensor(20.0)
    free = idm_acceleration(v, torch.tensor(1e6), v, **params, sensing_range=200.0)
    assert free.item() == pytest.approx(2.0 * (1 - (20 / 35) ** 4))
    gaps = torch.linspace(2.0, 150.0, 50)
    acc = idm_acceleration(v.expand(50), gaps, torch.full((50,), 15.0), **params)
    assert (acc.diff() > 0).all()
    # beyond the sensing range the leader is not seen
    far = idm_acceleration(v, torch.tensor(250.0), torch.tensor(0.0), **params,
                           sensing_range=200.0)
    assert far.item() == pytest.approx(free.item())


def test_power_matches_pow():
    x = torch.rand(100)
    for exponent in (1.0, 2.0, 3.0, 4.0, 5.0, 2.5):
        assert torch.allclose(power(x, exponent), x**exponent)


@pytest.mark.parametrize("decision_dt", [1.0, 0.5])
def test_av_settles_at_the_equilibrium_gap_behind_a_steady_leader(decision_dt):
    params = HighwayParams(n_lanes=1, n_background=1, road_length=2000.0, av_start=0.0,
                           av_end=1e6, time_limit=1e4, decision_dt=decision_dt)
    world = HighwayWorld(params)
    obs = world.set_layout(position=[0.0, 80.0], lane=[0, 0], speed=[20.0, 25.0])
    av = IdmMobilPolicy(world)
    hold = torch.tensor([[int(round(-params.accel_min / params.accel_step))]])
    for _ in range(int(120 / decision_dt)):
        obs = world.step({"av": av.act(obs["av"]), "background": hold}).obs
    state = world.state
    gap = (state.position[0, 1] - state.length[0, 1] - state.position[0, 0]).item()
    expected = (2.0 + 25.0 * 1.2) / (1 - (25.0 / 33.33) ** 4) ** 0.5
    assert gap == pytest.approx(expected, rel=1e-3)
    assert state.speed[0, 0].item() == pytest.approx(25.0, abs=1e-3)
