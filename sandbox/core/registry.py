"""One registry of worlds, policies and solvers, found by name.

A world family registers its world classes and its analytic policies when its package is
imported; :func:`load_builtin` imports every built-in family so names resolve from the
CLI, the scenario layer and the app alike. An unknown name lists the known ones.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from sandbox.core.errors import ConfigError

T = TypeVar("T")

# Modules whose import registers the built-in entries. Each is a world family or a layer
# that serves all of them; a missing optional family is simply not registered.
BUILTIN_MODULES = (
    "sandbox.worlds.economy",
    "sandbox.worlds.traffic",
    "sandbox.worlds.population",
    "sandbox.policies",
    "sandbox.solvers",
    # methods whose wiring needs layers above the worlds (the traffic testing methods
    # "nade_adaptive" and "d2rl", which use the optimizer and the solvers)
    "sandbox.scenario.traffic_methods",
)


class Registry(Generic[T]):
    """Name -> entry table with a kind (``"world"``, ``"policy"``...) for messages.

    Args:
        kind: what the entries are, used in error messages.
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T | None = None):
        """Register ``entry`` under ``name``; usable as a decorator when entry is None."""

        def add(obj: T) -> T:
            existing = self._entries.get(name)
            if existing is not None and existing is not obj:
                raise KeyError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = obj
            return obj

        return add(entry) if entry is not None else add

    def get(self, name: str, *, field: str | None = None) -> T:
        """The entry called ``name``; an unknown name raises a ConfigError listing the known."""
        load_builtin()
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none registered"
            raise ConfigError(
                field or self.kind, name, f"one of the known {self.kind}s: {known}"
            ) from None

    def names(self) -> list[str]:
        """Sorted names of every registered entry."""
        load_builtin()
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        load_builtin()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


WORLDS: Registry[type] = Registry("world")
POLICIES: Registry[Callable] = Registry("policy")
SOLVERS: Registry[Callable] = Registry("solver")

_loaded = False


def load_builtin() -> None:
    """Import the built-in world families and layers so that they register themselves."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in BUILTIN_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            # Only a family that does not exist (yet) is skipped; a broken import inside
            # an existing family must surface.
            if exc.name != module:
                raise
