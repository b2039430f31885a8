"""Versions of the software a result was produced with (for provenance)."""

from __future__ import annotations

import platform
import subprocess
from functools import cache
from importlib import metadata
from pathlib import Path

PACKAGES = ("policy-sandbox", "torch", "numpy", "scipy", "mesa", "cvxpy")


@cache
def git_commit() -> str:
    """The source checkout's commit hash, or ``""`` outside a git checkout."""
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"],
                             capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


@cache
def software_versions() -> dict[str, str]:
    """Python, the key packages and the git commit, as strings."""
    versions = {"python": platform.python_version(), "git_commit": git_commit()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = ""
    return versions
