"""The ``sandbox`` command: a thin shell over the scenario, batch and report layers.

Every sub-command parses its arguments, calls the library, and prints. Bad input (a
malformed scenario, an unwritable folder...) prints one paragraph naming what is wrong
and exits with status 2, without a traceback and without writing anything.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from sandbox.core.errors import ConfigError, SandboxError

EXIT_BAD_INPUT = 2
#: ``sandbox batch`` exits with 2 + the number of failed runs (at most 125).
EXIT_RUNS_FAILED = 2


def _console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def cmd_run(args) -> int:
    """Run every (policy, seed) of a scenario, store the results, print a comparison."""
    from sandbox.batch.store import prepare_folder, write_run
    from sandbox.report.summary import compare_policies, failures, run_page
    from sandbox.scenario import execute_run, load_scenario, plan_runs, validate_scenario

    spec = load_scenario(args.scenario)
    validate_scenario(spec)
    out = Path(args.out) if args.out else Path("results") / spec.name
    prepare_folder(out, scenario_hash=spec.content_hash(),
                   spec_json=spec.model_dump(mode="json"), force_new=args.force_new)
    plans = plan_runs(spec)
    console = _console()
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[status]}"), TimeRemainingColumn())
    failed = 0
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(spec.name, total=len(plans), status="")
        for plan in plans:
            progress.update(task, status=f"{plan.variant}, seed {plan.seed}")
            result = execute_run(plan)
            failed += result.status != "ok"
            write_run(out, result)
            progress.advance(task)
    metrics, summary = compare_policies(out)
    _print_comparison(console, spec, metrics, summary, args.metrics)
    for variant, seed, error in failures(out):
        console.print(f"[red]failed[/red] {escape(f'{variant}, seed {seed}: {error}')}")
    page = run_page(out)
    shown = f"results: {out}/runs ({len(plans)} runs)" + (f", figures: {page}" if page else "")
    console.print(shown, markup=False)
    return 1 if failed else 0


def cmd_batch(args) -> int:
    """Run every unfinished run of one or more scenarios into one results folder.

    Exit status: 0 when every run of the batch is ok, 2 on bad input (nothing is written),
    ``2 + n`` when n runs are recorded as failed (at most 125: 125 means 123 or more),
    130 when interrupted (the finished runs are kept; the same command resumes).
    """
    from rich import box

    from sandbox.batch.runner import BatchOptions, check_backend, run_batch
    from sandbox.batch.studies import load_studies, open_folder

    options = BatchOptions(backend=args.backend, workers=args.workers, address=args.address,
                           chunk_size=args.chunk_size, retry_failed=args.retry_failed)
    if options.backend == "local":
        from sandbox.batch.local import warm_up

        warm_up()  # the workers' fork server imports the library while this process checks
    out = Path(args.out)
    studies = load_studies(args.scenarios, out, force_new=args.force_new)
    check_backend(options)
    open_folder(studies, out, force_new=args.force_new)
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("failed {task.fields[failed]}  {task.fields[rate]}  "
                          "ETA {task.fields[eta]}"))
    table = Table(title=f"batch into {out} ({options.backend})", title_justify="left",
                  box=box.SIMPLE_HEAD, show_edge=False)
    table.add_column("scenario", no_wrap=True)
    for name in ("runs", "before", "ran", "failed", "runs/s", "time"):
        table.add_column(name, justify="right")
    failed = retried = 0
    try:
        with Progress(*columns, console=_console(stderr=True)) as bar:
            for study in studies:
                task = bar.add_task(study.spec.name, total=len(study.plans), failed=0,
                                    rate="", eta="?")

                def update(p, task=task):
                    eta = f"{p.remaining / p.rate:.0f} s" if p.rate > 0 else "?"
                    bar.update(task, completed=p.skipped + p.done, failed=p.failed_total,
                               rate=f"{p.rate:.1f} runs/s", eta=eta)

                c = run_batch(study.plans, out, options=options, on_progress=update)
                failed, retried = failed + c.failed_total, retried + c.retried
                table.add_row(escape(study.spec.name), str(c.total), str(c.skipped),
                              str(c.done), str(c.failed_total), f"{c.rate:.1f}",
                              f"{c.elapsed_s:.1f} s")
    except KeyboardInterrupt:
        print(f"interrupted: the finished runs are saved in {out}; run the same command "
              "again to finish the rest", file=sys.stderr)
        return 130
    _console().print(table)
    if retried:
        print(f"{retried} run(s) were retried after their worker process died")
    if failed:
        print(f"{failed} run(s) failed; their errors: sandbox results {out} --sql \"SELECT "
              "scenario, variant, seed, error FROM runs WHERE status = 'failed'\"")
    return min(EXIT_RUNS_FAILED + failed, 125) if failed else 0


def _print_comparison(console, spec, metrics, summary, wanted) -> None:
    if wanted:
        unknown = [m for m in wanted if m not in metrics]
        if unknown:
            raise ConfigError("--metrics", unknown[0], f"one of {', '.join(metrics)}")
        metrics = wanted
    # metrics as rows and policies as columns: a few policies fit a terminal's width
    table = Table(title=spec.question or spec.name, title_justify="left")
    table.add_column("metric", style="bold")
    for variant in summary:
        table.add_column(escape(variant), justify="right")
    for metric in metrics:
        table.add_row(metric.replace("_", " "), *(summary[v][metric].format() for v in summary))
    console.print(table)
    seeds = len(spec.evaluation.seeds)
    if seeds > 1:
        console.print(f"mean ± 95 % interval over {seeds} seeds")


def cmd_train(args) -> int:
    """Train a scenario's planner and workers together (two-level curriculum)."""
    from sandbox.scenario import load_scenario
    from sandbox.scenario.train import train_scenario

    spec = load_scenario(args.scenario)
    outcome = train_scenario(spec, out_dir=args.out, resume=args.resume)
    console = _console()
    shown = {k: v for k, v in outcome.last_row.items()
             if k in ("update", "env_steps", "seconds", "rate_cap", "return_planner")
             or k.endswith("welfare") or k.endswith("utility") or k == "productivity"}
    for key, value in shown.items():
        console.print(f"{key:32s} {_cell(value)}", markup=False)
    console.print(f"training log: {outcome.out_dir / 'log.csv'}; planner: {outcome.planner}; "
                  f"workers: {outcome.workers or 'a fixed policy (not trained)'}", markup=False)
    return 0


