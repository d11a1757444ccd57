"""`lxm3 status EXP [--wu N] [--json]`: the state of each work unit and task.

A task's state is that of its latest attempt (`lxm3 rerun` adds attempts).
The states come from ONE scheduler query per cluster (plus one read of the
tasks' completion files), for all units at once. `--json` prints

    {"experiment_id": 3, "work_units": [{"work_unit_id": 1, "state": "FAILED",
     "tasks": [{"index": 0, "state": "COMPLETED", "exit_code": 0}, ...]}]}

with states PENDING, RUNNING, COMPLETED, FAILED, CANCELLED (tasks of a unit
with several jobs also carry "job"). A unit that waits on others also carries

    "depends_on": [{"work_unit_id": 1, "condition": "succeeded"}]

(plus "experiment_id" for another experiment's unit, "per_task": true, and
"dependency_mode": "any" for `|`), and "reason" once its dependency can never
hold ("dependency on work unit 1 failed").
"""

from __future__ import annotations

import argparse
from typing import Any

from lxm3.cli.common import add_experiment_arg, run_reporting


def add_parser(parser: argparse.ArgumentParser) -> None:
    add_experiment_arg(parser)
    parser.add_argument("--wu", type=int, metavar="N", help="only work unit N, with one row per task")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def status_json(
    experiment_id: int,
    results: dict[int, list[tuple[Any, dict[int, Any]]]],
    dependency_rows: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The `--json` document for `ReloadedExperiment.task_statuses()` results."""
    from lxm3.cli.common import public_state
    from lxm3.xm.status import aggregate_state
    from lxm3.xm_cluster.dependency_status import dependency_json

    units = []
    for work_unit_id, jobs in results.items():
        several = len(jobs) > 1
        tasks: list[dict[str, Any]] = []
        states = []
        for job, statuses in jobs:
            for task, status in sorted(statuses.items()):
                entry: dict[str, Any] = {
                    "index": task,
                    "state": public_state(status.state),
                    "exit_code": status.exit_code,
                }
                if several:
                    entry["job"] = job.name
                tasks.append(entry)
                states.append(status.state)
        unit_state = public_state(aggregate_state(states)) if states else "UNKNOWN"
        unit = {"work_unit_id": work_unit_id, "state": unit_state, "tasks": tasks}
        unit.update(dependency_json(work_unit_id, jobs, dependency_rows or []))
        units.append(unit)
    return {"experiment_id": experiment_id, "work_units": units}


def run(namespace: argparse.Namespace) -> int:
    return run_reporting(lambda: _run(namespace))


def _run(namespace: argparse.Namespace) -> int:
    from lxm3.cli.common import console, open_experiment, print_json

    experiment = open_experiment(namespace)
    selected = [namespace.wu] if namespace.wu is not None else None
    results = experiment.task_statuses(selected)
    from lxm3.cli.studies import print_studies, studies_json

    if namespace.json:
        rows = experiment.store.dependencies(experiment.experiment_id)
        document = status_json(experiment.experiment_id, results, rows)
        studies = studies_json(experiment)
        if studies:
            document["studies"] = studies
        print_json(document)
        return 0
    _print_tables(experiment, results, per_task=namespace.wu is not None)
    if namespace.wu is None:
        print_studies(console(), experiment)
    return 0


def _print_tables(
    experiment: Any, results: dict[int, list[tuple[Any, dict[int, Any]]]], *, per_task: bool
) -> None:
    import collections

    from rich.table import Table

    from lxm3.cli.common import console, counts_text, literal, local_time, public_state, ranges, state_text
    from lxm3.xm.status import TaskState, aggregate_state, count_states
    from lxm3.xm_cluster.dependency_status import dependency_lines

    out = console()
    record = experiment.record
    attempts = experiment.store.attempts(experiment.experiment_id)
    header = f"[bold]experiment {experiment.experiment_id}[/] {literal(repr(record['title']))}, launched {local_time(record['created'])}"
    if record.get("project"):
        header += f", project {literal(record['project'])}"
    if len(attempts) > 1:
        header += f", {len(attempts) - 1} rerun(s)"
    if record.get("cleaned"):
        header += ", [yellow]staged files cleaned[/]"
    out.print(header)
    if not results:
        out.print("no work units recorded (a dry run, or the launch failed before submitting)")
        return
    if not per_task:
        table = Table(box=None, pad_edge=False)
        for column in ("WU", "JOB", "WHERE", "STATE", "TASKS", "JOB IDS"):
            table.add_column(column)
        failed: list[str] = []
        for work_unit_id, jobs in results.items():
            if not jobs:
                table.add_row(str(work_unit_id), "-", "-", state_text("UNKNOWN"), "no job recorded", "")
            for job, statuses in jobs:
                by_state = count_states(statuses.values())  # in C: 100,000 tasks for a big sweep
                counts: collections.Counter[str] = collections.Counter()
                for task_state, number in by_state.items():
                    counts[public_state(task_state)] += number
                state = public_state(aggregate_state(by_state))
                ids = sorted({c.submitted.job_id for a in job.attempts for c in a.chunks})
                where = f"{job.first.target_name} ({job.first.scheduler_name})"
                table.add_row(
                    str(work_unit_id),
                    literal(job.name),
                    literal(where),
                    state_text(state),
                    counts_text(dict(counts)),
                    ", ".join(ids),
                )
                bad = (
                    [t for t, s in statuses.items() if s.state in (TaskState.FAILED, TaskState.CANCELLED)]
                    if TaskState.FAILED in by_state or TaskState.CANCELLED in by_state
                    else []
                )
                if bad:
                    failed.append(f"work unit {work_unit_id} {literal(job.name)}: tasks {ranges(bad)}")
        out.print(table)
        for line in dependency_lines(experiment.store.dependencies(experiment.experiment_id), results):
            out.print(line, markup=False)
        from lxm3.xm_cluster.controller.sync import controller_notes

        for note in controller_notes(experiment):
            out.print(note, markup=False)
        if failed:
            out.print("not completed: " + "; ".join(failed))
            out.print(
                f"see `lxm3 status {experiment.experiment_id} --wu N`, `lxm3 logs {experiment.experiment_id} --wu N --task I --stderr`,"
                f" or rerun them with `lxm3 rerun {experiment.experiment_id} --failed`"
            )
        return
    table = Table(box=None, pad_edge=False)
    for column in ("JOB", "TASK", "STATE", "EXIT", "ATTEMPT", "JOB ID", "NOTE"):
        table.add_column(column)
    for _, jobs in results.items():
        for job, statuses in jobs:
            owners = job.owners()
            for task, status in sorted(statuses.items()):
                owner = owners.get(task, job.first)
                table.add_row(
                    literal(job.name),
                    str(task),
                    state_text(public_state(status.state)),
                    "" if status.exit_code is None else str(status.exit_code),
                    str(owner.attempt),
                    literal(status.job_id or ""),
                    literal(status.message),
                )
    out.print(table)
