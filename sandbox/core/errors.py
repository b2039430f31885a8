"""Errors that user input can raise: each names what is wrong and how to fix it."""

from __future__ import annotations

from typing import Any


class SandboxError(Exception):
    """Base class of the sandbox's user-facing errors (printed without a traceback)."""


class ConfigError(SandboxError, ValueError):
    """A parameter, scenario field or input has a value the sandbox cannot use.

    Args:
        field: dotted path of the offending field, e.g. ``world.params.num_workers``.
        value: the value that was given.
        expected: what would have been accepted, in words.
    """

    def __init__(self, field: str, value: Any, expected: str):
        self.field = field
        self.value = value
        self.expected = expected
        shown = repr(value)
        if len(shown) > 120:
            shown = shown[:117] + "..."
        super().__init__(f"{field}: got {shown}; expected {expected}.")


class CheckpointError(SandboxError):
    """A checkpoint file is missing, corrupt, or does not fit the role it is loaded for."""


def check_range(
    field: str,
    value: float,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """Raise :class:`ConfigError` unless ``low <= value <= high`` (open ends when asked).

    Args:
        field: name of the parameter, used in the message.
        value: the number to check (NaN always fails).
        low: smallest allowed value, or None for no lower bound.
        high: largest allowed value, or None for no upper bound.
        low_open: exclude ``low`` itself.
        high_open: exclude ``high`` itself.
    """
    ok = value == value  # NaN fails every comparison
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        raise ConfigError(field, value, f"a number in {left}{lo}, {hi}{right}")
