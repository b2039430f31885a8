"""Background training runs: start, watch, stop and resume ``sandbox train`` in its own process.

A run lives in one folder (``<runs folder>/<name>/``) holding the resolved scenario
(``scenario.json``), the process record (``process.json``), the training log
(``log.csv``), checkpoints (``checkpoints/update_*.pt``), the final policies
(``planner.pt``, ``workers.pt``), the process output (``output.txt``) and, once the
process has ended, its outcome (``status.json``). Training runs in a separate Python
process (``python -m sandbox.scenario.training_runs FOLDER``), so whoever started it (the
app, a notebook) stays responsive while it runs, and stopping it is a signal: the
process ends at once and the checkpoints, written atomically, stay whole. Resuming
starts a new process from the latest checkpoint; the log keeps the rows up to that
checkpoint and goes on from there, exactly as an uninterrupted run would.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from sandbox.core.errors import ConfigError, SandboxError
from sandbox.core.seeding import derive_seed
from sandbox.scenario.build import build_world
from sandbox.scenario.spec import ScenarioSpec, parse_scenario
from sandbox.scenario.train import train_scenario, training_config

#: Default folder of the app's training runs (relative to the working folder).
RUNS_FOLDER = Path("results") / "app" / "training"
#: Settings of a scenario's ``train:`` section that :func:`training_spec` may override.
TRAIN_SETTINGS = ("seed", "phase1_updates", "phase2_updates", "checkpoint_every")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class TrainingStopped(BaseException):
    """Raised in the training process when it is asked to stop (SIGTERM)."""


@dataclass(frozen=True)
class TrainingRunStatus:
    """Where a training run stands.

    Attributes:
        folder: the run's folder.
        state: ``"running"``, ``"finished"``, ``"stopped"``, ``"failed"`` or ``"new"``.
        update: updates logged so far.
        total: updates the curriculum plans.
        checkpoint: the latest training checkpoint (None before the first).
        planner: the trained planner (``planner.pt``) once the run finished, else None.
        error: why the run failed, or None.
    """

    folder: Path
    state: str
    update: int
    total: int
    checkpoint: Path | None
    planner: Path | None
    error: str | None

    @property
    def fraction(self) -> float:
        """Share of the planned updates done, in [0, 1]."""
        return min(1.0, self.update / self.total) if self.total else 0.0


@dataclass(frozen=True)
class PlannerChoice:
    """A planner checkpoint that a page may offer.

    Attributes:
        path: the policy checkpoint file (``{policy: checkpoint, params: {path: ...}}``).
        run: the training run's name.
        update: updates trained when it was written.
        final: True for the run's final planner, False for one exported mid-run.
    """

    path: Path
    run: str
    update: int
    final: bool

    @property
    def label(self) -> str:
        """A short description, e.g. ``"tiny: final planner (update 2)"``."""
        kind = "final planner" if self.final else "planner"
        return f"{self.run}: {kind} (update {self.update})"


def run_folder(runs_folder: str | Path, name: str) -> Path:
    """The folder of run ``name`` inside ``runs_folder``.

    Raises:
        ConfigError: ``name`` is not a plain folder name (letters, digits, ``-_.``).
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigError("run name", name, "1-64 letters, digits, '-', '_' or '.', starting "
                          "with a letter or digit (a folder inside the runs folder)")
    return Path(runs_folder) / name


def free_run_name(runs_folder: str | Path, base: str) -> str:
    """``base``, or ``base-2``, ``base-3``... whichever names no run in ``runs_folder`` yet."""
    base = re.sub(r"[^A-Za-z0-9_.-]", "-", base).lstrip("-_.")[:56] or "run"
    name, number = base, 1
    while (Path(runs_folder) / name).exists():
        number += 1
        name = f"{base}-{number}"
    return name


def training_spec(spec: ScenarioSpec, *, num_envs: int | None = None, **train) -> ScenarioSpec:
    """``spec`` with ``world.num_envs`` and settings of its ``train:`` section replaced.

    Args:
        spec: a scenario with a ``train:`` section.
        num_envs: environments simulated together (None keeps the file's).
        **train: any of :data:`TRAIN_SETTINGS` (None keeps the file's).

    Raises:
        ConfigError: the section is missing or a setting is invalid (named).
    """
    unknown = sorted(set(train) - set(TRAIN_SETTINGS))
    if unknown:
        raise ConfigError("train", unknown, f"settings among {list(TRAIN_SETTINGS)}")
    data = spec.model_dump(mode="json")
    if data.get("train") is None:
        training_config(spec)  # raises the error naming the missing section
    if num_envs is not None:
        data["world"]["num_envs"] = num_envs
    data["train"].update({k: v for k, v in train.items() if v is not None})
    resolved = parse_scenario(data, source=spec.name)
    training_config(resolved)
    return resolved


