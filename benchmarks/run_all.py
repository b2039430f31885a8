"""Run every benchmark in this folder and print one JSON object: name -> its JSON output.

Each benchmark is a script printing one JSON object; they run one after the other in
fresh processes (so that one's memory and threads do not affect the next). A failing
benchmark is reported with its exit status and the end of its error output, and the
others still run.

Usage: ``python benchmarks/run_all.py [--quick] [--only NAME ...]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def benchmark_scripts() -> list[Path]:
    """Every benchmark script of this folder, by name."""
    return sorted(p for p in HERE.glob("*.py") if p.name != Path(__file__).name)


def run_one(script: Path, *, quick: bool, timeout: float) -> dict:
    """Run one benchmark script; its parsed JSON, or its failure."""
    command = [sys.executable, str(script)] + (["--quick"] if quick else [])
    start = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    seconds = round(time.perf_counter() - start, 2)
    if done.returncode != 0:
        return {"error": f"exit status {done.returncode}", "stderr": done.stderr[-2000:],
                "seconds": seconds}
    try:
        result = json.loads(done.stdout)
    except json.JSONDecodeError:
        return {"error": "did not print one JSON object", "stdout": done.stdout[-2000:]}
    return {"result": result, "seconds": seconds}


def main() -> int:
    """Run the benchmarks and print their results as JSON; exit 1 if any failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="each benchmark's quick mode")
    parser.add_argument("--only", nargs="+", help="benchmark names (file stems) to run")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per benchmark")
    args = parser.parse_args()
    scripts = benchmark_scripts()
    if args.only:
        scripts = [s for s in scripts if s.stem in set(args.only)]
    results = {}
    for script in scripts:
        print(f"running {script.stem}...", file=sys.stderr, flush=True)
        results[script.stem] = run_one(script, quick=args.quick, timeout=args.timeout)
    print(json.dumps(results, indent=2))
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
