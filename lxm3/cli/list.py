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
from lxm3.store.controller_rows import experiments_with_news


def add_parser(parser: argparse.ArgumentParser) -> None:
    add_config_arg(parser)
    parser.add_argument(
        "--limit", type=int, default=20, metavar="N", help="show the N most recent (default 20)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def run(namespace: argparse.Namespace) -> int:
    return run_reporting(lambda: _run(namespace))


def _final_states(rows: list[dict[str, Any]]) -> dict[tuple[int, str], dict[str, str]] | None:
    """(work unit, job) -> {task: state} from the store's cached final states alone.

    None when a row is still running (its states must be asked). A task's
    state is its latest attempt's (rows are oldest first).
    """
    jobs: dict[tuple[int, str], dict[str, str]] = {}
    for row in sorted(rows, key=lambda r: (int(r.get("attempt") or 1), int(r["id"]))):
        final = row.get("final")
        if not isinstance(final, dict):
            return None
        tasks = jobs.setdefault((int(row["work_unit_id"]), str(row["name"])), {})
        tasks.update((task, str(value.get("state"))) for task, value in final.items())
    return jobs


#: `lxm3.xm.status.aggregate_state`'s order over state names (active beats failed beats
#: cancelled): importing `lxm3.xm` would cost `lxm3 list` more than all its other work.
_PRECEDENCE = ("RUNNING", "PENDING", "UNKNOWN", "FAILED", "CANCELLED", "COMPLETED")


def aggregate_names(names: Any) -> str:
    """The state of a set of tasks, by name (see `_PRECEDENCE`); UNKNOWN when there are none."""
    seen = set(names)
    for name in _PRECEDENCE:
        if name in seen:
            return "PENDING" if name == "UNKNOWN" else name
    return "UNKNOWN"


def _summary(record: dict[str, Any], rows: list[dict[str, Any]], task_states: list[Any]) -> dict[str, Any]:
    from lxm3.cli.common import iso_time, public_state

    names = [getattr(state, "value", state) for state in task_states]
    counts = collections.Counter(names)
    first: dict[tuple[Any, Any], dict[str, Any]] = {}
    for row in rows:
        first.setdefault((row["work_unit_id"], row["name"]), row)
    return {
        "experiment_id": int(record["id"]),
        "title": record["title"],
        "project": record.get("project"),
        "created": iso_time(record["created"]),
        "state": public_state(aggregate_names(counts)) if names else "UNKNOWN",
        "tasks": dict(sorted(counts.items())),
        "work_units": len({row["work_unit_id"] for row in rows}),
        "targets": sorted({str(row["target"]) for row in first.values()}),
        "attempts": max([1, *(int(row.get("attempt") or 1) for row in rows)]),
        "cleaned": bool(record.get("cleaned")),
    }


def summarize(store: Any, limit: int | None) -> tuple[list[dict[str, Any]], list[str]]:
    """One summary per experiment (newest first) and the clusters that could not be asked.

    When every listed experiment has ended, the store's cached final states
    answer alone, without loading the experiment machinery (so `lxm3 list`
    stays interactive with thousands of experiments in the store).
    """
    records = store.experiments(limit=limit)
    ids = [int(r["id"]) for r in records]
    rows_by_experiment = store.jobs_of(ids)
    # Parameter controllers that may have added units: import what they added. Only their
    # experiments load the backend; the others (and ended, read controllers) are answered from the store.
    news = set(experiments_with_news(rows_by_experiment, store.work_units))
    controlled = [r for r in records if int(r["id"]) in news]
    reuse_age = 0.0
    if controlled:
        from lxm3.xm_cluster.controller.sync import sync_quietly

        # Their journals ride on the clusters' status queries, which the read below reuses.
        reuse_age = sync_quietly(store, controlled).reuse_age()
        rows_by_experiment = store.jobs_of(ids)
    finals = {int(r["id"]): _final_states(rows_by_experiment[int(r["id"])]) for r in records}
    if all(final is not None for final in finals.values()):
        return [
            _summary(
                record,
                rows_by_experiment[int(record["id"])],
                [state for tasks in (finals[int(record["id"])] or {}).values() for state in tasks.values()],
            )
            for record in records
        ], []
    return _summarize_live(store, records, rows_by_experiment, reuse_age)


def _summarize_live(
    store: Any,
    records: list[dict[str, Any]],
    rows_by_experiment: dict[int, list[dict[str, Any]]],
    reuse_age: float = 0.0,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Summaries asking the clusters (one query per cluster) about unfinished experiments."""
    from lxm3.xm_cluster.status_reader import StatusReader
    from lxm3.xm_cluster.stored_jobs import group_jobs

    jobs: dict[int, list[Any]] = {}
    corrupt: list[str] = []
    for record in records:
        experiment_id = int(record["id"])
        try:
            jobs[experiment_id] = group_jobs(experiment_id, rows_by_experiment[experiment_id])
        except Exception as error:  # noqa: BLE001 - one bad row must not hide the other experiments
            jobs[experiment_id] = []
            corrupt.append(
                f"{CORRUPT}experiment {experiment_id} in {store.path} has a corrupt job row "
                f"({type(error).__name__}: {error}); listed as UNKNOWN"
            )
    reader = StatusReader(store)
    states = reader.read(
        [job for experiment_jobs in jobs.values() for job in experiment_jobs],
        {int(r["id"]): r.get("config_path") for r in records},
        tolerate_errors=True,
        max_age=reuse_age,
    )
    summaries = []
    for record in records:
        experiment_id = int(record["id"])
        task_states = [
            status.state
            for job in jobs[experiment_id]
            for status in states[(experiment_id, job.work_unit_id, job.name)].values()
        ]
        summaries.append(_summary(record, rows_by_experiment[experiment_id], task_states))
    return summaries, [*corrupt, *reader.errors]


#: Marks an error about the store itself (not a cluster that could not be asked).
CORRUPT = "corrupt: "


def _run(namespace: argparse.Namespace) -> int:
    import datetime

    from rich.table import Table

    from lxm3.cli.common import console, counts_text, literal, open_store, print_json, state_text
    from lxm3.cli.errors import fail

    store = open_store(namespace)
    summaries, errors = summarize(store, namespace.limit)
    if namespace.json:
        print_json(summaries)
    else:
        out = console()
        if not summaries:
            out.print(f"no experiments yet in {store.path}", markup=False)
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
                title = literal(summary["title"]) + (
                    " [bright_black](cleaned)[/]" if summary["cleaned"] else ""
                )
                if summary["attempts"] > 1:
                    title += f" [bright_black](rerun x{summary['attempts'] - 1})[/]"
                table.add_row(
                    str(summary["experiment_id"]),
                    title,
                    created,
                    str(summary["work_units"]),
                    state_text(summary["state"]),
                    counts_text(summary["tasks"]),
                    literal(", ".join(summary["targets"]) or "-"),
                )
            out.print(table)
    for error in errors:
        if error.startswith(CORRUPT):
            fail(error[len(CORRUPT) :])
        else:
            fail(f"cannot ask {error}; its unfinished tasks count as UNKNOWN")
    return 1 if errors else 0
