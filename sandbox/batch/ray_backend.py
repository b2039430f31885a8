"""The Ray backend: the same tasks as the local backend, run as Ray tasks.

With an address the driver joins a running Ray cluster (``ray start --head`` on one
machine, ``ray start --address`` on the others; every node needs this package installed
and the results folder mounted at the same path). Without one it starts a private local
Ray instance for the batch and stops it at the end. The address is checked with a plain
TCP connection first, so an address that does not answer fails within
``connect_timeout_s`` seconds, before anything is written; an address where something
else listens fails after ``JOIN_TIMEOUT_S`` more.

Ray's own task retries are off (``max_retries=0``): a task whose worker dies is reported
lost, and the driver retries its unfinished runs like the local backend's (one run per
task, a bounded number of times).
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator, Sequence

from sandbox.batch.tasks import TaskEvent, run_chunk
from sandbox.core.errors import ConfigError, SandboxError
from sandbox.scenario.run import RunPlan

#: Default port of a Ray cluster's head node (GCS), used when an address has no port.
DEFAULT_RAY_PORT = 6379
#: Seconds ``ray.init`` may take to join a cluster whose address accepted a connection.
JOIN_TIMEOUT_S = 60.0
#: ``ray.init`` options: Ray's own logs only for errors, workers' output not forwarded.
_QUIET = {"log_to_driver": False, "logging_level": logging.ERROR}


def import_ray():
    """The ``ray`` module, or a SandboxError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise SandboxError("the ray backend needs Ray: pip install 'policy-sandbox[ray]' "
                           "(or use --backend local)") from None
    return ray


def check_address(address: str, *, timeout: float) -> None:
    """Fail unless something accepts TCP connections at ``address`` within ``timeout`` s.

    Raises:
        ConfigError: naming ``--address``: malformed, or no answer in time.
    """
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host:
        host, port = port, str(DEFAULT_RAY_PORT)
    if not port.isdigit():
        raise ConfigError("--address", address, "host:port of a Ray cluster's head node")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError("--address", address, f"a Ray cluster that answers within "
                          f"{timeout:g} s (connecting failed: {reason})") from None


def join_cluster(address: str, *, connect_timeout_s: float) -> None:
    """Connect this process to the Ray cluster at ``address`` (``ray.init``).

    Raises:
        ConfigError: naming ``--address``: nothing answers within ``connect_timeout_s``,
            or no Ray cluster answers within ``JOIN_TIMEOUT_S`` more (``ray.init`` alone
            would wait much longer).
    """
    ray = import_ray()
    check_address(address, timeout=connect_timeout_s)
    timeout = connect_timeout_s + JOIN_TIMEOUT_S
    outcome: dict = {}

    def join() -> None:
        try:
            ray.init(address=address, **_QUIET)
            outcome["joined"] = True
        except Exception as exc:  # noqa: BLE001  (reported below, in the driver's thread)
            outcome["error"] = exc

    thread = threading.Thread(target=join, daemon=True, name="ray-init")
    thread.start()
    thread.join(timeout)
    if "joined" in outcome:
        return
    reason = (f"joining failed: {outcome['error']}" if "error" in outcome else
              "something listens there, but no Ray cluster answered")
    raise ConfigError("--address", address, f"a Ray cluster that answers within "
                      f"{timeout:g} s ({reason})")


class RayPool:
    """Tasks run as Ray tasks, on a cluster or a local instance started here.

    Args:
        out: the results folder (the same path on every node).
        workers: CPUs of the local instance (ignored when joining a cluster).
        address: ``host:port`` of a running cluster, or None for a local instance.
        connect_timeout_s: seconds to wait for ``address`` to answer.
    """

    def __init__(self, out: str, *, workers: int, address: str | None,
                 connect_timeout_s: float):
        ray = self._ray = import_ray()
        self.out = out
        self._started_here = not ray.is_initialized()
        if self._started_here:
            if address:
                join_cluster(address, connect_timeout_s=connect_timeout_s)
            else:
                ray.init(num_cpus=workers, include_dashboard=False, **_QUIET)
        self._task = ray.remote(num_cpus=1, max_retries=0)(run_chunk)
        self._refs: dict = {}

    def submit(self, key: int, plans: Sequence[RunPlan]) -> None:
        """Start a task on the cluster."""
        self._refs[self._task.remote(list(plans), self.out)] = key

    def events(self) -> Iterator[TaskEvent]:
        """One event per task as it completes (or fails), until none is running."""
        ray = self._ray
        while self._refs:
            done, _ = ray.wait(list(self._refs), num_returns=1)
            key = self._refs.pop(done[0])
            try:
                statuses = ray.get(done[0])
            except ray.exceptions.RayError as exc:
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                yield TaskEvent(key, complete=True,
                                lost=f"Ray task failed ({type(exc).__name__}: {reason})")
            else:
                yield TaskEvent(key, [tuple(s) for s in statuses], complete=True)

    def close(self, *, kill: bool = False) -> None:
        """Cancel running tasks when ``kill``; stop the local instance if started here."""
        ray = self._ray
        if kill:
            for ref in self._refs:
                try:
                    ray.cancel(ref, force=True)
                except Exception:  # noqa: BLE001  (best effort on the way out)
                    pass
        self._refs.clear()
        if self._started_here:
            ray.shutdown()
