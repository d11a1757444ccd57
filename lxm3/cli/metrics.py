"""`lxm3 metrics EXP [--wu N] [--json] [--sort KEY] [--plot METRIC [-o FILE.png]]`.

One row per task: its args and the last value of each metric it reported
(`lxm3.report`, or JSON lines appended to `$LXM_METRICS_FILE`), read with ONE
command per cluster (`lxm3.xm_cluster.results`). `--sort loss` sorts by a
metric or arg (ascending; `--sort=-acc` descending; tasks without it last).
`--plot METRIC` draws METRIC against step for every task: a PNG with
matplotlib (`pip install 'lxm3[plot]'`), else a plot in the terminal.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from typing import Any

from lxm3.cli.common import add_experiment_arg, literal, run_reporting


def add_parser(parser: argparse.ArgumentParser) -> None:
    add_experiment_arg(parser)
    parser.add_argument(
        "--wu", type=int, action="append", metavar="N", help="work unit (repeatable; default all)"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--sort", metavar="KEY", help="sort by a metric or arg (`loss`; `-acc` for descending)"
    )
    parser.add_argument("--plot", metavar="METRIC", help="plot METRIC against step for every task")
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE.png",
        help="where --plot writes its PNG (default lxm3-<EXP>-<METRIC>.png)",
    )


def run(namespace: argparse.Namespace) -> int:
    return run_reporting(lambda: _run(namespace))


def _sort_key(name: str, descending: bool) -> Any:
    def key(task: Any) -> tuple[int, int, Any]:
        value = task.metrics.get(name, task.args.get(name))
        if isinstance(value, bool | int | float) and not (isinstance(value, float) and math.isnan(value)):
            return (0, 0, -value if descending else value)
        if value is None:
            return (1, 0, 0)
        return (0, 1, str(value))

    return key


def document(experiment_id: int, tasks: Sequence[Any]) -> dict[str, Any]:
    """The `--json` form: work units with their tasks' args and last metric values."""
    jobs_of: dict[int, set[str]] = {}
    for task in tasks:
        jobs_of.setdefault(task.work_unit_id, set()).add(task.job)
    several = {unit for unit, names in jobs_of.items() if len(names) > 1}
    units: dict[int, list[dict[str, Any]]] = {}
    for task in tasks:
        entry: dict[str, Any] = {"index": task.index, "args": task.args, "metrics": task.metrics}
        if task.work_unit_id in several:
            entry["job"] = task.job
        units.setdefault(task.work_unit_id, []).append(entry)
    return {
        "experiment_id": experiment_id,
        "work_units": [{"work_unit_id": unit, "tasks": entries} for unit, entries in units.items()],
    }


def _run(namespace: argparse.Namespace) -> int:
    from lxm3.cli.common import console, open_experiment
    from lxm3.cli.fetch import chosen_outputs
    from lxm3.xm_cluster.results import read_metrics

    experiment = open_experiment(namespace)
    jobs = chosen_outputs(experiment, namespace.wu)
    tasks = read_metrics(jobs, series=namespace.plot)
    if namespace.plot:
        from lxm3.cli.plotting import plot
        from lxm3.cli.studies import progress_series

        progress = progress_series(experiment, namespace.plot)
        return plot(experiment.experiment_id, namespace.plot, tasks, namespace.output, progress)
    if namespace.sort:
        name = namespace.sort.lstrip("-")
        tasks = sorted(tasks, key=_sort_key(name, namespace.sort.startswith("-")))
    if namespace.json:
        import json
        import sys

        # One line, no indent: json's C encoder (10,000 tasks in well under a second) is used only then.
        sys.stdout.write(json.dumps(document(experiment.experiment_id, tasks)) + "\n")
        return 0
    console().print(table(experiment.experiment_id, tasks))
    return 0


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "-" if value is None else literal(value)


def table(experiment_id: int, tasks: Sequence[Any]) -> Any:
    """A rich table: work unit, (job), task, each arg, each metric's last value."""
    from rich.table import Table

    arg_names = list(dict.fromkeys(name for task in tasks for name in task.args))
    metric_names = list(dict.fromkeys(name for task in tasks for name in task.metrics))
    with_jobs = len({(t.work_unit_id, t.job) for t in tasks}) > len({t.work_unit_id for t in tasks})
    grid = Table(title=f"experiment {experiment_id}: {len(tasks)} task(s)", title_justify="left")
    grid.add_column("wu", justify="right")
    if with_jobs:
        grid.add_column("job")
    grid.add_column("task", justify="right")
    for name in arg_names:
        grid.add_column(literal(name), style="bright_black")
    for name in metric_names:
        grid.add_column(literal(name), justify="right", style="bold")
    for task in tasks:
        row = [str(task.work_unit_id), *([literal(task.job)] if with_jobs else []), str(task.index)]
        row += [_cell(task.args.get(name)) for name in arg_names]
        row += [_cell(task.metrics.get(name)) for name in metric_names]
        grid.add_row(*row)
    return grid
