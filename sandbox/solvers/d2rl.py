"""Dense learning of the adversary (D2RL, Feng et al., Nature 615:620-627, 2023), batched.

D2RL keeps NADE's set-up (the most critical background vehicle is controlled, every
other one drives naturalistically, tests are weighted by ``p/q`` of the controlled
steps) but *learns* the controlled vehicle's proposal with reinforcement learning, and
trains only on the safety-critical steps: steps where nothing is controlled have weight
exactly 1 and carry no learning signal, so they are edited out of the Markov process
before the policy sees them (the "dense" in the name).

Here the learned policy acts on top of NADE's proposal. In a critical step it picks a
*control level* ``lambda_k`` from :attr:`D2rlConfig.levels`, and the controlled vehicle
draws its maneuver from

    q_k(u|s) = (1 - eps) lambda_k q*(u|s) + (1 - (1 - eps) lambda_k) p(u|s)

with ``q*`` the criticality-proportional part of NADE's ``q`` (``lambda = 1`` is NADE,
``lambda = 0`` the naturalistic model). The test's weight gains ``p/q_k`` of the drawn
maneuver; the level is drawn by the policy from the test's past only and appears with
the same probability in the weighted and the naturalistic process, so the estimate stays
unbiased and each factor stays below ``1 / eps``.

Reward (derived from the goal, as D2RL's: the estimator with the smallest variance).
With the level's probability ``pi_theta(k|s)`` the only part of the process that depends
on ``theta``, the second moment ``E[X^2]`` of ``X = crash * W`` has gradient
``E[X^2 grad log pi_theta(k|s)]`` summed over the test's critical steps, so PPO with
discount 1 and the terminal reward ``-X^2 = -(crash W)^2`` (0 for a test without a
crash) descends the estimator's variance. Steps whose importance factor is about 1
(``|log p/q| <= weight_tolerance`` for every maneuver: the proposal equals the
naturalistic model) are dropped from the training batch.

The policy is a :class:`~sandbox.policies.NeuralPolicy` trained by the project's
:class:`~sandbox.solvers.ppo.PPO` through its public ``update``; its observation is the
controlled vehicle's and the AV's feature rows (scaled) and a summary of NADE's
proposal (log criticality, largest share, which neighbour is controlled).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
import torch

from sandbox.core.errors import ConfigError, check_range
from sandbox.core.roles import Role
from sandbox.policies import NetworkConfig
from sandbox.solvers.ppo import PPO, PPOConfig
from sandbox.solvers.rollout import RoleBatch
from sandbox.worlds.traffic.observation import FEATURES, OBS_DIM, observe
from sandbox.worlds.traffic.testing.campaign import Campaign, run_campaign
from sandbox.worlds.traffic.testing.nade import N_CANDIDATES, NadeAdversary

#: Name of the learned role (the adversary's decisions in critical steps).
ROLE = "adversary"
#: Features of the adversary's observation: two scaled rows, log10 criticality / 10,
#: the largest share of ``q*``, and which of the six neighbours is controlled.
ADVERSARY_OBS_DIM = 2 * OBS_DIM + 2 + N_CANDIDATES


def _feature_scale() -> torch.Tensor:
    """Typical magnitudes of the observation features (gaps 200 m, speeds 40 m/s ...)."""
    scale = []
    for name in FEATURES:
        if "gap" in name:
            scale.append(200.0)
        elif "speed" in name or name == "av_dv":
            scale.append(40.0)
        elif name == "av_dx":
            scale.append(600.0)
        elif "accel" in name:
            scale.append(4.0)
        elif name == "length":
            scale.append(5.0)
        elif name in ("lane", "av_dlane"):
            scale.append(3.0)
        else:
            scale.append(1.0)
    return torch.tensor(scale)


@dataclass(frozen=True)
class D2rlConfig:
    """Settings of the learned adversary and its training."""

    levels: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
    """Control levels ``lambda_k`` in ``[0, 1]`` the policy chooses from (1 = NADE)."""
    train_tests: int = 16_384
    """Tests run while training (their outcomes are the training data)."""
    batch_decisions: int = 1_024
    """Labelled critical decisions per PPO update."""
    weight_tolerance: float = 1e-3
    """Steps whose ``|log p/q|`` is at most this for every maneuver are dropped."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Widths of the policy's hidden layers."""
    learning_rate: float = 3e-4
    """Adam step size of PPO."""
    update_epochs: int = 4
    """PPO passes over each batch."""
    ent_coef: float = 0.01
    """PPO entropy bonus (keeps every level in use early on)."""

    def __post_init__(self):
        if len(self.levels) < 2 or any(not 0.0 <= x <= 1.0 for x in self.levels):
            raise ConfigError("levels", self.levels, "two or more control levels in [0, 1]")
        check_range("train_tests", self.train_tests, low=2)
        check_range("batch_decisions", self.batch_decisions, low=2)
        check_range("weight_tolerance", self.weight_tolerance, low=0.0)
        check_range("learning_rate", self.learning_rate, low=0.0, low_open=True)
        check_range("update_epochs", self.update_epochs, low=1)
        check_range("ent_coef", self.ent_coef, low=0.0)


