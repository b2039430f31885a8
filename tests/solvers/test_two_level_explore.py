"""Schedule exploration in two-level training: random schedules for the workers only."""

import pytest
import torch

from sandbox.core import ConfigError
from sandbox.solvers import PPOConfig, TwoLevel, TwoLevelConfig
from sandbox.worlds.economy.best_response import best_response_hours
from sandbox.worlds.economy.onestep import OneStepEconomy, OneStepParams
from sandbox.worlds.economy.tax_schedule import NUM_RATE_LEVELS
from tests.solvers.test_two_level import config, parameters, world


def test_exploration_settings_are_checked():
    for bad in (-0.1, 1.0, True, "half"):
        with pytest.raises(ConfigError, match="explore_share"):
            TwoLevelConfig(explore_share=bad)
    with pytest.raises(ConfigError, match="phase1_rate_cap"):
        TwoLevelConfig(phase1_rate_cap=1.5)
    with pytest.raises(ConfigError, match="explore_share"):  # 0.95 of 8 rounds to all 8
        TwoLevel(world(num_envs=8), TwoLevelConfig(explore_share=0.95))


def test_phase1_rate_cap_sets_the_cap_before_the_planner_learns():
    solver = TwoLevel(world(), config(phase1=3, phase2=4, phase1_rate_cap=0.4), seed=0)
    assert solver.schedule_at(0) == (1, 0.4, 0.0)
    assert solver.schedule_at(2)[:2] == (1, 0.4)
    assert solver.schedule_at(3)[:2] == (2, 0.0)  # phase 2's anneal starts from its own value
    assert TwoLevel(world(), config(phase1=3), seed=0).schedule_at(0) == (1, 0.0, 0.0)


def _zero_rate_planner(solver):
    """Make the planner choose rate level 0 in every bracket (almost surely)."""
    head = solver.planner.policy.module.actor_head
    with torch.no_grad():
        head.weight.zero_()
        bias = torch.full((head.bias.numel() // NUM_RATE_LEVELS, NUM_RATE_LEVELS), -30.0)
        bias[:, 0] = 30.0
        head.bias.copy_(bias.reshape(-1))


def test_exploring_environments_get_random_schedules_and_the_planner_skips_them():
    solver = TwoLevel(world(num_envs=8), config(phase1=0, phase2=4, explore_share=0.25),
                      seed=1)
    assert solver.explore_envs == 2
    _zero_rate_planner(solver)
    solver.world.set_rate_cap(1.0)
    solver.collector.reset(solver.world.seed)
    solver.collector.collect(1)  # the planner's step: rates set, workers not yet acted
    rates = solver.world.state.rates
    assert torch.equal(rates[:6], torch.zeros_like(rates[:6]))
    assert bool((rates[6:] > 0).any(-1).all())  # 7 brackets drawn uniformly: not all 0
    assert bool((rates[6:] <= 1.0).all())

    seen = []
    update = solver.planner.update
    solver.planner.update = lambda batch, **kw: seen.append(batch.obs.shape) or update(
        batch, **kw)
    solver.collector.reset(solver.world.seed)
    solver.step()
    assert seen and seen[0][1] == 6  # the planner learns from its own 6 environments


def test_random_schedules_stay_within_the_cap():
    solver = TwoLevel(world(num_envs=8), config(phase1=0, phase2=4, explore_share=0.5),
                      seed=2)
    _zero_rate_planner(solver)
    solver.world.set_rate_cap(0.3)
    solver.collector.reset(solver.world.seed)
    solver.collector.collect(1)
    rates = solver.world.state.rates[4:]
    assert bool((rates <= 0.3 + 1e-6).all()) and bool((rates > 0).any())


def test_resume_is_exact_with_schedule_exploration(tmp_path):
    def make(folder):
        return TwoLevel(world(), config(phase1=2, phase2=2, every=2, explore_share=0.25,
                                        phase1_rate_cap=1.0), seed=4, out_dir=tmp_path / folder)

    full = make("full")
    full.train(progress=False)
    resumed = make("resumed")
    resumed.train(resume=tmp_path / "full" / "checkpoints" / "update_000002.pt",
                  progress=False)
    expected, got = parameters(full), parameters(resumed)
    for key in expected:
        assert torch.equal(expected[key], got[key]), key


def _response_error(solver, probe, rates) -> float:
    """Mean absolute relative error of the workers' most likely hours vs exact answers."""
    count, brackets = rates.shape
    n = probe.params.num_workers
    obs = torch.cat([torch.tensor([0.0, 1.0]).expand(count, n, 2),
                     probe.skills.expand(count, n).unsqueeze(-1),
                     rates.float().unsqueeze(1).expand(count, n, brackets)], dim=-1)
    hours = probe.hours_from_action(solver.workers.policy.act(obs, deterministic=True))
    best = best_response_hours(probe.skills, cutoffs=probe.cutoffs, rates=rates.double(),
                               lump_sum=torch.zeros(count, dtype=torch.float64),
                               utility_params=probe.params.utility,
                               hours_grid=probe.hours_grid).float()
    return float(((hours - best).abs() / best.clamp(min=1.0)).mean())


def test_workers_trained_on_random_schedules_answer_unseen_schedules_better():
    """Workers who met random schedules in phase 1 respond to new schedules; workers
    trained in a free market keep their hours whatever the rates."""
    workers = PPOConfig(learning_rate=1e-2, anneal_lr=False, update_epochs=8,
                        num_minibatches=4, ent_coef=0.05, reward_scale=0.01)
    probe = OneStepEconomy(OneStepParams(num_workers=10), num_envs=1, seed=0)
    levels = torch.randint(0, NUM_RATE_LEVELS, (128, probe.cutoffs.numel()),
                           generator=torch.Generator().manual_seed(0))
    rates = levels.double() / (NUM_RATE_LEVELS - 1)
    errors = {}
    for share, cap in ((0.0, 0.0), (0.5, 1.0)):
        solver = TwoLevel(OneStepEconomy(OneStepParams(num_workers=10), num_envs=32, seed=0),
                          TwoLevelConfig(workers=workers, phase1_updates=40, phase2_updates=0,
                                         explore_share=share, phase1_rate_cap=cap), seed=0)
        solver.train(progress=False)
        errors[share] = _response_error(solver, probe, rates)
    assert errors[0.5] < 0.6 * errors[0.0], errors