def cmd_results(args) -> int:
    """Query a results folder with DuckDB and print or export the table."""
    from sandbox.batch.store import query

    table = query(args.folder, args.sql)
    if args.export:
        _export(table, Path(args.export))
        _console(stderr=True).print(f"wrote {table.num_rows} rows to {args.export}")
        return 0
    rows = table.to_pylist()
    if args.format == "json":
        print(json.dumps(rows, default=str, indent=1))
    elif args.format == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=table.column_names)
        writer.writeheader()
        writer.writerows(rows)
        print(buffer.getvalue(), end="")
    else:
        out = Table()
        for name in table.column_names:
            out.add_column(name, overflow="fold")
        for row in rows:
            out.add_row(*(_cell(row[c]) for c in table.column_names))
        _console().print(out)
    return 0


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)


def _export(table, path: Path) -> None:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if path.suffix == ".parquet":
        pq.write_table(table, path)
    elif path.suffix == ".csv":
        pacsv.write_csv(table, path)
    else:
        raise ConfigError("--export", str(path), "a file name ending in .parquet or .csv")


def cmd_report(args) -> int:
    """Write the HTML report of a results folder (and its JSON sidecar)."""
    import shlex

    from sandbox.report.build import build_report

    out = Path(args.out) if args.out else Path(args.folder) / "report.html"
    options = [("--scenario", args.scenario), ("--reference", args.reference),
               ("--headline", args.headline)]
    command = shlex.join(["sandbox", "report", args.folder, "--out", str(out)]
                         + [part for flag, value in options if value for part in (flag, value)])
    report = build_report(args.folder, out, scenario=args.scenario, reference=args.reference,
                          headline=args.headline, command=command, png=args.png, pdf=args.pdf)
    size = report.html.stat().st_size / 1e6
    _console().print(f"report: {report.html} ({size:.1f} MB), tables as JSON: {report.sidecar}",
                     markup=False)
    for path in report.exports:
        _console().print(f"exported: {path}", markup=False)
    for reason in report.skipped:
        _console(stderr=True).print(f"skipped: {reason}", markup=False)
    return 0


