"""Dependencies between work units, on the cluster backend.

At launch (`resolve`): a dependent unit first waits until the units it names
are submitted (their `add` returned), then their scheduler job ids and log
dirs go into a `ResolvedDependency` that the target's scheduler renders into
the dependent's job scripts (see `lxm3.schedulers.dependency`). Everything is
submitted at once; the scheduler, not this process, holds the order, so the
launcher may exit.

Afterwards (`relabel`, `explain`): a task that never ran because its
dependency can never hold is reported CANCELLED with the reason, e.g.
"dependency on work unit 1 failed", whether Slurm cancelled it
(`--kill-on-invalid-dep`) or the task runner ended it (exit code
`DEPENDENCY_NOT_MET`). The graph is kept in the store (`dependencies` table)
for `lxm3 status`, `lxm3 cancel` (dependents go too) and `lxm3 rerun`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from lxm3.schedulers.base import ArrayChunk, split_into_chunks
from lxm3.schedulers.dependency import (
    DEPENDENCY_NOT_MET,
    PredecessorJob,
    ResolvedDependency,
    Term,
    check_expressible,
    runner_check,
    runner_terms_for,
)
from lxm3.xm.dependencies import After, DependencyError, Flat
from lxm3.xm.status import TaskState, TaskStatus


def _what(work_unit_id: int, experiment_id: int, own_experiment: int) -> str:
    if experiment_id == own_experiment:
        return f"work unit {work_unit_id}"
    return f"work unit {work_unit_id} of experiment {experiment_id}"


async def wait_launched(flat: Flat, dependent: Any) -> None:
    """Returns once every unit `flat` names was submitted; raises if one failed to launch."""
    for condition in flat.conditions:
        unit = condition.unit
        if unit is dependent:
            raise DependencyError(f"work unit {dependent.work_unit_id} cannot wait on itself")
        launched = getattr(unit, "_launched", None)
        while launched is not None and not launched.is_set():
            await asyncio.sleep(0.01)
        error = getattr(unit, "_launch_error", None)
        if error is not None:
            raise DependencyError(
                f"work unit {condition.work_unit_id} failed to launch, so nothing can wait on it: {error}"
            )


def _jobs_of(condition: After, target: Any, dry_run: bool) -> tuple[PredecessorJob, ...]:
    """The scheduler jobs of the unit a condition names, launched here or reloaded from the store."""
    unit = condition.unit
    jobs: list[PredecessorJob] = []
    for job in getattr(unit, "jobs", []):
        if hasattr(job, "submitted"):  # launched by this process (experiment.LaunchedJob)
            where = job.target.name
            if dry_run or not job.submitted:
                chunks = split_into_chunks(job.num_tasks, job.target.max_array_size())
                ids = tuple(f"<wu{condition.work_unit_id}:{job.name}:{k}>" for k in range(len(chunks)))
                jobs.append(PredecessorJob(ids, tuple(chunks), job.log_dir, job.num_tasks))
            else:
                jobs.append(
                    PredecessorJob(
                        tuple(s.job_id for s in job.submitted),
                        tuple(s.chunk for s in job.submitted),
                        job.log_dir,
                        job.num_tasks,
                    )
                )
        else:  # reloaded (reload.StoredJob): each task's latest attempt
            where = job.first.target_name
            owners = job.owners()
            ids = tuple(dict.fromkeys(owners[t].chunk_of(t).submitted.job_id for t in sorted(owners)))
            # Task-by-task pairing needs the original chunks; after a rerun there are none to pair.
            paired = [c.submitted.chunk for c in job.first.chunks] if len(job.attempts) == 1 else []
            jobs.append(PredecessorJob(ids, tuple(paired), job.first.log_dir, job.num_tasks))
        if where != target.name:
            raise DependencyError(
                f"work unit {condition.work_unit_id} runs on {where!r} and this job on {target.name!r}: "
                "a scheduler can only hold a job on jobs of its own cluster"
            )
    if not jobs:
        raise DependencyError(f"work unit {condition.work_unit_id} has no submitted job to wait on")
    return tuple(jobs)


def resolve(
    flat: Flat, *, experiment_id: int, target: Any, num_tasks: int, dry_run: bool = False
) -> tuple[ResolvedDependency, list[ArrayChunk], dict[str, Any] | None]:
    """The dependency for one job of a unit: resolved form, its chunks, the runner's check.

    Raises DependencyError (at `add`) for what the target's scheduler cannot
    express, and for a task-by-task dependency between arrays of different sizes.
    """
    terms = []
    for condition in flat.conditions:
        jobs = _jobs_of(condition, target, dry_run)
        what = _what(condition.work_unit_id, condition.experiment_id, experiment_id)
        if condition.per_task:
            sizes = {job.num_tasks for job in jobs}
            if len(jobs) != 1 or sizes != {num_tasks}:
                raise DependencyError(
                    f"after_succeeded(per_task=True) pairs task i with task i: {what} has "
                    f"{' + '.join(str(job.num_tasks) for job in jobs)} task(s) and this job {num_tasks}; "
                    "give both the same number of tasks, or drop per_task"
                )
        terms.append(
            Term(
                condition.experiment_id,
                condition.work_unit_id,
                condition.condition.value,
                condition.per_task,
                jobs,
                what,
            )
        )
    resolved = ResolvedDependency(flat.mode, tuple(terms), placeholder=dry_run)
    chunks = split_into_chunks(num_tasks, target.max_array_size())
    scheduler = target.scheduler.name
    check_expressible(scheduler, resolved, chunks)
    return resolved, chunks, runner_check(resolved, runner_terms_for(scheduler, resolved, chunks))


def store_rows(flat: Flat) -> list[dict[str, Any]]:
    """The store's form of a dependency: one row per condition."""
    return [
        {
            "mode": flat.mode,
            "on_experiment_id": c.experiment_id,
            "on_work_unit_id": c.work_unit_id,
            "condition": c.condition.value,
            "per_task": c.per_task,
        }
        for c in flat.conditions
    ]


