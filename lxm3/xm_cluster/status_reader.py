"""Task states of recorded jobs, read in one pass over many jobs (`StatusReader`).

The states come from the same engine that watches launched jobs: each
cluster's shared `StatusWatcher` (one scheduler query per cluster per poll,
plus one read of the completion files). What this module adds is what only
the store knows:

    final states   rows whose tasks all ended have their states cached in
                   the store, so old experiments cost no query at all
    attempts       a task's state is that of its latest attempt (a rerun's
                   positions are mapped to tasks through its index map)
    local jobs     run by the process that submitted them: watched directly
                   when that is this process, else read from the completion
                   files (a task without one is running while that process
                   lives, and was cancelled once it is gone: it waits for its
                   local jobs on exit, and stops them when interrupted)
"""

from __future__ import annotations

import itertools
import operator
import os
import socket
from collections.abc import Mapping, Sequence
from typing import Any

from lxm3.schedulers.completion import from_exit_code, read_exit_files
from lxm3.schedulers.local_process import process_alive
from lxm3.store import cancel_requests
from lxm3.store.db import ExperimentStore
from lxm3.store.records import JobRecord
from lxm3.transport.local import LocalTransport
from lxm3.xm.status import TaskState, TaskStatus, all_terminal
from lxm3.xm_cluster import cancel_intent, targets
from lxm3.xm_cluster.resolver import TargetResolver
from lxm3.xm_cluster.stored_jobs import StoredJob


def _pending(task: int, job_id: str | None = None, message: str = "") -> TaskStatus:
    return TaskStatus(task, TaskState.PENDING, job_id=job_id, message=message)


def _ascending(statuses: Mapping[int, TaskStatus]) -> bool:
    """Whether the tasks are in strictly ascending order (compared in C: 100,000 of them)."""
    return all(map(operator.lt, statuses, itertools.islice(statuses, 1, None)))


def _attempts(job: StoredJob) -> list[JobRecord]:
    """A job's attempts, each once, in the order `job.owners()` first meets them.

    A job never rerun has one attempt: no need for the owners of its 100,000 tasks.
    """
    if len(job.attempts) == 1:
        return list(job.attempts) if job.attempts[0].task_ids else []
    return list({id(a): a for a in job.owners().values()}.values())


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
        max_age: float = 0.0,
    ) -> dict[tuple[int, int, str], dict[int, TaskStatus]]:
        """(experiment, work unit, job name) -> {task: state of its latest attempt}.

        Failures to reach a cluster raise, unless `tolerate_errors`: then its
        unfinished tasks are UNKNOWN and the reason is added to `self.errors`.
        A watcher refresh younger than `max_age` seconds is reused (waiters share polls).
        """
        by_key = {(job.experiment_id, job.work_unit_id, job.name): job for job in jobs}
        experiment_of: dict[int, int] = {}
        relevant: dict[int, JobRecord] = {}
        for key, job in by_key.items():
            for attempt in _attempts(job):
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
                results[attempt.row_id] = self._local(attempt, config_path, max_age)
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
                results.update(self._cluster(target, attempts, max_age))
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
            if statuses and all_terminal(statuses.values()):
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
        for key, job in by_key.items():
            if len(job.attempts) == 1:  # never rerun: its one attempt's states, as they are
                only = results[job.attempts[0].row_id]
                tasks = job.attempts[0].task_ids
                if len(only) == len(tasks) == len(set(tasks)) and all(map(only.__contains__, tasks)):
                    out[key] = only if _ascending(only) else dict(sorted(only.items()))
                    continue
            job_owners = job.owners()
            out[key] = {
                task: results[owner.row_id].get(task) or _pending(task)
                for task, owner in sorted(job_owners.items())
            }
        return out

    @staticmethod
    def _unknown(attempt: JobRecord, message: str) -> dict[int, TaskStatus]:
        return {task: TaskStatus(task, TaskState.UNKNOWN, message=message) for task in attempt.task_ids}

    def _cluster(
        self, target: targets.Target, attempts: list[JobRecord], max_age: float
    ) -> dict[int, dict[int, TaskStatus]]:
        watched = {attempt.row_id: attempt.watched() for attempt in attempts}
        everything = [job for jobs in watched.values() for job in jobs]
        target.watcher.watch(everything)
        # A query younger than `max_age` that asked about all of them is reused (one that a
        # controller's journal read rode on, say); `read` decides what a failure means.
        target.watcher.refresh_covering(everything, max_age, strict=True)
        return {row_id: target.watcher.statuses(jobs) for row_id, jobs in watched.items()}

    def _local(self, attempt: JobRecord, config_path: str | None, max_age: float) -> dict[int, TaskStatus]:
        if attempt.pid == os.getpid() and attempt.host in (None, socket.gethostname()):
            # Submitted by this very process: its local scheduler knows the jobs, if it still holds them.
            target = self.resolver.target(attempt, config_path)
            watched = attempt.watched()
            target.watcher.watch(watched)
            target.watcher.refresh(max_age)
            if target.watcher.reported(watched):
                return target.watcher.statuses(watched)
            owner_running: bool | None = False
        else:
            owner_running = process_alive(attempt.pid, attempt.host, attempt.pid_start)
        [codes] = read_exit_files(LocalTransport(), [attempt.log_dir])
        statuses = {}
        for chunk in attempt.chunks:
            job_id = chunk.submitted.job_id
            for task in chunk.task_ids:
                err_log = attempt.log_path(task, "err")
                if task in codes:
                    statuses[task] = from_exit_code(task, codes[task], job_id, err_log)
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
