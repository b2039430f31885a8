"""Small highway settings shared by the testing-harness tests."""

from sandbox.worlds.traffic import HighwayParams

# a small, crash-prone setting (about 0.2 crashes per test): dense noisy traffic and an
# AV that follows closely and brakes at most 1 m/s^2
TINY = HighwayParams(n_background=35, road_length=600.0, av_start=100.0, av_end=400.0,
                     accel_noise=1.5)
RECKLESS = {"time_headway": 0.5, "max_decel": 1.0, "lane_changes": False}
