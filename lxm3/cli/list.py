"""`lxm3 list [--json] [--limit N]`: recent experiments and how their tasks are doing.

Task counts come from one scheduler query per cluster for ALL listed
experiments together; experiments whose tasks all ended are answered from the
store without asking anyone. `--json` prints a list of objects with
experiment_id, title, project, created (ISO 8601), state, tasks (counts by
state), work_units, targets, attempts and cleaned.
"""

from __future__ import annotations

import argparse
import collections
from typing import Any

from lxm3.cli.common import add_config_arg, run_reporting


def add_parser(parser: argparse.ArgumentParser) -> None:
    add_config_arg(parser)
    parser.add_argument(
        "--limit", type=int, default=20, metavar="N", help="show the N most recent (default 20)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def run(namespace: argparse.Namespace) -> int:
    return run_reporting(lambda: _run(namespace))


def summarize(store: Any, limit: int | None) -> tuple[list[dict[str, Any]], list[str]]:
    """One summary per experiment (newest first) and the clusters that could not be asked."""
    from lxm3.cli.common import iso_time, public_state
    from lxm3.xm.status import aggregate_state
    from lxm3.xm_cluster.status_reader import StatusReader
    from lxm3.xm_cluster.stored_jobs import group_jobs

    records = store.experiments(limit=limit)
    from lxm3.xm_cluster.controller.sync import sync_quietly

    for record in records:
        sync_quietly(store, record)  # units parameter controllers added (a no-op for the others)
    rows_by_experiment = store.jobs_of([int(r["id"]) for r in records])
    jobs = {int(r["id"]): group_jobs(int(r["id"]), rows_by_experiment[int(r["id"])]) for r in records}
    reader = StatusReader(store)
    states = reader.read(
        [job for experiment_jobs in jobs.values() for job in experiment_jobs],
        {int(r["id"]): r.get("config_path") for r in records},
        tolerate_errors=True,
    )
    summaries = []
    for record in records:
        experiment_id = int(record["id"])
        task_states = [
            status.state
            for job in jobs[experiment_id]
            for status in states[(experiment_id, job.work_unit_id, job.name)].values()
        ]
        counts = collections.Counter(state.value for state in task_states)
        attempts = max([1, *(a.attempt for job in jobs[experiment_id] for a in job.attempts)])
        summaries.append(
            {
                "experiment_id": experiment_id,
                "title": record["title"],
                "project": record.get("project"),
                "created": iso_time(record["created"]),
                "state": public_state(aggregate_state(task_states)) if task_states else "UNKNOWN",
                "tasks": dict(sorted(counts.items())),
                "work_units": len({job.work_unit_id for job in jobs[experiment_id]}),
                "targets": sorted({job.first.target_name for job in jobs[experiment_id]}),
                "attempts": attempts,
                "cleaned": bool(record.get("cleaned")),
            }
        )
    return summaries, reader.errors


def _run(namespace: argparse.Namespace) -> int:
    import datetime

    from rich.table import Table

    from lxm3.cli.common import console, counts_text, open_store, print_json, state_text
    from lxm3.cli.errors import fail

    store = open_store(namespace)
    summaries, errors = summarize(store, namespace.limit)
    if namespace.json:
        print_json(summaries)
    else:
        out = console()
        if not summaries:
            out.print(f"no experiments yet in {store.path}")
        else:
            table = Table(box=None, pad_edge=False)
            for column in ("ID", "TITLE", "CREATED", "WU", "STATE", "TASKS", "WHERE"):
                table.add_column(column)
            for summary in summaries:
                created = (
                    datetime.datetime.fromisoformat(summary["created"])
                    .astimezone()
                    .strftime("%Y-%m-%d %H:%M")
                )
                title = summary["title"] + (" [bright_black](cleaned)[/]" if summary["cleaned"] else "")
                if summary["attempts"] > 1:
                    title += f" [bright_black](rerun x{summary['attempts'] - 1})[/]"
                table.add_row(
                    str(summary["experiment_id"]),
                    title,
                    created,
                    str(summary["work_units"]),
                    state_text(summary["state"]),
                    counts_text(summary["tasks"]),
                    ", ".join(summary["targets"]) or "-",
                )
            out.print(table)
    for error in errors:
        fail(f"cannot ask {error}; its unfinished tasks count as UNKNOWN")
    return 1 if errors else 0
