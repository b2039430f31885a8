"""Solve times of the QP scenario optimizer from 10 to 10,000 variables, printed as JSON.

Two problem families, each with two constraint kinds:

- ``banded``: a pentadiagonal ``[n, n]`` scipy sparse design (a blur-like operator), the
  shape of large scenario-design fits; compiled as a constant, so a warm re-solve changes
  the target only. Sizes 10 to 10,000.
- ``dense``: a dense ``[2n, n]`` Gaussian design, compressed by QR to ``[n, n]``; a warm
  re-solve changes both design and target. Sizes 10 to 300 (an interior-point solve of a
  dense ``n x n`` problem grows as n^3: 1,000 variables take tens of seconds).

Constraints: ``simplex`` (``x >= 0, sum x = 1``) or ``box`` (``-0.5 <= x <= 0.5``).
``cold`` times a fresh :class:`~sandbox.optimize.LeastSquaresQP` per solve (cvxpy
compilation included); ``warm`` re-solves a kept one with new numbers of the same
structure (first solve excluded). Figures are medians over repeats of the whole
``solve`` call (wall seconds); ``solver_s`` is the solver's own time in warm solves.

Problems of at most 200 variables are polished (an exact solve of the active set),
included in the times. BLAS runs on one thread unless the environment says otherwise.

Usage: ``python benchmarks/qp_solve_times.py [--quick] [--solvers CLARABEL OSQP]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

# One BLAS thread (set before numpy loads): the solvers are single-threaded, and on a busy
# two-core machine a multi-threaded BLAS makes a 100 x 100 product 50 times slower.
# Export OPENBLAS_NUM_THREADS etc. yourself to time something else.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import cvxpy as cp  # noqa: E402
import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.optimize import (  # noqa: E402
    Bounds,
    LeastSquaresQP,
    QPConfig,
    Simplex,
    available_solvers,
)

BANDED_SIZES, DENSE_SIZES = (10, 100, 1_000, 10_000), (10, 100, 300)
QUICK_BANDED_SIZES, QUICK_DENSE_SIZES = (10, 100), (10,)
CONSTRAINTS = {"simplex": [Simplex("simplex")], "box": [Bounds("box", -0.5, 0.5)]}


def banded_design(n: int, rng: np.random.Generator) -> sp.csr_array:
    """``[n, n]`` pentadiagonal, diagonally dominant (well conditioned)."""
    bands = [rng.uniform(0.1, 0.3, max(n - 2, 0)), rng.uniform(0.2, 0.5, n - 1),
             rng.uniform(1.0, 2.0, n), rng.uniform(0.2, 0.5, n - 1),
             rng.uniform(0.1, 0.3, max(n - 2, 0))]
    return sp.csr_array(sp.diags(bands, [-2, -1, 0, 1, 2], shape=(n, n)))


def problems(family: str, n: int, count: int, rng: np.random.Generator):
    """``count`` (design, target) pairs of one structure."""
    if family == "banded":
        design = banded_design(n, rng)
        return [(design, rng.normal(size=n)) for _ in range(count)]
    return [(rng.normal(size=(2 * n, n)), rng.normal(size=2 * n)) for _ in range(count)]


def timed(problem: LeastSquaresQP, design, target, constraints) -> tuple[float, float]:
    start = time.perf_counter()
    result = problem.solve(design, target, constraints=constraints)
    return time.perf_counter() - start, result.solver_time or float("nan")


def measure(family: str, kind: str, n: int, solver: str, repeats: int) -> dict:
    rng = np.random.default_rng(n)
    config = QPConfig(solver=solver)
    data = problems(family, n, 2 * repeats + 1, rng)
    constraints = CONSTRAINTS[kind]
    cold = [timed(LeastSquaresQP(config), d, t, constraints)[0] for d, t in data[:repeats]]
    kept = LeastSquaresQP(config)
    timed(kept, *data[repeats], constraints)
    warm = [timed(kept, d, t, constraints) for d, t in data[repeats + 1:]]
    cold_s = statistics.median(cold)
    warm_s = statistics.median(w for w, _ in warm)
    return {"family": family, "constraints": kind, "n_vars": n,
            "n_rows": n if family == "banded" else 2 * n, "solver": solver,
            "cold_s": round(cold_s, 5), "warm_s": round(warm_s, 5),
            "solver_s": round(statistics.median(s for _, s in warm), 5),
            "warm_speedup": round(cold_s / warm_s, 2), "repeats": repeats}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    parser.add_argument("--solvers", nargs="+", default=["CLARABEL", "OSQP"],
                        help="solvers to time (those not installed are skipped)")
    args = parser.parse_args()
    solvers = [s.upper() for s in args.solvers if s.upper() in available_solvers()]
    sizes = {"banded": QUICK_BANDED_SIZES if args.quick else BANDED_SIZES,
             "dense": QUICK_DENSE_SIZES if args.quick else DENSE_SIZES}
    results = []
    for family, family_sizes in sizes.items():
        for n in family_sizes:
            repeats = 1 if args.quick else (2 if n >= 10_000 else (3 if n >= 1_000 else 5))
            for kind in CONSTRAINTS:
                for solver in solvers:
                    results.append(measure(family, kind, n, solver, repeats))
                    print(f"{family} {kind} n={n} {solver} done", file=sys.stderr, flush=True)
    print(json.dumps({
        "benchmark": "qp_solve_times", "quick": args.quick, "unit": "seconds per solve",
        "cvxpy": cp.__version__, "solvers": solvers, "python": platform.python_version(),
        "machine": platform.machine(), "cpus": os.cpu_count(),
        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS"), "results": results,
    }, indent=1))


if __name__ == "__main__":
    main()
