"""One environment's Gather-Trade-Build episode as plain numpy arrays, and its file.

:class:`EpisodeRecorder` reads the world's state after each step of environment ``env``;
it draws no random numbers, so recording leaves the run unchanged. Batches keep one such
record per run next to its results (``trajectories/<run_id>.npz``, see
``sandbox/batch/store.py``); the app and reports draw it with
``sandbox/report/gtb_figures.py``.

The file is a compressed ``.npz`` (numpy's zip of ``.npy`` arrays, read with
``allow_pickle=False``): ``T`` steps, ``N`` workers, ``F`` map snapshots, ``M`` trades,
``P`` tax periods, ``K`` brackets, ``Q`` metrics.

=================  ================  ===================================================
array              shape, dtype      meaning
=================  ================  ===================================================
format, version    [], str / int     ``"sandbox.gtb_trajectory"``, :data:`FORMAT_VERSION`
height, width      [], int           map rows and columns
tax_period         [], int           steps per tax period
map_step           [F], int32        steps of the map snapshots (every ``map_every``
                                     steps, and always the first and the last)
terrain            [F, H, W], int8   terrain codes (:data:`LAND` .. :data:`STONE`)
owner              [F, H, W], int8   owner of the house on each tile, -1 where none
position           [T+1, N, 2], int16  (row, column) of each worker, every step
inventory          [T+1, N, 3], f32  wood, stone, coin held (available plus escrowed)
labour             [T+1, N], f32     labour spent in the episode so far
actions            [T, N], int16     worker actions
trade_step         [M], int32        step (1..T) of each trade
trade_resource     [M], int8         0 wood, 1 stone
trade_price        [M], f32          coin per unit
cutoffs            [K], f32          bracket lower cutoffs, coin
rates              [P, K], f32       marginal rates of each period begun
period_tax         [P, N], f32       tax paid at each period's end (NaN: not reached)
payment            [N], f32          coin per house (build skill)
metric_names       [Q], str          the world's episode metrics, when the record ends
metric_values      [Q], f64          with the episode
=================  ================  ===================================================
"""

from __future__ import annotations

import io
import math
import zipfile
from pathlib import Path

import numpy as np
import torch

from sandbox.core.errors import SandboxError

FORMAT = "sandbox.gtb_trajectory"
FORMAT_VERSION = 1
#: Terrain codes of the map snapshots.
LAND, WATER, WOOD_SOURCE, WOOD, STONE_SOURCE, STONE = range(6)
#: Map snapshots a stored trajectory keeps at most (about; the last step is added).
MAX_MAPS = 100


def default_map_every(episode_length: int) -> int:
    """Steps between stored map snapshots: at most about :data:`MAX_MAPS` per episode."""
    return max(1, math.ceil(episode_length / MAX_MAPS))


