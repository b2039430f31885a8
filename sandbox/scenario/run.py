"""Running a scenario: plan its runs, execute one run, collect metrics and tables.

A run is (scenario, compared policies, sweep point, seed). Its id is a hash of its
resolved configuration, so the same run always gets the same id, wherever it runs.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import itertools
import json
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import torch

from sandbox.core.errors import ConfigError
from sandbox.core.seeding import derive_seed
from sandbox.scenario.build import build_policy, build_world, check_roles, world_params
from sandbox.scenario.spec import PolicySpec, ScenarioSpec
from sandbox.scenario.sweep import set_path
from sandbox.scenario.versions import software_versions


@dataclass(frozen=True)
class RunPlan:
    """One run to execute.

    Attributes:
        scenario: the scenario's name.
        scenario_hash: hash of the scenario spec the run came from.
        variant: label of the compared policies, e.g. ``"planner=Saez"``.
        seed: the run's integer seed.
        config: the resolved configuration (JSON-serialisable): world with every
            parameter, the policy of each role, evaluation settings, sweep point.
        run_id: hash of ``config`` (16 hex digits).
    """

    scenario: str
    scenario_hash: str
    variant: str
    seed: int
    config: dict[str, Any]
    run_id: str


@dataclass
class RunResult:
    """What one run produced.

    Attributes:
        plan: the run that was executed.
        status: ``"ok"`` or ``"failed"``.
        metrics: mean of each episode metric over every recorded episode.
        episodes: one mapping of metric values per recorded episode (with ``env`` and
            ``episode`` indices).
        tables: the world's per-episode tables of the last episode of environment 0,
            table -> column -> list of values.
        error: the error message when the run failed.
        traceback: the formatted traceback when the run failed.
        started_at: Unix time at which the run started.
        duration_s: wall-clock seconds of the run.
        steps: world steps taken.
        versions: versions of the software that produced it.
        trajectory: one recorded episode (environment 0's first) as named numpy arrays,
            for worlds that offer ``episode_recorder`` (Gather-Trade-Build); None for the
            others. Batches store it next to the run (``trajectories/<run_id>.npz``).
    """

    plan: RunPlan
    status: str = "ok"
    metrics: dict[str, float] = field(default_factory=dict)
    episodes: list[dict[str, float]] = field(default_factory=list)
    tables: dict[str, dict[str, list]] = field(default_factory=dict)
    error: str = ""
    traceback: str = ""
    started_at: float = 0.0
    duration_s: float = 0.0
    steps: int = 0
    versions: dict[str, str] = field(default_factory=dict)
    trajectory: dict[str, Any] | None = None


def _hash(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _policy_config(spec: PolicySpec) -> dict[str, Any]:
    return {"policy": spec.policy, "label": spec.display, "params": dict(spec.params)}


def resolve_config(
    spec: ScenarioSpec,
    policies: dict[str, PolicySpec],
    *,
    seed: int,
    world_overrides: dict[str, Any] | None = None,
    sweep_point: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The complete configuration of one run, defaults filled in (JSON-serialisable)."""
    world_spec = spec.world
    if world_overrides:
        world_spec = world_spec.model_copy(update={"params": world_overrides})
    return _assemble(spec, policies, seed=seed, world=_resolve_world(world_spec),
                     sweep_point=sweep_point)


def _resolve_world(world_spec) -> dict[str, Any]:
    params = dataclasses.asdict(world_params(world_spec))
    return {"name": world_spec.name, "params": params,
            "num_envs": world_spec.num_envs, "device": world_spec.device}


def _assemble(spec: ScenarioSpec, policies: dict[str, PolicySpec], *, seed: int,
              world: dict[str, Any], sweep_point: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "scenario": spec.name,
        "world": copy.deepcopy(world),
        "roles": {role: _policy_config(p) for role, p in sorted(policies.items())},
        "evaluation": spec.evaluation.model_dump(exclude={"seeds"}),
        "sweep_point": dict(sweep_point or {}),
        "seed": int(seed),
    }


def variant_label(spec: ScenarioSpec, policies: dict[str, PolicySpec]) -> str:
    """Name of a policy combination, listing only the roles whose policy is compared."""
    compared = [r for r, v in spec.role_variants().items() if len(v) > 1]
    shown = compared or list(policies)
    return ", ".join(policies[r].display if len(shown) == 1 else f"{r}={policies[r].display}"
                     for r in shown)


def plan_runs(spec: ScenarioSpec) -> list[RunPlan]:
    """Every run of a scenario: sweep points x policy combinations x seeds.

    Raises:
        ConfigError: a swept path does not exist, or a swept value is invalid (the
            message names ``sweep.parameters.<path>``).
    """
    scenario_hash = spec.content_hash()
    if spec.sweep is None:
        return _plan_point(spec, scenario_hash, {})
    base = spec.model_dump(mode="json", exclude={"sweep"})
    base["world"]["params"] = dataclasses.asdict(world_params(spec.world))
    plans = []
    for point in spec.sweep.points():
        config = copy.deepcopy(base)
        for path, value in point.items():
            set_path(config, path, value, field=f"sweep.parameters.{path}")
        try:
            point_spec = ScenarioSpec.model_validate(config)
            plans.extend(_plan_point(point_spec, scenario_hash, point))
        except (ConfigError, ValueError) as exc:
            raise ConfigError(f"sweep.parameters ({', '.join(point)})", point,
                              f"values the scenario accepts: {exc}") from None
    return plans


def _plan_point(spec: ScenarioSpec, scenario_hash: str, point: dict) -> list[RunPlan]:
    variants = spec.role_variants()
    roles = list(variants)
    world = _resolve_world(spec.world)  # once per point: resolving parameters is slow
    plans = []
    for combo in itertools.product(*(variants[r] for r in roles)):
        policies = dict(zip(roles, combo))
        for seed in spec.evaluation.seeds:
            config = _assemble(spec, policies, seed=seed, world=world, sweep_point=point)
            plans.append(RunPlan(spec.name, scenario_hash, variant_label(spec, policies),
                                 int(seed), config, _hash(config)))
    return plans


def _to_lists(tables: dict[str, dict[str, torch.Tensor]]) -> dict[str, dict[str, list]]:
    return {name: {col: values[0].detach().cpu().tolist() for col, values in cols.items()}
            for name, cols in tables.items()}


def _simulate(plan: RunPlan, result: RunResult) -> None:
    config = plan.config
    from sandbox.scenario.spec import WorldSpec

    world_spec = WorldSpec(**{k: config["world"][k] for k in ("name", "num_envs", "device")},
                           params=config["world"]["params"])
    world = build_world(world_spec, seed=derive_seed(plan.seed, "world"))
    # training curricula of the world (a labour-cost warm-up) are off in evaluations
    evaluation_params = getattr(world.params, "for_evaluation", None)
    if evaluation_params is not None and evaluation_params() != world.params:
        world = type(world)(evaluation_params(), num_envs=world.num_envs, device=world.device,
                            seed=world.seed)
    check_roles(world, config["roles"])
    policies = {}
    for role, pconf in config["roles"].items():
        pspec = PolicySpec(policy=pconf["policy"], label=pconf["label"], params=pconf["params"])
        policies[role] = build_policy(world, role, pspec, field=f"roles.{role}")
        policies[role].reset(derive_seed(plan.seed, f"policy/{role}"))
    evaluation = config["evaluation"]
    episodes, deterministic = evaluation["episodes"], evaluation["deterministic"]
    obs = world.reset(seed=derive_seed(plan.seed, "world"))
    masks = world.action_masks()
    # worlds that can record an episode keep environment 0's first (it draws no random
    # numbers, so the run is the same with or without it)
    recorder = world.episode_recorder(env=0) if hasattr(world, "episode_recorder") else None
    finished = torch.zeros(world.num_envs, dtype=torch.long)
    while int(finished.min()) < episodes:
        if result.steps >= evaluation["max_steps"]:
            raise ConfigError("evaluation.max_steps", evaluation["max_steps"],
                              f"enough steps for {episodes} episode(s) per environment")
        actions = {role: policies[role].act(obs[role], masks.get(role), deterministic)
                   for role in world.acting_roles()}
        step = world.step(actions)
        result.steps += 1
        if recorder is not None and not recorder.finished:
            recorder.record(actions, step)
        done = step.done.cpu()
        if bool(done.any()):
            _record(world, step, done, finished, episodes, result,
                    extra=_policy_metrics(policies, step))
        obs, masks = step.obs, step.masks
    if recorder is not None and recorder.finished:
        result.trajectory = recorder.arrays()


def _policy_metrics(policies: dict, step) -> dict[str, torch.Tensor]:
    """Per-episode metrics that policies report themselves (e.g. a test's weight).

    Policies with an ``episode_metrics(step) -> {name: [num_envs] tensor}`` method add
    them; the runner keeps the rows of the episodes that ended.
    """
    extra: dict[str, torch.Tensor] = {}
    for policy in policies.values():
        report = getattr(policy, "episode_metrics", None)
        if report is not None:
            extra.update(report(step))
    return extra


def _record(world, step, done, finished, episodes, result: RunResult,
            extra: dict[str, torch.Tensor] | None = None) -> None:
    """Keep the metrics of episodes that just ended (up to ``episodes`` per env)."""
    wanted = done & (finished < episodes)
    metrics = {k: v.cpu() for k, v in {**step.final_metrics, **(extra or {})}.items()}
    for env in torch.nonzero(wanted).flatten().tolist():
        row = {"env": env, "episode": int(finished[env])}
        row.update({k: float(v[env]) for k, v in metrics.items()})
        result.episodes.append(row)
    if bool(wanted[0]) and int(finished[0]) == episodes - 1:
        result.tables = _to_lists(world.episode_tables(step.final_state))
    finished += wanted.long()


def execute_run(plan: RunPlan) -> RunResult:
    """Run one plan to the end; a failure is recorded in the result, not raised."""
    result = RunResult(plan=plan, started_at=time.time(), versions=software_versions())
    start = time.perf_counter()
    try:
        _simulate(plan, result)
        names = [k for k in (result.episodes[0] if result.episodes else {})
                 if k not in ("env", "episode")]
        result.metrics = {k: sum(e[k] for e in result.episodes) / len(result.episodes)
                          for k in names}
    except Exception as exc:  # a failing run is data: record it and go on
        result.status = "failed"
        result.error = f"{type(exc).__name__}: {exc}"
        result.traceback = traceback.format_exc()
    result.duration_s = time.perf_counter() - start
    return result


def validate_scenario(spec: ScenarioSpec) -> None:
    """Build the world once and every policy, so that bad parameters fail before any run."""
    world = build_world(spec.world.model_copy(update={"num_envs": 1}), seed=0)
    check_roles(world, spec.roles)
    for role, variants in spec.role_variants().items():
        for i, pspec in enumerate(variants):
            field = f"roles.{role}" + (f"[{i}]" if isinstance(spec.roles[role], list) else "")
            build_policy(world, role, pspec, field=field)


def evaluate(spec: ScenarioSpec) -> list[RunResult]:
    """Every run of a scenario, executed in this process, in plan order (no files written).

    The app uses this for interactive pages; ``sandbox run`` and batches add storage.
    """
    return [execute_run(plan) for plan in plan_runs(spec)]
