"""Proximal Policy Optimization for one role of any world, batched on the world's device.

Read top to bottom: the config, generalized advantage estimation, then the learner
(``PPO``): its update (clipped surrogate, clipped value loss, entropy bonus, advantage
normalisation, minibatch epochs, gradient-norm clipping, learning-rate annealing and an
optional target-KL stop) and its training loop. Rollouts come from
:class:`sandbox.solvers.rollout.RolloutCollector`, which steps all environments and
agents at once and handles roles that act only on some steps.

References: Schulman et al. 2017 (PPO, arXiv:1707.06347); Schulman et al. 2016 (GAE,
arXiv:1506.02438); Huang et al. 2022, "The 37 implementation details of PPO" (ICLR blog
track) for the details that matter (orthogonal init, Adam eps 1e-5, per-minibatch
advantage normalisation, truncation bootstrap).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from sandbox.core.errors import ConfigError, check_range
from sandbox.core.policy import Policy
from sandbox.core.seeding import derive_seed, make_generator
from sandbox.policies import NetworkConfig, NeuralPolicy, role_of
from sandbox.policies.neural import check_fits
from sandbox.solvers.rollout import RoleBatch, RolloutCollector


# --------------------------------------------------------------------------- config
@dataclass(frozen=True)
class PPOConfig:
    """Hyperparameters of PPO for one role (defaults suit small control tasks)."""

    num_steps: int = 128
    """World steps per environment in each rollout (one update per rollout)."""
    learning_rate: float = 3e-4
    """Adam step size at the start of training."""
    anneal_lr: bool = True
    """Decay the learning rate linearly to 0 over training."""
    gamma: float = 0.99
    """Discount per decision of the role."""
    gae_lambda: float = 0.95
    """GAE(lambda) bias/variance trade-off (1 = Monte Carlo returns, 0 = one-step TD)."""
    update_epochs: int = 10
    """Passes over each rollout's data."""
    num_minibatches: int = 4
    """Minibatches per pass (decisions of a feed-forward policy, agent streams of a GRU)."""
    clip_coef: float = 0.2
    """Surrogate clipping: the probability ratio is kept within 1 +- clip_coef."""
    anneal_clip: bool = False
    """Decay ``clip_coef`` linearly to 0 over training, as the learning rate."""
    value_clip: float | None = None
    """Clip value updates to +- this around the rollout's estimates (None: no clipping)."""
    ent_coef: float = 0.0
    """Entropy bonus weight at the start of training."""
    ent_coef_end: float | None = None
    """Entropy bonus weight at the end (linear schedule); None keeps ``ent_coef``."""
    vf_coef: float = 0.5
    """Weight of the value loss."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clip."""
    target_kl: float | None = None
    """Stop an update's epochs when a minibatch's approximate KL exceeds this (None: never)."""
    norm_adv: bool = True
    """Normalise advantages to mean 0, std 1 within each minibatch."""
    reward_scale: float = 1.0
    """Rewards are multiplied by this before learning (returns of order 1 learn best)."""
    adam_eps: float = 1e-5
    """Adam's epsilon."""
    network: NetworkConfig = field(default_factory=NetworkConfig)
    """Architecture of the role's actor-critic."""

    def __post_init__(self):
        for name in ("num_steps", "update_epochs", "num_minibatches"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"ppo.{name}", value, "an integer >= 1")
        check_range("ppo.learning_rate", self.learning_rate, low=0, low_open=True)
        check_range("ppo.gamma", self.gamma, low=0, high=1)
        check_range("ppo.gae_lambda", self.gae_lambda, low=0, high=1)
        check_range("ppo.clip_coef", self.clip_coef, low=0, low_open=True)
        check_range("ppo.ent_coef", self.ent_coef, low=0)
        check_range("ppo.vf_coef", self.vf_coef, low=0)
        check_range("ppo.max_grad_norm", self.max_grad_norm, low=0, low_open=True)
        check_range("ppo.reward_scale", self.reward_scale, low=0, low_open=True)
        check_range("ppo.adam_eps", self.adam_eps, low=0, low_open=True)
        for name in ("value_clip", "target_kl", "ent_coef_end"):
            value = getattr(self, name)
            if value is not None:
                check_range(f"ppo.{name}", value, low=0, low_open=name != "ent_coef_end")
        if not isinstance(self.network, NetworkConfig):
            raise ConfigError("ppo.network", self.network, "a NetworkConfig")

    def entropy_at(self, progress: float) -> float:
        """Entropy coefficient at ``progress`` in [0, 1] of training."""
        end = self.ent_coef if self.ent_coef_end is None else self.ent_coef_end
        return self.ent_coef + (end - self.ent_coef) * progress