def snapshot(world, state, env: int, *, with_map: bool = True) -> dict[str, np.ndarray]:
    """Positions and holdings of environment ``env`` in ``state``, and its map (unpadded).

    Returns:
        ``position [N, 2]``, ``inventory [N, 3]``, ``labour [N]`` and, with ``with_map``,
        ``terrain [H, W]`` int8 and ``owner [H, W]`` int8.
    """
    p = world.params
    height, width = p.map_shape
    pad, wp = p.view_radius, world.setup.padded_width
    pos = state.pos[env].cpu()
    out = {"position": torch.stack([pos // wp - pad, pos % wp - pad], dim=-1).numpy(),
           "inventory": (state.inventory[env] + state.escrow[env]).cpu().numpy()
           .astype(np.float32),
           "labour": state.labour[env].cpu().numpy().astype(np.float32)}
    if not with_map:
        return out
    hp = state.water.shape[1] // wp

    def grid(tensor, batched=True):
        tensor = tensor[env] if batched else tensor
        return tensor.reshape(hp, wp)[pad:pad + height, pad:pad + width].cpu().numpy()

    cells = state.source_cells[env]
    count = state.water.shape[1]
    kind = torch.full((count,), -1, dtype=torch.int64, device=cells.device)
    kind[cells % count] = cells // count
    kind = grid(kind, batched=False)
    terrain = np.full((height, width), LAND, dtype=np.int8)
    terrain[grid(state.water)] = WATER
    terrain[kind == 0] = WOOD_SOURCE
    terrain[kind == 1] = STONE_SOURCE
    terrain[grid(state.resource[:, 0]) > 0] = WOOD
    terrain[grid(state.resource[:, 1]) > 0] = STONE
    out.update(terrain=terrain, owner=grid(state.owner).astype(np.int8))
    return out


class EpisodeRecorder:
    """Records environment ``env`` from the world's current state for ``steps`` steps.

    Call :meth:`record` after every ``world.step`` with the actions given to it; the
    record is complete (:attr:`finished`) after ``steps`` steps.

    Args:
        world: a Gather-Trade-Build world, reset (the record starts at its state).
        env: which environment to record.
        steps: steps to record (default: the episode length).
        map_every: steps between map snapshots (the first and last step always).
    """

    def __init__(self, world, *, env: int = 0, steps: int | None = None, map_every: int = 1):
        self.world, self.env = world, env
        self.limit = world.params.episode_length if steps is None else steps
        self.map_every = max(1, int(map_every))
        first = snapshot(world, world.state, env)
        self.frames = [first]
        self.maps = [(0, first["terrain"], first["owner"])]
        self.payment = world.state.payment[env].cpu().numpy().astype(np.float32)
        self.actions, self.trades, self.rates, self.taxes = [], [], [], []
        self.metrics: dict[str, float] = {}

    @property
    def steps(self) -> int:
        """Steps recorded so far."""
        return len(self.actions)

    @property
    def finished(self) -> bool:
        """True when every step asked for is recorded."""
        return self.steps >= self.limit

    def record(self, actions: dict[str, torch.Tensor], result) -> None:
        """Add one step: ``actions`` given to ``world.step`` and its ``StepResult``."""
        if self.finished:
            return
        env, state, log = self.env, result.final_state, result.info["log"]
        if "planner" in actions:
            self.rates.append(state.rates[env].cpu().numpy())
        self.actions.append(actions["workers"][env].cpu().numpy())
        step = self.steps
        for i in np.flatnonzero(log.trades.traded[env].cpu().numpy()):
            self.trades.append((step, int(log.trades.resource[env, i]),
                                float(log.trades.price[env, i])))
        if log.period_ended:
            self.taxes.append(log.tax[env].cpu().numpy())
        with_map = step % self.map_every == 0 or step == self.limit
        frame = snapshot(self.world, state, env, with_map=with_map)
        if with_map:
            self.maps.append((step, frame.pop("terrain"), frame.pop("owner")))
        self.frames.append(frame)
        if result.final_metrics:
            self.metrics = {k: float(v[env]) for k, v in result.final_metrics.items()}

    def arrays(self) -> dict[str, np.ndarray]:
        """The record so far, as the arrays of the module's table."""
        p, n = self.world.params, self.world.params.num_workers
        period_tax = np.full((len(self.rates), n), np.nan, dtype=np.float32)
        if self.taxes:
            period_tax[:len(self.taxes)] = np.stack(self.taxes)
        trade = np.array(self.trades, dtype=np.float64).reshape(-1, 3)
        k = int(self.world.cutoffs.numel())
        return {
            "format": np.array(FORMAT), "version": np.array(FORMAT_VERSION),
            "height": np.array(p.map_shape[0]), "width": np.array(p.map_shape[1]),
            "tax_period": np.array(p.tax_period),
            "map_step": np.array([s for s, _, _ in self.maps], dtype=np.int32),
            "terrain": np.stack([t for _, t, _ in self.maps]),
            "owner": np.stack([o for _, _, o in self.maps]),
            "position": np.stack([f["position"] for f in self.frames]).astype(np.int16),
            "inventory": np.stack([f["inventory"] for f in self.frames]),
            "labour": np.stack([f["labour"] for f in self.frames]),
            "actions": np.stack(self.actions).astype(np.int16) if self.actions
            else np.zeros((0, n), dtype=np.int16),
            "trade_step": trade[:, 0].astype(np.int32),
            "trade_resource": trade[:, 1].astype(np.int8),
            "trade_price": trade[:, 2].astype(np.float32),
            "cutoffs": self.world.cutoffs.cpu().numpy().astype(np.float32),
            "rates": np.stack(self.rates).astype(np.float32) if self.rates
            else np.zeros((0, k), dtype=np.float32),
            "period_tax": period_tax, "payment": self.payment,
            "metric_names": np.array(sorted(self.metrics), dtype=str),
            "metric_values": np.array([self.metrics[m] for m in sorted(self.metrics)],
                                      dtype=np.float64),
        }


def trajectory_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """The compressed ``.npz`` file content of a record's arrays."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def read_trajectory(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays of a trajectory file written from :meth:`EpisodeRecorder.arrays`.

    Raises:
        SandboxError: the file is missing, unreadable, or not a trajectory of this
            format version (the message names the file and what is wrong).
    """
    path = Path(path)
    if not path.is_file():
        raise SandboxError(f"{path}: trajectory file not found")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise SandboxError(f"{path}: not a readable trajectory file ({exc})") from None
    if str(arrays.get("format", "")) != FORMAT:
        raise SandboxError(f"{path}: not a Gather-Trade-Build trajectory file")
    if int(arrays.get("version", -1)) != FORMAT_VERSION:
        raise SandboxError(f"{path}: trajectory format version {arrays.get('version')}; "
                           f"this version reads {FORMAT_VERSION}")
    missing = {"map_step", "terrain", "owner", "position", "inventory", "labour", "actions",
               "trade_step", "trade_resource", "trade_price", "cutoffs", "rates",
               "period_tax", "payment"} - set(arrays)
    if missing:
        raise SandboxError(f"{path}: trajectory file lacks {', '.join(sorted(missing))}")
    return arrays