@dataclass
class _Arena:
    """The learned role's spaces, in the shape PPO reads a world's (one agent, B samples)."""

    levels: int
    device: torch.device
    num_envs: int = 1
    seed: int = 0
    roles: dict = field(init=False)

    def __post_init__(self):
        obs = gym.spaces.Box(-np.inf, np.inf, (ADVERSARY_OBS_DIM,), np.float32)
        self.roles = {ROLE: Role(ROLE, 1, obs, gym.spaces.Discrete(self.levels))}


class D2rlAdversary(NadeAdversary):
    """NADE whose control level in each critical step is chosen by a learned policy.

    Args:
        world: the highway world under test.
        surrogates, coefficients, eps, min_criticality, challenge, residual_risk: as
            :class:`~sandbox.worlds.traffic.testing.nade.NadeAdversary`.
        config: the levels and the training settings.
        seed: seeds the policy's initial weights and its random stream.
    """

    def __init__(self, world, *, config: D2rlConfig | None = None, seed: int = 0, **nade):
        super().__init__(world, **nade)
        self.config = config or D2rlConfig()
        self.levels = torch.tensor(self.config.levels, dtype=torch.float64,
                                   device=world.device)
        ppo_config = PPOConfig(
            learning_rate=self.config.learning_rate, update_epochs=self.config.update_epochs,
            num_minibatches=4, gamma=1.0, gae_lambda=1.0, ent_coef=self.config.ent_coef,
            anneal_lr=False,
            network=NetworkConfig(hidden_sizes=tuple(self.config.hidden_sizes)),
        )
        self.learner = PPO(_Arena(len(self.config.levels), world.device), ROLE, ppo_config,
                           seed=seed)
        self.policy = self.learner.policy
        self.scale = _feature_scale().to(world.device)
        self.deterministic = False
        self.last_decision: dict[str, torch.Tensor] | None = None

    def features(self, prop: dict) -> torch.Tensor:
        """The policy's observation ``[B, 1, ADVERSARY_OBS_DIM]`` float32 for this step."""
        world = self.world
        rows = observe(world.state, world.scene(), self.params)
        vehicle = (prop["vehicle"] + 1).clamp(min=0)
        own = rows.gather(1, vehicle.view(-1, 1, 1).expand(-1, 1, OBS_DIM)).squeeze(1)
        av = rows[:, 0]
        slot = (self.candidates() == vehicle.unsqueeze(1)).float()
        log_crit = prop["criticality"].clamp(min=1e-30).log10().float() / 10.0
        largest = prop["share"].amax(-1).float()
        parts = [own / self.scale, av / self.scale, log_crit.unsqueeze(1),
                 largest.unsqueeze(1), slot]
        return torch.cat(parts, 1).unsqueeze(1).float()

    def modify(self, background_action, av_action, *, generator, allowed=None):
        """As NADE, with the control level of each critical step drawn by the policy."""
        prop = self.proposal(av_action)
        controlled = prop["critical"]
        if allowed is not None:
            controlled = controlled & allowed
        obs = self.features(prop)
        decision = self.policy.decide(obs, deterministic=self.deterministic)
        level = self.levels[decision.action[:, 0]].unsqueeze(1)
        strength = (1.0 - self.eps) * level
        q = strength * prop["share"] + (1.0 - strength) * prop["p"]
        result = self.apply(prop, q, controlled, background_action, generator=generator)
        # steps whose proposal is the naturalistic model carry no signal: dropped
        star = prop["share"].clamp(min=1e-300).log() - prop["p"].clamp(min=1e-300).log()
        live = prop["p"] > 0
        moves = (star.abs() * live).amax(-1) > self.config.weight_tolerance
        self.last_decision = {"keep": controlled & moves, "obs": obs,
                              "action": decision.action, "log_prob": decision.log_prob,
                              "value": decision.value}
        return result


