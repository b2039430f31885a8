"""The labour-cost warm-up (Foundation's ``energy_warmup_constant`` / ``energy_warmup_method``).

Effective cost ``labour_cost * (1 - exp(-n / c))``, ``n`` = completed episodes
(``"decay"``) or steps with a positive mean worker reward (``"auto"``), per environment.
"""

import math

import pytest
import torch

from sandbox.core.errors import ConfigError
from sandbox.worlds.economy.gtb import GatherTradeBuild, GTBParams
from sandbox.worlds.economy.gtb.mesa_reference import GTBReferenceModel
from sandbox.worlds.economy.utility import consumption_utility
from tests.worlds.gtb.gtb_helpers import random_rates, random_valid_actions
from tests.worlds.gtb.test_gtb_reference import assert_same, noise_of

COST = 0.5


def make_world(num_envs=2, seed=0, **params):
    params = {"episode_length": 6, "tax_period": 3, "starting_coin": 5.0, "num_workers": 3,
              "labour_cost": COST, **params}
    world = GatherTradeBuild(GTBParams(**params), num_envs=num_envs, seed=seed)
    world.reset()
    return world


def step_randomly(world, generator, masks=None):
    masks = world.action_masks() if masks is None else masks
    actions = {"workers": random_valid_actions(world, masks, generator)}
    if "planner" in world.acting_roles():
        actions["planner"] = random_rates(world, generator)
    return world.step(actions), actions


def expected_utility(world, state, coefficient):
    gain = consumption_utility(state.coin_total, world.utility_params)
    return gain - torch.as_tensor(coefficient, dtype=torch.float32).view(-1, 1) * state.labour


def test_decay_follows_the_formula_over_completed_episodes():
    constant = 2.0
    world = make_world(labour_warmup_constant=constant, labour_warmup_method="decay")
    generator = torch.Generator().manual_seed(1)
    seen = []
    for episode in range(5):
        weight = 1.0 - math.exp(-episode / constant)
        assert world.state.episodes_done.tolist() == [episode] * world.num_envs
        for _ in range(world.params.episode_length):
            result, _ = step_randomly(world, generator)
            state = result.final_state
            # every step's utility uses the weight of the episode's completed-episode count
            torch.testing.assert_close(state.utility, expected_utility(world, state,
                                                                       COST * weight))
        seen.append(result.final_metrics["effective_labour_cost"].tolist())
        if episode == 2:
            world.reset()  # a reset keeps the warm-up's progress (as Foundation's does)
    expected = [[pytest.approx(COST * (1 - math.exp(-e / constant)), abs=1e-6)] * 2
                for e in range(5)]
    assert seen == expected
    assert seen[0] == [0.0, 0.0] and seen[-1][0] > 0.4  # 0.5 * (1 - e^-2) = 0.43


def test_auto_counts_steps_whose_mean_worker_reward_is_positive():
    constant = 8.0
    world = make_world(num_envs=3, episode_length=40, tax_period=10,
                       labour_warmup_constant=constant, labour_warmup_method="auto")
    generator = torch.Generator().manual_seed(2)
    count = torch.zeros(3, dtype=torch.int64)
    for _ in range(60):  # one and a half episodes: the count outlives the episode
        result, _ = step_randomly(world, generator)
        state = result.final_state
        # this step's utility used the count before this step
        weight = 1.0 - torch.exp(-count.double() / constant)
        torch.testing.assert_close(state.utility, expected_utility(world, state,
                                                                   COST * weight))
        count += (result.rewards["workers"].mean(-1) > 0).long()
        assert world.state.positive_steps.tolist() == count.tolist()
    assert 0 < int(count.min()) and int(count.max()) < 60  # both kinds of steps happened
    assert not torch.equal(count, count[:1].expand(3))  # counted per environment


def test_no_warm_up_leaves_the_utility_and_rewards_unchanged():
    world = make_world()
    generator = torch.Generator().manual_seed(3)
    before = world.state.utility
    for _ in range(12):
        result, _ = step_randomly(world, generator)
        state = result.final_state
        gain = consumption_utility(state.coin_total, world.utility_params)
        assert torch.equal(state.utility, gain - COST * state.labour)  # bit for bit
        assert torch.equal(result.rewards["workers"], state.utility - before)
        before = world.state.utility
        if result.final_metrics:
            assert result.final_metrics["effective_labour_cost"].tolist() == [COST, COST]
    assert world.state.episodes_done.tolist() == [2, 2]
    assert world.state.positive_steps.tolist() == [0, 0]  # not counted without "auto"


@pytest.mark.parametrize("method, constant", [("decay", 0.0), ("auto", 30.0),
                                              ("decay", 1.5)])
def test_the_mesa_reference_models_the_warm_up(method, constant):
    world = make_world(num_envs=2, seed=4, episode_length=40, tax_period=10,
                       labour_warmup_constant=constant, labour_warmup_method=method)
    generator = torch.Generator().manual_seed(5)
    for _ in range(80):  # two episodes first: "decay" then has a weight above 0
        step_randomly(world, generator)
    models = [GTBReferenceModel.from_world(world, env) for env in range(world.num_envs)]
    masks = world.action_masks()
    for _ in range(39):
        result, actions = step_randomly(world, generator, masks)
        rates = (world.rates_from_action(actions["planner"]) if "planner" in actions
                 else None)
        for env, model in enumerate(models):
            model.step(actions["workers"][env].tolist(), noise_of(world.last_noise, env),
                       rates=None if rates is None else rates[env].tolist())
            assert result.rewards["workers"][env].tolist() == pytest.approx(model.rewards,
                                                                            abs=1e-3)
            assert model.positive_steps == int(world.state.positive_steps[env])
            assert model.labour_coefficient() == pytest.approx(
                float(world.labour_coefficient(world.state)[env]), rel=1e-6)
            assert world.state.utility[env].tolist() == pytest.approx(model.last_utility,
                                                                       abs=1e-3)
        # the rest of the state; utilities at the weight now in effect ("auto" may have
        # just raised it: the state keeps the utility the step's rewards were taken from)
        held = world.state
        world.state = held.replace(utility=world.utility_of(held))
        assert_same(world, models)
        world.state = held
        masks = result.masks
    coefficients = [m.labour_coefficient() for m in models]
    if constant == 0.0:
        assert coefficients == [COST, COST]
    else:  # the warm-up was under way
        assert max(coefficients) < COST and max(coefficients) > 0.0


@pytest.mark.parametrize("field, value", [
    ("labour_warmup_method", "linear"), ("labour_warmup_method", None),
    ("labour_warmup_constant", -1.0), ("labour_warmup_constant", float("nan")),
    ("labour_warmup_constant", "10"), ("labour_warmup_constant", float("inf")),
])
def test_bad_warm_up_settings_are_rejected_by_name(field, value):
    with pytest.raises(ConfigError, match=field):
        GTBParams(**{field: value})
