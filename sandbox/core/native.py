"""Compiled CPU kernels: C sources built once with the system's C compiler, loaded by ctypes.

A world may carry a C file of kernels for its hottest rules on CPU tensors (one loop
over environments instead of dozens of whole-batch tensor passes). The torch functions
stay the specification and the path on every other device, and tests hold the two
equal. :func:`load` compiles a source into a shared library the first time it is
needed (about a second with ``cc -O3``), keeps it in a cache directory named by the
source's hash, and returns ``None``, after one warning saying why, when no compiler is
found or the build fails: the world then runs its torch path, only slower.

Switches: the environment variable ``SANDBOX_NATIVE=0`` turns compiled kernels off for
the process; :func:`disabled` turns them off inside a ``with`` block (for comparisons);
``SANDBOX_NATIVE_CACHE`` sets the cache directory (default
``$XDG_CACHE_HOME/policy-sandbox/native``, else ``~/.cache/policy-sandbox/native``);
``CC`` names the compiler (default ``cc``).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

#: Flags of every build: optimised, position-independent, no machine-specific code (a
#: cache directory may be shared by machines of different CPU generations).
CFLAGS = ("-O3", "-std=c99", "-fPIC", "-shared")

_switched_off = 0


def enabled() -> bool:
    """Whether compiled kernels may be used now (``SANDBOX_NATIVE`` and :func:`disabled`)."""
    return _switched_off == 0 and os.environ.get("SANDBOX_NATIVE", "1") != "0"


@contextlib.contextmanager
def disabled():
    """Run the block on the torch paths only (kernels stay built)."""
    global _switched_off
    _switched_off += 1
    try:
        yield
    finally:
        _switched_off -= 1


def cache_dir() -> Path:
    """Where built libraries are kept (see the module docstring)."""
    if os.environ.get("SANDBOX_NATIVE_CACHE"):
        return Path(os.environ["SANDBOX_NATIVE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "policy-sandbox" / "native"


@functools.cache
def load(source: str | Path) -> ctypes.CDLL | None:
    """The shared library built from the C file ``source``, or None (warned once).

    Built into :func:`cache_dir` under the source's name and the hash of its text, the
    flags and the compiler, written to a temporary name first and renamed into place,
    so processes building at once never load a half-written library.
    """
    source = Path(source)
    compiler = os.environ.get("CC", "cc")
    if shutil.which(compiler) is None:
        return _unavailable(source, f"no C compiler {compiler!r} on PATH (set CC to one)")
    text = source.read_bytes()
    digest = hashlib.sha256(text + " ".join((compiler, *CFLAGS)).encode()).hexdigest()[:16]
    target = cache_dir() / f"{source.stem}-{digest}.so"
    if not target.exists():
        partial = None
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            handle, partial = tempfile.mkstemp(suffix=".so", dir=target.parent)
            os.close(handle)
            built = subprocess.run([compiler, *CFLAGS, "-o", partial, str(source), "-lm"],
                                   capture_output=True, text=True, timeout=300)
            if built.returncode != 0:
                return _unavailable(source, f"{compiler} failed: {built.stderr.strip()[-500:]}")
            os.replace(partial, target)
        except (OSError, subprocess.SubprocessError) as error:
            return _unavailable(source, f"could not build into {target.parent}: {error}")
        finally:
            if partial is not None and os.path.exists(partial):
                os.unlink(partial)
    try:
        return ctypes.CDLL(str(target))
    except OSError as error:
        return _unavailable(source, f"could not load {target}: {error}")


def _unavailable(source: Path, reason: str) -> None:
    warnings.warn(f"compiled kernels of {source.name} unavailable, using the torch path "
                  f"(slower): {reason}", RuntimeWarning, stacklevel=3)
    return None
