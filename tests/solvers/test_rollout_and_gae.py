import pytest
import torch

from sandbox.core import ConfigError
from sandbox.solvers import PPO, PPOConfig, RolloutCollector, compute_gae
from tests.solvers.toy_worlds import AlternatingWorld, LimitParams, TimeLimitWorld


def reference_gae(rewards, values, dones, bootstrap, gamma, lam):
    """Plain scalar loop over time, one stream at a time."""
    steps, streams = len(rewards), len(rewards[0])
    advantages = [[0.0] * streams for _ in range(steps)]
    for j in range(streams):
        running, next_value = 0.0, bootstrap[j]
        for k in reversed(range(steps)):
            keep = 0.0 if dones[k][j] else 1.0
            delta = rewards[k][j] + gamma * next_value * keep - values[k][j]
            running = delta + gamma * lam * keep * running
            advantages[k][j] = running
            next_value = values[k][j]
    return advantages


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gae_equals_a_plain_reference_loop(seed):
    g = torch.Generator().manual_seed(seed)
    rewards = torch.randn(17, 6, generator=g, dtype=torch.float64)
    values = torch.randn(17, 6, generator=g, dtype=torch.float64)
    dones = torch.rand(17, 6, generator=g) < 0.2
    bootstrap = torch.randn(6, generator=g, dtype=torch.float64)
    advantages, returns = compute_gae(rewards, values, dones, bootstrap, gamma=0.97,
                                      gae_lambda=0.9)
    expected = reference_gae(rewards.tolist(), values.tolist(), dones.tolist(),
                             bootstrap.tolist(), 0.97, 0.9)
    assert torch.allclose(advantages, torch.tensor(expected, dtype=torch.float64))
    assert torch.allclose(returns, advantages + values)


def test_gae_with_lambda_one_is_the_discounted_return_minus_value():
    rewards = torch.tensor([[1.0], [2.0], [3.0]])
    values = torch.tensor([[0.5], [0.5], [0.5]])
    dones = torch.tensor([[False], [False], [True]])
    _, returns = compute_gae(rewards, values, dones, torch.tensor([100.0]), gamma=0.5,
                             gae_lambda=1.0)
    assert torch.allclose(returns[:, 0], torch.tensor([1 + 0.5 * 2 + 0.25 * 3, 2 + 1.5, 3.0]))


def test_roles_acting_on_alternate_steps_get_rewards_until_their_next_decision():
    world = AlternatingWorld(num_envs=3, seed=0)
    leader, followers = PPO(world, "leader", seed=1), PPO(world, "followers", seed=2)
    collector = RolloutCollector(world, {"leader": leader, "followers": followers})
    collector.reset(0)
    batches = collector.collect(6)  # three full episodes
    lead, follow = batches["leader"], batches["followers"]
    assert lead.num_transitions == 3 and follow.num_transitions == 3
    # leader: 1 at its own step, then 10 * its action when the followers settle
    assert torch.equal(lead.rewards[..., 0], 1 + 10 * lead.actions[..., 0].float())
    # followers: their action's reward only; the next episode's 5 goes to nobody
    assert torch.equal(follow.rewards, follow.actions.float())
    assert lead.dones.all() and follow.dones.all()
    assert lead.obs.shape == (3, 3, 1, 2) and follow.obs.shape == (3, 3, 2, 2)
    assert collector.rollout_metrics["lead"] == pytest.approx(lead.actions.float().mean().item())


def test_open_decision_is_carried_into_the_next_rollout():
    world = AlternatingWorld(num_envs=2, seed=0)
    leader, followers = PPO(world, "leader", seed=1), PPO(world, "followers", seed=2)
    collector = RolloutCollector(world, {"leader": leader, "followers": followers})
    collector.reset(0)
    first = collector.collect(1)  # the leader acted; its window is still open
    assert "leader" not in first
    second = collector.collect(1)
    assert second["leader"].num_transitions == 1
    expected = 1 + 10 * second["leader"].actions[..., 0].float()
    assert torch.equal(second["leader"].rewards[..., 0], expected)


def test_truncation_bootstraps_with_the_final_observation_value():
    world = TimeLimitWorld(LimitParams(limit=3), num_envs=2)
    learner = PPO(world, "agent", PPOConfig(gamma=0.9), seed=0)
    collector = RolloutCollector(world, {"agent": learner})
    collector.reset(0)
    batch = collector.collect(3)["agent"]
    final_obs = torch.tensor([[3.0, 1.0]]).expand(2, 1, 2)
    bonus = 0.9 * learner.policy.value(final_obs)
    assert torch.allclose(batch.rewards[:2], torch.ones(2, 2, 1))
    assert torch.allclose(batch.rewards[2], 1 + bonus)
    assert batch.dones[2].all() and not batch.dones[:2].any()


def test_collector_needs_a_policy_for_every_role():
    world = AlternatingWorld(num_envs=1)
    with pytest.raises(ConfigError, match="followers"):
        RolloutCollector(world, {"leader": PPO(world, "leader")})


def test_ppo_config_rejects_bad_values():
    for kwargs, field in [({"learning_rate": -1e-3}, "learning_rate"), ({"gamma": 1.5}, "gamma"),
                          ({"num_steps": 0}, "num_steps"), ({"clip_coef": 0}, "clip_coef"),
                          ({"target_kl": -0.1}, "target_kl"), ({"update_epochs": 2.5}, "epochs")]:
        with pytest.raises(ConfigError, match=field):
            PPOConfig(**kwargs)
    assert PPOConfig(ent_coef=0.2, ent_coef_end=0.0).entropy_at(0.5) == pytest.approx(0.1)
