"""Task states of recorded jobs, read in one pass over many jobs (`StatusReader`).

    cluster jobs   ONE scheduler query per cluster for every job still running,
                   plus ONE command reading the completion files
                   (`logs/<task>.exit`, written by the task runner)
    Local jobs     run by the process that submitted them: asked directly when
                   that is this process, else read from the completion files
                   (a task without one is running while that process lives,
                   and was cancelled once it is gone: it waits for its local
                   jobs on exit, and stops them when interrupted)

Rows whose tasks all ended have their states cached in the store, so old
experiments cost no scheduler query at all. A launching process watches its
own jobs through the target's `StatusWatcher`; this reader is for jobs known
only from the store (`lxm3 status/list/clean`, reloaded experiments).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from lxm3.schedulers import packing
from lxm3.schedulers.local_process import process_alive
from lxm3.schedulers.packing import read_exit_codes
from lxm3.store import cancel_requests
from lxm3.store.db import ExperimentStore
from lxm3.store.records import JobRecord
from lxm3.xm.status import TaskState, TaskStatus
from lxm3.xm_cluster import cancel_intent, targets
from lxm3.xm_cluster.resolver import TargetResolver
from lxm3.xm_cluster.stored_jobs import StoredJob


def _pending(task: int, job_id: str | None = None, message: str = "") -> TaskStatus:
    return TaskStatus(task, TaskState.PENDING, job_id=job_id, message=message)


def _from_exit_code(task: int, code: int, job_id: str | None, log_path: str) -> TaskStatus:
    state = TaskState.COMPLETED if code == 0 else TaskState.FAILED
    return TaskStatus(task, state, exit_code=code, log_path=log_path, job_id=job_id)


def combine(
    task: int, scheduler: TaskStatus | None, exit_code: int | None, job_id: str, log_path: str
) -> TaskStatus:
    """A task's state from the scheduler's word and the completion file's exit code.

    A final scheduler state wins (it knows about cancellation, timeouts, memory
    kills), taking the exit code from the file if it has none. Otherwise the
    file wins (the scheduler's accounting lags behind it), except for a task
    killed by a signal (code > 128, as after `scancel`/`qdel` or a time
    limit) that the scheduler still reports active: only the scheduler can say
    why, so its answer is awaited. A task nobody knows yet is pending.
    """
    active = (
        scheduler is not None
        and scheduler.state not in (TaskState.UNKNOWN,)
        and not scheduler.state.is_terminal
    )
    # TaskStatus(...) rather than attrs.evolve: this runs once per task, 100,000 times for a big sweep.
    if scheduler is not None and scheduler.state.is_terminal:
        code = scheduler.exit_code if scheduler.exit_code is not None else exit_code
        return TaskStatus(
            task, scheduler.state, code, scheduler.message, log_path, scheduler.job_id or job_id
        )
    if exit_code is not None and not (active and exit_code > 128):
        return _from_exit_code(task, exit_code, job_id, log_path)
    if scheduler is not None and scheduler.state is not TaskState.UNKNOWN:
        return TaskStatus(
            task,
            scheduler.state,
            scheduler.exit_code,
            scheduler.message,
            log_path,
            scheduler.job_id or job_id,
        )
    return _pending(task, job_id)


def read_exit_files(transport: Any, log_dirs: Sequence[str]) -> list[dict[int, int]]:
    """The exit codes in each log dir (`<task>.exit`), read with ONE command; a failed read raises."""
    return read_exit_codes(transport, log_dirs, check=True)


def _read_local_exit_codes(log_dir: str, tasks: Iterable[int]) -> dict[int, int]:
    codes = {}
    for task in tasks:
        try:
            with open(os.path.join(log_dir, f"{task}.exit")) as handle:
                codes[task] = int(handle.read().strip())
        except (OSError, ValueError):
            continue
    return codes


def _ascending(statuses: Mapping[int, TaskStatus]) -> bool:
    previous = -1
    for task in statuses:
        if task <= previous:
            return False
        previous = task
    return True


class StatusReader:
    """Task states of many jobs: one scheduler query and one file read per cluster."""

    def __init__(self, store: ExperimentStore, resolver: TargetResolver | None = None) -> None:
        self.store = store
        self.resolver = resolver or TargetResolver()
        #: Messages of clusters that could not be asked (with `tolerate_errors`).
        self.errors: list[str] = []

    def read(
        self,
        jobs: Sequence[StoredJob],
        config_paths: Mapping[int, str | None],
        *,
        tolerate_errors: bool = False,
    ) -> dict[tuple[int, int, str], dict[int, TaskStatus]]:
        """(experiment, work unit, job name) -> {task: state of its latest attempt}.

        Failures to reach a cluster raise, unless `tolerate_errors`: then its
        unfinished tasks are UNKNOWN and the reason is added to `self.errors`.
        """
        owners = {(job.experiment_id, job.work_unit_id, job.name): job.owners() for job in jobs}
        experiment_of: dict[int, int] = {}
        relevant: dict[int, JobRecord] = {}
        for key, job_owners in owners.items():
            # Each attempt once (a 100,000-task job has 100,000 entries, and few attempts).
            for attempt in {id(a): a for a in job_owners.values()}.values():
                relevant[attempt.row_id] = attempt
                experiment_of[attempt.row_id] = key[0]
        results: dict[int, dict[int, TaskStatus]] = {}
        live: list[JobRecord] = []
        for row_id, attempt in relevant.items():
            cached = attempt.final_statuses()
            if cached is not None:
                results[row_id] = cached
            else:
                live.append(attempt)

        groups: dict[int, tuple[targets.Target, list[JobRecord]]] = {}
        for attempt in live:
            config_path = config_paths.get(experiment_of[attempt.row_id])
            if attempt.is_local:
                results[attempt.row_id] = self._local(attempt, config_path)
                continue
            try:
                target = self.resolver.target(attempt, config_path)
            except Exception as error:
                if not tolerate_errors:
                    raise
                self.errors.append(str(error))
                results[attempt.row_id] = self._unknown(attempt, str(error))
                continue
            groups.setdefault(id(target), (target, []))[1].append(attempt)
        for target, attempts in groups.values():
            try:
                results.update(self._cluster(target, attempts))
            except Exception as error:
                if not tolerate_errors:
                    raise
                message = f"{target.name}: {error}"
                self.errors.append(message)
                for attempt in attempts:
                    results[attempt.row_id] = self._unknown(attempt, message)

        for row_id in cancel_requests.requested(self.store, results):  # the user's cancel wins
            results[row_id] = cancel_intent.apply(results[row_id])
        finished: dict[int, dict[int, dict[str, Any]]] = {}
        for attempt in live:
            statuses = results[attempt.row_id]
            if statuses and all(s.state.is_terminal for s in statuses.values()):
                finished[attempt.row_id] = {
                    task: {
                        "state": s.state.value,
                        "exit_code": s.exit_code,
                        "message": s.message,
                        "job_id": s.job_id,
                    }
                    for task, s in statuses.items()
                }
        if finished:
            self.store.set_final(finished)
            for attempt in live:
                if attempt.row_id in finished:
                    attempt.final = {str(k): v for k, v in finished[attempt.row_id].items()}

        out: dict[tuple[int, int, str], dict[int, TaskStatus]] = {}
        for key, job_owners in owners.items():
            distinct = {id(a): a for a in job_owners.values()}
            if len(distinct) == 1:  # never rerun: its one attempt's states, as they are
                only = results[next(iter(distinct.values())).row_id]
                if len(only) == len(job_owners) and all(task in only for task in job_owners):
                    out[key] = only if _ascending(only) else dict(sorted(only.items()))
                    continue
            out[key] = {
                task: results[owner.row_id].get(task) or _pending(task)
                for task, owner in sorted(job_owners.items())
            }
        return out

    @staticmethod
    def _unknown(attempt: JobRecord, message: str) -> dict[int, TaskStatus]:
        return {task: TaskStatus(task, TaskState.UNKNOWN, message=message) for task in attempt.task_ids}

    def _cluster(self, target: targets.Target, attempts: list[JobRecord]) -> dict[int, dict[int, TaskStatus]]:
        transport = target.transport()
        submitted = [chunk.submitted for attempt in attempts for chunk in attempt.chunks]
        # Packed jobs come back per array task; `packing.spread` gives each sweep task its own state.
        known = target.scheduler.query_tasks(transport, submitted, exit_codes=False) if submitted else {}
        log_dirs = sorted({attempt.log_dir for attempt in attempts})  # attempts of a job share one
        exit_codes = dict(zip(log_dirs, read_exit_files(transport, log_dirs), strict=True))
        results: dict[int, dict[int, TaskStatus]] = {}
        for attempt in attempts:
            codes = exit_codes[attempt.log_dir]
            statuses: dict[int, TaskStatus] = {}
            for chunk in attempt.chunks:
                job_id = chunk.submitted.job_id
                by_key = known.get(job_id, {})
                if chunk.submitted.chunk.pack > 1:
                    # Already each task's own state (its exit file applied): no `combine` needed.
                    spread = packing.spread(chunk.submitted, by_key, codes, chunk.task_ids)
                    offset = chunk.submitted.chunk.offset
                    for position, task in enumerate(chunk.task_ids):
                        found = spread.get(offset + position)
                        if found is None:
                            statuses[task] = _pending(task, job_id)
                        elif found.index == task:
                            statuses[task] = found
                        else:  # a rerun's index map: scheduler position -> global task id
                            statuses[task] = TaskStatus(
                                task, found.state, found.exit_code, found.message, None, found.job_id
                            )
                    continue
                prefix = f"{attempt.log_dir}/"
                for position, task in enumerate(chunk.task_ids):
                    reported = by_key.get(chunk.submitted.chunk.offset + position)
                    statuses[task] = combine(task, reported, codes.get(task), job_id, f"{prefix}{task}.err")
            results[attempt.row_id] = statuses
        return results

    def _local(self, attempt: JobRecord, config_path: str | None) -> dict[int, TaskStatus]:
        if attempt.pid == os.getpid() and attempt.host in (None, socket.gethostname()):
            # Submitted by this very process: its local scheduler knows the jobs, if it still holds them.
            target = self.resolver.target(attempt, config_path)
            submitted = [chunk.submitted for chunk in attempt.chunks]
            known = target.scheduler.query(target.transport(), submitted)
            if all(chunk.submitted.job_id in known for chunk in attempt.chunks):
                statuses = {}
                for chunk in attempt.chunks:
                    for key, status in known[chunk.submitted.job_id].items():
                        task = chunk.global_id(key)
                        if task is not None:
                            statuses[task] = attrs.evolve(
                                status, index=task, log_path=attempt.log_path(task, "err")
                            )
                return statuses
            owner_running: bool | None = False
        else:
            owner_running = process_alive(attempt.pid, attempt.host, attempt.pid_start)
        codes = _read_local_exit_codes(attempt.log_dir, attempt.task_ids)
        statuses = {}
        for chunk in attempt.chunks:
            job_id = chunk.submitted.job_id
            for task in chunk.task_ids:
                err_log = attempt.log_path(task, "err")
                if task in codes:
                    statuses[task] = _from_exit_code(task, codes[task], job_id, err_log)
                elif owner_running is not False:
                    started = os.path.exists(attempt.log_path(task, "out"))
                    state = TaskState.RUNNING if started else TaskState.PENDING
                    statuses[task] = TaskStatus(task, state, job_id=job_id, log_path=err_log)
                else:
                    message = "its launcher exited first" if attempt.pid else ""
                    statuses[task] = TaskStatus(
                        task, TaskState.CANCELLED, job_id=job_id, log_path=err_log, message=message
                    )
        return statuses
