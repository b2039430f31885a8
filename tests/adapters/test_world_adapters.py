import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from pettingzoo.test import parallel_api_test

from sandbox.adapters.gymnasium_env import RoleEnv
from sandbox.adapters.pettingzoo_env import WorldParallelEnv
from tests.core.toy_world import CounterParams, CounterWorld


def make_counter(horizon=3, count=2):
    return lambda: CounterWorld(CounterParams(horizon=horizon, count=count))


def test_role_env_passes_gymnasium_checker_and_sums_rewards():
    env = RoleEnv(make_counter(), "workers", {})
    check_env(env, skip_render_check=True)
    obs, info = env.reset(seed=0)
    assert obs.shape == (2, 2)
    assert info["action_mask"].shape == (2, 3)
    total, done = 0.0, False
    while not done:
        obs, reward, terminated, truncated, _ = env.step(np.array([1, 0]))
        total += reward
        done = terminated or truncated
    assert total == 3.0  # three steps of 1 + 0
    assert obs[0, 0] == 3.0  # the final observation of the ended episode


def test_parallel_env_passes_pettingzoo_api_test():
    env = WorldParallelEnv(make_counter(horizon=4, count=3))
    parallel_api_test(env, num_cycles=20)
    observations, infos = env.reset(seed=1)
    assert set(observations) == {"workers_0", "workers_1", "workers_2"}
    assert infos["workers_0"]["action_mask"].tolist() == [1, 1, 0]


def test_adapters_refuse_batched_worlds_and_unknown_roles():
    with pytest.raises(ValueError, match="num_envs == 1"):
        RoleEnv(lambda: CounterWorld(num_envs=2), "workers", {})
    with pytest.raises(ValueError, match="unknown role"):
        RoleEnv(make_counter(), "planner", {})
