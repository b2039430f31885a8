"""Parameter sweeps: designs over dotted paths of a scenario, one run per point and seed.

The ``sweep:`` section of a scenario file::

    sweep:
      design: latin_hypercube      # grid | random | latin_hypercube | sobol
      samples: 64                  # points of a random, Latin-hypercube or Sobol design
      seed: 0                      # seed of the design itself
      parameters:
        world.params.utility.elasticity: {min: 0.1, max: 1.0}
        world.params.utility.kappa: {min: 0.005, max: 0.05, log: true}
        world.params.num_workers: {values: [10, 100, 1000]}
        roles.planner.params.elasticity: {min: 0.2, max: 0.8, steps: 4}   # grid axis

A grid takes every combination of each parameter's ``values`` (or ``steps`` evenly
spaced points of its range). The other designs draw ``samples`` points in the unit cube
(scipy.stats.qmc) and map each coordinate to its range (log-uniformly with ``log``) or,
for ``values``, to one of the listed values.
"""

from __future__ import annotations

import copy
import itertools
import math
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy.stats import qmc

from sandbox.core.errors import ConfigError

DESIGNS = ("grid", "random", "latin_hypercube", "sobol")


class ParameterRange(BaseModel):
    """How one swept parameter varies.

    Attributes:
        min: lower end of a range.
        max: upper end of a range.
        log: spread points log-uniformly (needs min > 0).
        steps: grid points of the range (grid design only).
        integer: round values to integers.
        values: an explicit list of values instead of a range.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    min: float | None = None
    max: float | None = None
    log: bool = False
    steps: int | None = Field(None, ge=1)
    integer: bool = False
    values: list[Any] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _consistent(self):
        if self.values is not None:
            if self.min is not None or self.max is not None:
                raise ValueError("give either values or min/max, not both")
            return self
        if self.min is None or self.max is None:
            raise ValueError("give values, or both min and max")
        if self.min > self.max:
            raise ValueError(f"min ({self.min:g}) must not exceed max ({self.max:g})")
        if self.log and self.min <= 0:
            raise ValueError("a log range needs min > 0")
        return self

    def scale(self, unit: np.ndarray) -> list[Any]:
        """Map points of [0, 1) to this parameter's values."""
        if self.values is not None:
            index = np.minimum((unit * len(self.values)).astype(int), len(self.values) - 1)
            return [self.values[i] for i in index]
        if self.log:
            lo, hi = math.log(self.min), math.log(self.max)
            points = np.exp(lo + unit * (hi - lo))
        else:
            points = self.min + unit * (self.max - self.min)
        return [int(round(p)) if self.integer else float(p) for p in points]

    def grid(self) -> list[Any]:
        """This parameter's axis of a grid design."""
        if self.values is not None:
            return list(self.values)
        steps = self.steps or 5
        unit = np.linspace(0.0, 1.0, steps) if steps > 1 else np.array([0.5])
        values = self.scale(unit)
        return list(dict.fromkeys(values)) if self.integer else values


class SweepSpec(BaseModel):
    """The ``sweep:`` section of a scenario.

    Attributes:
        design: ``grid``, ``random``, ``latin_hypercube`` or ``sobol``.
        samples: points of a random, Latin-hypercube or Sobol design.
        seed: seed of the design's random numbers.
        parameters: dotted path -> range or values.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    design: Literal["grid", "random", "latin_hypercube", "sobol"] = "grid"
    samples: int = Field(16, ge=1, le=10_000_000)
    seed: int = 0
    parameters: dict[str, ParameterRange] = Field(min_length=1)

    def points(self) -> list[dict[str, Any]]:
        """Every point of the design, as ``{path: value}``, in a fixed order."""
        paths = list(self.parameters)
        if self.design == "grid":
            axes = [self.parameters[p].grid() for p in paths]
            return [dict(zip(paths, combo)) for combo in itertools.product(*axes)]
        unit = self._unit_points(len(paths))
        columns = [self.parameters[p].scale(unit[:, i]) for i, p in enumerate(paths)]
        return [dict(zip(paths, row)) for row in zip(*columns)]

    def _unit_points(self, dims: int) -> np.ndarray:
        rng = np.random.default_rng(self.seed)
        if self.design == "random":
            return rng.random((self.samples, dims))
        if self.design == "latin_hypercube":
            return qmc.LatinHypercube(d=dims, seed=rng).random(self.samples)
        sampler = qmc.Sobol(d=dims, scramble=True, seed=rng)
        return sampler.random(self.samples)


def set_path(config: dict[str, Any], path: str, value: Any, *, field: str) -> None:
    """Set ``config[a][b][c] = value`` for ``path == "a.b.c"``; the parent must exist.

    Raises:
        ConfigError: some part of the path does not exist in ``config``.
    """
    parts = path.split(".")
    node = config
    for depth, key in enumerate(parts[:-1]):
        if not isinstance(node, dict) or key not in node:
            known = ", ".join(sorted(node)) if isinstance(node, dict) else "(not a mapping)"
            where = ".".join(parts[:depth]) or "the scenario"
            raise ConfigError(field, path, f"a path that exists: {where} has {known}")
        node = node[key]
    if not isinstance(node, dict):
        raise ConfigError(field, path, "a path to a parameter inside a mapping")
    if parts[-1] not in node and not _is_policy_params(parts):
        known = ", ".join(sorted(node))
        raise ConfigError(field, path, f"a parameter that exists; here there are: {known}")
    node[parts[-1]] = copy.deepcopy(value)


def _is_policy_params(parts: list[str]) -> bool:
    # Policy parameters may be absent from the file (the policy's default applies), so
    # roles.<role>.params.<name> may be set even when it was not given.
    return len(parts) == 4 and parts[0] == "roles" and parts[2] == "params"