# ----------------------------------------------------------------------------- reporting


@attrs.frozen
class Edge:
    """One recorded condition: `work_unit_id` waits for `on_work_unit_id` to reach `condition`."""

    experiment_id: int
    work_unit_id: int
    mode: str
    on_experiment_id: int
    on_work_unit_id: int
    condition: str
    per_task: bool

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Edge:
        return cls(
            int(row["experiment_id"]),
            int(row["work_unit_id"]),
            str(row["mode"]),
            int(row["on_experiment_id"]),
            int(row["on_work_unit_id"]),
            str(row["condition"]),
            bool(row["per_task"]),
        )

    @property
    def what(self) -> str:
        return _what(self.on_work_unit_id, self.on_experiment_id, self.experiment_id)

    def to_json(self) -> dict[str, Any]:
        """`{"work_unit_id": 1, "condition": "succeeded"}` (+ experiment_id, per_task when set)."""
        entry: dict[str, Any] = {"work_unit_id": self.on_work_unit_id, "condition": self.condition}
        if self.on_experiment_id != self.experiment_id:
            entry["experiment_id"] = self.on_experiment_id
        if self.per_task:
            entry["per_task"] = True
        return entry


def describe_edges(edges: Sequence[Edge]) -> str:
    """`work unit 1 succeeded and work unit 2 succeeded`."""
    joiner = " or " if edges and edges[0].mode == "any" else " and "
    return joiner.join(f"{e.what} {e.condition}{' (task by task)' if e.per_task else ''}" for e in edges)


def unit_outcome(statuses: Iterable[TaskStatus]) -> str | None:
    """How a unit ended: "succeeded", "failed" or "cancelled"; None while it runs (or is unknown)."""
    states = [s.state for s in statuses]
    if not states or not all(state.is_terminal for state in states):
        return None
    if all(state is TaskState.COMPLETED for state in states):
        return "succeeded"
    return "failed" if any(state is TaskState.FAILED for state in states) else "cancelled"


#: How a predecessor's end is learned: edge -> `unit_outcome` of the unit it names.
Outcome = Callable[["Edge"], "str | None"]


def explain(edges: Sequence[Edge], outcome: Outcome) -> str | None:
    """Why the dependency of `edges` can never hold, e.g. "dependency on work unit 1 failed"."""
    for edge in edges:
        ended = outcome(edge)
        if ended is None:
            continue
        if edge.condition == "succeeded" and ended != "succeeded":
            return f"dependency on {edge.what} {'failed' if ended == 'failed' else 'was cancelled'}"
        if edge.condition == "failed" and ended == "succeeded":
            return f"dependency on {edge.what} did not fail"
    return None