class D2rlTrainer:
    """An ``on_step`` callback of :func:`run_campaign` that trains a :class:`D2rlAdversary`.

    Each critical decision is kept with its test's key; when the test ends its terminal
    reward ``-(crash W)^2`` becomes the decision's return (discount 1); every
    ``batch_decisions`` labelled decisions make one PPO update.

    Args:
        adversary: the adversary whose policy learns.
    """

    def __init__(self, adversary: D2rlAdversary):
        self.adversary = adversary
        self.history: list[dict] = []
        self._serial: torch.Tensor | None = None
        self._log_weight: torch.Tensor | None = None
        self._pending: list[dict[str, torch.Tensor]] = []
        self._labelled: list[dict[str, torch.Tensor]] = []
        self._count = 0

    def __call__(self, info: dict) -> None:
        """Record the step's critical decisions; label finished tests; update when due."""
        done = info["done"]
        batch = done.numel()
        if self._serial is None:
            self._serial = torch.zeros_like(done, dtype=torch.int64)
            self._log_weight = torch.zeros(batch, dtype=torch.float64, device=done.device)
        self._log_weight += info["log_ratio"]
        decision = self.adversary.last_decision
        if decision is not None and bool(decision["keep"].any()):
            envs = decision["keep"].nonzero().squeeze(1)
            self._pending.append({"key": self._serial[envs] * batch + envs,
                                  **{k: decision[k][envs] for k in
                                     ("obs", "action", "log_prob", "value")}})
        if bool(done.any()):
            envs = done.nonzero().squeeze(1)
            x = info["env_crash"][envs].to(torch.float64) * self._log_weight[envs].exp()
            self._label(self._serial[envs] * batch + envs, -(x * x))
            self._serial[envs] += 1
            self._log_weight[envs] = 0.0
        if self._count >= self.adversary.config.batch_decisions:
            self.update()

    def _label(self, keys: torch.Tensor, reward: torch.Tensor) -> None:
        """Move the pending decisions of finished tests (``keys``) to the labelled set."""
        if not self._pending:
            return
        pending = {k: torch.cat([p[k] for p in self._pending]) for k in self._pending[0]}
        order = torch.argsort(keys)
        sorted_keys = keys[order]
        slot = torch.searchsorted(sorted_keys, pending["key"]).clamp(max=keys.numel() - 1)
        ended = sorted_keys[slot] == pending["key"]
        if bool(ended.any()):
            done = {k: v[ended] for k, v in pending.items()}
            done["return"] = reward[order][slot[ended]].float()
            self._labelled.append(done)
            self._count += int(ended.sum())
        rest = {k: v[~ended] for k, v in pending.items()}
        self._pending = [rest] if rest["key"].numel() else []

    def update(self) -> dict[str, float] | None:
        """One PPO update on the labelled decisions (then they are discarded)."""
        if self._count < 2:
            return None
        data = {k: torch.cat([d[k] for d in self._labelled]) for k in self._labelled[0]}
        self._labelled, self._count = [], 0
        n = data["return"].numel()
        one = torch.ones(1, n, dtype=torch.bool, device=data["return"].device)
        batch = RoleBatch(
            obs=data["obs"].unsqueeze(0), actions=data["action"].unsqueeze(0),
            log_probs=data["log_prob"].unsqueeze(0), values=data["value"].unsqueeze(0),
            rewards=data["return"].view(1, n, 1), dones=one, starts=one, masks=None,
            hidden=torch.zeros(n, 1, 0, device=one.device),
            bootstrap_value=torch.zeros(n, 1, device=one.device),
        )
        stats = self.adversary.learner.update(batch)
        levels = torch.bincount(data["action"].flatten(),
                                minlength=len(self.adversary.config.levels))
        stats = {**stats, "decisions": n, "crash_returns": int((data["return"] < 0).sum()),
                 "level_share": (levels.float() / n).tolist()}
        self.history.append(stats)
        return stats


def train_d2rl(world, av_policy, adversary: D2rlAdversary, *, seed: int = 0,
               n_tests: int | None = None) -> tuple[Campaign, D2rlTrainer]:
    """Train the adversary's policy on ``n_tests`` tests (default ``config.train_tests``).

    The training campaign's estimate is itself unbiased (the policy depends only on
    finished tests), but it mixes policies; evaluate the trained adversary on fresh tests
    with :func:`run_campaign` for the comparison with NADE.

    Returns:
        ``(training campaign, trainer)``; ``trainer.history`` has one entry per update.
    """
    n_tests = adversary.config.train_tests if n_tests is None else n_tests
    trainer = D2rlTrainer(adversary)
    adversary.deterministic = False
    campaign = run_campaign(world, av_policy, n_tests=n_tests, adversary=adversary,
                            seed=seed, on_step=trainer)
    trainer.update()
    return campaign, trainer

