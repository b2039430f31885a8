import gymnasium as gym
import numpy as np
import pytest
import torch

from sandbox.core import POLICIES, CheckpointError, ConfigError, Role
from sandbox.policies import ConstantPolicy, NeuralPolicy, RandomPolicy
from tests.core.toy_world import CounterParams, CounterWorld

OBS = gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)


def world():
    w = CounterWorld(CounterParams(count=3), num_envs=4)
    w.reset()
    return w


def test_random_policy_respects_the_worlds_mask():
    w = world()
    policy = POLICIES.get("random")(w, "workers")
    policy.reset(1)
    obs, masks = w.reset(), w.action_masks()
    seen = set()
    for _ in range(30):
        action = policy.act(obs["workers"], masks["workers"])
        assert action.shape == (4, 3)
        seen |= set(action.unique().tolist())
    assert seen == {0, 1}  # action 2 is masked out; both valid ones appear


def test_random_policy_is_uniform_and_reproducible():
    r = Role("r", 1, OBS, gym.spaces.Discrete(4, start=1))
    policy = RandomPolicy(r)
    policy.reset(0)
    draws = policy.act(torch.zeros(20000, 1, 2))
    freq = torch.bincount(draws.flatten(), minlength=5)[1:].float() / 20000
    assert torch.allclose(freq, torch.full((4,), 0.25), atol=0.015)
    policy.reset(0)
    assert torch.equal(policy.act(torch.zeros(20000, 1, 2)), draws)


def test_random_policy_multidiscrete_blocks_and_box():
    r = Role("planner", 1, OBS, gym.spaces.MultiDiscrete([3, 4]), True)
    mask = torch.tensor([True, False, False, False, True, True, False]).expand(100, 1, 7)
    action = RandomPolicy(r).act(torch.zeros(100, 1, 2), mask)
    assert (action[..., 0] == 0).all() and ((action[..., 1] == 1) | (action[..., 1] == 2)).all()
    box = Role("b", 2, OBS, gym.spaces.Box(-1.0, 3.0, (2,), np.float32))
    sample = RandomPolicy(box).act(torch.zeros(50, 2, 2))
    assert sample.shape == (50, 2, 2) and ((sample >= -1) & (sample <= 3)).all()
    unbounded = Role("u", 1, OBS, gym.spaces.Box(-np.inf, np.inf, (1,), np.float32))
    with pytest.raises(ConfigError, match="finite bounds"):
        RandomPolicy(unbounded)


def test_random_policy_rejects_rows_without_valid_actions():
    r = Role("r", 1, OBS, gym.spaces.Discrete(3), True)
    with pytest.raises(ValueError, match="no valid action"):
        RandomPolicy(r).act(torch.zeros(2, 1, 2), torch.zeros(2, 1, 3, dtype=torch.bool))


def test_constant_policy_and_its_validation():
    w = world()
    policy = POLICIES.get("constant")(w, "workers", action=1)
    assert (policy.act(torch.zeros(4, 3, 2)) == 1).all()
    assert policy.describe() == {"policy": "constant", "action": 1}
    for bad in (3, -1, 1.5, True, "1"):
        with pytest.raises(ConfigError, match="action"):
            POLICIES.get("constant")(w, "workers", action=bad)
    with pytest.raises(ConfigError, match="action"):
        POLICIES.get("constant")(w, "workers")
    md = Role("p", 1, OBS, gym.spaces.MultiDiscrete([3, 4]))
    assert ConstantPolicy(md, action=[2, 3]).act(torch.zeros(2, 1, 2)).tolist() == [[[2, 3]]] * 2
    with pytest.raises(ConfigError):
        ConstantPolicy(md, action=[3, 0])
    box = Role("b", 1, OBS, gym.spaces.Box(0.0, 1.0, (2,), np.float32))
    assert torch.allclose(ConstantPolicy(box, action=0.5).act(torch.zeros(1, 1, 2)),
                          torch.full((1, 1, 2), 0.5))
    with pytest.raises(ConfigError, match="within"):
        ConstantPolicy(box, action=[0.5, 2.0])


def test_factories_reject_unknown_roles_and_params():
    w = world()
    with pytest.raises(ConfigError, match="role"):
        POLICIES.get("random")(w, "planner")
    with pytest.raises(ConfigError, match="no parameters"):
        POLICIES.get("random")(w, "workers", temperature=2)


def test_checkpoint_factory_loads_a_fitting_policy(tmp_path):
    w = world()
    policy = NeuralPolicy(w.roles["workers"])
    path = tmp_path / "workers.pt"
    policy.save(path)
    loaded = POLICIES.get("checkpoint")(w, "workers", path=str(path))
    obs = w.reset()["workers"]
    assert torch.equal(loaded.act(obs, deterministic=True), policy.act(obs, deterministic=True))
    with pytest.raises(ConfigError, match="path"):
        POLICIES.get("checkpoint")(w, "workers")
    with pytest.raises(CheckpointError, match="does not exist"):
        POLICIES.get("checkpoint")(w, "workers", path=str(tmp_path / "nope.pt"))
