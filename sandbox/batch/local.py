"""The local backend: worker processes on this machine, each running one task at a time.

Each worker is a process forked from a fork server that has imported the library once
(``spawn`` where fork is unavailable). It talks to the driver over its own pipe: it
receives a task (a key and a chunk of runs), reports every run as soon as its file is
written, then reports the task complete. The driver watches every worker's process
handle, so a worker that dies (killed, out of memory, a crash in native code) is noticed
at once: its task is reported lost with the runs it had not finished, and a fresh worker
takes its place for the tasks still queued.

Workers ignore SIGINT (Ctrl-C in a terminal reaches the whole process group): the
driver decides, and kills them on its way out. A worker also watches its driver (the
parent sentinel multiprocessing gives it) and exits at once when the driver is gone, so
a driver killed with SIGKILL leaves no worker running; on Linux it also dies with the
fork server (``PR_SET_PDEATHSIG``), and the fork server exits once no worker is left.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import types
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import connection, get_context
from typing import Any

from sandbox.batch.tasks import TaskEvent, run_plans
from sandbox.core.errors import SandboxError
from sandbox.scenario.run import RunPlan

#: prctl option asking the kernel to signal this process when its parent dies (Linux).
_PR_SET_PDEATHSIG = 1
#: Seconds a worker gets to exit after being asked to, before it is killed.
_EXIT_GRACE_S = 5.0
#: Workers in a row that die before they start: the environment is broken.
_MAX_STARTUP_DEATHS = 3


def worker_context():
    """Start method of the workers: ``forkserver`` with the library preloaded, or ``spawn``.

    The fork server imports torch and every registered world once; each worker is then
    forked from it in milliseconds instead of importing everything again. The server
    never runs torch code, so no thread pool is copied mid-use.
    """
    try:
        context = get_context("forkserver")
    except ValueError:  # platforms without fork
        return get_context("spawn")
    context.set_forkserver_preload(["sandbox.batch.preload"])
    return context


@contextmanager
def _bare_main() -> Iterator[None]:
    """Start a worker without re-running the driver's ``__main__`` script in it.

    multiprocessing runs the parent's main file again in every new process. Workers need
    only this module; and a driver inside Streamlit has a page script as ``__main__``,
    which must not run again (without its server) in a worker.
    """
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


def warm_up() -> None:
    """Start the fork server now, so that its imports overlap the driver's own work."""
    if worker_context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def _die_with_parent() -> None:
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _exit_with_driver() -> None:
    """Watch the driver from a daemon thread; end this worker at once when it is gone."""
    driver = multiprocessing.parent_process()
    if driver is None:
        return

    def watch() -> None:
        connection.wait([driver.sentinel])
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="driver-watch").start()


def _worker_main(conn, out: str) -> None:
    """Body of a worker process: run tasks from ``conn`` until told to stop."""
    _die_with_parent()
    _exit_with_driver()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import torch

    torch.set_num_threads(1)
    conn.send((None, None, "ready"))
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
    started: bool = False


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
        self._context = worker_context()
        self._queue: deque[tuple[int, list[RunPlan]]] = deque()
        self._workers: list[_Worker] = []
        self._startup_deaths = 0

    def submit(self, key: int, plans: Sequence[RunPlan]) -> None:
        """Queue a task; it starts as soon as a worker is free."""
        self._queue.append((key, list(plans)))

    def _start_worker(self) -> _Worker:
        parent, child = self._context.Pipe()
        process = self._context.Process(target=_worker_main, daemon=True,
                                        args=(child, self.out))
        with _bare_main():
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
                worker.started, self._startup_deaths = True, 0
                if key is None:  # the worker's greeting: it started
                    continue
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
        if worker.key is None:
            return
        reason = (f"worker process {worker.process.pid} died "
                  f"({describe_exit(worker.process.exitcode)})")
        if not worker.started:
            self._startup_deaths += 1
            if self._startup_deaths >= _MAX_STARTUP_DEATHS:
                raise SandboxError(f"{_MAX_STARTUP_DEATHS} worker processes in a row died "
                                   f"while starting, the last: {reason}; the runs "
                                   "finished so far are saved")
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
