"""Shared helpers of the Gather-Trade-Build tests: hand-built maps, actions, rollouts."""

from __future__ import annotations

import torch

from sandbox.worlds.economy.gtb import GatherTradeBuild, GTBParams
from sandbox.worlds.economy.gtb.actions import ActionLayout

ACTIONS = ActionLayout(10)


def small_world(tmp_path, rows: list[str], *, num_envs: int = 1, seed: int = 0, **params):
    """A world on a hand-drawn map (view radius 1 unless given), reset."""
    path = tmp_path / "map.txt"
    path.write_text("\n".join(rows) + "\n")
    params.setdefault("view_radius", 1)
    params.setdefault("num_workers", 2)
    world = GatherTradeBuild(GTBParams(layout="file", layout_file=str(path), **params),
                             num_envs=num_envs, seed=seed)
    world.reset()
    return world


def place(world, tiles: list[tuple[int, int]], *, env: int | None = None) -> None:
    """Put worker i on map tile ``tiles[i]`` (every environment unless ``env``)."""
    pos = world.state.pos.clone()
    index = torch.tensor([world.setup.padded_index(r, c) for r, c in tiles])
    if env is None:
        pos[:] = index
    else:
        pos[env] = index
    world.state = world.state.replace(pos=pos)


def give(world, worker: int, *, wood=None, stone=None, coin=None) -> None:
    """Set a worker's available holdings in every environment."""
    inventory = world.state.inventory.clone()
    for column, value in enumerate((wood, stone, coin)):
        if value is not None:
            inventory[:, worker, column] = float(value)
    world.state = world.state.replace(inventory=inventory)


def act(world, *worker_actions: int, rates=None) -> object:
    """Step every environment with the same worker actions (and rates when the planner acts)."""
    b, n = world.num_envs, world.params.num_workers
    actions = {"workers": torch.tensor(worker_actions).expand(b, n).clone()}
    if "planner" in world.acting_roles():
        rates = torch.zeros(world.params.num_brackets) if rates is None else rates
        actions["planner"] = world.action_from_rates(torch.as_tensor(rates).expand(b, -1))
    return world.step(actions)


def random_valid_actions(world, masks, generator, *, build_bias: float = 0.5):
    """Random valid worker actions; build whenever valid with probability ``build_bias``."""
    mask = masks["workers"]
    noise = torch.rand(mask.shape, generator=generator).masked_fill(~mask, -1.0)
    action = noise.argmax(-1)
    build = mask[..., 1] & (torch.rand(mask.shape[:2], generator=generator) < build_bias)
    return torch.where(build, 1, action)


def random_rates(world, generator):
    """Random planner actions (rate levels 0..20 per bracket)."""
    k = world.params.num_brackets
    return torch.randint(0, 21, (world.num_envs, 1, k), generator=generator)


def holdings(state):
    """Total wood, stone and coin held (available + escrow) per environment, ``[B, 3]``."""
    return (state.inventory + state.escrow).sum(1)
