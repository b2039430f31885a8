"""Per-update training records: a CSV file, TensorBoard scalars if installed, a progress bar."""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path

#: Statistics of one PPO update that the log keeps per role.
STAT_KEYS = ("policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction",
             "explained_variance", "learning_rate", "ent_coef")

#: Columns shown beside the progress bar when present, with their labels (welfare first).
SHOWN = {"return_planner": "welfare", "productivity": "productivity", "equality": "equality",
         "rate_cap": "cap"}


class TrainingLog:
    """Writes one row per update; on resumption keeps only rows up to the checkpoint.

    Args:
        out_dir: folder of ``log.csv`` (and ``tensorboard/``); None keeps nothing on disk.
        columns: the CSV header, in order.
        start_after: updates already done (rows beyond this, left by an interrupted run,
            are dropped so the log matches the resumed run).
        progress: show a progress bar in the terminal.
        total: updates planned (the bar's length).
    """

    def __init__(self, out_dir: Path | None, columns: list[str], *, start_after: int = 0,
                 progress: bool = True, total: int = 0):
        self.columns = columns
        self.stream = None
        self.writer = None
        self.tensorboard = None
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            path = out_dir / "log.csv"
            _keep_rows(path, columns, up_to=start_after)
            self.stream = path.open("a", newline="")
            self.writer = csv.DictWriter(self.stream, columns, restval="",
                                         extrasaction="ignore")
            self.tensorboard = _tensorboard(out_dir / "tensorboard")
        self.bar = _progress_bar(total, start_after) if progress else None

    def write(self, row: dict) -> None:
        """Record one update's row."""
        if self.writer is not None:
            self.writer.writerow(row)
            self.stream.flush()
        if self.tensorboard is not None:
            for key, value in row.items():
                if isinstance(value, int | float) and key != "update":
                    self.tensorboard.add_scalar(key, value, row["update"])
        if self.bar is not None:
            bar, task = self.bar
            shown = "  ".join(f"{label}={row[key]:.4g}" for key, label in SHOWN.items()
                              if isinstance(row.get(key), int | float))
            bar.update(task, completed=row["update"], status=f"phase {row['phase']}  {shown}")

    def close(self) -> None:
        """Flush and close the files and stop the bar."""
        if self.stream is not None:
            self.stream.close()
        if self.tensorboard is not None:
            self.tensorboard.close()
        if self.bar is not None:
            self.bar[0].stop()


def _keep_rows(path: Path, columns: list[str], *, up_to: int) -> None:
    """Rewrite ``path`` (atomically) with its header and rows of updates <= ``up_to``."""
    rows = []
    if path.is_file() and up_to > 0:
        with path.open(newline="") as stream:
            rows = [r for r in csv.DictReader(stream) if r.get("update", "").isdigit()
                    and int(r["update"]) <= up_to]
    handle, temporary = tempfile.mkstemp(prefix=".log.", suffix=".tmp", dir=path.parent)
    with os.fdopen(handle, "w", newline="") as stream:
        writer = csv.DictWriter(stream, columns, restval="", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(temporary, path)


def _tensorboard(folder: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional
        return None
    return SummaryWriter(str(folder))


def _progress_bar(total: int, completed: int):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    bar = Progress(TextColumn("[bold]two-level"), BarColumn(), MofNCompleteColumn(),
                   TimeRemainingColumn(), TextColumn("{task.fields[status]}"))
    task = bar.add_task("train", total=total, completed=completed, status="")
    bar.start()
    return bar, task
