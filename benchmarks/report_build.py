"""Time ``sandbox report`` on a large synthetic sweep and measure the page it writes.

Writes a results folder of ``--runs`` runs (4 planner policies x a Sobol sweep over two
world parameters, one seed; every run with a 100-worker ``table.agents`` and its tax
schedule, like the one-step economy's) with the results store's own row layout, then
builds the report from it. Targets (issue 6): a 10,000-run sweep builds in under a
minute and the HTML stays under 20 MB. Reported figures are medians over ``--repeats``
builds; ``read_s`` is the one scan of every run file, which dominates.

Usage: ``python benchmarks/report_build.py [--quick] [--runs 10000] [--repeats 1]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.report.build import build_report  # noqa: E402
from sandbox.report.load import load_results  # noqa: E402
from tests.report.synthetic import POLICIES, sweep_points, write_folder  # noqa: E402

LIMIT_S, LIMIT_MB = 60.0, 20.0


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 runs, one build")
    parser.add_argument("--runs", type=int, default=10_000, help="runs in the folder")
    parser.add_argument("--repeats", type=int, default=1, help="builds to time")
    parser.add_argument("--workers", type=int, default=100, help="rows of each table.agents")
    args = parser.parse_args()
    runs = 100 if args.quick else args.runs
    samples = max(1, runs // len(POLICIES))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "results"
        start = time.perf_counter()
        with warnings.catch_warnings():  # scipy: Sobol balance needs a power of 2 points
            warnings.simplefilter("ignore", UserWarning)
            points, section = sweep_points("sobol", samples)
        write_folder(folder, name="report_bench", points=points, sweep=section, seeds=(0,),
                     workers=args.workers, durable=False)
        write_s = time.perf_counter() - start
        start = time.perf_counter()
        load_results(folder)
        read_s = time.perf_counter() - start
        builds, cpus = [], []
        for _ in range(1 if args.quick else args.repeats):
            start, cpu = time.perf_counter(), _cpu()
            report = build_report(folder, Path(tmp) / "report.html")
            builds.append(time.perf_counter() - start)
            cpus.append(_cpu() - cpu)
        html_mb = report.html.stat().st_size / 1e6
        result = {
            "runs": samples * len(POLICIES), "sweep_points": samples,
            "workers_per_run": args.workers, "write_folder_s": round(write_s, 2),
            "read_s": round(read_s, 2), "build_s": round(statistics.median(builds), 2),
            "build_cpu_s": round(statistics.median(cpus), 2), "html_mb": round(html_mb, 2),
            "sidecar_kb": round(report.sidecar.stat().st_size / 1e3, 1),
            "limits": {"build_s": LIMIT_S, "html_mb": LIMIT_MB},
            "within_limits": statistics.median(builds) < LIMIT_S and html_mb < LIMIT_MB,
        }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
