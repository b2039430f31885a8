"""Every registered world passes the same contract tests (parametrized over the registry)."""

import pytest
import torch
from gymnasium.utils.env_checker import check_env
from pettingzoo.test import parallel_api_test

from sandbox.adapters.gymnasium_env import RoleEnv
from sandbox.adapters.pettingzoo_env import WorldParallelEnv
from sandbox.core import POLICIES, WORLDS
from sandbox.scenario import build_params
from tests.core import toy_registry  # noqa: F401  (registers the toy world too)

#: Small parameters per world so that contract tests stay fast (defaults otherwise).
SMALL = {
    "onestep_economy": {"num_workers": 5},
    "highway": {"n_background": 6},
    "epidemic_economy": {"num_residents": 300},
}


def make_world(name, num_envs=1, seed=0):
    cls = WORLDS.get(name)
    params = build_params(cls.Params, SMALL.get(name, {}), field="params")
    return cls(params, num_envs=num_envs, seed=seed)


def random_policies(world, seed):
    policies = {r: POLICIES.get("random")(world, r) for r in world.roles}
    for role, policy in policies.items():
        policy.reset(seed + len(role))
    return policies


def rollout(name, seed, steps=12, num_envs=3):
    world = make_world(name, num_envs=num_envs, seed=seed)
    policies = random_policies(world, seed)
    obs, masks = world.reset(seed=seed), world.action_masks()
    trace = []
    for _ in range(steps):
        actions = {r: policies[r].act(obs[r], masks.get(r)) for r in world.acting_roles()}
        result = world.step(actions)
        trace.append((result.rewards, result.done, result.obs))
        obs, masks = result.obs, result.masks
    return world, trace


def same(a, b):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)):
        return all(same(x, y) for x, y in zip(a, b))
    return torch.equal(a, b)


@pytest.mark.parametrize("name", WORLDS.names())
def test_same_seed_gives_identical_trajectories(name):
    _, first = rollout(name, seed=3)
    _, second = rollout(name, seed=3)
    assert same(first, second)


@pytest.mark.parametrize("name", WORLDS.names())
def test_shapes_follow_the_roles(name):
    world, trace = rollout(name, seed=1, steps=3)
    for rewards, done, obs in trace:
        assert done.shape == (world.num_envs,) and done.dtype == torch.bool
        for role, spec in world.roles.items():
            assert obs[role].shape == (world.num_envs, spec.count, spec.obs_dim)
            assert rewards[role].shape == (world.num_envs, spec.count)
            assert torch.isfinite(obs[role]).all()
    masks = world.action_masks()
    for role, mask in masks.items():
        spec = world.roles[role]
        assert mask.shape == (world.num_envs, spec.count, spec.mask_size)


@pytest.mark.parametrize("name", WORLDS.names())
def test_every_role_passes_the_gymnasium_checker(name):
    probe = make_world(name)
    for role in probe.roles:
        others = {r: POLICIES.get("random")(probe, r) for r in probe.roles if r != role}
        env = RoleEnv(lambda: make_world(name), role, others)
        check_env(env, skip_render_check=True)


@pytest.mark.parametrize("name", WORLDS.names())
def test_pettingzoo_parallel_api(name):
    env = WorldParallelEnv(lambda: make_world(name))
    if len(env.possible_agents) > 400:
        pytest.skip("too many agents for per-agent dictionaries in a fast test")
    parallel_api_test(env, num_cycles=10)
