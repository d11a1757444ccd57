"""`lxm3 rerun --failed` and dependencies: re-arming the units that wait on a rerun unit.

When a unit is rerun, the units waiting on it were cancelled (their condition
could not hold); the rerun resubmits their cancelled tasks too, held on the
rerun's NEW scheduler jobs, so the pipeline continues in order once the rerun
succeeds, with the launcher long gone. A condition on a unit that is not
rerun is decided now, from how that unit ended: it holds (the term is
dropped), or it never will (the dependent stays cancelled).

Task-by-task dependencies are not re-armed: a rerun's arrays hold scattered
tasks, which `aftercorr`/`-hold_jid_ad` cannot pair; the error says what to do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lxm3.schedulers.base import SubmittedJob
from lxm3.schedulers.dependency import PredecessorJob, ResolvedDependency, Term
from lxm3.xm.dependencies import DependencyError
from lxm3.xm.status import TaskState, TaskStatus
from lxm3.xm_cluster.dependency_status import Edge, edges_by_unit, unit_outcome

#: What `rerun_dependency` returns for a dependent whose condition can no longer hold.
NEVER = "never"


def rerun_scope(store: Any, experiment_id: int, work_unit_ids: Sequence[int] | None) -> dict[int, bool]:
    """Work units a rerun looks at -> whether only their CANCELLED tasks rerun (added dependents).

    `None` (every unit) stays every unit; a selection gains the units of this
    experiment that wait on it, directly or not.
    """
    edges = edges_by_unit(store.dependencies(experiment_id))
    if work_unit_ids is None:
        return {}
    scope = {work_unit_id: False for work_unit_id in work_unit_ids}
    changed = True
    while changed:
        changed = False
        for work_unit_id, unit_edges in sorted(edges.items()):
            if work_unit_id in scope:
                continue
            if any(e.on_experiment_id == experiment_id and e.on_work_unit_id in scope for e in unit_edges):
                scope[work_unit_id] = True
                changed = True
    return scope


def _holds(condition: str, outcome: str | None) -> bool | None:
    """Whether a condition holds on a unit that ended with `outcome`; None while it has not ended."""
    if outcome is None:
        return None
    if condition == "succeeded":
        return outcome == "succeeded"
    if condition == "failed":
        return outcome != "succeeded"
    return True


def rerun_dependency(
    experiment_id: int,
    work_unit_id: int,
    edges: Sequence[Edge],
    resubmitted: Mapping[int, list[tuple[Any, list[SubmittedJob]]]],
    statuses: Mapping[int, list[TaskStatus]],
) -> ResolvedDependency | str | None:
    """The dependency of a dependent's rerun: on the rerun jobs of its predecessors.

    None: nothing to wait for; `NEVER`: its condition can no longer hold.
    """
    terms: list[Term] = []
    decided: list[bool] = []
    for edge in edges:
        if edge.per_task:
            raise DependencyError(
                f"work unit {work_unit_id} waits task by task on {edge.what}, which a rerun cannot pair; "
                f"rerun {edge.what} alone (--wu {edge.on_work_unit_id}), then work unit {work_unit_id}"
            )
        own = edge.on_experiment_id == experiment_id
        if own and edge.on_work_unit_id in resubmitted:
            jobs = tuple(
                PredecessorJob(
                    tuple(s.job_id for s in submitted),
                    tuple(s.chunk for s in submitted),
                    job.first.log_dir,
                    job.num_tasks,
                )
                for job, submitted in resubmitted[edge.on_work_unit_id]
            )
            terms.append(
                Term(edge.on_experiment_id, edge.on_work_unit_id, edge.condition, False, jobs, edge.what)
            )
            continue
        holds = _holds(edge.condition, unit_outcome(statuses.get(edge.on_work_unit_id, [])) if own else None)
        if holds is None and not own:
            raise DependencyError(
                f"work unit {work_unit_id} waits on {edge.what}, another experiment's unit, which a rerun "
                "does not re-arm; launch it again instead"
            )
        if holds is None:
            raise DependencyError(
                f"work unit {work_unit_id} waits on {edge.what}, which has not ended; rerun it once it ended"
            )
        decided.append(holds)
    mode = edges[0].mode if edges else "all"
    if mode == "any":
        if any(decided):
            return None
        if not terms:
            return NEVER
    elif not all(decided):
        return NEVER
    return ResolvedDependency(mode, tuple(terms)) if terms else None


def check_rerun(
    experiment_id: int,
    rerun_units: Sequence[int],
    edges: Mapping[int, list[Edge]],
    statuses: Mapping[int, list[TaskStatus]],
) -> None:
    """Raises DependencyError before anything is resubmitted if a dependent cannot be re-armed."""
    rerun = set(rerun_units)
    for work_unit_id in sorted(rerun):
        for edge in edges.get(work_unit_id, []):
            rerun_too = edge.on_experiment_id == experiment_id and edge.on_work_unit_id in rerun
            # Raises for a task-by-task edge, or for a predecessor whose end is not known.
            placeholder: dict[int, list[tuple[Any, list[SubmittedJob]]]] = (
                {edge.on_work_unit_id: []} if rerun_too else {}
            )
            rerun_dependency(experiment_id, work_unit_id, [edge], placeholder, statuses)


def rerun_states(
    task_statuses: Mapping[int, list[tuple[Any, dict[int, TaskStatus]]]],
) -> dict[int, list[TaskStatus]]:
    """Work unit -> its tasks' states (what `rerun_dependency` decides on)."""
    return {
        work_unit_id: [status for _, tasks in jobs for status in tasks.values()]
        for work_unit_id, jobs in task_statuses.items()
    }


def cancelled_only(states: Sequence[TaskState], only_cancelled: bool) -> Sequence[TaskState]:
    """The states a unit of the rerun resubmits: a dependent added to the rerun only re-arms."""
    return (TaskState.CANCELLED,) if only_cancelled else states


def unit_edges(store: Any, experiment_id: int) -> dict[int, list[Edge]]:
    return edges_by_unit(store.dependencies(experiment_id))
