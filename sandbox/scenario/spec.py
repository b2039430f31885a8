"""The scenario file: a pydantic spec, loaded from YAML with ``yaml.safe_load``.

A scenario names a world and its parameters, the policy of each role (a list of
policies for a role means "compare these"), how to evaluate (episodes, seeds) and,
optionally, a sweep and a training section. Example::

    name: onestep_tax
    question: Which tax schedule maximises welfare when workers best respond?
    world:
      name: onestep_economy
      params: {num_workers: 100}
    roles:
      workers: {policy: best_response}
      planner:
        - {policy: free_market, label: Free market}
        - {policy: saez}
    evaluation: {episodes: 1, seeds: [0, 1, 2]}

Pydantic lives only in this package; the world and policy parameters are turned into
the library's frozen dataclasses by :mod:`sandbox.scenario.build`.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sandbox.core.errors import ConfigError
from sandbox.scenario.sweep import SweepSpec

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PolicySpec(_Strict):
    """The policy driving one role.

    Attributes:
        policy: registered policy name (``sandbox policies`` lists them).
        label: how results and figures name this policy (defaults to ``policy``).
        params: keyword parameters of the policy.
    """

    policy: str
    label: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)

    @property
    def display(self) -> str:
        """The label shown in tables and figures."""
        return self.label or self.policy


class WorldSpec(_Strict):
    """Which world, with which parameters, on which device.

    Attributes:
        name: registered world name.
        params: the world's parameters (fields of its ``Params`` dataclass).
        num_envs: environments simulated together in one run.
        device: ``auto``, ``cpu`` or ``cuda``.
    """

    name: str
    params: dict[str, Any] = Field(default_factory=dict)
    num_envs: int = Field(1, ge=1, le=1_000_000)
    device: str = "cpu"


class EvaluationSpec(_Strict):
    """How each run is evaluated.

    Attributes:
        episodes: finished episodes per environment before a run ends.
        seeds: one run per seed (and per compared policy).
        deterministic: policies take their most likely action instead of sampling.
        max_steps: safety limit on steps per run (a run that needs more fails clearly).
    """

    episodes: int = Field(1, ge=1, le=1_000_000)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    deterministic: bool = False
    max_steps: int = Field(1_000_000, ge=1)

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, seeds: list[int]) -> list[int]:
        if len(set(seeds)) != len(seeds):
            raise ValueError("seeds must be distinct")
        return seeds


class ScenarioSpec(_Strict):
    """A whole scenario file.

    Attributes:
        name: short identifier used for result folders and run ids.
        question: the question the scenario asks, in one sentence (shown in reports).
        description: longer free text.
        world: the world and its parameters.
        roles: for each role of the world, a policy or a list of policies to compare.
        evaluation: episodes and seeds.
        sweep: parameter sweep (used by ``sandbox batch``), or None.
        train: training settings for learned policies (used by ``sandbox train``), or None.
    """

    name: str = Field(pattern=NAME_PATTERN, max_length=100)
    question: str = ""
    description: str = ""
    world: WorldSpec
    roles: dict[str, PolicySpec | list[PolicySpec]]
    evaluation: EvaluationSpec = Field(default_factory=EvaluationSpec)
    sweep: SweepSpec | None = None
    train: dict[str, Any] | None = None

    @field_validator("roles")
    @classmethod
    def _non_empty(cls, roles):
        for name, value in roles.items():
            if isinstance(value, list) and not value:
                raise ValueError(f"role {name!r} has an empty list of policies")
        if not roles:
            raise ValueError("at least one role needs a policy")
        return roles

    def role_variants(self) -> dict[str, list[PolicySpec]]:
        """Every role's policies as a list (one element when a single policy is given)."""
        return {r: (v if isinstance(v, list) else [v]) for r, v in self.roles.items()}

    def content_hash(self) -> str:
        """Hash of the whole spec: two files with the same content share it."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _describe_error(error: dict) -> ConfigError:
    field = ".".join(str(part) for part in error["loc"]) or "(top level)"
    kind = error["type"]
    if kind == "missing":
        return ConfigError(field, "(missing)", "this required field to be present")
    if kind == "extra_forbidden":
        return ConfigError(field, error.get("input"), "no such field here (check the spelling)")
    message = re.sub(r"^Value error, ", "", error["msg"])
    return ConfigError(field, error.get("input"), message[:1].lower() + message[1:])


def parse_scenario(data: Any, *, source: str = "scenario") -> ScenarioSpec:
    """Validate a scenario given as a mapping (already parsed YAML or JSON).

    Raises:
        ConfigError: naming the first offending field, its value and what was expected
            (the message also counts any further problems).
    """
    if not isinstance(data, dict):
        raise ConfigError(source, type(data).__name__, "a mapping of scenario fields at top level")
    try:
        return ScenarioSpec.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        first = _describe_error(errors[0])
        if len(errors) > 1:
            more = "; ".join(str(_describe_error(e)) for e in errors[1:4])
            first = ConfigError(first.field, first.value, f"{first.expected} (also: {more})")
        raise first from None


def load_scenario_text(text: str, *, source: str = "scenario") -> ScenarioSpec:
    """Parse and validate scenario YAML given as text (e.g. an upload in the app).

    Raises:
        ConfigError: the text is not YAML or does not describe a scenario.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        expected = f"valid YAML; it could not be parsed{line}"
        raise ConfigError(source, "(YAML text)", expected) from None
    return parse_scenario(data, source=source)


def load_scenario(path: str | Path) -> ScenarioSpec:
    """Read and validate a scenario YAML file.

    Raises:
        ConfigError: the file is missing, is not YAML, or does not describe a scenario.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError("scenario file", str(path), "an existing YAML file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError("scenario file", str(path), "a UTF-8 text file of YAML") from None
    try:
        return load_scenario_text(text, source=f"scenario file {path.name}")
    except ConfigError as exc:
        if exc.value == "(YAML text)":
            raise ConfigError("scenario file", str(path), exc.expected) from None
        raise