# ---------------------------------------------------------------------------- GAE
def compute_gae(rewards, values, dones, bootstrap_value, *, gamma: float, gae_lambda: float):
    """Generalized advantage estimates and value targets, time-major.

    ``delta_k = r_k + gamma * V_{k+1} * (1 - done_k) - V_k`` and
    ``A_k = delta_k + gamma * lambda * (1 - done_k) * A_{k+1}``, with ``V_K`` the
    bootstrap value.

    Args:
        rewards: ``[K, ...]`` float rewards of the transitions.
        values: ``[K, ...]`` float value estimates at the decisions.
        dones: ``[K, ...]`` bool, True where the episode ended after the transition.
        bootstrap_value: ``[...]`` float value of the decision after the last one.
        gamma: discount per transition.
        gae_lambda: the GAE lambda.

    Returns:
        ``(advantages, returns)``, both ``[K, ...]`` float; returns = advantages + values.
    """
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(bootstrap_value)
    next_value = bootstrap_value
    for k in reversed(range(rewards.shape[0])):
        nonterminal = (~dones[k]).to(rewards.dtype)
        delta = rewards[k] + gamma * next_value * nonterminal - values[k]
        running = delta + gamma * gae_lambda * nonterminal * running
        advantages[k] = running
        next_value = values[k]
    return advantages, advantages + values


@dataclass
class TrainingProgress:
    """What a training callback sees after each update.

    Attributes:
        update: updates done so far (1 after the first).
        num_updates: updates planned.
        env_steps: environment steps taken (world steps x environments).
        stats: the update's losses and diagnostics (empty if the role did not act).
        collector: the rollout collector (finished-episode returns, metrics).
    """

    update: int
    num_updates: int
    env_steps: int
    stats: dict[str, float]
    collector: RolloutCollector


