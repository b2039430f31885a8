"""Running many runs: a local process pool by default, Ray when one machine is outgrown.

Runs are grouped into chunks (one task each) so that the batch layer's overhead per
run stays small; each worker writes every run's Parquet file itself, atomically, as
soon as it finishes, so a run that completed is never lost, whatever happens to the
driver afterwards. Runs whose files already exist are skipped, so the same command
started again after Ctrl-C, a killed driver or a killed worker finishes what is left.
"""

from __future__ import annotations

import math
import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

from sandbox.batch.store import finished_run_ids, write_run
from sandbox.core.errors import ConfigError, SandboxError
from sandbox.scenario.run import RunPlan, execute_run

BACKENDS = ("local", "ray")


@dataclass(frozen=True)
class BatchOptions:
    """How a batch runs.

    Attributes:
        backend: ``"local"`` (a process pool) or ``"ray"``.
        workers: parallel processes (local) or CPUs of a local Ray instance; None = cores.
        address: address of a running Ray cluster (``host:port``); None starts a local one.
        chunk_size: runs per task; None picks about 4 tasks per worker, at most 256 runs.
        retries: times a task is resubmitted after its worker process died.
        connect_timeout_s: seconds to wait for a Ray address to answer.
    """

    backend: str = "local"
    workers: int | None = None
    address: str | None = None
    chunk_size: int | None = None
    retries: int = 2
    connect_timeout_s: float = 10.0

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise ConfigError("--backend", self.backend, f"one of {', '.join(BACKENDS)}")
        if self.workers is not None and self.workers < 1:
            raise ConfigError("--workers", self.workers, "an integer >= 1")
        if self.chunk_size is not None and self.chunk_size < 1:
            raise ConfigError("chunk_size", self.chunk_size, "an integer >= 1")

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
        done: runs finished by this batch (successful or failed).
        failed: runs of this batch that recorded an error.
        started: ``time.perf_counter()`` at the start.
    """

    total: int
    skipped: int = 0
    done: int = 0
    failed: int = 0
    started: float = field(default_factory=time.perf_counter)

    @property
    def remaining(self) -> int:
        """Runs still to do."""
        return self.total - self.skipped - self.done

    @property
    def rate(self) -> float:
        """Runs per second so far."""
        elapsed = time.perf_counter() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0


def run_chunk(plans: Sequence[RunPlan], out: str) -> list[tuple[str, str]]:
    """Execute and store every plan of a chunk; returns ``(run_id, status)`` pairs."""
    import torch

    torch.set_num_threads(1)
    statuses = []
    for plan in plans:
        result = execute_run(plan)
        write_run(out, result)
        statuses.append((plan.run_id, result.status))
    return statuses


def chunked(plans: Sequence[RunPlan], options: BatchOptions) -> list[list[RunPlan]]:
    """Split plans into tasks of ``options.chunk_size`` (or an automatic size)."""
    size = options.chunk_size or max(1, min(256, math.ceil(len(plans) /
                                                          (4 * options.parallelism))))
    return [list(plans[i:i + size]) for i in range(0, len(plans), size)]


def run_batch(plans: Sequence[RunPlan], out: str | Path, *, options: BatchOptions,
              on_progress: Callable[[BatchProgress], None] | None = None) -> BatchProgress:
    """Run every plan not already finished in ``out``.

    Args:
        plans: the runs of the batch (ids must be unique).
        out: the results folder (prepared with :func:`sandbox.batch.store.prepare_folder`).
        options: backend, workers and chunking.
        on_progress: called after every finished task with the current counts.

    Returns:
        The final counts.
    """
    finished = finished_run_ids(out)
    todo = [p for p in plans if p.run_id not in finished]
    progress = BatchProgress(total=len(plans), skipped=len(plans) - len(todo))
    if on_progress:
        on_progress(progress)
    if not todo:
        return progress
    run = _run_local if options.backend == "local" else _run_ray
    for statuses in run(chunked(todo, options), str(out), options):
        progress.done += len(statuses)
        progress.failed += sum(status != "ok" for _, status in statuses)
        if on_progress:
            on_progress(progress)
    return progress


def _worker_context(attempt: int = 0):
    """Workers forked from a clean server process that has imported the library once.

    ``forkserver`` is fast (no per-worker import of torch) and safe (the server never ran
    torch code, so no thread pool is copied mid-use). ``spawn`` where it is unavailable,
    and after a failure (the server itself may be what died).
    """
    if attempt > 0:
        return get_context("spawn")
    try:
        context = get_context("forkserver")
    except ValueError:
        return get_context("spawn")
    context.set_forkserver_preload(["sandbox.batch.runner", "sandbox.core.registry"])
    return context


def _run_local(chunks, out: str, options: BatchOptions) -> Iterator[list[tuple[str, str]]]:
    pending = list(chunks)
    attempts = 0
    while pending:
        workers = min(options.parallelism, len(pending))
        executor = ProcessPoolExecutor(workers, mp_context=_worker_context(attempts))
        futures = {}
        try:
            futures = {executor.submit(run_chunk, chunk, out): chunk for chunk in pending}
            while futures:
                done, _ = wait(futures, return_when=FIRST_COMPLETED)
                for future in done:
                    chunk = futures.pop(future)
                    yield future.result()
                    pending.remove(chunk)
        except KeyboardInterrupt:
            # Ctrl-C: stop the workers now; finished runs are on disk, the rest is redone
            # by the same command later (a run cut mid-write leaves only a *.tmp file).
            for process in list(getattr(executor, "_processes", {}).values()):
                process.terminate()
            raise
        except (BrokenProcessPool, EOFError):
            # A worker (or the fork server) died: killed, out of memory. Runs it finished
            # are on disk; redo the rest of its chunks in a fresh pool.
            attempts += 1
            if attempts > options.retries:
                raise SandboxError("worker processes died repeatedly; the runs finished so "
                                   "far are saved, run the same command again") from None
            written = finished_run_ids(out)
            pending = [[p for p in c if p.run_id not in written] for c in pending]
            pending = [c for c in pending if c]
        finally:
            executor.shutdown(wait=False, cancel_futures=True)


def check_backend(options: BatchOptions) -> None:
    """Fail early, before anything is written, when the backend cannot be used."""
    if options.backend != "ray":
        return
    try:
        import ray  # noqa: F401
    except ImportError:
        raise SandboxError("the ray backend needs Ray: pip install 'policy-sandbox[ray]'"
                           ) from None
    if options.address:
        _check_address(options.address, options.connect_timeout_s)


def _check_address(address: str, timeout: float) -> None:
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
            return
    except (OSError, ValueError) as exc:
        raise ConfigError("--address", address,
                          f"a Ray cluster that answers within {timeout:g} s ({exc})") from None


def _run_ray(chunks, out: str, options: BatchOptions) -> Iterator[list[tuple[str, str]]]:
    try:
        import ray
    except ImportError:
        raise SandboxError("the ray backend needs Ray: pip install 'policy-sandbox[ray]'"
                           ) from None
    started_here = False
    if not ray.is_initialized():
        if options.address:
            _check_address(options.address, options.connect_timeout_s)
            ray.init(address=options.address, log_to_driver=False)
        else:
            ray.init(num_cpus=options.parallelism, include_dashboard=False,
                     log_to_driver=False, configure_logging=False)
        started_here = True
    try:
        task = ray.remote(num_cpus=1, max_retries=options.retries)(run_chunk)
        refs = [task.remote(chunk, out) for chunk in chunks]
        while refs:
            done, refs = ray.wait(refs, num_returns=1)
            yield ray.get(done[0])
    finally:
        if started_here:
            ray.shutdown()
