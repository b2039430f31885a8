"""Two-level co-adaptation of a planner and its workers: the AI Economist's curriculum.

Zheng et al. 2022 ("The AI Economist", Science Advances 8(18), eabk2607), section
"Two-level RL": workers first learn in a free market, then the planner learns a tax
while the workers keep adapting to it. Here, on any world with a planner role and a
worker role (the one-step economy by default):

1. Phase 1 (``phase1_updates``): only the workers learn; the rate cap is 0, so every
   tax is 0 whatever the planner does (a free market).
2. Phase 2 (``phase2_updates``): planner and workers update together, on the same
   rollouts. The rate cap (``world.set_rate_cap``) rises from 0 to its final value and
   the planner's entropy coefficient falls from high to low, both by linear
   :class:`~sandbox.solvers.schedules.Anneal` schedules counted in phase-2 updates. The
   planner acts when the world says so (once per tax period in the one-step economy).
   With ``planner_every = k`` the planner updates on every k-th update only, so the
   workers adapt faster than the planner (a planner that moves as fast as its workers
   can learn to exploit their lag rather than their best responses).
3. Settle (``settle_updates``, default 0): the workers alone go on learning against the
   planner's final policy with the final rate cap, so that the learned workers have
   re-adapted to the learned schedule when it is evaluated.

Schedule exploration (``explore_share``, default 0): in a fixed share of the
environments the planner's action is replaced, in every phase, by a uniformly random
valid one (rates within the current cap). The workers learn from those environments
like any other, so their response holds across schedules and not only near the
planner's current one; the planner learns from the other environments only. Without
it, workers trained near one schedule answer a new one poorly (they keep their hours
when a rate rises), and a planner priced by those workers learns schedules that fail
against workers who answer them well. ``phase1_rate_cap`` > 0 lets the workers meet
taxed schedules in phase 1 already (domain randomisation before the planner starts).

Every ``checkpoint_every`` updates the whole training state (networks, optimizers,
random streams, world state, update count) is written atomically; resuming from it
continues exactly as an uninterrupted run would on the same device. Each update appends
one row to ``log.csv`` (and TensorBoard scalars when ``tensorboard`` is installed); a
progress bar shows the welfare. Non-finite rewards stop training with the update number
and the role, before anything is written for that update.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from sandbox.core.errors import CheckpointError, ConfigError, SandboxError, check_range
from sandbox.core.seeding import derive_seed
from sandbox.policies.checkpoint import (
    atomic_torch_save,
    decode_metadata,
    encode_metadata,
    read_torch_file,
)
from sandbox.policies.generic import RandomPolicy
from sandbox.solvers.ppo import PPO, PPOConfig
from sandbox.solvers.rollout import RoleBatch, RolloutCollector
from sandbox.solvers.schedules import Anneal
from sandbox.solvers.training_log import STAT_KEYS, TrainingLog

FORMAT = "sandbox.two_level"
FORMAT_VERSION = 1


class TrainingError(SandboxError):
    """Training cannot go on: non-finite rewards or parameters (names update and role)."""


def _worker_defaults() -> PPOConfig:
    return PPOConfig(learning_rate=3e-3, update_epochs=4, num_minibatches=4, gamma=0.99,
                     gae_lambda=0.95, ent_coef=0.01, ent_coef_end=0.0, reward_scale=0.01)


def _planner_defaults() -> PPOConfig:
    return PPOConfig(learning_rate=3e-3, update_epochs=4, num_minibatches=2, gamma=0.99,
                     gae_lambda=0.95, reward_scale=0.1)


@dataclass(frozen=True)
class TwoLevelConfig:
    """The curriculum and the two roles' PPO settings."""

    workers: PPOConfig = field(default_factory=_worker_defaults)
    """PPO settings of the workers (their entropy follows their own schedule)."""
    planner: PPOConfig = field(default_factory=_planner_defaults)
    """PPO settings of the planner (its entropy follows ``planner_entropy``)."""
    rollout_steps: int = 2
    """World steps per environment per update (a multiple of the episode length)."""
    phase1_updates: int = 50
    """Updates of the workers alone in a free market."""
    phase2_updates: int = 150
    """Updates of planner and workers together."""
    rate_cap: Anneal = Anneal(0.0, 1.0, 0, 50, name="rate_cap")
    """Rate cap over phase-2 updates (the world's ``set_rate_cap``)."""
    planner_entropy: Anneal = Anneal(0.5, 0.01, 0, 100, name="planner_entropy")
    """Planner's entropy coefficient over phase-2 updates."""
    planner_every: int = 1
    """In phase 2 the planner updates on every this-many-th update, the workers on every
    one: workers adapt faster than the planner, which makes their lag harder to exploit."""
    settle_updates: int = 0
    """Updates of the workers alone after phase 2 (phase 3), the planner's policy fixed
    (still sampled) and the rate cap at its final value: the workers re-adapt to the
    learned schedule."""
    explore_share: float = 0.0
    """Share of the environments (the last ones) in which the planner's action is replaced
    by a uniformly random valid one, in every phase: the workers meet random schedules
    within the current rate cap and learn a response that generalises across schedules,
    so the planner cannot profit from their errors away from its current schedule. The
    planner does not learn from those environments (the logged metrics include them)."""
    phase1_rate_cap: float = 0.0
    """Rate cap in phase 1: 0 is the AI Economist's free market; with ``explore_share``
    > 0, a positive cap lets the workers meet taxed schedules before the planner learns
    (the planner's initial policy sets the rates in the other environments)."""
    learn_workers: bool = True
    """False: the workers follow a fixed policy given to :class:`TwoLevel` (rule-following
    residents, say) and only the planner learns; phase 1 must then be empty."""
    checkpoint_every: int = 25
    """Write a checkpoint after every this many updates (and after the last)."""
    planner_role: str = "planner"
    """Name of the planner role."""
    worker_role: str = "workers"
    """Name of the worker role."""

    def __post_init__(self):
        for name in ("rollout_steps", "checkpoint_every", "planner_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"train.{name}", value, "an integer >= 1")
        for name in ("phase1_updates", "phase2_updates", "settle_updates"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"train.{name}", value, "an integer >= 0")
        for name in ("explore_share", "phase1_rate_cap"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"train.{name}", value, "a number in [0, 1]")
        check_range("train.explore_share", self.explore_share, low=0.0, high=1.0,
                    high_open=True)
        check_range("train.phase1_rate_cap", self.phase1_rate_cap, low=0.0, high=1.0)
        if not isinstance(self.learn_workers, bool):
            raise ConfigError("train.learn_workers", self.learn_workers, "true or false")
        if not self.learn_workers and self.phase1_updates + self.settle_updates > 0:
            raise ConfigError(
                "train.phase1_updates" if self.phase1_updates else "train.settle_updates",
                self.phase1_updates or self.settle_updates,
                "0 when the workers follow a fixed policy (learn_workers: false): "
                "only the planner learns, in phase 2")
        if self.rate_cap.start_value < 0 or self.rate_cap.end_value > 1:
            raise ConfigError("train.rate_cap", self.rate_cap, "values within [0, 1]")
        if self.planner_entropy.start_value < 0 or self.planner_entropy.end_value < 0:
            raise ConfigError("train.planner_entropy", self.planner_entropy, "values >= 0")

    @property
    def total_updates(self) -> int:
        """Updates in all phases."""
        return self.phase1_updates + self.phase2_updates + self.settle_updates


class TwoLevel:
    """Trains a planner and workers together with the two-phase curriculum.

    Args:
        world: a world with the config's planner and worker roles; ``set_rate_cap`` is
            used when the world has it.
        config: the curriculum.
        seed: seed of the learners' streams (the world keeps its own).
        out_dir: folder for ``log.csv``, ``checkpoints/`` and the final policies
            (``planner.pt``, ``workers.pt``); None writes nothing.
        workers_policy: the workers' fixed policy when ``config.learn_workers`` is False
            (required then, refused otherwise).
    """

    def __init__(self, world, config: TwoLevelConfig | None = None, *, seed: int = 0,
                 out_dir: str | Path | None = None, workers_policy=None):
        self.world = world
        self.config = config if config is not None else TwoLevelConfig()
        cfg = self.config
        for role in (cfg.planner_role, cfg.worker_role):
            if role not in world.roles:
                raise ConfigError("train.roles", role, f"a role of the world {sorted(world.roles)}")
        self.seed = int(seed)
        self.workers = PPO(world, cfg.worker_role, cfg.workers, seed=seed)
        self.planner = PPO(world, cfg.planner_role, cfg.planner, seed=seed)
        if cfg.learn_workers and workers_policy is not None:
            raise ConfigError("train.learn_workers", True,
                              "false when the workers are given a fixed policy")
        if not cfg.learn_workers and workers_policy is None:
            raise ConfigError("train.learn_workers", False,
                              "a fixed policy for the workers (the scenario's roles.workers)")
        self.workers_policy = workers_policy
        self.explore_envs = int(round(cfg.explore_share * world.num_envs))
        if self.explore_envs >= world.num_envs:
            raise ConfigError("train.explore_share", cfg.explore_share,
                              f"a share that leaves the planner some of the {world.num_envs} "
                              "environments")
        self.explorer = None  # draws the random schedules (a random planner policy)
        planner = self.planner
        if self.explore_envs:
            self.explorer = RandomPolicy(world.roles[cfg.planner_role], device=world.device)
            self.explorer.reset(derive_seed(self.seed, "explore"))
            planner = _ExploringLearner(self.planner, self.explorer, self.explore_envs)
        if cfg.learn_workers:
            self.collector = RolloutCollector(
                world, {cfg.worker_role: self.workers, cfg.planner_role: planner})
        else:
            self.collector = RolloutCollector(world, {cfg.planner_role: planner},
                                              others={cfg.worker_role: workers_policy})
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.update = 0
        self.seconds = 0.0
        self.last_row: dict = {}

    # --------------------------------------------------------------- schedules
    def schedule_at(self, update: int) -> tuple[int, float, float]:
        """(phase, rate cap, planner entropy coefficient) for the update after ``update``."""
        cfg = self.config
        if update < cfg.phase1_updates:
            return 1, float(cfg.phase1_rate_cap), 0.0
        since = update - cfg.phase1_updates
        if since >= cfg.phase2_updates:
            end = cfg.phase2_updates
            return 3, cfg.rate_cap.at(end), cfg.planner_entropy.at(end)
        return 2, cfg.rate_cap.at(since), cfg.planner_entropy.at(since)

    # ------------------------------------------------------------------ update
    def step(self) -> dict:
        """One update: collect a rollout, check it, update the learners; the log row."""
        cfg, u = self.config, self.update
        started = time.perf_counter()
        phase, cap, planner_ent = self.schedule_at(u)
        if hasattr(self.world, "set_rate_cap"):
            self.world.set_rate_cap(cap)
            self.collector.reset()  # the planner observes the cap; masks follow it
        batches = self.collector.collect(cfg.rollout_steps)
        for role, batch in batches.items():
            if not bool(torch.isfinite(batch.rewards).all()):
                raise TrainingError(
                    f"update {u + 1}: role {role!r} received non-finite rewards (NaN or "
                    "infinity); training stopped and no checkpoint was written for it")
        stats = {}
        if cfg.worker_role in batches:
            stats["workers"] = self.workers.update(
                batches[cfg.worker_role], progress=u / max(1, cfg.total_updates))
        since = u - cfg.phase1_updates
        if phase == 2 and cfg.planner_role in batches and since % cfg.planner_every == 0:
            planner_batch = _first_envs(batches[cfg.planner_role],
                                        self.world.num_envs - self.explore_envs)
            stats["planner"] = self.planner.update(
                planner_batch, progress=since / max(1, cfg.phase2_updates),
                ent_coef=planner_ent)
        for role, learner in (("workers", self.workers), ("planner", self.planner)):
            if not all(bool(torch.isfinite(p).all()) for p in learner.policy.module.parameters()):
                raise TrainingError(f"update {u + 1}: role {role!r} has non-finite parameters "
                                    "after its update; lower its learning rate")
        self.update += 1
        self.seconds += time.perf_counter() - started
        self.last_row = self._row(phase, cap, stats)
        return self.last_row

    def _row(self, phase: int, cap: float, stats: dict) -> dict:
        cfg, collector = self.config, self.collector
        row = {"update": self.update, "phase": phase, "env_steps": collector.env_steps,
               "seconds": round(self.seconds, 3), "rate_cap": cap}
        for role in ("workers", "planner"):
            for key in STAT_KEYS:
                row[f"{role}_{key}"] = stats.get(role, {}).get(key, "")
        row["return_workers"] = collector.rollout_returns.get(cfg.worker_role, "")
        row["return_planner"] = collector.rollout_returns.get(cfg.planner_role, "")
        row.update({name: collector.rollout_metrics.get(name, "")
                    for name in self.world.metric_names})
        return row

    # -------------------------------------------------------------------- train
    def train(self, *, resume: str | Path | None = None, progress: bool = True) -> dict:
        """Run the curriculum to the end (or from a checkpoint on); the last log row.

        Args:
            resume: a checkpoint file to continue from, or None to start afresh.
            progress: show a progress bar with the welfare.
        """
        if resume is not None:
            self.load_checkpoint(resume)
        elif self.update == 0:
            self.collector.reset(self.world.seed)
        log = TrainingLog(self.out_dir, self._columns(), start_after=self.update,
                          progress=progress, total=self.config.total_updates)
        try:
            while self.update < self.config.total_updates:
                row = self.step()
                log.write(row)
                every = self.config.checkpoint_every
                done = self.update == self.config.total_updates
                if self.out_dir is not None and (self.update % every == 0 or done):
                    self.save_checkpoint(self.checkpoint_path(self.update))
        finally:
            log.close()
        if self.out_dir is not None:
            extra = {"world": type(self.world).__name__, "update": self.update}
            self.planner.policy.save(self.out_dir / "planner.pt", extra=extra)
            if self.config.learn_workers:
                self.workers.policy.save(self.out_dir / "workers.pt", extra=extra)
        return self.last_row

    def _columns(self) -> list[str]:
        base = ["update", "phase", "env_steps", "seconds", "rate_cap"]
        stats = [f"{r}_{k}" for r in ("workers", "planner") for k in STAT_KEYS]
        return base + stats + ["return_workers", "return_planner", *self.world.metric_names]

    # -------------------------------------------------------------- checkpoints
    def checkpoint_path(self, update: int) -> Path:
        """Where the checkpoint after ``update`` updates goes."""
        if self.out_dir is None:
            raise ConfigError("out_dir", None, "a folder to write checkpoints in")
        return self.out_dir / "checkpoints" / f"update_{update:06d}.pt"

    def _identity(self) -> dict:
        world = self.world
        return {"world": type(world).__name__, "params": repr(world.params),
                "num_envs": world.num_envs, "world_seed": world.seed}

    def save_checkpoint(self, path: str | Path) -> Path:
        """Write the complete training state to ``path`` atomically."""
        meta = {"format_version": FORMAT_VERSION, "update": self.update,
                "seconds": self.seconds, "seed": self.seed, **self._identity(),
                "config": json.loads(json.dumps(dataclasses.asdict(self.config), default=str))}
        payload = {"format": FORMAT, "metadata": encode_metadata(meta),
                   "workers": self.workers.state_dict(), "planner": self.planner.state_dict(),
                   "collector": self.collector.state_dict()}
        if self.explorer is not None:
            payload["explorer"] = self.explorer.generator.get_state()
        return atomic_torch_save(payload, path)

    def load_checkpoint(self, path: str | Path) -> None:
        """Continue from a checkpoint written by :meth:`save_checkpoint` for this world."""
        payload = read_torch_file(path, kind=FORMAT, device=self.world.device)
        meta = decode_metadata(payload.get("metadata"), path=path)
        if meta.get("format_version") != FORMAT_VERSION:
            raise CheckpointError(f"checkpoint {str(path)!r} has format version "
                                  f"{meta.get('format_version')!r}; expected {FORMAT_VERSION}")
        for key, value in self._identity().items():
            if meta.get(key) != value:
                raise CheckpointError(
                    f"checkpoint {str(path)!r} was written for {key} {meta.get(key)!r}, "
                    f"but this run has {value!r}")
        try:
            self.workers.load_state_dict(payload["workers"])
            self.planner.load_state_dict(payload["planner"])
            self.collector.load_state_dict(payload["collector"])
            if self.explorer is not None:
                self.explorer.generator.set_state(payload["explorer"])
        except (KeyError, RuntimeError, ValueError, TypeError) as exc:
            raise CheckpointError(
                f"checkpoint {str(path)!r} does not fit this run's networks or world: {exc}"
            ) from None
        self.update = int(meta["update"])
        self.seconds = float(meta.get("seconds", 0.0))


def _first_envs(batch: RoleBatch, count: int) -> RoleBatch:
    """The transitions of the first ``count`` environments of a batch.

    Environments are dim 1 of the time-major fields and dim 0 of ``hidden`` and
    ``bootstrap_value``.
    """
    if count == batch.obs.shape[1]:
        return batch
    return RoleBatch(
        obs=batch.obs[:, :count], actions=batch.actions[:, :count],
        log_probs=batch.log_probs[:, :count], values=batch.values[:, :count],
        rewards=batch.rewards[:, :count], dones=batch.dones[:, :count],
        starts=batch.starts[:, :count],
        masks=None if batch.masks is None else batch.masks[:, :count],
        hidden=batch.hidden[:count], bootstrap_value=batch.bootstrap_value[:count])


class _ExploringPolicy:
    """A neural policy acting uniformly at random in the last ``count`` environments.

    Only ``decide`` (what the rollout collector calls) changes; the rest delegates. The
    recorded log-probabilities there are the network's, not the random draw's: those
    environments are cut from the planner's batch before its update.
    """

    def __init__(self, policy, explorer: RandomPolicy, count: int):
        self._policy, self._explorer, self._count = policy, explorer, count

    def __getattr__(self, name):
        return getattr(self._policy, name)

    def decide(self, obs, mask=None, hidden=None, *, deterministic: bool = False):
        decision = self._policy.decide(obs, mask, hidden, deterministic=deterministic)
        keep = obs.shape[0] - self._count
        random = self._explorer.act(obs[keep:], None if mask is None else mask[keep:])
        action = torch.cat([decision.action[:keep], random.to(decision.action.dtype)])
        return dataclasses.replace(decision, action=action)


class _ExploringLearner:
    """The planner's learner as the rollout collector sees it (see ``explore_share``)."""

    def __init__(self, learner: PPO, explorer: RandomPolicy, count: int):
        self.config = learner.config
        self.policy = _ExploringPolicy(learner.policy, explorer, count)
