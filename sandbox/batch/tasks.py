"""What one batch task does in a worker, and what a backend reports back to the driver.

A task is a chunk of runs. The worker executes them one after the other and writes each
run's Parquet file itself, atomically, as soon as the run ends, so a run that completed
is on disk whatever happens to the driver or to the worker afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.batch.store import run_status, sync_runs, write_run
from sandbox.scenario.run import RunPlan, execute_run


@dataclass(frozen=True)
class TaskEvent:
    """News about one task, from a backend to the driver.

    Attributes:
        key: the task's key (given when it was submitted).
        finished: ``(run_id, status)`` of the runs the task finished since its last event;
            status is ``"ok"`` or ``"failed"``.
        complete: the task is over: every run finished, or the task was lost.
        lost: why the task ended before finishing its runs (a worker process died, the
            Ray task failed); empty when it was not lost.
    """

    key: int
    finished: list[tuple[str, str]] = field(default_factory=list)
    complete: bool = False
    lost: str = ""


def run_plans(plans: Sequence[RunPlan], out: str | Path,
              report: Callable[[str, str], None] | None = None) -> list[tuple[str, str]]:
    """Execute and store every plan, in order; returns ``(run_id, status)`` pairs.

    A run already recorded as ok (by an earlier attempt of a retried task) is not run
    again; a run recorded as failed is, and its record is replaced. The ``runs`` folder is
    fsynced once, at the end, instead of after every file.

    Args:
        plans: the runs of the task.
        out: the results folder.
        report: called with ``(run_id, status)`` after each run is on disk.
    """
    statuses = []
    for plan in plans:
        status = run_status(out, plan.run_id)
        if status != "ok":
            result = execute_run(plan)
            write_run(out, result, sync_dir=False)
            status = result.status
        statuses.append((plan.run_id, status))
        if report is not None:
            report(plan.run_id, status)
    if plans:
        sync_runs(out)
    return statuses


def run_chunk(plans: Sequence[RunPlan], out: str) -> list[tuple[str, str]]:
    """One task of the Ray backend: :func:`run_plans` with one torch thread."""
    import torch

    torch.set_num_threads(1)
    return run_plans(plans, out)
