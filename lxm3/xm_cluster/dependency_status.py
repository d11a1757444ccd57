"""Dependencies in status reports: the recorded graph, and why a dependent never ran.

A task that never ran because its dependency can never hold is reported
CANCELLED with the reason, e.g. "dependency on work unit 1 failed", whether
Slurm cancelled it (`--kill-on-invalid-dep`) or the task runner ended it
(exit code `DEPENDENCY_NOT_MET`). Used by launched units
(`ClusterWorkUnit`), reloaded ones (`ReloadedExperiment.task_statuses`) and
`lxm3 status` (its lines and `--json` keys).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from lxm3.schedulers.dependency import DEPENDENCY_NOT_MET
from lxm3.xm.dependencies import Flat
from lxm3.xm.status import TaskState, TaskStatus


def describe_unit(work_unit_id: int, experiment_id: int, own_experiment: int) -> str:
    """`work unit 1`, or `work unit 1 of experiment 7` when not the experiment's own."""
    if experiment_id == own_experiment:
        return f"work unit {work_unit_id}"
    return f"work unit {work_unit_id} of experiment {experiment_id}"


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
        return describe_unit(self.on_work_unit_id, self.on_experiment_id, self.experiment_id)

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
