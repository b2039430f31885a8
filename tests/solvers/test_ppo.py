import pytest
import torch

from sandbox.adapters.from_gymnasium import GymnasiumWorld
from sandbox.policies import NetworkConfig
from sandbox.solvers import PPO, PPOConfig, RolloutCollector
from tests.solvers.toy_worlds import AlternatingWorld

BANDIT = PPOConfig(num_steps=8, learning_rate=0.02, update_epochs=4, num_minibatches=2,
                   ent_coef=0.0, network=NetworkConfig(hidden_sizes=(16,)))


@pytest.mark.parametrize("kind", ["mlp", "gru"])
def test_two_roles_learn_their_best_actions_on_alternate_steps(kind):
    world = AlternatingWorld(num_envs=8, seed=0)
    config = PPOConfig(**{**BANDIT.__dict__,
                          "network": NetworkConfig(kind=kind, hidden_sizes=(16,))})
    leader, followers = PPO(world, "leader", config), PPO(world, "followers", config)
    collector = RolloutCollector(world, {"leader": leader, "followers": followers})
    collector.reset(0)
    for update in range(10):
        batches = collector.collect(config.num_steps)
        leader.update(batches["leader"], progress=update / 10)
        followers.update(batches["followers"], progress=update / 10)
    obs = world.reset(0)
    assert (leader.policy.act(obs["leader"], deterministic=True) == 1).all()
    state = world.step({"leader": torch.ones(8, 1, dtype=torch.long)})
    assert (followers.policy.act(state.obs["followers"], deterministic=True) == 2).all()


def _train_cartpole(seed: int, steps: int):
    world = GymnasiumWorld.make("CartPole-v1", num_envs=8, seed=seed)
    config = PPOConfig(num_steps=32, learning_rate=1e-3, gamma=0.98, gae_lambda=0.8,
                       update_epochs=20, num_minibatches=1, anneal_clip=True)
    learner = PPO(world, "agent", config, seed=seed)
    collector = learner.learn(steps)
    world.close()
    return learner, collector


def test_ppo_improves_cartpole_return_within_a_small_budget():
    _, collector = _train_cartpole(0, 6_000)
    last = [value for _, value in list(collector.finished["agent"])[-20:]]
    # a uniformly random policy averages about 22 steps
    assert sum(last) / len(last) > 60


def test_same_seed_gives_identical_parameters():
    a, _ = _train_cartpole(3, 512)
    b, _ = _train_cartpole(3, 512)
    for (name, x), y in zip(a.policy.module.state_dict().items(),
                            b.policy.module.state_dict().values()):
        assert torch.equal(x, y), name


def test_learning_rate_anneals_and_target_kl_stops_early():
    world = AlternatingWorld(num_envs=8, seed=0)
    strict = PPOConfig(**{**BANDIT.__dict__, "target_kl": 1e-9, "learning_rate": 0.5})
    leader, followers = PPO(world, "leader", strict), PPO(world, "followers", BANDIT)
    collector = RolloutCollector(world, {"leader": leader, "followers": followers})
    collector.reset(0)
    batches = collector.collect(8)
    first = leader.update(batches["leader"], progress=0.0)
    second = leader.update(collector.collect(8)["leader"], progress=0.75)
    assert first["learning_rate"] == pytest.approx(0.5)
    assert second["learning_rate"] == pytest.approx(0.125)
    assert second["epochs"] < strict.update_epochs  # the KL stop cut the epochs short


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ppo_solves_cartpole_within_100k_steps(seed):
    world = GymnasiumWorld.make("CartPole-v1", num_envs=8, seed=seed)
    config = PPOConfig(num_steps=32, learning_rate=1e-3, gamma=0.98, gae_lambda=0.8,
                       update_epochs=20, num_minibatches=1, anneal_clip=True)
    solved = []

    def stop(progress):
        last = [value for _, value in list(progress.collector.finished["agent"])[-20:]]
        solved.append(len(last) == 20 and sum(last) / 20 >= 475)
        return solved[-1]

    PPO(world, "agent", config, seed=seed).learn(100_000, callback=stop)
    assert solved[-1]
