"""Linear schedules over training updates (rate caps, entropy coefficients)."""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.core.errors import ConfigError, check_range


@dataclass(frozen=True)
class Anneal:
    """A value moving linearly from ``start_value`` to ``end_value`` over a span of updates.

    Before ``start_update`` it is ``start_value``; from ``end_update`` on, ``end_value``.
    """

    start_value: float
    """Value up to ``start_update``."""
    end_value: float
    """Value from ``end_update`` on."""
    start_update: int = 0
    """Update (counted from the schedule's origin) at which the change begins."""
    end_update: int = 0
    """Update at which the change is complete (>= ``start_update``)."""
    name: str = "schedule"
    """Field name used in error messages."""

    def __post_init__(self):
        check_range(f"{self.name}.start_value", self.start_value)
        check_range(f"{self.name}.end_value", self.end_value)
        for field in ("start_update", "end_update"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"{self.name}.{field}", value, "an integer >= 0")
        if self.end_update < self.start_update:
            raise ConfigError(f"{self.name}.end_update", self.end_update,
                              f"an update >= start_update ({self.start_update})")

    def at(self, update: float) -> float:
        """The value after ``update`` updates since the schedule's origin."""
        if update <= self.start_update:
            return float(self.start_value)
        if update >= self.end_update:
            return float(self.end_value)
        fraction = (update - self.start_update) / (self.end_update - self.start_update)
        return float(self.start_value + (self.end_value - self.start_value) * fraction)
