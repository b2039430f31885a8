"""Gather-Trade-Build as a plain per-agent Mesa model: the rules stated readably.

One :class:`Worker` agent per worker, plain Python numbers and lists, one method per
rule. Given the same map, the same starting tiles and skills, the same actions and the
same random numbers (a step's ``StepNoise``: turn order, bonus draws, regrowth draws),
it reproduces the batched :class:`~sandbox.worlds.economy.gtb.world.GatherTradeBuild`
step by step; the tests hold the batched world to it. It shares only the parameter
dataclass and the action numbering with the batched code, so that a bug in one is not
silently repeated in the other::

    model = GTBReferenceModel.from_world(world, env=0)
    world.step(actions)
    model.step([int(a) for a in actions["workers"][0]], noise_of(world.last_noise, 0),
               rates=rates_or_None)

Source tiles are numbered wood first, then stone, each in row-major order: the order of
the ``regen`` numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import mesa

from sandbox.worlds.economy.gtb.actions import BUILD, MOVES, ActionLayout
from sandbox.worlds.economy.gtb.params import GTBParams


@dataclass
class Order:
    """One resting order: ``side`` 0 = bid, 1 = ask; ``seq`` = step * N + turn."""

    resource: int
    side: int
    owner: int
    price: int
    seq: int


class Worker(mesa.Agent):
    """One worker: a tile, holdings, escrow, labour and two skills.

    Args:
        model: the :class:`GTBReferenceModel`.
        index: the worker's index (its number in the batched world).
        tile: ``(row, column)``.
        payment: coin per house built.
        bonus_prob: probability of a bonus unit when gathering.
        coin: starting coin.
    """

    def __init__(self, model, index: int, tile: tuple[int, int], payment: float,
                 bonus_prob: float, coin: float):
        super().__init__(model)
        self.index = index
        self.tile = tile
        self.payment = payment
        self.bonus_prob = bonus_prob
        self.have = {"wood": 0.0, "stone": 0.0, "coin": coin}
        self.escrow = {"wood": 0.0, "stone": 0.0, "coin": 0.0}
        self.labour = 0.0
        self.earned = 0.0
        self.period_start = 0.0
        self.houses = 0

    def coin_total(self) -> float:
        """Coin available plus coin escrowed in bids."""
        return self.have["coin"] + self.escrow["coin"]

    def utility(self) -> float:
        """Isoelastic utility of the coin endowment minus the labour cost."""
        p = self.model.params
        c = max(self.coin_total(), 1e-6)
        if p.eta == 0.0:
            gain = c - 1.0
        elif p.eta == 1.0:
            import math
            gain = math.log(c)
        else:
            gain = (c ** (1.0 - p.eta) - 1.0) / (1.0 - p.eta)
        return gain - self.model.labour_coefficient() * self.labour


RESOURCE_NAMES = ("wood", "stone")


class GTBReferenceModel(mesa.Model):
    """The rules of one environment, agent by agent.

    Args:
        params: the world's parameters.
        water: ``H x W`` nested lists of bool.
        sources: ``H x W`` nested lists: None, ``"wood"`` or ``"stone"``.
        lying: ``H x W`` nested lists of 0/1: a unit lies on the source tile.
        tiles: each worker's ``(row, column)``.
        payments: each worker's coin per house.
        bonus_probs: each worker's bonus-gather probability.
        cutoffs: bracket lower cutoffs, coin.
        episodes_done: episodes completed before this one (the ``"decay"`` warm-up).
        positive_steps: steps so far with a positive mean worker reward (``"auto"``).
    """

    def __init__(self, params: GTBParams, *, water, sources, lying, tiles, payments,
                 bonus_probs, cutoffs, episodes_done: int = 0, positive_steps: int = 0):
        super().__init__()
        self.episodes_done = int(episodes_done)
        self.positive_steps = int(positive_steps)
        self.params = params
        self.actions = ActionLayout(params.max_price)
        self.water = [list(row) for row in water]
        self.sources = [list(row) for row in sources]
        self.lying = [list(row) for row in lying]
        self.height, self.width = len(water), len(water[0])
        self.houses: dict[tuple[int, int], int] = {}
        self.book: list[Order] = []
        self.cutoffs = list(cutoffs)
        self.rates = [0.0] * len(self.cutoffs)
        self.t = 0
        self.trades = 0
        self.revenue = 0.0
        self.workers = [Worker(self, i, tuple(tile), payments[i], bonus_probs[i],
                               params.starting_coin) for i, tile in enumerate(tiles)]
        self.last_utility = [w.utility() for w in self.workers]
        self.rewards = [0.0] * len(self.workers)
        self.source_tiles = [(kind, r, c) for kind in RESOURCE_NAMES
                             for r in range(self.height) for c in range(self.width)
                             if self.sources[r][c] == kind]

    @classmethod
    def from_world(cls, world, env: int = 0) -> GTBReferenceModel:
        """The model of environment ``env`` of a batched world's current state."""
        state, setup, p = world.state, world.setup, world.params
        pad, wp = setup.pad, setup.padded_width

        def cell(r, c):
            return (r + pad) * wp + c + pad

        h, w = setup.height, setup.width
        water = [[bool(state.water[env, cell(r, c)]) for c in range(w)] for r in range(h)]
        kinds = {}
        for flat in state.source_cells[env].tolist():
            kind, p_index = divmod(flat, setup.cells)
            kinds[p_index] = RESOURCE_NAMES[kind]
        sources = [[kinds.get(cell(r, c)) for c in range(w)] for r in range(h)]
        lying = [[int(state.resource[env, :, cell(r, c)].sum()) for c in range(w)]
                 for r in range(h)]
        tiles = [divmod(int(q), wp) for q in state.pos[env].tolist()]
        tiles = [(r - pad, c - pad) for r, c in tiles]
        return cls(p, water=water, sources=sources, lying=lying, tiles=tiles,
                   payments=state.payment[env].tolist(), bonus_probs=state.bonus_prob[env].tolist(),
                   cutoffs=world.cutoffs.tolist(), episodes_done=int(state.episodes_done[env]),
                   positive_steps=int(state.positive_steps[env]))

    def labour_coefficient(self) -> float:
        """Labour cost in effect: ``labour_cost`` times the warm-up weight.

        The weight is Foundation's ``1 - exp(-n / labour_warmup_constant)`` (1 without
        warm-up).
        """
        p = self.params
        progress = self.episodes_done if p.labour_warmup_method == "decay" else \
            self.positive_steps
        return p.labour_cost * p.labour_weight(progress)

    # ------------------------------------------------------------------ the step
    def step(self, actions: list[int], noise: dict, rates: list[float] | None = None) -> None:
        """One step: ``actions[i]`` of worker i; ``noise`` has ``order``, ``bonus``, ``regen``.

        Afterwards ``rewards`` holds each worker's reward: its utility now minus its
        utility after the last step (with the labour cost in effect then).

        Args:
            actions: one action index per worker (``actions.py``).
            noise: the step's uniform numbers (lists), as the batched world drew them.
            rates: the planner's rates when it acts this step (first step of a period).
        """
        if rates is not None:
            self.rates = [min(r, 1.0) for r in rates]
        turns = sorted(range(len(self.workers)), key=lambda i: noise["order"][i])
        for worker in self.workers:
            if actions[worker.index] == BUILD:
                self.build(worker)
        for turn, i in enumerate(turns):
            self.place_order(self.workers[i], actions[i], turn)
        moved = [False] * len(self.workers)
        for i in turns:
            moved[i] = self.move(self.workers[i], actions[i])
        for worker in self.workers:
            if moved[worker.index]:
                self.gather(worker, noise["bonus"][worker.index])
        self.regrow(noise["regen"])
        self.t += 1
        self.expire_orders()
        if self.t % self.params.tax_period == 0:
            self.collect_taxes()
        self.settle_rewards()

    def settle_rewards(self) -> list[float]:
        """Rewards of the step just taken, each worker's change in utility.

        Then the ``"auto"`` warm-up counts the step if the workers' mean reward was
        positive (after the rewards, as Foundation does).
        """
        now = [w.utility() for w in self.workers]
        rewards = [a - b for a, b in zip(now, self.last_utility)]
        self.last_utility, self.rewards = now, rewards
        p = self.params
        if p.warms_up and p.labour_warmup_method == "auto" and sum(rewards) / len(rewards) > 0:
            self.positive_steps += 1
        return rewards

    def build(self, worker: Worker) -> None:
        """Build on the worker's tile if it has 1 wood + 1 stone and the tile is free."""
        r, c = worker.tile
        if (worker.have["wood"] >= 1 and worker.have["stone"] >= 1
                and (r, c) not in self.houses and self.sources[r][c] is None):
            worker.have["wood"] -= 1
            worker.have["stone"] -= 1
            worker.have["coin"] += worker.payment
            worker.earned += worker.payment
            worker.labour += self.params.build_labour
            worker.houses += 1
            self.houses[(r, c)] = worker.index

    def open_orders(self, worker: Worker, resource: int, side: int) -> int:
        """The worker's open orders on one side of one resource."""
        return sum(1 for o in self.book
                   if o.owner == worker.index and o.resource == resource and o.side == side)

    def place_order(self, worker: Worker, action: int, turn: int) -> None:
        """Match the worker's order against the book, or rest it there."""
        first, levels = self.actions.first_trade, self.actions.levels
        if not first <= action < first + 4 * levels:
            return
        resource, rest = divmod(action - first, 2 * levels)
        side, price = divmod(rest, levels)
        name = RESOURCE_NAMES[resource]
        if side == 0 and worker.have["coin"] < price:
            return
        if side == 1 and worker.have[name] < 1:
            return
        if self.open_orders(worker, resource, side) >= self.params.max_orders:
            return
        worker.labour += self.params.order_labour
        if side == 0:
            crossing = [o for o in self.book if o.resource == resource and o.side == 1
                        and o.owner != worker.index and o.price <= price]
            best = min(crossing, key=lambda o: (o.price, o.seq), default=None)
        else:
            crossing = [o for o in self.book if o.resource == resource and o.side == 0
                        and o.owner != worker.index and o.price >= price]
            best = min(crossing, key=lambda o: (-o.price, o.seq), default=None)
        if best is None:
            self.book.append(Order(resource, side, worker.index, price,
                                   self.t * len(self.workers) + turn))
            if side == 0:
                worker.have["coin"] -= price
                worker.escrow["coin"] += price
            else:
                worker.have[name] -= 1
                worker.escrow[name] += 1
            return
        self.book.remove(best)
        self.trades += 1
        other = self.workers[best.owner]
        q = best.price  # the earlier order's price
        if side == 0:  # worker buys from a resting ask
            worker.have["coin"] -= q
            worker.have[name] += 1
            worker.earned -= q
            other.escrow[name] -= 1
            other.have["coin"] += q
            other.earned += q
        else:  # worker sells to a resting bid, which escrowed exactly q
            worker.have[name] -= 1
            worker.have["coin"] += q
            worker.earned += q
            other.escrow["coin"] -= q
            other.have[name] += 1
            other.earned -= q

    def can_enter(self, worker: Worker, tile: tuple[int, int]) -> bool:
        """On the map, not water, not another's house, nobody standing there."""
        r, c = tile
        if not (0 <= r < self.height and 0 <= c < self.width) or self.water[r][c]:
            return False
        if self.houses.get(tile, worker.index) != worker.index:
            return False
        return all(other.tile != tile for other in self.workers)

    def move(self, worker: Worker, action: int) -> bool:
        """Move one tile if the action is a move and the target can be entered."""
        first = self.actions.first_move
        if not first <= action < first + 4:
            return False
        dr, dc = MOVES[action - first]
        target = (worker.tile[0] + dr, worker.tile[1] + dc)
        if not self.can_enter(worker, target):
            return False
        worker.tile = target
        worker.labour += self.params.move_labour
        return True

    def gather(self, worker: Worker, draw: float) -> None:
        """Collect the unit lying on the worker's new tile, plus a bonus unit by chance."""
        r, c = worker.tile
        kind = self.sources[r][c]
        if kind is None or not self.lying[r][c]:
            return
        self.lying[r][c] = 0
        worker.have[kind] += 2 if draw < worker.bonus_prob else 1
        worker.labour += self.params.gather_labour

    def regrow(self, draws: list[float]) -> None:
        """Each empty source tile regrows with probability ``regen_probability``."""
        for (_, r, c), draw in zip(self.source_tiles, draws):
            if not self.lying[r][c] and draw < self.params.regen_probability:
                self.lying[r][c] = 1

    def cancel(self, order: Order) -> None:
        """Remove an order and refund its escrow."""
        self.book.remove(order)
        owner = self.workers[order.owner]
        if order.side == 0:
            owner.escrow["coin"] -= order.price
            owner.have["coin"] += order.price
        else:
            name = RESOURCE_NAMES[order.resource]
            owner.escrow[name] -= 1
            owner.have[name] += 1

    def expire_orders(self) -> None:
        """Cancel orders placed ``order_duration`` or more steps ago."""
        n = len(self.workers)
        for order in list(self.book):
            if self.t - order.seq // n >= self.params.order_duration:
                self.cancel(order)

    def tax_on(self, income: float) -> float:
        """Bracket tax on one period's income."""
        income = max(income, 0.0)
        tax = 0.0
        bounds = self.cutoffs[1:] + [float("inf")]
        for low, high, rate in zip(self.cutoffs, bounds, self.rates):
            tax += rate * min(max(income - low, 0.0), high - low)
        return tax

    def collect_taxes(self) -> None:
        """Tax every worker's period income and pay the revenue back equally."""
        taxes = [self.tax_on(w.earned - w.period_start) for w in self.workers]
        for worker, tax in zip(self.workers, taxes):
            if tax > worker.have["coin"]:
                for order in [o for o in self.book if o.owner == worker.index and o.side == 0]:
                    self.cancel(order)
            worker.have["coin"] -= tax
        lump_sum = sum(taxes) / len(self.workers)
        self.revenue += sum(taxes)
        for worker in self.workers:
            worker.have["coin"] += lump_sum
            worker.period_start = worker.earned

    # ------------------------------------------------------------------ masks
    def valid_actions(self, worker: Worker) -> list[bool]:
        """The worker's action mask (True = valid), in the action order."""
        p, layout = self.params, self.actions
        valid = [False] * layout.size
        valid[0] = True
        r, c = worker.tile
        valid[BUILD] = (worker.have["wood"] >= 1 and worker.have["stone"] >= 1
                        and (r, c) not in self.houses and self.sources[r][c] is None)
        for resource, name in enumerate(RESOURCE_NAMES):
            for price in range(p.max_price + 1):
                valid[layout.trade(resource, 0, price)] = (
                    worker.have["coin"] >= price
                    and self.open_orders(worker, resource, 0) < p.max_orders)
                valid[layout.trade(resource, 1, price)] = (
                    worker.have[name] >= 1
                    and self.open_orders(worker, resource, 1) < p.max_orders)
        for direction, (dr, dc) in enumerate(MOVES):
            valid[layout.move(direction)] = self.can_enter(worker, (r + dr, c + dc))
        return valid
