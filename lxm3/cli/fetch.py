"""`lxm3 fetch EXP [--wu N] [--task I] [--include GLOB] [--dest DIR] [-f]`: task outputs, here.

Brings every task's output dir (its after-files, whatever it wrote to
`$LXM_OUTPUT_DIR`, and its `metrics.jsonl`) back as `DIR/<wu>/<task>/...`
(`DIR/<wu>/<job>/<task>/...` for a unit with several jobs) with ONE rsync per
cluster over its one SSH connection, sending only what changed
(`lxm3.xm_cluster.fetching`). `--follow` mirrors every few seconds until
every chosen task has ended.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from lxm3.cli.common import add_experiment_arg, run_reporting

DEFAULT_DEST = "lxm3-outputs"


def add_parser(parser: argparse.ArgumentParser) -> None:
    add_experiment_arg(parser)
    parser.add_argument(
        "--wu", type=int, action="append", metavar="N", help="work unit (repeatable; default all)"
    )
    parser.add_argument(
        "--task", type=int, action="append", metavar="I", help="task index (repeatable; default all)"
    )
    parser.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="GLOB",
        help="only files matching GLOB, relative to a task's output dir (`*.json`, `eval/**`); repeatable. "
        "The metrics file always comes along",
    )
    parser.add_argument(
        "--dest",
        metavar="DIR",
        help=f"where to put them (default ./{DEFAULT_DEST}/<EXP>): DIR/<wu>/<task>/...",
    )
    parser.add_argument(
        "-f", "--follow", action="store_true", help="keep mirroring until every task has ended"
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=3.0,
        metavar="S",
        help="seconds between mirrors with --follow (default 3)",
    )


def run(namespace: argparse.Namespace) -> int:
    return run_reporting(lambda: _run(namespace))


def chosen_outputs(experiment: Any, work_units: list[int] | None) -> list[Any]:
    """The outputs of the chosen units' jobs (xm.NotFoundError for an unknown unit)."""
    from lxm3.xm_cluster.reload import ReloadError

    outputs = [job for unit in experiment.select(work_units) for job in unit.outputs()]
    if not outputs:
        raise ReloadError(f"experiment {experiment.experiment_id} has no jobs to read outputs from")
    return outputs


def _launched_outputs(namespace: argparse.Namespace) -> tuple[Any, list[Any]]:
    """The experiment and its chosen outputs; with --follow, waits for a launch still submitting.

    `lxm3 fetch EXP --follow` started beside `lxm3 launch` can run before the
    launch has recorded its first job: while the launcher process lives, its
    jobs are on their way, so they are waited for rather than reported missing.
    """
    from lxm3.cli.common import open_experiment
    from lxm3.schedulers.local_process import process_alive
    from lxm3.xm_cluster.reload import ReloadError

    while True:
        experiment = open_experiment(namespace)
        try:
            return experiment, chosen_outputs(experiment, namespace.wu)
        except ReloadError:
            record = experiment.record
            launching = process_alive(record.get("pid"), record.get("host"), record.get("pid_start"))
            if not namespace.follow or not launching:
                raise
        time.sleep(min(namespace.interval, 1.0))


def _run(namespace: argparse.Namespace) -> int:
    from lxm3.cli.errors import fail
    from lxm3.xm_cluster import fetching

    if namespace.interval <= 0:
        return fail("--interval must be more than 0 seconds", 2)
    experiment, jobs = _launched_outputs(namespace)
    if namespace.task is not None:
        largest = max(job.num_tasks for job in jobs)
        wrong = [t for t in namespace.task if not 0 <= t < largest]
        if wrong:
            return fail(f"there is no task {wrong[0]} (tasks 0..{largest - 1})", 2)
    dest = Path(namespace.dest or Path(DEFAULT_DEST) / str(experiment.experiment_id)).absolute()

    total = fetching.FetchReport()

    def show(report: fetching.FetchReport) -> None:
        for path in report.files:
            sys.stdout.write(f"{path}\n")
        sys.stdout.flush()
        total.files_transferred += report.files_transferred
        total.bytes_transferred += report.bytes_transferred
        total.commands += report.commands

    def summary() -> int:
        sys.stdout.write(
            f"fetched {total.files_transferred} file(s), {total.bytes_transferred} bytes "
            f"({total.commands} rsync) into {dest}\n"
        )
        return 0

    if not namespace.follow:
        show(fetching.fetch(jobs, dest, tasks=namespace.task, includes=namespace.include))
        return summary()
    units = sorted({job.work_unit_id for job in jobs})
    chosen = set(namespace.task) if namespace.task is not None else None

    def all_ended() -> bool:
        results = experiment.task_statuses(units)
        return all(
            status.state.is_terminal
            for unit_results in results.values()
            for _, statuses in unit_results
            for task, status in statuses.items()
            if chosen is None or task in chosen
        )

    fetching.follow(
        jobs,
        dest,
        all_ended,
        show,
        interval=namespace.interval,
        tasks=namespace.task,
        includes=namespace.include,
    )
    return summary()
