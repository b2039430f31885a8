"""Calibration tables of the population family, read from ``data/population/`` (sources there).

Each loader returns a small frozen dataclass of plain Python tuples, cached after the first
read. The tensors built from them live with the generator and the world.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parents[3] / "data" / "population"


@dataclass(frozen=True)
class AgeTable:
    """Per ten-year age group: demography, work, school and severity.

    Attributes:
        labels: group names, ``"0-9"`` ... ``"80+"``.
        lower_age: youngest age in each group, years.
        population_share: share of residents in each group (sums to one).
        employment_rate: share of the group that is employed.
        school_rate: share of the group's non-employed members attending school.
        symptomatic_fraction: share of infections that become symptomatic.
        hospitalised_given_symptomatic: share of symptomatic cases needing hospital.
        infection_fatality_ratio: share of infections that end in death.
    """

    labels: tuple[str, ...]
    lower_age: tuple[int, ...]
    population_share: tuple[float, ...]
    employment_rate: tuple[float, ...]
    school_rate: tuple[float, ...]
    symptomatic_fraction: tuple[float, ...]
    hospitalised_given_symptomatic: tuple[float, ...]
    infection_fatality_ratio: tuple[float, ...]

    @property
    def num_groups(self) -> int:
        """Number of age groups."""
        return len(self.labels)

    @property
    def adult_groups(self) -> tuple[int, ...]:
        """Indices of the groups whose members are all 20 or older (household heads)."""
        return tuple(i for i, low in enumerate(self.lower_age) if low >= 20)


@dataclass(frozen=True)
class SizeTable:
    """A size distribution: ``share[k]`` of units have between ``low[k]`` and ``high[k]`` members.

    Attributes:
        low: smallest size of each class.
        high: largest size of each class (equal to ``low`` for single sizes).
        share: share of units in each class (sums to one).
    """

    low: tuple[int, ...]
    high: tuple[int, ...]
    share: tuple[float, ...]

    @property
    def mean(self) -> float:
        """Mean size, with sizes uniform within each class."""
        return sum(s * (lo + hi) / 2 for lo, hi, s in zip(self.low, self.high, self.share))


@dataclass(frozen=True)
class ArchetypeTable:
    """Behavioural archetypes of residents (illustrative values, see the data README).

    Attributes:
        names: archetype names.
        share: share of residents of each archetype (sums to one).
        isolate_if_symptomatic: daily probability of isolating when symptomatic or positive.
        comply_with_mandate: daily probability of obeying a stay-home mandate.
        stimulus_gain: added compliance at full wage replacement (pro rata below).
    """

    names: tuple[str, ...]
    share: tuple[float, ...]
    isolate_if_symptomatic: tuple[float, ...]
    comply_with_mandate: tuple[float, ...]
    stimulus_gain: tuple[float, ...]


def _rows(name: str) -> list[dict[str, str]]:
    with open(DATA_DIR / name, newline="") as handle:
        return list(csv.DictReader(handle))


def _column(rows: list[dict[str, str]], key: str, kind=float) -> tuple:
    return tuple(kind(row[key]) for row in rows)


@lru_cache(maxsize=1)
def load_age_table() -> AgeTable:
    """The age table from ``age_groups.csv`` and ``severity_by_age.csv`` (same group order)."""
    ages, severity = _rows("age_groups.csv"), _rows("severity_by_age.csv")
    if [r["age_group"] for r in ages] != [r["age_group"] for r in severity]:
        raise ValueError("age_groups.csv and severity_by_age.csv list different age groups")
    return AgeTable(
        labels=_column(ages, "age_group", str),
        lower_age=_column(ages, "lower_age", int),
        population_share=_column(ages, "population_share"),
        employment_rate=_column(ages, "employment_rate"),
        school_rate=_column(ages, "school_rate"),
        symptomatic_fraction=_column(severity, "symptomatic_fraction"),
        hospitalised_given_symptomatic=_column(severity, "hospitalised_given_symptomatic"),
        infection_fatality_ratio=_column(severity, "infection_fatality_ratio"),
    )


@lru_cache(maxsize=1)
def load_household_sizes() -> SizeTable:
    """Household sizes 1..7 (7 stands for "7 or more") from ``household_sizes.csv``."""
    rows = _rows("household_sizes.csv")
    sizes = _column(rows, "size", int)
    return SizeTable(low=sizes, high=sizes, share=_column(rows, "share"))


@lru_cache(maxsize=1)
def load_establishment_sizes() -> SizeTable:
    """Establishment employment-size classes from ``establishment_sizes.csv``."""
    rows = _rows("establishment_sizes.csv")
    return SizeTable(low=_column(rows, "min_employees", int),
                     high=_column(rows, "max_employees", int), share=_column(rows, "share"))


@lru_cache(maxsize=1)
def load_archetypes() -> ArchetypeTable:
    """Behavioural archetypes from ``archetypes.csv``."""
    rows = _rows("archetypes.csv")
    return ArchetypeTable(
        names=_column(rows, "archetype", str),
        share=_column(rows, "share"),
        isolate_if_symptomatic=_column(rows, "isolate_if_symptomatic"),
        comply_with_mandate=_column(rows, "comply_with_mandate"),
        stimulus_gain=_column(rows, "stimulus_gain"),
    )
