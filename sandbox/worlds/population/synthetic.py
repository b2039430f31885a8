"""The synthetic city: residents with age, household, workplace or school class, and wage.

Drawn once from the distributions in ``data/population/`` (sources in its README), with
memory-lean tensors so that ten million residents take about 200 MB:

- Households: sizes drawn from the household-size distribution until every resident has
  a home (or ``num_households`` fixed, extra members spread in proportion to drawn sizes).
  Residents are laid out household by household, so ``household`` is sorted ascending and
  group sums by household read memory in order.
- Ages: drawn from the age pyramid, then placed so that every household's first member is
  an adult (20+) while the marginal age distribution stays the drawn one exactly.
- Work and school: employed with the age group's employment rate; a non-employed resident
  attends school with the group's school rate. Employed residents fill establishments whose
  sizes follow County Business Patterns (class by share, size uniform in the class); pupils
  fill classes of ``class_size`` sorted by age group. Everyone else belongs to a sink place
  (index ``num_places``) with no contacts.
- Wages: lognormal for the employed (median, log-sd), zero otherwise.
- Archetype (behavioural group) by its share; a closure rank per place for mandates.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch

from sandbox.worlds.population.data import (
    load_age_table,
    load_archetypes,
    load_establishment_sizes,
)
from sandbox.worlds.population.params import PopulationParams

#: Closure ranks are 0..CLOSURE_LEVELS-1; mandate strength m closes ranks < round(m * 255).
CLOSURE_LEVELS = 255
#: Place kinds (``place_kind``): workplace, school class, and the sink of residents without.
WORK, SCHOOL, NO_PLACE = 0, 1, 2


@dataclass
class Population:
    """The residents of one synthetic city (shared by every environment).

    Attributes:
        age_group: ``[M]`` int8, index into the age table (0 = 0-9 ... 8 = 80+).
        household: ``[M]`` int32, household index, sorted ascending.
        place: ``[M]`` int32, workplace or class index; ``num_places`` for none.
        community: ``[M]`` int32, community group index.
        employed: ``[M]`` bool.
        student: ``[M]`` bool.
        wage: ``[M]`` float32, dollars per working day (0 if not employed).
        archetype: ``[M]`` int8, behavioural archetype index.
        closure_rank: ``[M]`` uint8 in [0, 254]: rank of the resident's place (or own).
        household_size: ``[H]`` int32 members per household.
        place_size: ``[P + 1]`` int32 members per place (last: residents without one).
        place_kind: ``[P + 1]`` int8, WORK, SCHOOL or NO_PLACE.
        community_size: ``[C]`` int32 members per community group.
    """

    age_group: torch.Tensor
    household: torch.Tensor
    place: torch.Tensor
    community: torch.Tensor
    employed: torch.Tensor
    student: torch.Tensor
    wage: torch.Tensor
    archetype: torch.Tensor
    closure_rank: torch.Tensor
    household_size: torch.Tensor
    place_size: torch.Tensor
    place_kind: torch.Tensor
    community_size: torch.Tensor

    @property
    def num_residents(self) -> int:
        """Residents M."""
        return int(self.age_group.shape[0])

    @property
    def num_households(self) -> int:
        """Households H."""
        return int(self.household_size.shape[0])

    @property
    def num_places(self) -> int:
        """Workplaces and classes P (the sink place is index P)."""
        return int(self.place_size.shape[0]) - 1

    @property
    def num_communities(self) -> int:
        """Community groups C."""
        return int(self.community_size.shape[0])

    def fields(self) -> dict[str, torch.Tensor]:
        """The population's tensors by name."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def to(self, device: str | torch.device) -> Population:
        """The same population on ``device``."""
        return Population(**{k: v.to(device) for k, v in self.fields().items()})

    def nbytes(self) -> int:
        """Bytes held by the population's tensors."""
        return sum(v.element_size() * v.numel() for v in self.fields().values())


def _draw(shares, count: int, generator: torch.Generator) -> torch.Tensor:
    """``[count]`` int64 class indices drawn with probabilities ``shares``."""
    probs = torch.tensor(shares, dtype=torch.float64)
    return torch.multinomial(probs, count, replacement=True, generator=generator)


def _sizes_to_cover(total: int, low, high, shares, generator) -> torch.Tensor:
    """Unit sizes drawn from a size-class distribution until they cover ``total`` members.

    Returns:
        ``[U]`` int64 sizes summing to exactly ``total`` (the last unit is trimmed).
    """
    if total == 0:
        return torch.zeros(0, dtype=torch.int64)
    low_t, high_t = torch.tensor(low), torch.tensor(high)
    mean = sum(s * (a + b) / 2 for a, b, s in zip(low, high, shares))
    count = math.ceil(total / mean * 1.1) + 16
    while True:
        cls = _draw(shares, count, generator)
        width = (high_t - low_t + 1)[cls]
        sizes = low_t[cls] + (torch.rand(count, generator=generator, dtype=torch.float64)
                              * width).long().clamp(max=width - 1)
        covered = sizes.cumsum(0)
        if int(covered[-1]) >= total:
            break
        count *= 2
    units = int(torch.searchsorted(covered, torch.tensor(total))) + 1
    sizes = sizes[:units].clone()
    sizes[-1] -= int(covered[units - 1]) - total
    return sizes


