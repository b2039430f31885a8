"""Episode start: padded maps, worker placement and skills (drawn from the world's stream).

Draws, in this order, from the world's generator: the uniform layouts (``layout ==
"uniform"`` only, one per environment), the workers' tiles (distinct free land tiles,
uniformly), then the skills (``skills == "pareto"``): build multiplier
``min(cap, 1 + (cap - 1) * Lomax(build_skill_shape))`` and bonus-gather probability
``min(2, Lomax(gather_skill_shape)) / 2``, ``Lomax(a) = U^(-1/a) - 1`` (numpy's
``pareto``, as Foundation draws them).
"""

from __future__ import annotations

import torch

from sandbox.worlds.economy.gtb.layout import uniform_layouts
from sandbox.worlds.economy.gtb.observations import tile_code
from sandbox.worlds.economy.gtb.params import GTBParams
from sandbox.worlds.economy.gtb.state import EMPTY_ORDER, GTBState

#: Tile kinds of a layout grid.
LAND, WOOD_SOURCE, STONE_SOURCE, WATER = 0, 1, 2, 3


class MapSetup:
    """Padded geometry of the map and, for file layouts, the padded map itself.

    Args:
        params: the world's parameters.
        device: torch device.
    """

    def __init__(self, params: GTBParams, *, device):
        self.params = params
        self.device = device
        self.height, self.width = params.map_shape
        self.pad = params.view_radius
        self.padded_height = self.height + 2 * self.pad
        self.padded_width = self.width + 2 * self.pad
        self.cells = self.padded_height * self.padded_width
        self.fixed_kinds = None
        if params.file_layout is not None:
            layout = params.file_layout
            kinds = torch.zeros(self.height * self.width, dtype=torch.int64)
            kinds[torch.as_tensor(layout.wood.reshape(-1))] = WOOD_SOURCE
            kinds[torch.as_tensor(layout.stone.reshape(-1))] = STONE_SOURCE
            kinds[torch.as_tensor(layout.water.reshape(-1))] = WATER
            self.fixed_kinds = kinds.to(device)

    def padded_index(self, row: int, column: int) -> int:
        """Flat padded index of map tile ``(row, column)``."""
        return (row + self.pad) * self.padded_width + column + self.pad

    def pad_kinds(self, kinds: torch.Tensor) -> torch.Tensor:
        """``[B, H*W]`` tile kinds -> ``[B, P]`` with a water border."""
        b = kinds.shape[0]
        grid = kinds.view(b, self.height, self.width)
        padded = torch.nn.functional.pad(grid, (self.pad,) * 4, value=WATER)
        return padded.reshape(b, self.cells)

    def kinds(self, num_envs: int, generator: torch.Generator) -> torch.Tensor:
        """``[B, P]`` padded tile kinds for new episodes (drawn when uniform)."""
        if self.fixed_kinds is not None:
            return self.pad_kinds(self.fixed_kinds.unsqueeze(0)).expand(num_envs, -1)
        kinds = uniform_layouts(num_envs, height=self.height, width=self.width,
                                counts=self.params.uniform_counts, generator=generator,
                                device=self.device)
        return self.pad_kinds(kinds)


def lomax(shape: tuple[int, ...], a: float, generator: torch.Generator, device):
    """Lomax (Pareto II, numpy's ``pareto``) draws ``U^(-1/a) - 1``."""
    u = 1.0 - torch.rand(shape, generator=generator, device=device)  # (0, 1]
    return u.pow(-1.0 / a) - 1.0


def draw_skills(params: GTBParams, num_envs: int, generator: torch.Generator, device):
    """``(payment, bonus_prob)``, each ``[B, N]`` float32."""
    n = params.num_workers
    if params.skills == "fixed":
        payment = torch.tensor(params.fixed_payments, dtype=torch.float32, device=device)
        bonus = torch.full((n,), float(params.fixed_bonus_probability), device=device)
        return payment.expand(num_envs, n).clone(), bonus.expand(num_envs, n).clone()
    cap = params.max_skill_multiplier
    build = lomax((num_envs, n), params.build_skill_shape, generator, device)
    multiplier = (1.0 + (cap - 1.0) * build).clamp(max=cap)
    gather = lomax((num_envs, n), params.gather_skill_shape, generator, device)
    return params.base_payment * multiplier, gather.clamp(max=2.0) / 2.0


def initial_state(setup: MapSetup, num_envs: int, *, generator: torch.Generator) -> GTBState:
    """Fresh episode states (rates 0, empty book, full sources, utility not yet set)."""
    p, dev, b, n = setup.params, setup.device, num_envs, setup.params.num_workers
    kinds = setup.kinds(b, generator)
    water = kinds == WATER
    wood, stone = kinds == WOOD_SOURCE, kinds == STONE_SOURCE
    resource = torch.stack([wood, stone], dim=1).to(torch.uint8)
    source_cells = torch.cat([wood, stone], dim=1).nonzero()[:, 1].view(b, -1)
    free = kinds == LAND
    scores = torch.rand(b, setup.cells, generator=generator, device=dev)
    pos = torch.where(free, scores, -1.0).topk(n, dim=1).indices
    payment, bonus = draw_skills(p, b, generator, dev)
    zeros = torch.zeros(b, n, device=dev)
    inventory = torch.zeros(b, n, 3, device=dev)
    inventory[..., 2] = float(p.starting_coin)
    book = (b, 2, 2, n, p.max_orders)
    owner = torch.full((b, setup.cells), -1, dtype=torch.int16, device=dev)
    return GTBState(
        t=torch.zeros(b, dtype=torch.int64, device=dev), pos=pos, water=water,
        source=wood | stone, resource=resource, source_cells=source_cells,
        tiles=tile_code(resource, water, owner), owner=owner,
        inventory=inventory, escrow=torch.zeros(b, n, 3, device=dev), labour=zeros,
        earned=zeros.clone(), period_start=zeros.clone(), last_income=zeros.clone(),
        tax_paid=zeros.clone(), transfers=zeros.clone(),
        rates=torch.zeros(b, p.num_brackets, device=dev), payment=payment, bonus_prob=bonus,
        book=torch.full(book, EMPTY_ORDER, dtype=torch.int64, device=dev),
        houses=zeros.clone(), trades=torch.zeros(b, device=dev),
        utility=zeros.clone(), welfare=torch.zeros(b, device=dev))
