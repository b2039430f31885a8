"""How the report writes numbers: estimates with intervals, p-values, counts."""

from __future__ import annotations

import math

#: The text of a missing value.
MISSING = "—"


def _finite(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def format_number(value: float | None, digits: int = 4) -> str:
    """``value`` with ``digits`` significant digits, thousands separated.

    Values from 0.001 to a million are written without an exponent.
    """
    if not _finite(value):
        return MISSING
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    if magnitude >= 6 or magnitude < -3:
        return f"{value:.{digits - 1}e}"
    return f"{value:,.{max(0, digits - 1 - magnitude)}f}"


def format_estimate(mean: float | None, half_width: float | None = None) -> str:
    """``mean ± half-width``, the half-width to two significant digits.

    The mean is written to the same decimal place; alone when there is no interval.
    """
    if not _finite(mean):
        return MISSING
    if not _finite(half_width):
        return format_number(mean)
    if half_width == 0:
        return f"{format_number(mean)} ± 0"
    decimals = min(12, max(0, 1 - math.floor(math.log10(half_width))))
    return f"{mean:,.{decimals}f} ± {half_width:,.{decimals}f}"


def format_p(p: float | None) -> str:
    """A p-value: two significant digits, ``< 0.001`` below that."""
    if not _finite(p):
        return MISSING
    return "< 0.001" if p < 0.001 else f"{p:.2g}"


def p_phrase(p: float) -> str:
    """``p = 0.012`` or ``p < 0.001``."""
    text = format_p(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"