def relabel(
    statuses: dict[int, TaskStatus],
    edges: Sequence[Edge],
    outcome: Outcome,
) -> dict[int, TaskStatus]:
    """Tasks of a dependent unit that never ran: CANCELLED with the reason.

    The task runner ends such a task with `DEPENDENCY_NOT_MET`; Slurm cancels
    it itself (`--kill-on-invalid-dep`). Only units with a dependency are
    relabelled, so no other program's exit code is reinterpreted.
    """
    candidates = [
        task
        for task, status in statuses.items()
        if status.state is TaskState.CANCELLED
        or (status.state is TaskState.FAILED and status.exit_code == DEPENDENCY_NOT_MET)
    ]
    if not edges or not candidates:
        return statuses
    reason = explain(edges, outcome)
    result = dict(statuses)
    for task in candidates:
        status = statuses[task]
        if status.state is TaskState.FAILED or reason is not None:
            message = reason or f"its dependency ({describe_edges(edges)}) can never hold"
            result[task] = attrs.evolve(status, state=TaskState.CANCELLED, exit_code=None, message=message)
    return result


def live_relabel(unit: Any, statuses: dict[int, TaskStatus]) -> dict[int, TaskStatus]:
    """`relabel` for a unit launched by this process (its predecessors are objects here)."""
    flat: Flat = unit.dependency
    edges = [
        Edge(
            unit.experiment_id,
            unit.work_unit_id,
            flat.mode,
            c.experiment_id,
            c.work_unit_id,
            c.condition.value,
            c.per_task,
        )
        for c in flat.conditions
    ]
    units = {(c.experiment_id, c.work_unit_id): c.unit for c in flat.conditions}

    def outcome(edge: Edge) -> str | None:
        predecessor = units[(edge.on_experiment_id, edge.on_work_unit_id)]
        try:
            if getattr(predecessor, "_cluster_experiment", None) is not None:  # launched here: cached states
                tasks = [s for _, states in predecessor.task_statuses(refresh=False) for s in states.values()]
            else:
                tasks = list(predecessor.get_status().tasks)
        except Exception:  # noqa: BLE001 - a reason is a nicety, never an error
            return None
        return unit_outcome(tasks)

    return relabel(statuses, edges, outcome)


def edges_by_unit(rows: Iterable[Mapping[str, Any]]) -> dict[int, list[Edge]]:
    """Store rows -> dependent work unit id -> its edges."""
    result: dict[int, list[Edge]] = {}
    for row in rows:
        edge = Edge.from_row(row)
        result.setdefault(edge.work_unit_id, []).append(edge)
    return result


def dependents_closure(store: Any, experiment_id: int, work_unit_ids: Iterable[int]) -> dict[int, set[int]]:
    """Every unit that waits, directly or not, on the given ones: experiment id -> work unit ids."""
    found: dict[int, set[int]] = {}
    frontier = [(experiment_id, w) for w in work_unit_ids]
    while frontier:
        rows = store.dependents(frontier)
        frontier = []
        for row in rows:
            key = (int(row["experiment_id"]), int(row["work_unit_id"]))
            if key[1] not in found.setdefault(key[0], set()):
                found[key[0]].add(key[1])
                frontier.append(key)
    return found


def relabel_results(
    experiment_id: int,
    results: dict[int, list[tuple[Any, dict[int, TaskStatus]]]],
    rows: Iterable[Mapping[str, Any]],
    read_others: Callable[[list[tuple[int, int]]], dict[tuple[int, int], list[TaskStatus]]],
) -> dict[int, list[tuple[Any, dict[int, TaskStatus]]]]:
    """`relabel` over a reloaded experiment's `task_statuses` (work unit -> [(job, statuses)]).

    Predecessors not among `results` (another experiment's, or not selected)
    are read with `read_others`, once, only when a task needs a reason.
    """
    edges = edges_by_unit(rows)
    if not edges:
        return results
    others: dict[tuple[int, int], list[TaskStatus]] | None = None

    def outcome(edge: Edge) -> str | None:
        nonlocal others
        if edge.on_experiment_id == experiment_id and edge.on_work_unit_id in results:
            return unit_outcome(s for _, tasks in results[edge.on_work_unit_id] for s in tasks.values())
        if others is None:
            wanted = sorted(
                {
                    (e.on_experiment_id, e.on_work_unit_id)
                    for unit_edges in edges.values()
                    for e in unit_edges
                    if not (e.on_experiment_id == experiment_id and e.on_work_unit_id in results)
                }
            )
            try:
                others = read_others(wanted)
            except Exception:  # noqa: BLE001 - a reason is a nicety, never an error
                others = {}
        return unit_outcome(others.get((edge.on_experiment_id, edge.on_work_unit_id), []))

    # In id order: a unit waits on units added before it, so their states are final here first.
    relabelled = dict(results)
    for work_unit_id in sorted(results):
        unit_edges = edges.get(work_unit_id, [])
        relabelled[work_unit_id] = [
            (job, relabel(tasks, unit_edges, outcome)) for job, tasks in results[work_unit_id]
        ]
        results = {**results, work_unit_id: relabelled[work_unit_id]}
    return {work_unit_id: relabelled[work_unit_id] for work_unit_id in results}


