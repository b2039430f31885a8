"""Training from a scenario file's ``train:`` section (``sandbox train``).

The section holds the two-level curriculum's settings (``TwoLevelConfig``: phase
lengths, the rate-cap and planner-entropy schedules, each role's PPO settings), plus
``seed`` (default: the scenario's first evaluation seed)::

    train:
      seed: 0
      phase1_updates: 150
      phase2_updates: 450
      rate_cap: {start_value: 0.0, end_value: 1.0, start_update: 0, end_update: 150}
      planner_entropy: {start_value: 0.1, end_value: 0.0, start_update: 0, end_update: 300}
      workers: {learning_rate: 0.003}

A mapping given for a nested setting overrides only the fields it names.

Curricula that belong to the world, such as Gather-Trade-Build's labour-cost warm-up
(``world.params.labour_warmup_constant``), live in the world's parameters and state, so
that they advance with the episodes and a checkpoint resumes them exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sandbox.core.errors import ConfigError
from sandbox.core.seeding import derive_seed
from sandbox.scenario.build import build_params, build_policy, build_world
from sandbox.scenario.spec import ScenarioSpec
from sandbox.solvers.two_level import TwoLevel, TwoLevelConfig

SCHEDULES = ("rate_cap", "planner_entropy")


@dataclass(frozen=True)
class TrainingOutcome:
    """Where a training run left its files, and its last log row.

    Attributes:
        out_dir: the training folder (``log.csv``, ``checkpoints/``, final policies).
        planner: the trained planner's checkpoint.
        workers: the trained workers' checkpoint (None when they followed a fixed policy).
        last_row: the last row of the training log.
    """

    out_dir: Path
    planner: Path
    workers: Path | None
    last_row: dict


def training_config(spec: ScenarioSpec) -> tuple[TwoLevelConfig, int]:
    """The curriculum and seed of a scenario's ``train:`` section.

    Raises:
        ConfigError: the section is missing or one of its settings is invalid (named).
    """
    if spec.train is None:
        raise ConfigError("train", None, "a 'train:' section in the scenario file "
                          "(see scenarios/onestep_ai_economist.yaml)")
    section = dict(spec.train)
    seed = section.pop("seed", spec.evaluation.seeds[0])
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError("train.seed", seed, "an integer")
    for name in SCHEDULES:
        if isinstance(section.get(name), dict):
            section[name] = {"name": f"train.{name}", **section[name]}
    return build_params(TwoLevelConfig, section, field="train"), seed


def check_rollout_length(world, config: TwoLevelConfig) -> None:
    """Refuse rollouts that stop inside an episode of a world with fixed-length episodes.

    The trainer starts fresh episodes at every update of a world with a rate cap (the
    planner observes the cap), so a rollout that ends inside an episode throws its rest
    away: no episode would ever finish, report its metrics or advance a warm-up.

    Raises:
        ConfigError: naming ``train.rollout_steps`` and the episode length.
    """
    length = getattr(world.params, "episode_length", None)
    if (hasattr(world, "set_rate_cap") and isinstance(length, int)
            and config.rollout_steps % length):
        raise ConfigError(
            "train.rollout_steps", config.rollout_steps,
            f"a multiple of the world's episode_length ({length}): every update starts "
            "fresh episodes, so a rollout that stops inside an episode discards it (no "
            "episode metrics, no labour-cost warm-up)")


def train_scenario(spec: ScenarioSpec, *, out_dir: str | Path | None = None,
                   resume: str | Path | None = None, progress: bool = True) -> TrainingOutcome:
    """Train the scenario's planner and workers with the two-level curriculum.

    Args:
        spec: a scenario with a ``train:`` section and a world with planner and workers.
        out_dir: training folder (default ``results/<scenario>/training``).
        resume: a checkpoint to continue from (same scenario, same seed).
        progress: show a progress bar.
    """
    config, seed = training_config(spec)
    world = build_world(spec.world, seed=derive_seed(seed, "world"))
    for role in (config.planner_role, config.worker_role):
        if role not in world.roles:
            raise ConfigError("world.name", spec.world.name,
                              f"a world with roles {config.planner_role!r} and "
                              f"{config.worker_role!r} for two-level training")
    check_rollout_length(world, config)
    if resume is not None and not Path(resume).is_file():
        raise ConfigError("--resume", str(resume), "an existing checkpoint file")
    out = Path(out_dir) if out_dir else Path("results") / spec.name / "training"
    fixed = None
    if not config.learn_workers:
        variants = spec.role_variants().get(config.worker_role, [])
        if len(variants) != 1:
            raise ConfigError(f"roles.{config.worker_role}", len(variants),
                              "exactly one policy for the workers to follow while the "
                              "planner learns (learn_workers: false)")
        fixed = build_policy(world, config.worker_role, variants[0],
                             field=f"roles.{config.worker_role}")
    trainer = TwoLevel(world, config, seed=derive_seed(seed, "solver"), out_dir=out,
                       workers_policy=fixed)
    last = trainer.train(resume=resume, progress=progress)
    workers = out / "workers.pt" if config.learn_workers else None
    return TrainingOutcome(out, out / "planner.pt", workers, last)
