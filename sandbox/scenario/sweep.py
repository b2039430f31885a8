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
        roles.planner.saez.params.elasticity: {min: 0.2, max: 0.8}

A path starts at the top of the scenario file (``world``, ``roles``, ``evaluation``).
When a role compares several policies, the next part picks one of them by its label,
its policy name or its position (``roles.planner.saez``, ``roles.planner.2``). World
parameters must exist (every field of the world's ``Params`` does, defaults included);
a policy parameter may be one the file leaves at its default.

A grid takes every combination of each parameter's ``values`` (or ``steps`` evenly
spaced points of its range, 5 by default). The other designs draw ``samples`` points in
the unit cube (scipy.stats.qmc) and map each coordinate to its range (log-uniformly with
``log``) or, for ``values``, to one of the listed values. Sobol points keep their balance
properties when ``samples`` is a power of two. Replications are the evaluation seeds:
every point runs once per compared policy and seed.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import warnings
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

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

    @model_validator(mode="after")
    def _fits_design(self):
        if self.design == "grid" and "samples" in self.model_fields_set:
            raise ValueError("samples applies to random, latin_hypercube and sobol designs; "
                             "a grid's size is set by each parameter's values or steps")
        if self.design != "grid":
            gridded = [p for p, r in self.parameters.items() if r.steps is not None]
            if gridded:
                raise ValueError(f"steps applies to the grid design only (given for "
                                 f"{', '.join(gridded)}); {self.design} draws samples points")
        return self

    def points(self) -> list[dict[str, Any]]:
        """Every distinct point of the design, as ``{path: value}``, in a fixed order.

        A point drawn twice (a sampled design over ``values`` lists, a grid listing a
        value twice) is the same run, so it is kept once.
        """
        paths = list(self.parameters)
        if self.design == "grid":
            axes = [self.parameters[p].grid() for p in paths]
            points = [dict(zip(paths, combo)) for combo in itertools.product(*axes)]
        else:
            unit = self._unit_points(len(paths))
            columns = [self.parameters[p].scale(unit[:, i]) for i, p in enumerate(paths)]
            points = [dict(zip(paths, row)) for row in zip(*columns)]
        distinct = {json.dumps(p, sort_keys=True, default=str): p for p in points}
        return list(distinct.values())

    def _unit_points(self, dims: int) -> np.ndarray:
        from scipy.stats import qmc  # importing scipy.stats takes seconds: only when needed

        rng = np.random.default_rng(self.seed)
        if self.design == "random":
            return rng.random((self.samples, dims))
        if self.design == "latin_hypercube":
            return qmc.LatinHypercube(d=dims, seed=rng).random(self.samples)
        sampler = qmc.Sobol(d=dims, scramble=True, seed=rng)
        with warnings.catch_warnings():  # any n works; powers of two are best (docstring)
            warnings.filterwarnings("ignore", message=".*balance properties.*")
            return sampler.random(self.samples)


def set_path(config: dict[str, Any], path: str, value: Any, *, field: str) -> None:
    """Set ``config[a][b][c] = value`` for ``path == "a.b.c"``; the parent must exist.

    Inside a list (the policies a role compares) a part picks an item by position, by
    ``label`` or by ``policy`` name.

    Raises:
        ConfigError: naming ``field``: some part of the path does not exist in ``config``.
    """
    parts = path.split(".")
    node: Any = config
    for depth, key in enumerate(parts[:-1]):
        where = ".".join(parts[:depth]) or "the scenario"
        if isinstance(node, list):
            node = _pick(node, key, where=where, field=field, path=path)
            continue
        if not isinstance(node, dict) or key not in node:
            known = ", ".join(sorted(node)) if isinstance(node, dict) else "(not a mapping)"
            raise ConfigError(field, path, f"a path that exists: {where} has {known}")
        node = node[key]
    if not isinstance(node, dict):
        raise ConfigError(field, path, "a path to a parameter inside a mapping")
    if parts[-1] not in node and not _is_policy_params(parts):
        where = ".".join(parts[:-1])
        raise ConfigError(field, path, f"a parameter that exists: {where} has "
                                       f"{', '.join(sorted(node))}")
    node[parts[-1]] = copy.deepcopy(value)


def _pick(items: list, key: str, *, where: str, field: str, path: str) -> Any:
    """The item of a list of policies named by position, label or policy name."""
    if key.isdigit() and int(key) < len(items):
        return items[int(key)]
    matches = [item for item in items if isinstance(item, dict)
               and key in (item.get("label"), item.get("policy"))]
    if len(matches) == 1:
        return matches[0]
    names = ", ".join(str(item.get("label") or item.get("policy")) for item in items
                      if isinstance(item, dict))
    problem = "several policies match" if matches else "nothing matches"
    raise ConfigError(field, path, f"a path that exists: {where} is a list of policies "
                      f"({names}); pick one by position 0..{len(items) - 1}, label or policy "
                      f"name ({problem} {key!r})")


def _is_policy_params(parts: list[str]) -> bool:
    # Policy parameters may be absent from the file (the policy's default applies), so
    # roles.<role>[.<which>].params.<name> may be set even when it was not given.
    return parts[0] == "roles" and len(parts) in (4, 5) and parts[-2] == "params"
