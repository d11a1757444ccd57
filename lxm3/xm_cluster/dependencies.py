"""Dependencies between work units, on the cluster backend.

At launch (`resolve`): a dependent unit first waits until the units it names
are submitted (their `add` returned), then their scheduler job ids and log
dirs go into a `ResolvedDependency` that the target's scheduler renders into
the dependent's job scripts (see `lxm3.schedulers.dependency`). Everything is
submitted at once; the scheduler, not this process, holds the order, so the
launcher may exit.

The graph is kept in the store (`dependencies` table) for `lxm3 status`
(`dependency_status`), `lxm3 cancel` (dependents go too, below) and `lxm3
rerun` (`rerun_dependencies`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Any

from lxm3.schedulers.base import ArrayChunk, split_into_chunks
from lxm3.schedulers.dependency import (
    PredecessorJob,
    ResolvedDependency,
    Term,
    check_expressible,
    runner_check,
    runner_terms_for,
)
from lxm3.xm.dependencies import After, DependencyError, Flat
from lxm3.xm_cluster.dependency_status import describe_unit


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
            if target.is_local:
                raise DependencyError(
                    f"work unit {condition.work_unit_id} of experiment {condition.experiment_id} was launched by "
                    "another process: Local jobs can only wait on units this process runs"
                )
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
        what = describe_unit(condition.work_unit_id, condition.experiment_id, experiment_id)
        if condition.per_task:
            sizes = {job.num_tasks for job in jobs}
            if any(chunk.pack > 1 for job in jobs for chunk in job.chunks):
                raise DependencyError(
                    f"after_succeeded(per_task=True) cannot pair tasks with {what}: its tasks were packed "
                    "several per array task; launch it with ArrayJob(pack=1)"
                )
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


def cancel_dependents(experiment: Any, work_unit_ids: Sequence[int]) -> dict[int, set[int]]:
    """Cancels the units of OTHER experiments that wait on `work_unit_ids`; returns every dependent.

    The experiment's own dependents are returned (not cancelled) so that its
    caller cancels them in the same command as the units they wait on.
    """
    from lxm3.xm_cluster.reloaded import get_experiment

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
