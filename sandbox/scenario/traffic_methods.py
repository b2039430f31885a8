"""The highway testing methods that need layers above the world: wiring and registration.

The world layer (:mod:`sandbox.worlds.traffic.testing.methods`) registers ``"nde"`` and
``"nade"``; the two methods below need more and are put together here, where scenarios
build their policies (imports point downward only):

- ``"nade_adaptive"``: NADE whose surrogate mix is re-fitted by the quadratic program
  :func:`sandbox.optimize.combine_surrogates`, injected into
  :func:`~sandbox.worlds.traffic.testing.methods.nade_adaptive_policy` as its fitter;
- ``"d2rl"``: NADE whose control level is learned by PPO
  (:mod:`sandbox.solvers.d2rl`) on a private copy of the world before the tests.

:func:`sandbox.core.registry.load_builtin` imports this module, so both names resolve
wherever the others do (scenario files, the CLI, the app).
"""

from __future__ import annotations

from sandbox.core.errors import ConfigError
from sandbox.core.registry import POLICIES
from sandbox.core.seeding import derive_seed
from sandbox.optimize import combine_surrogates
from sandbox.solvers.d2rl import D2rlAdversary, D2rlConfig, train_d2rl
from sandbox.worlds.traffic.highway import HighwayWorld
from sandbox.worlds.traffic.policies import IdmMobilPolicy
from sandbox.worlds.traffic.testing.methods import (
    _NADE_KEYS,
    TestingPolicy,
    _adversary_args,
    _no_more,
    _settings,
    nade_adaptive_policy,
)


def nade_adaptive_qp_policy(world, role: str = "background", **params) -> TestingPolicy:
    """Factory of ``"nade_adaptive"``: the adaptive mix re-fitted by the QP optimizer.

    Parameters: NADE's, ``max_controls``, ``refit_every`` and ``min_rows`` (see
    :func:`~sandbox.worlds.traffic.testing.methods.nade_adaptive_policy`).
    """
    return nade_adaptive_policy(world, role, fit=combine_surrogates, **params)


class D2rlTestingPolicy(TestingPolicy):
    """``"d2rl"``: trains the adversary's policy on its own copy of the world first.

    Training runs at the first :meth:`act` (building the policy stays cheap, so a
    scenario validates quickly), against the AV given by ``train_av`` (parameters of
    the ``idm_mobil`` AV: the AV under test, which D2RL trains against).

    Args:
        world: the highway world of the tests.
        role: must be ``"background"``.
        adversary: the :class:`~sandbox.solvers.d2rl.D2rlAdversary` to train and use.
        train_av: ``idm_mobil`` parameters of the AV trained against.
        train_seed: seeds the training world and campaign.
    """

    name = "d2rl"

    def __init__(self, world, role, *, adversary, train_av: dict, train_seed: int = 0):
        super().__init__(world, role, adversary=adversary)
        self.train_av = dict(train_av)
        self.train_seed = int(train_seed)
        self.trained = False
        self.training_history: list[dict] = []

    def act(self, obs, mask=None, deterministic=False):
        """Train once (first call), then act as NADE with the learned levels."""
        if not self.trained:
            self.train()
        return super().act(obs, mask, deterministic)

    def train(self) -> None:
        """Train the adversary on ``config.train_tests`` tests of a private world."""
        world = HighwayWorld(self.world.params, num_envs=self.world.num_envs,
                             device=self.world.device,
                             seed=derive_seed(self.train_seed, "d2rl/world"))
        av = IdmMobilPolicy(world, **self.train_av)
        adversary = self.adversary
        home = adversary.world
        adversary.world = world
        try:
            _, trainer = train_d2rl(world, av, adversary,
                                    seed=derive_seed(self.train_seed, "d2rl/train"))
        finally:
            adversary.world = home
        self.training_history = trainer.history
        self.trained = True


def d2rl_policy(world, role: str = "background", **params) -> D2rlTestingPolicy:
    """Factory of ``"d2rl"``: the learned-level NADE.

    Parameters: NADE's, ``train_av``, ``train_seed`` and ``d2rl`` (fields of
    :class:`~sandbox.solvers.d2rl.D2rlConfig`).
    """
    params = dict(params)
    train_av = params.pop("train_av", {})
    if not isinstance(train_av, dict):
        raise ConfigError("train_av", train_av, "a mapping of idm_mobil parameters")
    train_seed = params.pop("train_seed", 0)
    settings = _settings("d2rl", params.pop("d2rl", {}), D2rlConfig)
    settings = {k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()}
    args = _adversary_args(world, params)
    _no_more("d2rl", params, f"{_NADE_KEYS}, train_av, train_seed, d2rl")
    adversary = D2rlAdversary(world, config=D2rlConfig(**settings),
                              seed=derive_seed(int(train_seed), "d2rl/policy"), **args)
    return D2rlTestingPolicy(world, role, adversary=adversary, train_av=train_av,
                             train_seed=train_seed)


POLICIES.register("nade_adaptive", nade_adaptive_qp_policy)
POLICIES.register("d2rl", d2rl_policy)
