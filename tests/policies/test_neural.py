import json

import gymnasium as gym
import numpy as np
import pytest
import torch

from sandbox.core import CheckpointError, ConfigError, Role
from sandbox.policies import NetworkConfig, NeuralPolicy
from sandbox.policies.neural import FORMAT

OBS = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)


def role(action_space, count=4, has_mask=False, obs=OBS):
    return Role("workers", count, obs, action_space, has_mask)


SPACES = {
    "discrete": gym.spaces.Discrete(6),
    "multidiscrete": gym.spaces.MultiDiscrete([4, 4, 3]),
    "box": gym.spaces.Box(-2.0, 3.0, (2,), np.float32),
}


@pytest.mark.parametrize("space", list(SPACES))
@pytest.mark.parametrize("kind", ["mlp", "gru"])
def test_act_shapes_and_dtypes(space, kind):
    r = role(SPACES[space])
    policy = NeuralPolicy(r, config=NetworkConfig(kind=kind, hidden_sizes=(16, 16),
                                                  agent_embedding=2))
    obs = torch.randn(5, 4, 3)
    action = policy.act(obs)
    assert action.shape == (5, 4, *r.action_shape())
    assert action.dtype == r.action_dtype()
    assert SPACES[space].contains(action[0, 0].numpy().astype(SPACES[space].dtype))


def test_masks_are_respected_when_acting():
    r = role(gym.spaces.Discrete(5), has_mask=True)
    policy = NeuralPolicy(r, seed=3)
    mask = torch.zeros(50, 4, 5, dtype=torch.bool)
    mask[..., 1] = True
    mask[..., 3] = True
    for deterministic in (False, True):
        action = policy.act(torch.randn(50, 4, 3), mask, deterministic=deterministic)
        assert ((action == 1) | (action == 3)).all()


def test_beta_head_and_deterministic_mode():
    r = role(gym.spaces.Box(0.0, 1.0, (3,), np.float32))
    policy = NeuralPolicy(r, config=NetworkConfig(continuous="beta"))
    obs = torch.randn(2, 4, 3)
    sample = policy.act(obs)
    assert ((sample > 0) & (sample < 1)).all()
    assert torch.equal(policy.act(obs, deterministic=True), policy.act(obs, deterministic=True))


def test_same_seed_same_actions():
    r = role(gym.spaces.Discrete(6))
    a, b = NeuralPolicy(r, seed=1), NeuralPolicy(r, seed=1)
    b.module.load_state_dict(a.module.state_dict())
    obs = torch.randn(8, 4, 3)
    assert torch.equal(a.act(obs), b.act(obs))
    a.reset(9)
    b.reset(9)
    assert torch.equal(a.act(obs), b.act(obs))


def test_gru_sequence_evaluation_matches_stepwise_decisions():
    r = role(gym.spaces.Discrete(3), count=2)
    policy = NeuralPolicy(r, config=NetworkConfig(kind="gru", hidden_sizes=(8,)))
    module = policy.module
    obs = torch.randn(5, 2, 3)
    starts = torch.tensor([[False, False], [False, False], [True, False],
                           [False, True], [False, False]])
    hidden = torch.randn(2, 8)
    heads, values = module.evaluate_sequence(obs, torch.arange(2), hidden, starts)
    h = hidden
    for t in range(5):
        h = h * (~starts[t]).unsqueeze(-1)
        head, value, h = module.step(obs[t], torch.arange(2), h)
        assert torch.allclose(head, heads[t], atol=1e-6)
        assert torch.allclose(value, values[t], atol=1e-6)


def test_gru_policy_carries_state_and_forgets_at_episode_end():
    r = role(gym.spaces.Discrete(3), count=2)
    policy = NeuralPolicy(r, config=NetworkConfig(kind="gru", hidden_sizes=(8,)))
    obs = torch.randn(3, 2, 3)
    policy.act(obs)
    assert policy.hidden is not None and policy.hidden.abs().sum() > 0
    policy.end_episodes(torch.tensor([True, False, False]))
    assert (policy.hidden[0] == 0).all() and policy.hidden[1].abs().sum() > 0
    policy.reset()
    assert policy.hidden is None


