"""Map layouts of Gather-Trade-Build: where water and the wood and stone sources are.

A :class:`Layout` is three boolean ``[H, W]`` numpy arrays (water, wood sources, stone
sources; at most one per tile). Layouts come from a text file (symbol legend in
``data/gtb/README.md``: ``.`` land, ``W`` wood, ``S`` stone, ``@`` water; ``#`` starts
a comment line) or are drawn uniformly at random per environment
(:func:`uniform_layouts`). The default quadrant map is ``data/gtb/quadrant_25x25.txt``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sandbox.core.errors import ConfigError

DATA_DIR = Path(__file__).resolve().parents[4] / "data" / "gtb"
QUADRANT_FILE = DATA_DIR / "quadrant_25x25.txt"

#: Symbol -> tile kind of a layout file.
LEGEND = {".": "land", "W": "wood source", "S": "stone source", "@": "water"}


@dataclass(frozen=True)
class Layout:
    """One map: ``[H, W]`` bool arrays, True where the tile is of that kind.

    Attributes:
        water: water tiles (block moves and builds).
        wood: wood source tiles.
        stone: stone source tiles.
    """

    water: np.ndarray
    wood: np.ndarray
    stone: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)`` in tiles."""
        return tuple(self.water.shape)

    @property
    def free_tiles(self) -> int:
        """Land tiles without a source: where agents can be placed."""
        return int((~(self.water | self.wood | self.stone)).sum())

    def to_text(self) -> str:
        """The layout in the file format (no comments)."""
        rows = []
        for y in range(self.shape[0]):
            row = ""
            for x in range(self.shape[1]):
                row += ("@" if self.water[y, x] else "W" if self.wood[y, x]
                        else "S" if self.stone[y, x] else ".")
            rows.append(row)
        return "\n".join(rows) + "\n"


def legend_text() -> str:
    """The symbol legend in words, for error messages."""
    return ", ".join(f"{s!r} {kind}" for s, kind in LEGEND.items())


def parse_layout(text: str, *, source: str = "layout") -> Layout:
    """Parse a layout from text (file format above).

    Args:
        text: the file's contents.
        source: name used in error messages (the file path).

    Raises:
        ConfigError: an unknown symbol (naming line and column and the legend), rows of
            unequal length, or no rows.
    """
    rows: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.rstrip("\r\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        for column, symbol in enumerate(line, start=1):
            if symbol not in LEGEND:
                raise ConfigError(
                    "layout_file", f"{source}, line {number}, column {column}: {symbol!r}",
                    f"only the layout symbols {legend_text()}")
        if rows and len(line) != len(rows[0]):
            raise ConfigError("layout_file", f"{source}, line {number}: {len(line)} tiles",
                              f"every row {len(rows[0])} tiles long, as the first row")
        rows.append(line)
    if not rows:
        raise ConfigError("layout_file", source, "at least one row of layout symbols")
    grid = np.array([list(r) for r in rows])
    return Layout(water=grid == "@", wood=grid == "W", stone=grid == "S")


def load_layout(path: str | Path) -> Layout:
    """Read and parse a layout file; a missing file raises a ConfigError."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError("layout_file", str(path),
                          f"a readable layout file ({exc.strerror})") from None
    return parse_layout(text, source=str(path))


def uniform_layouts(num_envs: int, *, height: int, width: int, counts: tuple[int, int, int],
                    generator: torch.Generator, device) -> torch.Tensor:
    """Uniformly random layouts, one per environment, with fixed tile counts.

    Args:
        num_envs: B.
        height: map rows, tiles.
        width: map columns, tiles.
        counts: ``(water, wood, stone)`` tiles in every map.
        generator: the world's stream.
        device: torch device.

    Returns:
        ``[B, H*W]`` int64 tile kinds: 0 land, 1 wood, 2 stone, 3 water.
    """
    cells = height * width
    order = torch.rand(num_envs, cells, generator=generator, device=device).argsort(dim=1)
    water, wood, stone = counts
    kinds = torch.zeros(cells, dtype=torch.int64, device=device)
    kinds[:wood] = 1
    kinds[wood:wood + stone] = 2
    kinds[wood + stone:wood + stone + water] = 3
    layout = torch.empty(num_envs, cells, dtype=torch.int64, device=device)
    return layout.scatter_(1, order, kinds.expand(num_envs, cells))
