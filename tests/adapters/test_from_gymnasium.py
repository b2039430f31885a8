import gymnasium as gym
import numpy as np
import pytest
import torch

from sandbox.adapters.from_gymnasium import GymnasiumWorld
from sandbox.core import ConfigError
from sandbox.policies import RandomPolicy


def test_cartpole_shapes_roles_and_same_step_autoreset():
    world = GymnasiumWorld.make("CartPole-v1", num_envs=3, seed=0)
    role = world.roles["agent"]
    assert role.count == 1 and role.obs_dim == 4 and role.action_space == gym.spaces.Discrete(2)
    obs = world.reset()
    assert obs["agent"].shape == (3, 1, 4) and obs["agent"].dtype == torch.float32
    returns = torch.zeros(3)
    for _ in range(200):  # always pushing right ends every episode within ~10 steps
        result = world.step({"agent": torch.ones(3, 1, dtype=torch.long)})
        assert result.rewards["agent"].shape == (3, 1)
        returns += result.rewards["agent"][:, 0]
        if result.done.any():
            done = result.done
            assert torch.equal(result.final_metrics["episode_return"][done], returns[done])
            assert torch.isnan(result.final_metrics["episode_return"][~done]).all()
            # the final observation is the failed pole, the new one a fresh start
            final = result.final_obs["agent"][done, 0]
            assert (final[:, 2].abs() > 0.2).all()
            assert (result.obs["agent"][done, 0].abs() < 0.05).all()
            returns[done] = 0
    world.close()


def test_same_seed_same_trajectory_and_reset_seed_restarts():
    a = GymnasiumWorld.make("CartPole-v1", num_envs=2, seed=5)
    b = GymnasiumWorld.make("CartPole-v1", num_envs=2, seed=5)
    assert torch.equal(a.reset()["agent"], b.reset()["agent"])
    first = a.reset(seed=9)["agent"]
    a.step({"agent": torch.zeros(2, 1, dtype=torch.long)})
    assert torch.equal(a.reset(seed=9)["agent"], first)


def test_pendulum_box_actions_and_truncation():
    world = GymnasiumWorld.make("Pendulum-v1", num_envs=2, seed=0)
    role = world.roles["agent"]
    assert isinstance(role.action_space, gym.spaces.Box) and role.action_shape() == (1,)
    policy = RandomPolicy(role)
    obs = world.reset()
    for _ in range(200):
        result = world.step({"agent": policy.act(obs["agent"])})
        obs = result.obs
        assert (result.rewards["agent"] <= 0).all()
    assert result.truncated.all() and not result.terminated.any()
    assert (result.final_metrics["episode_length"] == 200).all()
    world.close()


def test_next_step_autoreset_env_is_rejected_and_bad_id():
    env = gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="sync",
                       vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.NEXT_STEP})
    with pytest.raises(ConfigError, match="SAME_STEP"):
        GymnasiumWorld(env)
    env.close()
    with pytest.raises(ConfigError, match="env_id"):
        GymnasiumWorld.make("NoSuchEnv-v0")


def test_wrong_action_shape_is_reported():
    world = GymnasiumWorld.make("CartPole-v1", num_envs=2)
    world.reset()
    with pytest.raises(ValueError, match="expected"):
        world.step({"agent": torch.zeros(2, dtype=torch.long)})
    assert np.asarray(world.env.num_envs) == 2