def cmd_list(args) -> int:
    """List the registered worlds or policies."""
    from sandbox.core.registry import POLICIES, WORLDS

    registry = WORLDS if args.command == "worlds" else POLICIES
    for name in registry.names():
        entry = registry.get(name)
        doc = (entry.__doc__ or "").strip().splitlines()
        print(f"{name:24s} {doc[0] if doc else ''}")
    return 0


def cmd_app(args) -> int:
    """Open the Streamlit app (``streamlit run app/Home.py``) on localhost."""
    import subprocess

    home = Path(__file__).resolve().parents[1] / "app" / "Home.py"
    if not home.is_file():
        raise SandboxError(f"the app is not in this installation (looked for {home})")
    command = [sys.executable, "-m", "streamlit", "run", str(home),
               "--server.address", "127.0.0.1", "--server.port", str(args.port),
               "--browser.gatherUsageStats", "false"]
    return subprocess.call(command)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``sandbox`` command."""
    parser = argparse.ArgumentParser(prog="sandbox", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a scenario and compare its policies")
    run.add_argument("scenario", help="scenario YAML file")
    run.add_argument("--out", help="results folder (default: results/<scenario name>)")
    run.add_argument("--metrics", nargs="+", help="metrics to show (default: all)")
    run.add_argument("--force-new", action="store_true",
                     help="reuse a folder that holds another version of the scenario")
    run.set_defaults(func=cmd_run)
    train = sub.add_parser("train", help="train planner and workers from a scenario's train:")
    train.add_argument("scenario", help="scenario YAML file with a train: section")
    train.add_argument("--out", help="training folder (default: results/<scenario>/training)")
    train.add_argument("--resume", help="continue from this checkpoint file")
    train.set_defaults(func=cmd_train)
    batch = sub.add_parser("batch", help="run every unfinished run of scenarios and sweeps")
    batch.add_argument("scenarios", nargs="+", help="scenario YAML files")
    batch.add_argument("--out", default="results", help="results folder (default: results)")
    batch.add_argument("--backend", choices=("local", "ray"), default="local")
    batch.add_argument("--workers", type=int, help="parallel processes (default: cores)")
    batch.add_argument("--address", help="Ray cluster address host:port (ray backend)")
    batch.add_argument("--force-new", action="store_true",
                       help="reuse a folder that holds another version of a scenario")
    batch.add_argument("--chunk-size", type=int, help="runs per task (default: automatic)")
    batch.add_argument("--retry-failed", action="store_true",
                       help="run again the runs recorded as failed")
    batch.set_defaults(func=cmd_batch)
    results = sub.add_parser("results", help="query a results folder with DuckDB")
    results.add_argument("folder")
    results.add_argument("--sql", help="SQL over the view 'runs' (default: one row per run)")
    results.add_argument("--format", choices=("table", "csv", "json"), default="table")
    results.add_argument("--export", help="write the result to FILE (.parquet or .csv)")
    results.set_defaults(func=cmd_results)
    report = sub.add_parser("report", help="write a self-contained HTML report of a results folder")
    report.add_argument("folder", help="results folder (from 'sandbox run' or 'sandbox batch')")
    report.add_argument("--out", help="HTML file to write (default: FOLDER/report.html)")
    report.add_argument("--scenario", help="report only this scenario (name or spec hash)")
    report.add_argument("--reference", help="policy the differences are taken against")
    report.add_argument("--headline", help="metric of the headline sentence")
    report.add_argument("--png", action="store_true", help="also write figures as PNG (kaleido)")
    report.add_argument("--pdf", action="store_true",
                        help="also print the report to PDF (Playwright and Chromium)")
    report.set_defaults(func=cmd_report)
    app = sub.add_parser("app", help="open the Streamlit app on localhost")
    app.add_argument("--port", type=int, default=8501)
    app.set_defaults(func=cmd_app)
    for name in ("worlds", "policies"):
        sub.add_parser(name, help=f"list the registered {name}").set_defaults(func=cmd_list)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``sandbox`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except SandboxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
