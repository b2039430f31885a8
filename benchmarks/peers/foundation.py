"""Foundation's Gather-Trade-Build speed, measured in its own virtual environment.

``benchmarks/peers/setup_foundation.sh`` (``make peers``) installs Foundation
(``ai-economist`` 1.7.1) into ``.venv-foundation``; this module runs
``foundation_gtb.py`` there as a subprocess and returns its JSON line, so that the
project's benchmarks can put Foundation's rate beside their own without importing it.

Use from a benchmark script run as ``python benchmarks/<name>.py``::

    from peers.foundation import foundation_rate

or, from the repository root (tests, ``python -m``)::

    from benchmarks.peers.foundation import foundation_rate
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_PYTHON = ROOT / ".venv-foundation" / "bin" / "python"
SCRIPT = Path(__file__).resolve().parent / "foundation_gtb.py"


def run_foundation(*, n_agents: int = 4, steps: int = 2000, repeats: int = 3,
                   timeout_s: float = 600.0,
                   python: Path = VENV_PYTHON) -> tuple[dict | None, str]:
    """Measure Foundation's GTB env steps/s with random valid actions, if it is installed.

    Args:
        n_agents: workers (the planner acts besides them).
        steps: env steps per timed repeat (4 workers and the planner act in each).
        repeats: timed repeats; the rate reported is their median.
        timeout_s: give up after this many seconds.
        python: interpreter of Foundation's virtual environment.

    Returns:
        ``(result, reason)``: the parsed JSON line of ``foundation_gtb.py`` (keys
        ``steps_per_s``, ``rates``, ``n_agents``, ``steps``, ``repeats``, ``versions``...)
        and ``"ok"``; or ``None`` and why no rate could be measured.
    """
    if not python.exists():
        return None, f"Foundation is not installed ({python} missing): run `make peers`"
    command = [str(python), str(SCRIPT), "--steps", str(steps), "--repeats", str(repeats),
               "--agents", str(n_agents)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s,
                              cwd=ROOT, check=False)
    except subprocess.TimeoutExpired:
        return None, f"Foundation did not finish within {timeout_s:g} s"
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["no error output"]
        return None, f"foundation_gtb.py failed (exit {done.returncode}): {tail[0]}"
    for line in reversed(done.stdout.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line), "ok"
    return None, "foundation_gtb.py printed no JSON line"


def foundation_rate(*, n_agents: int = 4, steps: int = 2000, repeats: int = 3,
                    timeout_s: float = 600.0) -> dict | None:
    """Foundation's measured rate (see :func:`run_foundation`), or None when unavailable.

    The reason it is unavailable goes to stderr.
    """
    result, reason = run_foundation(n_agents=n_agents, steps=steps, repeats=repeats,
                                    timeout_s=timeout_s)
    if result is None:
        print(f"foundation: {reason}", file=sys.stderr)
    return result


if __name__ == "__main__":
    outcome, why = run_foundation()
    print(json.dumps(outcome) if outcome is not None else f"unavailable: {why}")