def test_network_config_rejects_bad_values():
    with pytest.raises(ConfigError, match="network.kind"):
        NetworkConfig(kind="lstm")
    with pytest.raises(ConfigError, match="hidden_sizes"):
        NetworkConfig(hidden_sizes=(0,))
    with pytest.raises(ConfigError, match="continuous"):
        NetworkConfig(continuous="uniform")
    with pytest.raises(ConfigError, match="finite bounds"):
        NeuralPolicy(role(gym.spaces.Box(-np.inf, np.inf, (1,), np.float32)))


# ------------------------------------------------------------------ checkpoints
@pytest.mark.parametrize("space", list(SPACES))
def test_save_load_round_trip(tmp_path, space):
    r = role(SPACES[space], has_mask=space != "box")
    config = NetworkConfig(hidden_sizes=(12,), agent_embedding=3, continuous="beta")
    policy = NeuralPolicy(r, config=config)
    path = tmp_path / "policy.pt"
    policy.save(path, extra={"world": "toy"})
    assert [p.name for p in tmp_path.iterdir()] == ["policy.pt"]  # no temp file left
    loaded = NeuralPolicy.load(path, role=r, seed=5)
    assert loaded.config == config
    for key, value in policy.module.state_dict().items():
        assert torch.equal(value, loaded.module.state_dict()[key])
    obs = torch.randn(6, 4, 3)
    assert torch.equal(policy.act(obs, deterministic=True), loaded.act(obs, deterministic=True))
    rebuilt = NeuralPolicy.load(path)  # role from the metadata
    assert rebuilt.role.name == "workers" and rebuilt.role.count == 4
    payload = torch.load(path, weights_only=True)
    meta = json.loads(payload["metadata"])
    assert payload["format"] == FORMAT and meta["extra"] == {"world": "toy"}
    assert meta["network"]["agent_embedding"] == 3


def test_checkpoint_with_other_spaces_is_rejected(tmp_path):
    path = tmp_path / "p.pt"
    NeuralPolicy(role(gym.spaces.Discrete(6))).save(path)
    with pytest.raises(CheckpointError, match="action_space"):
        NeuralPolicy.load(path, role=role(gym.spaces.Discrete(7)))
    other_obs = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
    with pytest.raises(CheckpointError, match="observation_space"):
        NeuralPolicy.load(path, role=role(gym.spaces.Discrete(6), obs=other_obs))
    # without an embedding, the agent count may differ (parameters are shared)
    assert NeuralPolicy.load(path, role=role(gym.spaces.Discrete(6), count=9)).role.count == 9


def test_checkpoint_with_embedding_needs_the_same_count(tmp_path):
    path = tmp_path / "p.pt"
    NeuralPolicy(role(gym.spaces.Discrete(6)), config=NetworkConfig(agent_embedding=2)).save(path)
    with pytest.raises(CheckpointError, match="embeds 4 agent"):
        NeuralPolicy.load(path, role=role(gym.spaces.Discrete(6), count=5))


def test_corrupt_truncated_and_missing_checkpoints(tmp_path):
    path = tmp_path / "p.pt"
    NeuralPolicy(role(gym.spaces.Discrete(6))).save(path)
    data = path.read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        NeuralPolicy.load(truncated)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        NeuralPolicy.load(garbage)
    with pytest.raises(CheckpointError, match="does not exist"):
        NeuralPolicy.load(tmp_path / "missing.pt")
    other = tmp_path / "other.pt"
    torch.save({"format": "something.else"}, other)
    with pytest.raises(CheckpointError, match="not a sandbox.neural_policy"):
        NeuralPolicy.load(other)


def test_checkpoint_with_mismatched_weights_is_rejected(tmp_path):
    path = tmp_path / "p.pt"
    NeuralPolicy(role(gym.spaces.Discrete(6))).save(path)
    payload = torch.load(path, weights_only=True)
    payload["state_dict"].pop(next(iter(payload["state_dict"])))
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="do not fit"):
        NeuralPolicy.load(path)
