"""Cancelling jobs: one scheduler command per target, whether the units were launched or reloaded.

Cluster jobs are cancelled by id, all of one target's in one command. Local
tasks belong to the process that submitted them: from that process they are
cancelled like cluster jobs; from any other, that process is asked to stop
(`lxm3.schedulers.local_process`), which stops ALL its local jobs.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence

import attrs

from lxm3.schedulers.local_process import LocalProcessError, interrupt, process_alive, wait_for_exit
from lxm3.store.records import JobRecord, ReloadError
from lxm3.xm.status import TaskState, TaskStatus
from lxm3.xm_cluster import targets
from lxm3.xm_cluster.stored_jobs import StoredJob


def cancel_by_target(jobs: Iterable[tuple[targets.Target, str]]) -> dict[str, list[str]]:
    """Cancels scheduler jobs with ONE command per target; returns target name -> job ids."""
    by_target: dict[int, tuple[targets.Target, list[str]]] = {}
    for target, job_id in jobs:
        job_ids = by_target.setdefault(id(target), (target, []))[1]
        if job_id not in job_ids:
            job_ids.append(job_id)
    cancelled: dict[str, list[str]] = {}
    for target, job_ids in by_target.values():
        if job_ids:
            target.scheduler.cancel(target.transport(), job_ids)
            cancelled.setdefault(target.name, []).extend(job_ids)
    return cancelled


@attrs.define
class CancelReport:
    """What `cancel` did: scheduler jobs per target and local launcher processes signalled."""

    cancelled_jobs: dict[str, list[str]] = attrs.field(factory=dict)
    signalled: list[int] = attrs.field(factory=list)
    active_tasks: int = 0


Owner = tuple[int, "str | None", "str | None"]


def held_in_error(status: TaskStatus) -> bool:
    """A FAILED task the scheduler still holds queued (Grid Engine's Eqw): cancel/rerun must delete it."""
    return status.state is TaskState.FAILED and "holds it in error state" in status.message


def cancel_recorded(
    everything: Mapping[int, Sequence[tuple[StoredJob, Mapping[int, TaskStatus]]]],
    chosen: set[int],
    target_for: Callable[[JobRecord], targets.Target],
    *,
    wait_seconds: float = 60.0,
    record_intent: Callable[[set[int]], None] | None = None,
) -> CancelReport:
    """Cancels the unfinished tasks of the `chosen` work units, given every unit's task states.

    The states of the other units matter too: a launcher process running local
    tasks of a chosen unit AND of an active other unit is not asked to stop.
    """
    report = CancelReport()
    to_cancel: list[tuple[targets.Target, str]] = []
    owners: dict[Owner, set[int]] = {}
    cancelled_rows: set[int] = set()
    for work_unit_id, results in everything.items():
        for job, statuses in results:
            owner_of = job.owners()
            for task, status in statuses.items():
                if status.state.is_terminal and not held_in_error(status):
                    continue  # (a task Grid Engine holds in Eqw is still queued: it is deleted)
                attempt: JobRecord = owner_of[task]
                owner: Owner = (int(attempt.pid or 0), attempt.host, attempt.pid_start)
                if attempt.is_local:
                    owners.setdefault(owner, set()).add(work_unit_id)
                if work_unit_id not in chosen:
                    continue
                report.active_tasks += 1
                cancelled_rows.add(attempt.row_id)
                if attempt.is_local and owner[0] != os.getpid():
                    continue  # the process running it is asked to stop, below
                to_cancel.append((target_for(attempt), attempt.chunk_of(task).submitted.job_id))
    if record_intent is not None:  # first: however the stop signal lands, these tasks show CANCELLED
        record_intent(cancelled_rows)
    signalled = []
    for (pid, host, start), units in owners.items():
        if not units & chosen or pid == os.getpid():
            continue
        others = sorted(units - chosen)
        if others:
            raise ReloadError(
                f"the local tasks of work unit(s) {', '.join(map(str, sorted(units & chosen)))} are run by process {pid}, "
                f"which also runs active work unit(s) {', '.join(map(str, others))}; cancel the whole experiment instead"
            )
        if process_alive(pid, host, start) is None:
            raise ReloadError(f"the local tasks are run by process {pid} on {host}; cancel them there")
        try:
            interrupt(pid)
        except LocalProcessError as error:
            raise ReloadError(str(error)) from None
        signalled.append((pid, host, start))
    report.cancelled_jobs = cancel_by_target(to_cancel)
    deadline = time.monotonic() + wait_seconds
    for pid, host, start in signalled:
        if not wait_for_exit(pid, host, start, deadline):
            raise ReloadError(
                f"process {pid} (running the local tasks) did not stop within {wait_seconds:.0f} s"
            )
        report.signalled.append(pid)
    return report
