"""The local backend: worker processes on this machine, each running one task at a time.

Each worker is a fresh (``spawn``) Python process that talks to the driver over its own
pipe: it receives a task (a key and a chunk of runs), reports every run as soon as its
file is written, then reports the task complete. The driver watches every worker's
process handle, so a worker that dies (killed, out of memory, a crash in native code)
is noticed at once: its task is reported lost with the runs it had not finished, and a
fresh worker takes its place for the tasks still queued.

Workers ignore SIGINT (Ctrl-C in a terminal reaches the whole process group): the
driver decides, and kills them on its way out. On Linux a worker also dies with its
driver (``PR_SET_PDEATHSIG``), so a driver killed with SIGKILL leaves no orphans behind.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from multiprocessing import connection, get_context
from typing import Any

from sandbox.batch.tasks import TaskEvent, run_plans
from sandbox.scenario.run import RunPlan

#: prctl option asking the kernel to signal this process when its parent dies (Linux).
_PR_SET_PDEATHSIG = 1
#: Seconds a worker gets to exit after being asked to, before it is killed.
_EXIT_GRACE_S = 5.0


def _die_with_parent(parent_pid: int) -> None:
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the driver died before prctl took effect
        os._exit(1)


def _worker_main(conn, out: str, parent_pid: int) -> None:
    """Body of a worker process: run tasks from ``conn`` until told to stop."""
    _die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import torch

    torch.set_num_threads(1)
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        key, plans = message
        run_plans(plans, out, lambda run_id, status, key=key: conn.send((key, run_id, status)))
        conn.send((key, None, None))


@dataclass
class _Worker:
    process: Any
    conn: Any
    key: int | None = None


def describe_exit(exitcode: int | None) -> str:
    """A dead process's exit code in words (``killed by SIGKILL``, ``exit status 1``)."""
    if exitcode is None:
        return "still running"
    if exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit status {exitcode}"


class LocalPool:
    """Worker processes on this machine running submitted tasks.

    Args:
        out: the results folder the workers write to.
        workers: the most worker processes alive at once.
    """

    def __init__(self, out: str, *, workers: int):
        self.out = out
        self.max_workers = workers
        self._context = get_context("spawn")
        self._queue: deque[tuple[int, list[RunPlan]]] = deque()
        self._workers: list[_Worker] = []

    def submit(self, key: int, plans: Sequence[RunPlan]) -> None:
        """Queue a task; it starts as soon as a worker is free."""
        self._queue.append((key, list(plans)))

    def _start_worker(self) -> _Worker:
        parent, child = self._context.Pipe()
        process = self._context.Process(target=_worker_main, daemon=True,
                                        args=(child, self.out, os.getpid()))
        process.start()
        child.close()
        worker = _Worker(process, parent)
        self._workers.append(worker)
        return worker

    def _dispatch(self) -> None:
        idle = [w for w in self._workers if w.key is None]
        while self._queue and len(self._workers) < self.max_workers and \
                len(idle) < len(self._queue):
            idle.append(self._start_worker())
        while self._queue and idle:
            worker = idle.pop()
            key, plans = self._queue.popleft()
            worker.key = key
            try:
                worker.conn.send((key, plans))
            except OSError:
                pass  # the worker died meanwhile; its sentinel reports the task lost

    def events(self) -> Iterator[TaskEvent]:
        """Events of the submitted tasks until none is queued or running.

        Tasks may be submitted while iterating (a lost task's runs, retried).
        """
        while self._queue or any(w.key is not None for w in self._workers):
            self._dispatch()
            waitables = [w.conn for w in self._workers if w.key is not None]
            waitables += [w.process.sentinel for w in self._workers]
            ready = set(connection.wait(waitables, timeout=1.0))
            for worker in list(self._workers):
                if worker.conn in ready or worker.process.sentinel in ready:
                    yield from self._drain(worker)

    def _drain(self, worker: _Worker) -> Iterator[TaskEvent]:
        """Events waiting on a worker's pipe; a dead worker's task is reported lost."""
        try:
            while worker.conn.poll():
                key, run_id, status = worker.conn.recv()
                if run_id is None:
                    worker.key = None
                    yield TaskEvent(key, complete=True)
                else:
                    yield TaskEvent(key, [(run_id, status)])
        except (EOFError, OSError):
            pass
        if worker.process.is_alive():
            return
        worker.process.join()
        self._workers.remove(worker)
        worker.conn.close()
        if worker.key is not None:
            reason = (f"worker process {worker.process.pid} died "
                      f"({describe_exit(worker.process.exitcode)})")
            yield TaskEvent(worker.key, complete=True, lost=reason)

    def close(self, *, kill: bool = False) -> None:
        """Stop every worker: ask them to exit, or kill them at once when ``kill``."""
        for worker in self._workers:
            if kill:
                worker.process.kill()
            else:
                try:
                    worker.conn.send(None)
                except OSError:
                    pass
        for worker in self._workers:
            worker.process.join(timeout=_EXIT_GRACE_S)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()
        self._workers.clear()
        self._queue.clear()
