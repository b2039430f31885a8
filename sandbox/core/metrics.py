"""Named episode metrics, so the app, batches and reports label them the same way."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricSpec:
    """How a world's scalar episode metric is named and read.

    Attributes:
        name: the metric's key in results, e.g. ``"productivity"``.
        description: one sentence for tables and tooltips.
        unit: unit of the value, e.g. ``"coin"`` or ``"crashes per test"``.
        higher_is_better: True when a policy should raise it, False when lower it,
            None when neither (a descriptive quantity).
    """

    name: str
    description: str
    unit: str = ""
    higher_is_better: bool | None = True
