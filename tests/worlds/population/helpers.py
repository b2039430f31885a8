"""Shared set-up for the epidemic economy's tests: small worlds and a rollout helper."""

import dataclasses

from sandbox.core import POLICIES
from sandbox.worlds.population.params import DiseaseParams, EpidemicEconomyParams, PopulationParams
from sandbox.worlds.population.world import EpidemicEconomy


def make_world(num_residents=2_000, *, num_envs=1, seed=0, disease=None, population=None,
               **overrides):
    """A small world; ``disease`` and ``population`` are dicts of parameter overrides."""
    params = EpidemicEconomyParams(num_residents=num_residents,
                                   disease=DiseaseParams(**(disease or {})),
                                   population=PopulationParams(**(population or {})), **overrides)
    return EpidemicEconomy(params, num_envs=num_envs, seed=seed)


def policies_for(world, workers="isolate_when_symptomatic", planner="no_mandate", **planner_params):
    return {"workers": POLICIES.get(workers)(world, "workers"),
            "planner": POLICIES.get(planner)(world, "planner", **planner_params)}


def rollout(world, policies, days, *, seed=0, on_step=None):
    """Reset and run ``days`` days; returns the list of StepResults."""
    for role, policy in policies.items():
        policy.reset(seed + len(role))
    obs = world.reset(seed=seed)
    results = []
    for _ in range(days):
        actions = {r: policies[r].act(obs[r]) for r in world.acting_roles()}
        result = world.step(actions)
        if on_step is not None:
            on_step(world, actions, result)
        results.append(result)
        obs = result.obs
    return results


def with_disease(params, **changes):
    return dataclasses.replace(params, disease=dataclasses.replace(params.disease, **changes))


def force_torch_arrays(monkeypatch):
    """Run the sparse kernels on torch even on the CPU (their path on other devices)."""
    from sandbox.worlds.population.arrays import Arrays

    def on(cls, device, generator=None, use_numpy=None, views=None):
        return cls(device, generator, False, views)

    monkeypatch.setattr(Arrays, "on", classmethod(on))