def household_sizes(num_residents: int, params: PopulationParams, generator) -> torch.Tensor:
    """``[H]`` int64 household sizes summing to ``num_residents``."""
    shares = params.household_distribution
    sizes = tuple(range(1, len(shares) + 1))
    wanted = params.num_households
    if wanted == 0:
        return _sizes_to_cover(num_residents, sizes, sizes, shares, generator)
    # A fixed number of households: one member each, the rest spread in proportion to
    # (drawn size - 1), so that the shape of the size distribution is kept where possible.
    drawn = torch.tensor(sizes)[_draw(shares, wanted, generator)]
    weights = (drawn - 1).double()
    if float(weights.sum()) == 0.0:
        weights = torch.ones(wanted, dtype=torch.float64)
    extra = num_residents - wanted
    chosen = torch.multinomial(weights, extra, replacement=True, generator=generator) \
        if extra > 0 else torch.zeros(0, dtype=torch.int64)
    return 1 + torch.bincount(chosen, minlength=wanted)


def _ages_with_adult_heads(sizes: torch.Tensor, params: PopulationParams, generator):
    """``[M]`` int8 age groups, laid out by household, every first member an adult if possible."""
    table = load_age_table()
    total, homes = int(sizes.sum()), int(sizes.shape[0])
    ages = _draw(params.age_distribution, total, generator)
    ages = ages[torch.randperm(total, generator=generator)]
    adult = ages >= min(table.adult_groups)
    if int(adult.sum()) >= homes:
        first = torch.nonzero(adult).flatten()[:homes]
        heads = ages[first]
        keep = torch.ones(total, dtype=torch.bool)
        keep[first] = False
        rest = ages[keep]
        rest = rest[torch.randperm(rest.shape[0], generator=generator)]
        ages = torch.empty(total, dtype=torch.int64)
        is_head = torch.zeros(total, dtype=torch.bool)
        is_head[sizes.cumsum(0) - sizes] = True
        ages[is_head] = heads
        ages[~is_head] = rest
    return ages.to(torch.int8)


def _assign_places(age: torch.Tensor, employed, student, class_size: int, generator):
    """Workplace and class membership: (``place`` [M] int32, ``place_kind`` [P + 1] int8)."""
    total = age.shape[0]
    table = load_establishment_sizes()
    workers = torch.nonzero(employed).flatten()
    workers = workers[torch.randperm(workers.shape[0], generator=generator)]
    work_sizes = _sizes_to_cover(int(workers.shape[0]), table.low, table.high, table.share,
                                 generator)
    num_work = int(work_sizes.shape[0])
    place = torch.empty(total, dtype=torch.int64)
    place[workers] = torch.repeat_interleave(torch.arange(num_work), work_sizes)
    pupils = torch.nonzero(student).flatten()
    pupils = pupils[torch.randperm(pupils.shape[0], generator=generator)]
    pupils = pupils[torch.sort(age[pupils], stable=True).indices]  # classes by age group
    num_classes = math.ceil(pupils.shape[0] / class_size)
    place[pupils] = num_work + torch.arange(pupils.shape[0]) // class_size
    sink = num_work + num_classes
    place[~(employed | student)] = sink
    kind = torch.full((sink + 1,), SCHOOL, dtype=torch.int8)
    kind[:num_work] = WORK
    kind[sink] = NO_PLACE
    return place.to(torch.int32), kind


def generate_population(
    num_residents: int, params: PopulationParams, *, generator: torch.Generator
) -> Population:
    """Draw a synthetic city of ``num_residents`` residents (on the CPU).

    Args:
        num_residents: residents M (>= the number of households).
        params: distributions and sizes.
        generator: a CPU ``torch.Generator`` (e.g. seeded from ``params.seed``).
    """
    table, archetypes = load_age_table(), load_archetypes()
    sizes = household_sizes(num_residents, params, generator)
    household = torch.repeat_interleave(torch.arange(sizes.shape[0]), sizes)
    age = _ages_with_adult_heads(sizes, params, generator)
    age_long = age.long()
    employment = torch.tensor(table.employment_rate, dtype=torch.float64)[age_long]
    schooling = torch.tensor(table.school_rate, dtype=torch.float64)[age_long]
    draw = torch.rand(2, num_residents, generator=generator, dtype=torch.float64)
    employed = draw[0] < employment
    student = ~employed & (draw[1] < schooling)
    place, kind = _assign_places(age, employed, student, params.class_size, generator)
    if params.neighbourhood_size > 0:
        first_member = (sizes.cumsum(0) - sizes)[household]
        community = first_member // params.neighbourhood_size
    else:
        community = torch.zeros(num_residents, dtype=torch.int64)
    log_wage = math.log(params.median_daily_wage) + params.wage_log_sd * torch.randn(
        num_residents, generator=generator, dtype=torch.float64)
    wage = torch.where(employed, torch.exp(log_wage), 0.0).float()
    place_rank = torch.randint(0, CLOSURE_LEVELS, (int(kind.shape[0]),), generator=generator)
    own_rank = torch.randint(0, CLOSURE_LEVELS, (num_residents,), generator=generator)
    closure = torch.where(kind[place.long()] == NO_PLACE, own_rank, place_rank[place.long()])
    return Population(
        age_group=age,
        household=household.to(torch.int32),
        place=place,
        community=community.to(torch.int32),
        employed=employed,
        student=student,
        wage=wage,
        archetype=_draw(archetypes.share, num_residents, generator).to(torch.int8),
        closure_rank=closure.to(torch.uint8),
        household_size=sizes.to(torch.int32),
        place_size=torch.bincount(place.long(), minlength=kind.shape[0]).to(torch.int32),
        place_kind=kind,
        community_size=torch.bincount(community).to(torch.int32),
    )
