"""Running many runs: a local process pool by default, Ray when one machine is outgrown.

Runs are grouped into chunks (one task each) so that the batch layer's overhead per
run stays small; the worker that runs a task writes every run's Parquet file itself,
atomically, as soon as the run ends, so a run that completed is never lost, whatever
happens to the driver afterwards. Runs whose files already exist are skipped, so the
same command started again after Ctrl-C, a killed driver or a killed worker finishes
what is left, and nothing is run or stored twice.

A task whose worker dies (killed, out of memory, a crash in native code) is lost; its
unfinished runs are retried, one run per task, up to ``BatchOptions.retries`` times
each. A run that still kills its worker is recorded as failed, like a run that raised.
"""

from __future__ import annotations

import itertools
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.batch.store import (
    clean_temporary,
    failed_run_ids,
    finished_run_ids,
    run_status,
    write_run,
)
from sandbox.batch.tasks import TaskEvent
from sandbox.core.errors import ConfigError, SandboxError
from sandbox.scenario.run import RunPlan, RunResult
from sandbox.scenario.versions import software_versions

BACKENDS = ("local", "ray")
#: Largest automatic chunk: long enough to amortise a task, short enough to balance load.
MAX_AUTO_CHUNK = 64
#: Automatic chunking aims at this many tasks per worker at least.
TASKS_PER_WORKER = 8


@dataclass(frozen=True)
class BatchOptions:
    """How a batch runs.

    Attributes:
        backend: ``"local"`` (a process pool) or ``"ray"``.
        workers: worker processes (local) or CPUs of a local Ray instance; None = cores.
        address: address of a running Ray cluster (``host:port``); None starts a local one.
        chunk_size: runs per task; None picks at least 8 tasks per worker, at most 64 runs.
        retries: times a run is retried after its worker died while running it.
        retry_failed: run again the runs recorded as failed (instead of skipping them).
        connect_timeout_s: seconds to wait for a Ray address to answer.
    """

    backend: str = "local"
    workers: int | None = None
    address: str | None = None
    chunk_size: int | None = None
    retries: int = 2
    retry_failed: bool = False
    connect_timeout_s: float = 10.0

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise ConfigError("--backend", self.backend, f"one of {', '.join(BACKENDS)}")
        if self.workers is not None and (isinstance(self.workers, bool) or self.workers < 1):
            raise ConfigError("--workers", self.workers, "an integer >= 1")
        if self.chunk_size is not None and self.chunk_size < 1:
            raise ConfigError("chunk_size", self.chunk_size, "an integer >= 1")
        if self.retries < 0:
            raise ConfigError("retries", self.retries, "an integer >= 0")
        if self.address and self.backend != "ray":
            raise ConfigError("--address", self.address, "no address with --backend local "
                              "(add --backend ray)")
        if not self.connect_timeout_s > 0:
            raise ConfigError("connect_timeout_s", self.connect_timeout_s, "seconds > 0")

    @property
    def parallelism(self) -> int:
        """Processes to use."""
        return self.workers or os.cpu_count() or 1


@dataclass
class BatchProgress:
    """Counts of a batch as it goes (passed to the progress callback).

    Attributes:
        total: runs in the batch, skipped ones included.
        skipped: runs already finished in the folder before this batch started.
        skipped_failed: skipped runs whose recorded status is ``failed``.
        done: runs finished by this batch (successful or failed).
        failed: runs of this batch that recorded an error.
        retried: runs started again after their worker died.
        started: ``time.perf_counter()`` at the start.
        elapsed_s: seconds from the start to the last update.
    """

    total: int
    skipped: int = 0
    skipped_failed: int = 0
    done: int = 0
    failed: int = 0
    retried: int = 0
    started: float = field(default_factory=time.perf_counter)
    elapsed_s: float = 0.0

    @property
    def remaining(self) -> int:
        """Runs still to do."""
        return self.total - self.skipped - self.done

    @property
    def rate(self) -> float:
        """Runs finished by this batch per second so far."""
        return self.done / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def failed_total(self) -> int:
        """Runs of the whole batch recorded as failed (this time or before)."""
        return self.failed + self.skipped_failed


def chunked(plans: Sequence[RunPlan], options: BatchOptions) -> list[list[RunPlan]]:
    """Split plans into tasks of ``options.chunk_size`` runs (or an automatic size)."""
    size = options.chunk_size or max(1, min(MAX_AUTO_CHUNK, math.ceil(
        len(plans) / (TASKS_PER_WORKER * options.parallelism))))
    return [list(plans[i:i + size]) for i in range(0, len(plans), size)]


def check_backend(options: BatchOptions) -> None:
    """Fail early, before anything is written, when the backend cannot be used.

    For the Ray backend with an address this joins the cluster (the batch then uses that
    connection).

    Raises:
        SandboxError: Ray is not installed.
        ConfigError: the Ray address does not answer within ``connect_timeout_s``, or no
            Ray cluster answers there.
    """
    if options.backend != "ray":
        return
    from sandbox.batch.ray_backend import import_ray, join_cluster

    ray = import_ray()
    if options.address and not ray.is_initialized():
        join_cluster(options.address, connect_timeout_s=options.connect_timeout_s)