# ------------------------------------------------------------------------ learner
class PPO:
    """PPO learner for one role of a world.

    Args:
        world: the world; rollouts run on its device.
        role: name of the role to learn.
        config: hyperparameters.
        policy: an existing policy to go on training; None builds a fresh one from
            ``config.network``.
        seed: seed of the learner's streams (action sampling, minibatch order).
    """

    def __init__(self, world, role: str, config: PPOConfig | None = None, *,
                 policy: NeuralPolicy | None = None, seed: int = 0):
        self.world = world
        self.role = role
        self.config = config if config is not None else PPOConfig()
        spec = role_of(world, role)
        if policy is None:
            policy = NeuralPolicy(spec, config=self.config.network, device=world.device,
                                  seed=derive_seed(seed, f"init/{role}"))
        else:
            check_fits(policy.role, spec, path="<in memory>",
                       embedding=policy.config.agent_embedding)
        self.policy = policy
        self.policy.reset(derive_seed(seed, f"policy/{role}"))
        self.generator = make_generator(seed, f"solver/ppo/{role}", device=world.device)
        # The fused kernel does one pass over all parameters: far fewer small ops per step.
        self.optimizer = torch.optim.Adam(self.policy.module.parameters(),
                                          lr=self.config.learning_rate, eps=self.config.adam_eps,
                                          fused=True)
        self.updates = 0

    # ---------------------------------------------------------------- update
    def update(self, batch: RoleBatch, *, progress: float = 0.0,
               ent_coef: float | None = None) -> dict[str, float]:
        """One PPO update on a rollout's transitions of this role.

        Args:
            batch: the role's transitions (from :meth:`RolloutCollector.collect`).
            progress: fraction of training done, in [0, 1] (drives the schedules).
            ent_coef: entropy coefficient overriding the config's schedule.

        Returns:
            Mean losses and diagnostics: ``policy_loss``, ``value_loss``, ``entropy``,
            ``approx_kl``, ``clip_fraction``, ``explained_variance``, ``learning_rate``,
            ``ent_coef``, ``epochs``.
        """
        cfg = self.config
        remaining = 1.0 - progress
        lr = cfg.learning_rate * (remaining if cfg.anneal_lr else 1.0)
        clip = cfg.clip_coef * (remaining if cfg.anneal_clip else 1.0)
        ent_coef = cfg.entropy_at(progress) if ent_coef is None else ent_coef
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        data = self._prepare(batch)
        records, epochs = [], 0
        for epoch in range(cfg.update_epochs):
            epochs = epoch + 1
            stop = False
            for minibatch in self._minibatches(data):
                record = self._step(minibatch, clip=clip, ent_coef=ent_coef)
                if record is None:
                    stop = True
                    break
                records.append(record)
            if stop:
                break
        self.updates += 1
        stats = _means(records)
        stats.update(explained_variance=_explained_variance(data["values"], data["returns"]),
                     learning_rate=lr, ent_coef=ent_coef, epochs=float(epochs))
        return stats

    def _prepare(self, batch: RoleBatch) -> dict[str, torch.Tensor]:
        """Advantages and returns, and every tensor reshaped to ``[K, M, ...]``, M = B*N."""
        cfg = self.config
        k, b, n = batch.values.shape
        dones = batch.dones.unsqueeze(-1).expand(k, b, n)
        advantages, returns = compute_gae(batch.rewards, batch.values, dones,
                                          batch.bootstrap_value, gamma=cfg.gamma,
                                          gae_lambda=cfg.gae_lambda)
        agent = self.policy.agent_index(n).expand(k, b, n)
        data = {"obs": batch.obs, "actions": batch.actions, "log_probs": batch.log_probs,
                "values": batch.values, "advantages": advantages, "returns": returns,
                "agent": agent, "starts": batch.starts.unsqueeze(-1).expand(k, b, n)}
        if batch.masks is not None:
            data["masks"] = batch.masks
        data = {key: value.reshape(k, b * n, *value.shape[3:]) for key, value in data.items()}
        data["hidden"] = batch.hidden.reshape(b * n, batch.hidden.shape[-1])
        return data

    def _minibatches(self, data: dict[str, torch.Tensor]):
        """Yield minibatches as dicts of flat sample tensors plus network outputs.

        A feed-forward policy draws samples from all ``K * M`` decisions; a recurrent
        one draws whole agent streams (columns) and re-runs the GRU over the rollout.
        """
        k, m = data["values"].shape
        module = self.policy.module
        if module.hidden_size == 0:
            flat = {key: v.reshape(k * m, *v.shape[2:]) for key, v in data.items()
                    if key != "hidden"}
            order = torch.randperm(k * m, generator=self.generator, device=self.world.device)
            for index in order.tensor_split(min(self.config.num_minibatches, k * m)):
                sample = {key: v[index] for key, v in flat.items()}
                empty = module.initial_hidden(len(index), device=self.world.device)
                sample["head"], sample["new_values"], _ = module.step(
                    sample["obs"], sample["agent"], empty)
                yield sample
            return
        order = torch.randperm(m, generator=self.generator, device=self.world.device)
        for columns in order.tensor_split(min(self.config.num_minibatches, m)):
            part = {key: v[:, columns] for key, v in data.items() if key != "hidden"}
            head, values = module.evaluate_sequence(part["obs"], part["agent"][0],
                                                    data["hidden"][columns], part["starts"])
            part["head"], part["new_values"] = head, values
            yield {key: v.reshape(-1, *v.shape[2:]) for key, v in part.items()}

    def _step(self, mb: dict[str, torch.Tensor], *, clip: float, ent_coef: float):
        """One gradient step on a minibatch; None when the target-KL stop triggers."""
        cfg = self.config
        dist = self.policy.module.distribution(mb["head"], mb.get("masks"))
        log_ratio = dist.log_prob(mb["actions"]) - mb["log_probs"]
        ratio = log_ratio.exp()
        with torch.no_grad():
            approx_kl = ((ratio - 1) - log_ratio).mean()
            clip_fraction = ((ratio - 1).abs() > clip).float().mean()
        if cfg.target_kl is not None and float(approx_kl) > cfg.target_kl:
            return None
        advantages = mb["advantages"]
        if cfg.norm_adv and advantages.numel() > 1:
            advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        policy_loss = torch.max(-advantages * ratio,
                                -advantages * ratio.clamp(1 - clip, 1 + clip)).mean()
        value_error = (mb["new_values"] - mb["returns"]).pow(2)
        if cfg.value_clip is not None:
            clipped = mb["values"] + (mb["new_values"] - mb["values"]).clamp(
                -cfg.value_clip, cfg.value_clip)
            value_error = torch.max(value_error, (clipped - mb["returns"]).pow(2))
        value_loss = 0.5 * value_error.mean()
        entropy = dist.entropy().mean()
        loss = policy_loss - ent_coef * entropy + cfg.vf_coef * value_loss
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.policy.module.parameters(), cfg.max_grad_norm)
        self.optimizer.step()
        return torch.stack([policy_loss.detach(), value_loss.detach(), entropy.detach(),
                            approx_kl, clip_fraction])

    # ---------------------------------------------------------------- training
    def learn(self, total_steps: int, *, others: dict[str, Policy] | None = None,
              callback: Callable[[TrainingProgress], bool | None] | None = None,
              collector: RolloutCollector | None = None) -> RolloutCollector:
        """Train for ``total_steps`` environment steps (world steps x environments).

        Args:
            total_steps: budget of environment steps; updates = ceil(budget / rollout).
            others: policies for the world's other roles.
            callback: called after every update; returning True stops training.
            collector: continue with this collector instead of resetting the world.

        Returns:
            The collector (finished-episode returns, last rollout's metrics).
        """
        if collector is None:
            collector = RolloutCollector(self.world, {self.role: self}, others=others)
            collector.reset(self.world.seed)
        per_update = self.config.num_steps * self.world.num_envs
        num_updates = max(1, math.ceil(total_steps / per_update))
        for update in range(num_updates):
            batches = collector.collect(self.config.num_steps)
            stats = {}
            if self.role in batches:
                stats = self.update(batches[self.role], progress=update / num_updates)
            progress = TrainingProgress(update + 1, num_updates, collector.env_steps, stats,
                                        collector)
            if callback is not None and callback(progress):
                break
        return collector

    # ------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict:
        """Network, optimizer, random streams and update count (for exact resumption)."""
        return {"module": self.policy.module.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "policy_generator": self.policy.generator.get_state(),
                "generator": self.generator.get_state(),
                "updates": torch.tensor(self.updates)}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict` output."""
        self.policy.module.load_state_dict(state["module"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.policy.generator.set_state(state["policy_generator"])
        self.generator.set_state(state["generator"])
        self.updates = int(state["updates"])


def _means(records: list[torch.Tensor]) -> dict[str, float]:
    names = ("policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction")
    if not records:
        return dict.fromkeys(names, float("nan"))
    return dict(zip(names, torch.stack(records).mean(0).tolist()))


def _explained_variance(values: torch.Tensor, returns: torch.Tensor) -> float:
    """1 - Var(returns - values) / Var(returns) (NaN when the returns do not vary)."""
    variance = returns.var()
    if float(variance) == 0:
        return float("nan")
    return float(1 - (returns - values).var() / variance)
