"""From a validated spec to live objects: parameter dataclasses, worlds and policies."""

from __future__ import annotations

import dataclasses
import typing
from types import UnionType
from typing import Any

from sandbox.core.errors import ConfigError
from sandbox.core.policy import Policy
from sandbox.core.registry import POLICIES, WORLDS
from sandbox.core.world import World
from sandbox.scenario.spec import PolicySpec, WorldSpec


def _coerce(value: Any, annotation: Any, field: str) -> Any:
    """Turn a YAML value into the annotated type (lists into tuples, ints into floats)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        inner = [a for a in options if a is not type(None)]
        return _coerce(value, inner[0], field) if len(inner) == 1 else value
    if dataclasses.is_dataclass(annotation) and isinstance(annotation, type):
        if isinstance(value, annotation):
            return value
        return build_params(annotation, value, field=field)
    if annotation is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if annotation is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if annotation is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(field, value, "an integer")
    if annotation is float and not isinstance(value, int | float):
        raise ConfigError(field, value, "a number")
    if annotation is bool and not isinstance(value, bool):
        raise ConfigError(field, value, "true or false")
    if annotation is str and not isinstance(value, str):
        raise ConfigError(field, value, "a string")
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(field, value, "a list")
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        item = args[0] if args else Any
        return tuple(_coerce(v, item, f"{field}[{i}]") for i, v in enumerate(value))
    return value


def _default_of(spec: dataclasses.Field) -> Any:
    if spec.default is not dataclasses.MISSING:
        return spec.default
    if spec.default_factory is not dataclasses.MISSING:
        return spec.default_factory()
    return None


def build_params(cls: type, data: dict[str, Any] | None, *, field: str = "params"):
    """Instantiate the frozen parameter dataclass ``cls`` from a mapping.

    Unknown keys fail with the list of known ones; values are coerced to the annotated
    types; a mapping given for a nested dataclass field overrides only the fields it
    names, the others keep the field's default; the dataclass's own checks
    (``__post_init__``) then run.

    Args:
        cls: a dataclass type with defaults for every field.
        data: the values given in the scenario (missing ones take the defaults).
        field: dotted path of ``data`` in the scenario, used in error messages.
    """
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(field, data, "a mapping of parameter names to values")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(
            f"{field}.{unknown[0]}", data[unknown[0]],
            f"a known parameter of {cls.__name__}: {', '.join(sorted(known))}",
        )
    defaults = {f.name: f for f in dataclasses.fields(cls)}
    values = {}
    for key, value in data.items():
        default = _default_of(defaults[key])
        if isinstance(value, dict) and dataclasses.is_dataclass(default):
            # a partial mapping overrides the default's fields and keeps the others
            merged = {f.name: getattr(default, f.name) for f in dataclasses.fields(default)
                      if f.init}
            values[key] = build_params(type(default), {**merged, **value},
                                       field=f"{field}.{key}")
        else:
            values[key] = _coerce(value, hints[key], f"{field}.{key}")
    try:
        return cls(**values)
    except ConfigError as exc:
        if exc.field.startswith(field):
            raise
        # the dataclass names its own field, perhaps with a prefix of its own
        name = exc.field.rsplit(".", 1)[-1]
        where = f"{field}.{name}" if name in known else f"{field}.{exc.field}"
        raise ConfigError(where, exc.value, exc.expected) from None
    except TypeError as exc:
        raise ConfigError(field, data, f"valid {cls.__name__} parameters ({exc})") from None


def world_params(spec: WorldSpec):
    """The world's parameter dataclass with the scenario's values and the defaults."""
    cls = WORLDS.get(spec.name, field="world.name")
    return build_params(cls.Params, spec.params, field="world.params")


def build_world(spec: WorldSpec, *, seed: int, num_envs: int | None = None) -> World:
    """A live world for ``spec``, seeded with ``seed``."""
    cls = WORLDS.get(spec.name, field="world.name")
    params = build_params(cls.Params, spec.params, field="world.params")
    return cls(params, num_envs=num_envs or spec.num_envs, device=spec.device, seed=seed)


def build_policy(world: World, role: str, spec: PolicySpec, *, field: str) -> Policy:
    """The policy ``spec`` for ``role`` of ``world``; bad parameters name ``field``."""
    if role not in world.roles:
        known = ", ".join(world.roles)
        raise ConfigError(field, role, f"a role of world {type(world).__name__}: {known}")
    factory = POLICIES.get(spec.policy, field=f"{field}.policy")
    try:
        return factory(world, role, **spec.params)
    except ConfigError as exc:
        if exc.field.startswith(field):
            raise
        # policies name the parameter with a prefix of their own; keep the parameter
        name = exc.field.rsplit(".", 1)[-1]
        raise ConfigError(f"{field}.params.{name}", exc.value, exc.expected) from None
    except TypeError as exc:
        raise ConfigError(
            f"{field}.params", spec.params,
            f"parameters that policy {spec.policy!r} accepts ({exc})",
        ) from None


def check_roles(world: World, roles: dict[str, Any]) -> None:
    """Every role of ``world`` has a policy, and no policy names a role it lacks."""
    missing = [r for r in world.roles if r not in roles]
    extra = [r for r in roles if r not in world.roles]
    if extra:
        raise ConfigError(f"roles.{extra[0]}", extra[0],
                          f"a role of world {type(world).__name__}: {', '.join(world.roles)}")
    if missing:
        raise ConfigError(f"roles.{missing[0]}", "(missing)",
                          f"a policy for every role: {', '.join(world.roles)}")