def start_training(spec: ScenarioSpec, folder: str | Path, *,
                   resume: str | Path | None = None) -> TrainingRunStatus:
    """Start training ``spec`` in a new process writing into ``folder``.

    Args:
        spec: a scenario with a ``train:`` section (validated here, before anything is
            written).
        folder: the run's folder; it must not hold a run already unless ``resume`` is
            given (use :func:`resume_training`).
        resume: a checkpoint of this run to continue from.

    Raises:
        ConfigError: invalid settings, or the folder already holds a run (or one running).
    """
    training_config(spec)
    folder = Path(folder)
    if is_running(folder):
        raise ConfigError("run name", folder.name, "a run that is not running now "
                          "(stop it first)")
    if resume is None and (folder / "log.csv").exists():
        raise ConfigError("run name", folder.name, "a name not used yet (or resume that run)")
    folder.mkdir(parents=True, exist_ok=True)
    _write_json(folder / "scenario.json", spec.model_dump(mode="json"))
    (folder / "status.json").unlink(missing_ok=True)
    (folder / "stop_requested").unlink(missing_ok=True)
    command = [sys.executable, "-m", "sandbox.scenario.training_runs", str(folder.resolve())]
    if resume is not None:
        command += ["--resume", str(Path(resume).resolve())]
    with (folder / "output.txt").open("ab") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    _write_json(folder / "process.json", {"pid": process.pid, "started": time.time(),
                                          "resume": None if resume is None else str(resume)})
    return training_status(folder)


def resume_training(folder: str | Path) -> TrainingRunStatus:
    """Continue a stopped (or failed) run from its latest checkpoint, in a new process.

    Raises:
        ConfigError: the run is running, finished, or has no checkpoint yet.
    """
    status = training_status(folder)
    if status.state == "running":
        raise ConfigError("run name", status.folder.name, "a run that is not running now")
    if status.state == "finished":
        raise ConfigError("run name", status.folder.name, "a run that has not finished "
                          "(this one has trained all its updates)")
    if status.checkpoint is None:
        raise ConfigError("run name", status.folder.name, "a run with a checkpoint to resume "
                          "from (none was written before it stopped; start it again)")
    return start_training(run_spec(folder), folder, resume=status.checkpoint)


def stop_training(folder: str | Path, *, timeout: float = 20.0) -> TrainingRunStatus:
    """Stop a running run (SIGTERM, then SIGKILL after ``timeout`` seconds); its status."""
    folder = Path(folder)
    pid = _pid(folder)
    if pid is not None and _alive(pid):
        (folder / "stop_requested").touch()
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.05)
    return training_status(folder)


def is_running(folder: str | Path) -> bool:
    """Whether the run's training process is alive."""
    pid = _pid(Path(folder))
    return pid is not None and _alive(pid)


def training_status(folder: str | Path) -> TrainingRunStatus:
    """Where the run in ``folder`` stands (read from its files and its process)."""
    folder = Path(folder)
    rows = read_training_log(folder)
    update = int(rows[-1]["update"]) if rows else 0
    total = 0
    if (folder / "scenario.json").is_file():
        total = training_config(run_spec(folder))[0].total_updates
    checkpoints = sorted((folder / "checkpoints").glob("update_*.pt"))
    planner = folder / "planner.pt"
    outcome = _read_json(folder / "status.json")
    error = None
    if is_running(folder):
        state = "running"
    elif outcome:
        state, error = outcome.get("state", "failed"), outcome.get("error")
    elif (folder / "process.json").is_file():
        stopped = (folder / "stop_requested").is_file()
        state = "stopped" if stopped else "failed"
        error = None if stopped else "the training process ended without saying why; see " \
                                     "output.txt in the run's folder"
    else:
        state = "new"
    return TrainingRunStatus(folder, state, update, total,
                             checkpoints[-1] if checkpoints else None,
                             planner if state == "finished" and planner.is_file() else None,
                             error)


