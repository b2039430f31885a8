"""Parameters of Gather-Trade-Build, validated: defaults are Foundation's (see the model card)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import cached_property

from sandbox.core.errors import ConfigError, check_range
from sandbox.worlds.economy import social
from sandbox.worlds.economy.gtb.layout import QUADRANT_FILE, Layout, load_layout
from sandbox.worlds.economy.tax_schedule import BRACKET_SETS, BracketSettings, validate_cutoffs

#: Foundation's fixed build payments for four agents, coin per house.
FOUNDATION_FIXED_PAYMENTS = (11.33, 13.27, 16.47, 22.25)
LAYOUTS = ("quadrant", "uniform", "file")
SKILL_MODES = ("pareto", "fixed")
#: How the labour-cost warm-up counts progress (Foundation's ``energy_warmup_method``).
WARMUP_METHODS = ("decay", "auto")
MAX_WORKERS = 100  # the observation code packs owners into int16
_CHOICES = ("discrete", "continuous")


def _is_number(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float)


def _check_int(field: str, value, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(field, value, f"an integer from {low} to {high:,}")


@dataclass(frozen=True)
class GTBParams(BracketSettings):
    """Parameters of the Gather-Trade-Build world (units and Foundation sources in the card).

    Attributes:
        num_workers: workers per environment, 1 .. 100.
        layout: ``"quadrant"`` (``data/gtb/quadrant_25x25.txt``), ``"uniform"`` (random
            per environment and episode) or ``"file"`` (``layout_file``).
        layout_file: path of a layout text file, with ``layout="file"``.
        height: map rows for ``"uniform"`` (default 25); a file layout's size comes from
            the file and a given height must match it.
        width: map columns, as ``height``.
        water_coverage: share of tiles that are water in uniform layouts.
        wood_coverage: share of tiles that are wood sources in uniform layouts.
        stone_coverage: share of tiles that are stone sources in uniform layouts.
        regen_probability: chance per step that an empty source tile regrows one unit.
        view_radius: tiles seen in each direction (the view is ``2r+1`` square), >= 1.
        episode_length: steps per episode.
        starting_coin: coin each worker holds at the start.
        move_labour: labour of a move.
        gather_labour: labour of collecting a resource on landing.
        build_labour: labour of a build.
        order_labour: labour of placing an order.
        base_payment: coin per house at skill multiplier 1.
        max_skill_multiplier: cap of the build skill multiplier (payments 10..30 coin).
        build_skill_shape: Pareto shape of the build skill (multiplier
            ``min(cap, 1 + (cap - 1) * Lomax(shape))``).
        gather_skill_shape: Pareto shape of the gather skill (bonus-unit probability
            ``min(2, Lomax(shape)) / 2``).
        skills: ``"pareto"`` (drawn per episode) or ``"fixed"`` (``fixed_payments``).
        fixed_payments: build payment per worker with fixed skills, coin.
        fixed_bonus_probability: bonus-unit probability of every worker, fixed skills.
        max_price: highest bid/ask price, coin (prices are 0..max_price).
        order_duration: steps an order stays on the book.
        max_orders: open orders per worker, side and resource.
        tax_period: steps per tax period.
        brackets: named bracket set (``tax_schedule.BRACKET_SETS``).
        usd_scaling: dollars per coin of the bracket cutoffs.
        cutoffs: bracket lower cutoffs in coin, overriding ``brackets``.
        rate_actions: planner actions ``"discrete"`` (21 levels) or ``"continuous"``.
        max_rate: initial cap on every marginal rate, in [0, 1].
        eta: isoelastic curvature of the utility of coin.
        labour_cost: utility cost per unit of labour (once the warm-up is over).
        labour_warmup_constant: decay constant of the labour-cost warm-up; 0 (default)
            disables it. With a constant ``c > 0`` the effective cost is
            ``labour_cost * (1 - exp(-n / c))``, ``n`` counted per environment as
            ``labour_warmup_method`` says (Foundation's ``energy_warmup_constant``).
        labour_warmup_method: ``"decay"``: ``n`` = completed episodes; ``"auto"``: ``n`` =
            steps in which the workers' mean reward was positive (Foundation's
            ``energy_warmup_method``).
        planner_objective: planner welfare, one of ``social.OBJECTIVES``.
    """

    num_workers: int = 4
    layout: str = "quadrant"
    layout_file: str | None = None
    height: int | None = None
    width: int | None = None
    water_coverage: float = 0.05
    wood_coverage: float = 0.05
    stone_coverage: float = 0.05
    regen_probability: float = 0.01
    view_radius: int = 5
    episode_length: int = 1000
    starting_coin: float = 0.0
    move_labour: float = 1.0
    gather_labour: float = 1.0
    build_labour: float = 10.0
    order_labour: float = 0.25
    base_payment: float = 10.0
    max_skill_multiplier: float = 3.0
    build_skill_shape: float = 4.0
    gather_skill_shape: float = 3.0
    skills: str = "pareto"
    fixed_payments: tuple[float, ...] = FOUNDATION_FIXED_PAYMENTS
    fixed_bonus_probability: float = 0.0
    max_price: int = 10
    order_duration: int = 50
    max_orders: int = 5
    tax_period: int = 100
    brackets: str = "foundation"
    usd_scaling: float = 1000.0
    cutoffs: tuple[float, ...] | None = None
    rate_actions: str = "discrete"
    max_rate: float = 1.0
    eta: float = 0.23
    labour_cost: float = 0.21
    labour_warmup_constant: float = 0.0
    labour_warmup_method: str = "decay"
    planner_objective: str = "equality_times_productivity"

    def __post_init__(self):
        _check_int("num_workers", self.num_workers, 1, MAX_WORKERS)
        for field, known in (("layout", LAYOUTS), ("skills", SKILL_MODES),
                             ("brackets", tuple(BRACKET_SETS)), ("rate_actions", _CHOICES),
                             ("labour_warmup_method", WARMUP_METHODS),
                             ("planner_objective", social.OBJECTIVES)):
            if getattr(self, field) not in known:
                raise ConfigError(field, getattr(self, field), f"one of {', '.join(known)}")
        self._check_numbers()
        _check_int("view_radius", self.view_radius, 1, 100)
        _check_int("episode_length", self.episode_length, 1, 10_000_000)
        _check_int("max_price", self.max_price, 0, 1000)
        _check_int("order_duration", self.order_duration, 1, 10_000_000)
        _check_int("max_orders", self.max_orders, 1, 100)
        _check_int("tax_period", self.tax_period, 1, 10_000_000)
        if self.cutoffs is not None:
            object.__setattr__(self, "cutoffs", tuple(validate_cutoffs(self.cutoffs, "cutoffs")))
        self._check_skills()
        self._check_map()

    def _check_numbers(self) -> None:
        unit = ("water_coverage", "wood_coverage", "stone_coverage", "regen_probability",
                "fixed_bonus_probability", "max_rate")
        non_negative = ("starting_coin", "move_labour", "gather_labour", "build_labour",
                        "order_labour", "base_payment", "eta", "labour_cost",
                        "labour_warmup_constant")
        positive = ("build_skill_shape", "gather_skill_shape", "usd_scaling")
        for field in unit + non_negative + positive + ("max_skill_multiplier",):
            value = getattr(self, field)
            if not _is_number(value) or not math.isfinite(value):
                raise ConfigError(field, value, "a finite number")
        for field in unit:
            check_range(field, getattr(self, field), low=0.0, high=1.0)
        for field in non_negative:
            check_range(field, getattr(self, field), low=0.0)
        for field in positive:
            check_range(field, getattr(self, field), low=0.0, low_open=True)
        check_range("max_skill_multiplier", self.max_skill_multiplier, low=1.0)

    def _check_skills(self) -> None:
        if self.skills != "fixed":
            return
        payments = self.fixed_payments
        if (not isinstance(payments, tuple | list) or len(payments) != self.num_workers
                or not all(_is_number(p) and p >= 0 for p in payments)):
            raise ConfigError("fixed_payments", payments,
                              f"{self.num_workers} non-negative payments, one per worker "
                              "(Foundation's four are 11.33, 13.27, 16.47, 22.25)")

    def _check_map(self) -> None:
        if self.layout == "file" and not self.layout_file:
            raise ConfigError("layout_file", self.layout_file, "a layout file path with "
                              "layout='file'")
        if self.layout != "file" and self.layout_file is not None:
            raise ConfigError("layout", self.layout, "'file' when a layout_file is given")
        for field in ("height", "width"):
            value = getattr(self, field)
            if value is not None:
                _check_int(field, value, 1, 1000)
        height, width = self.map_shape
        if self.layout != "uniform" and (self.height, self.width) != (None, None):
            if (self.height or height, self.width or width) != (height, width):
                raise ConfigError("height/width", (self.height, self.width),
                                  f"the layout file's size {height} x {width}, or None")
        side = 2 * self.view_radius + 1
        if height < side or width < side:
            raise ConfigError("view_radius", self.view_radius,
                              f"a view ({side} x {side}) no larger than the map "
                              f"({height} x {width}): lower view_radius or use a larger map")
        if self.layout == "uniform" and sum(self.uniform_counts) > height * width:
            raise ConfigError("water_coverage/wood_coverage/stone_coverage",
                              (self.water_coverage, self.wood_coverage, self.stone_coverage),
                              "coverages summing to at most 1")
        if self.num_workers > self.free_tiles:
            raise ConfigError("num_workers", self.num_workers,
                              f"at most the map's {self.free_tiles} free land tiles")

    @cached_property
    def file_layout(self) -> Layout | None:
        """The layout read from file (quadrant or ``layout_file``); None when uniform."""
        if self.layout == "uniform":
            return None
        return load_layout(QUADRANT_FILE if self.layout == "quadrant" else self.layout_file)

    @property
    def map_shape(self) -> tuple[int, int]:
        """``(height, width)`` of the map, tiles."""
        if self.file_layout is not None:
            return self.file_layout.shape
        return (self.height or 25, self.width or 25)

    @property
    def uniform_counts(self) -> tuple[int, int, int]:
        """``(water, wood, stone)`` tile counts of a uniform layout (rounded shares)."""
        cells = self.map_shape[0] * self.map_shape[1]
        return tuple(int(round(share * cells)) for share in
                     (self.water_coverage, self.wood_coverage, self.stone_coverage))

    @property
    def free_tiles(self) -> int:
        """Land tiles without a source (agents start on distinct free tiles)."""
        if self.file_layout is not None:
            return self.file_layout.free_tiles
        return self.map_shape[0] * self.map_shape[1] - sum(self.uniform_counts)

    @property
    def warms_up(self) -> bool:
        """True when the labour cost is warmed up (``labour_warmup_constant > 0``)."""
        return self.labour_warmup_constant > 0.0

    def for_evaluation(self) -> GTBParams:
        """The parameters evaluations run with: these, without the labour-cost warm-up.

        The warm-up is a training curriculum (Foundation's phase-2 configuration sets
        ``energy_warmup_constant`` to 0), so ``sandbox run`` and batches evaluate
        policies at the full ``labour_cost``.
        """
        if not self.warms_up:
            return self
        return dataclasses.replace(self, labour_warmup_constant=0.0)

    def labour_weight(self, progress: float) -> float:
        """Share of ``labour_cost`` in effect after ``progress`` warm-up units (0..1).

        Foundation's ``energy_weight`` (``layout_from_file.py``): 1 without warm-up, else
        ``1 - exp(-progress / labour_warmup_constant)``.
        """
        if not self.warms_up:
            return 1.0
        return 1.0 - math.exp(-float(progress) / self.labour_warmup_constant)

    @property
    def num_actions(self) -> int:
        """Worker actions: no-op, build, 2 resources x {buy, sell} x prices, 4 moves."""
        return 2 + 4 * (self.max_price + 1) + 4