def unit_reason(jobs: Sequence[tuple[Any, dict[int, TaskStatus]]]) -> str | None:
    """The dependency reason a unit's tasks were cancelled with, if any."""
    for _, tasks in jobs:
        for status in tasks.values():
            if status.state is TaskState.CANCELLED and status.message.startswith("dependency on "):
                return status.message
    return None


def dependency_json(
    work_unit_id: int, jobs: Sequence[tuple[Any, dict[int, TaskStatus]]], rows: Iterable[Mapping[str, Any]]
) -> dict[str, Any]:
    """The `lxm3 status --json` keys of a unit that waits on others (none for the others)."""
    edges = edges_by_unit(rows).get(work_unit_id, [])
    if not edges:
        return {}
    entry: dict[str, Any] = {"depends_on": [edge.to_json() for edge in edges]}
    if edges[0].mode == "any":
        entry["dependency_mode"] = "any"
    reason = unit_reason(jobs)
    if reason is not None:
        entry["reason"] = reason
    return entry


def dependency_lines(
    rows: Iterable[Mapping[str, Any]], results: Mapping[int, Sequence[tuple[Any, dict[int, TaskStatus]]]]
) -> list[str]:
    """`work unit 3 waits on work unit 1 succeeded and work unit 2 succeeded` lines for `lxm3 status`."""
    lines = []
    for work_unit_id, edges in sorted(edges_by_unit(rows).items()):
        if work_unit_id not in results:
            continue
        line = f"work unit {work_unit_id} waits on {describe_edges(edges)}"
        reason = unit_reason(results[work_unit_id])
        if reason is not None:
            line += f": cancelled, {reason}"
        lines.append(line)
    return lines


def cancel_dependents(experiment: Any, work_unit_ids: Sequence[int]) -> dict[int, set[int]]:
    """Cancels the units of OTHER experiments that wait on `work_unit_ids`; returns every dependent.

    The experiment's own dependents are returned (not cancelled) so that its
    caller cancels them in the same command as the units they wait on.
    """
    from lxm3.xm_cluster.reload import get_experiment

    found = dependents_closure(experiment.store, experiment.experiment_id, work_unit_ids)
    own = found.get(experiment.experiment_id, set()) - set(work_unit_ids)
    result = {experiment.experiment_id: own} if own else {}
    for experiment_id, units in sorted(found.items()):
        if experiment_id == experiment.experiment_id:
            continue
        other = get_experiment(experiment_id, store=experiment.store)
        other.cancel(sorted(units & set(other.work_units)))
        result[experiment_id] = units
    return result


def cancel_with_dependents(
    experiment: Any, work_unit_ids: Sequence[int] | None
) -> tuple[Any, dict[int, set[int]]]:
    """`experiment.cancel(work_unit_ids)` plus every unit waiting on them (what `lxm3 cancel` does).

    Returns the experiment's cancel report and the dependents cancelled with
    it: experiment id -> work unit ids.
    """
    chosen = list(work_unit_ids) if work_unit_ids is not None else list(experiment.work_units)
    experiment.select(chosen)
    dependents = cancel_dependents(experiment, chosen)
    own = dependents.get(experiment.experiment_id, set())
    selected = sorted(set(work_unit_ids) | own) if work_unit_ids is not None else None
    return experiment.cancel(selected), dependents