def read_training_log(folder: str | Path) -> list[dict]:
    """The rows of the run's ``log.csv`` so far, numbers as floats (empty cells dropped)."""
    path = Path(folder) / "log.csv"
    if not path.is_file():
        return []
    rows = []
    with path.open(newline="") as stream:
        for raw in csv.DictReader(stream):
            row = {}
            for key, value in raw.items():
                if key is None or value in ("", None):
                    continue
                try:
                    row[key] = float(value)
                except ValueError:
                    row[key] = value
            if "update" in row:
                rows.append(row)
    return rows


def run_spec(folder: str | Path) -> ScenarioSpec:
    """The resolved scenario a run trains."""
    path = Path(folder) / "scenario.json"
    data = _read_json(path)
    if data is None:
        raise ConfigError("run folder", str(folder), "a training run's folder (with scenario.json)")
    return parse_scenario(data, source=str(path))


def list_runs(runs_folder: str | Path) -> list[str]:
    """Names of the training runs in ``runs_folder``, newest first."""
    root = Path(runs_folder)
    if not root.is_dir():
        return []
    runs = [p for p in root.iterdir() if (p / "scenario.json").is_file()]
    return [p.name for p in sorted(runs, key=lambda p: p.stat().st_mtime, reverse=True)]


def export_planner(folder: str | Path, checkpoint: str | Path | None = None) -> Path:
    """Write the planner of a training checkpoint as a policy checkpoint; its path.

    The file (``planners/update_<n>.pt`` in the run's folder) loads as
    ``{policy: checkpoint, params: {path: ...}}``, like the final ``planner.pt``.

    Args:
        folder: the run's folder.
        checkpoint: a training checkpoint of the run (default: the latest).
    """
    from sandbox.solvers.two_level import TwoLevel

    folder = Path(folder)
    spec = run_spec(folder)
    checkpoint = checkpoint or training_status(folder).checkpoint
    if checkpoint is None:
        raise ConfigError("checkpoint", None, "a run with at least one checkpoint")
    config, seed = training_config(spec)
    world = build_world(spec.world, seed=derive_seed(seed, "world"))
    trainer = TwoLevel(world, config, seed=derive_seed(seed, "solver"), out_dir=None)
    trainer.load_checkpoint(checkpoint)
    target = folder / "planners" / f"update_{trainer.update:06d}.pt"
    trainer.planner.policy.save(target, extra={"world": type(world).__name__,
                                               "update": trainer.update})
    return target


def list_planners(runs_folder: str | Path) -> list[PlannerChoice]:
    """Planner checkpoints of the runs in ``runs_folder``: final ones, then exported ones."""
    choices = []
    for name in list_runs(runs_folder):
        folder = Path(runs_folder) / name
        status = training_status(folder)
        if status.planner is not None:
            choices.append(PlannerChoice(status.planner, name, status.update, True))
        for path in sorted((folder / "planners").glob("update_*.pt"), reverse=True):
            choices.append(PlannerChoice(path, name, int(path.stem.split("_")[1]), False))
    return choices


# --------------------------------------------------------------------------- helpers
def _pid(folder: Path) -> int | None:
    record = _read_json(folder / "process.json")
    return int(record["pid"]) if record and "pid" in record else None


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (reaping it first when it is our finished child)."""
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)
        if finished == pid:
            return False
    except ChildProcessError:
        pass  # not our child: ask the system
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _write_json(path: Path, data: dict) -> None:
    """Write ``data`` to ``path`` atomically (temporary file, then rename)."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(handle, "w") as stream:
        json.dump(data, stream, indent=1)
    os.replace(temporary, path)


def _stop(signum, frame):
    raise TrainingStopped


def main(argv: list[str] | None = None) -> int:
    """Entry point of the training process: train, then record the outcome in status.json."""
    import torch

    parser = argparse.ArgumentParser(description="one background training run")
    parser.add_argument("folder")
    parser.add_argument("--resume")
    args = parser.parse_args(argv)
    folder = Path(args.folder)
    torch.set_num_threads(1)
    signal.signal(signal.SIGTERM, _stop)
    outcome: dict = {"state": "finished"}
    try:
        train_scenario(run_spec(folder), out_dir=folder, resume=args.resume, progress=False)
    except TrainingStopped:
        outcome = {"state": "stopped"}
    except SandboxError as exc:
        outcome = {"state": "failed", "error": str(exc)}
    except Exception as exc:  # an unexpected failure: keep its traceback for the output file
        traceback.print_exc()
        outcome = {"state": "failed", "error": f"{type(exc).__name__}: {exc}"}
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _write_json(folder / "status.json", outcome)
    return 0 if outcome["state"] != "failed" else 1


if __name__ == "__main__":
    sys.exit(main())
