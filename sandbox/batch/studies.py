"""Scenario files to batches: every check first, then the results folder, then the runs.

``sandbox batch`` (and any caller that wants the same guarantees) loads every scenario,
validates it, plans its runs and checks the results folder before anything is written,
so that bad input leaves no trace.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sandbox.batch.store import check_version, prepare_folder
from sandbox.core.errors import ConfigError
from sandbox.scenario import RunPlan, ScenarioSpec, load_scenario, plan_runs, validate_scenario


@dataclass(frozen=True)
class Study:
    """One scenario of a batch and its runs.

    Attributes:
        spec: the validated scenario.
        plans: its runs (sweep points x policy combinations x seeds).
    """

    spec: ScenarioSpec
    plans: list[RunPlan]


def load_studies(paths: Sequence[str | Path], out: str | Path, *,
                 force_new: bool = False) -> list[Study]:
    """Load, validate and plan every scenario file and check ``out`` against each.

    Writes nothing.

    Raises:
        ConfigError: a scenario or its sweep is invalid, two files share a name with
            different content, or ``out`` holds runs of another version of a scenario
            (unless ``force_new``).
    """
    studies: list[Study] = []
    for path in paths:
        spec = load_scenario(path)
        validate_scenario(spec)
        if any(s.spec.name == spec.name and s.spec != spec for s in studies):
            raise ConfigError("scenario", str(path), f"a scenario name no other file uses "
                              f"({spec.name!r} is given twice, with different content)")
        check_version(out, name=spec.name, scenario_hash=spec.content_hash(),
                      force_new=force_new)
        studies.append(Study(spec, plan_runs(spec)))
    return studies


def open_folder(studies: Sequence[Study], out: str | Path, *, force_new: bool = False) -> None:
    """Create ``out`` (or check it can be written) and record every study's scenario.

    Raises:
        ConfigError: ``out`` cannot be written.
    """
    for study in studies:
        prepare_folder(out, scenario_hash=study.spec.content_hash(),
                       spec_json=study.spec.model_dump(mode="json"), force_new=force_new)