def open_backend(options: BatchOptions, out: str):
    """A started pool of the chosen backend (``submit``, ``events``, ``close``)."""
    if options.backend == "local":
        from sandbox.batch.local import LocalPool

        return LocalPool(out, workers=options.parallelism)
    from sandbox.batch.ray_backend import RayPool

    return RayPool(out, workers=options.parallelism, address=options.address,
                   connect_timeout_s=options.connect_timeout_s)


def plans_to_run(plans: Sequence[RunPlan], out: str | Path, *, options: BatchOptions,
                 ) -> tuple[list[RunPlan], BatchProgress]:
    """The plans not finished in ``out`` yet, and the counts of those skipped.

    Raises:
        ConfigError: two plans share a run id (the same run listed twice).
    """
    ids = [p.run_id for p in plans]
    if len(set(ids)) != len(ids):
        twice = next(i for i in ids if ids.count(i) > 1)
        raise ConfigError("runs", twice, "distinct runs (this run is listed twice)")
    finished = finished_run_ids(out) & set(ids)
    failed = failed_run_ids(out) & finished if finished else set()
    if options.retry_failed:
        finished -= failed
        failed = set()
    todo = [p for p in plans if p.run_id not in finished]
    progress = BatchProgress(total=len(plans), skipped=len(finished),
                             skipped_failed=len(failed))
    return todo, progress


def run_batch(plans: Sequence[RunPlan], out: str | Path, *, options: BatchOptions,
              on_progress: Callable[[BatchProgress], None] | None = None) -> BatchProgress:
    """Run every plan not already finished in ``out``.

    Args:
        plans: the runs of the batch (ids must be unique).
        out: the results folder (prepared with :func:`sandbox.batch.store.prepare_folder`).
        options: backend, workers, chunking and retries.
        on_progress: called with the current counts after every event.

    Returns:
        The final counts.
    """
    out = str(Path(out).resolve())
    clean_temporary(out)
    todo, progress = plans_to_run(plans, out, options=options)
    notify = on_progress or (lambda progress: None)
    notify(progress)
    if todo:
        pool = open_backend(options, out)
        finished_cleanly = False
        try:
            _drive(pool, chunked(todo, options), out, options, progress, notify)
            finished_cleanly = True
        finally:
            pool.close(kill=not finished_cleanly)
    progress.elapsed_s = time.perf_counter() - progress.started
    notify(progress)
    return progress


def _drive(pool, chunks, out: str, options: BatchOptions, progress: BatchProgress,
           notify) -> None:
    """Submit every chunk, count what finishes, retry what a dead worker lost."""
    tasks: dict[int, list[RunPlan]] = {}
    open_runs: dict[int, set[str]] = {}
    keys = itertools.count()
    attempts: dict[str, int] = {}

    def submit(chunk: list[RunPlan]) -> None:
        key = next(keys)
        tasks[key], open_runs[key] = chunk, {p.run_id for p in chunk}
        pool.submit(key, chunk)

    for chunk in chunks:
        submit(chunk)
    for event in pool.events():
        _count(event.finished, open_runs[event.key], progress)
        if event.complete:
            unreported = open_runs.pop(event.key)
            left = [p for p in tasks.pop(event.key) if p.run_id in unreported]
            for plan in _lost_runs(left, event, out, progress, attempts, options):
                submit([plan])  # alone, so that a run that kills its worker harms no other
        progress.elapsed_s = time.perf_counter() - progress.started
        notify(progress)


def _count(finished: list[tuple[str, str]], open_ids: set[str], progress: BatchProgress):
    for run_id, status in finished:
        if run_id in open_ids:
            open_ids.discard(run_id)
            progress.done += 1
            progress.failed += status != "ok"


def _lost_runs(left: list[RunPlan], event: TaskEvent, out: str, progress: BatchProgress,
               attempts: dict[str, int], options: BatchOptions) -> list[RunPlan]:
    """Runs a lost task did not report: count those on disk, fail or return the rest."""
    retry = []
    for plan in left:
        status = run_status(out, plan.run_id)  # finished, but the report was lost
        if status is not None:
            _count([(plan.run_id, status)], {plan.run_id}, progress)
            continue
        attempts[plan.run_id] = attempts.get(plan.run_id, 0) + 1
        if attempts[plan.run_id] <= options.retries:
            progress.retried += 1
            retry.append(plan)
            continue
        reason = event.lost or "the task ended without reporting this run"
        error = f"WorkerDied: {reason}; tried {attempts[plan.run_id]} times"
        try:
            write_run(out, _failed(plan, error))
        except OSError as exc:
            raise SandboxError(f"cannot write to the results folder {out} ({exc}); the runs "
                               "finished so far are saved") from None
        _count([(plan.run_id, "failed")], {plan.run_id}, progress)
    return retry


def _failed(plan: RunPlan, error: str) -> RunResult:
    return RunResult(plan=plan, status="failed", error=error, started_at=time.time(),
                     versions=software_versions())
