"""Scenario files: the pydantic spec, building worlds and policies, running a scenario."""

from sandbox.scenario.build import build_params, build_policy, build_world, world_params
from sandbox.scenario.run import (
    RunPlan,
    RunResult,
    evaluate,
    execute_run,
    plan_runs,
    resolve_config,
    validate_scenario,
)
from sandbox.scenario.spec import (
    PolicySpec,
    ScenarioSpec,
    WorldSpec,
    load_scenario,
    load_scenario_text,
    parse_scenario,
)

__all__ = [
    "PolicySpec", "RunPlan", "RunResult", "ScenarioSpec", "WorldSpec", "build_params",
    "build_policy", "build_world", "evaluate", "execute_run", "load_scenario",
    "load_scenario_text", "parse_scenario",
    "plan_runs", "resolve_config", "validate_scenario", "world_params",
]
