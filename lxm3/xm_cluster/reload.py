"""Experiments reloaded from the store, in any process: status, wait, stop, rerun.

`get_experiment(experiment_id)` rebuilds an experiment's work units from the
store. Each job is a list of attempts (attempt 1 is the launch, later ones are
`lxm3 rerun`s of some of its tasks); a task's state is that of its latest
attempt. States are read in one pass over many jobs (`StatusReader`):

    cluster jobs   ONE scheduler query per cluster for every job still running,
                   plus ONE command reading the completion files
                   (`logs/<task>.exit`, written by the task runner)
    Local jobs     run by the process that submitted them: asked directly when
                   that is this process, else read from the completion files
                   (a task without one is running while that process lives,
                   and was cancelled once it is gone: it waits for its local
                   jobs on exit, and stops them when interrupted)

Rows whose tasks all ended have their states cached in the store, so old
experiments cost no scheduler query at all.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from lxm3 import xm
from lxm3.config import Config, ConfigError, load_config, load_config_file
from lxm3.schedulers.base import ArrayChunk, JobScript, RenderRequest, SubmittedJob, split_into_chunks
from lxm3.store.db import ExperimentStore, open_store, process_alive
from lxm3.xm.status import ExperimentUnitStatus, TaskState, TaskStatus
from lxm3.xm_cluster import launching, targets

log = logging.getLogger(__name__)

#: States a rerun resubmits.
RERUN_STATES = (TaskState.FAILED, TaskState.CANCELLED)


class ReloadError(RuntimeError):
    """A recorded job cannot be reached, restored or resubmitted."""


# ----------------------------------------------------------------------------- records


@attrs.frozen
class Chunk:
    """One submitted scheduler job of an attempt, and the global task id at each array position."""

    submitted: SubmittedJob
    task_ids: tuple[int, ...]
    index_map: str | None = None

    def global_id(self, task_key: int) -> int | None:
        """The global task id for a task id the scheduler reports (offset + array position)."""
        position = task_key - self.submitted.chunk.offset
        return self.task_ids[position] if 0 <= position < len(self.task_ids) else None


@attrs.define
class JobAttempt:
    """One row of the store's jobs table: one job of a unit, as submitted by one attempt."""

    row: dict[str, Any]
    chunks: list[Chunk]
    _chunk_by_task: dict[int, Chunk] = attrs.field(factory=dict, init=False, repr=False)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> JobAttempt:
        chunks = []
        for entry in row.get("submitted") or []:
            submitted = SubmittedJob.from_record(entry)
            ids = entry.get("task_ids")
            task_ids = tuple(int(t) for t in ids) if ids is not None else tuple(submitted.chunk.task_ids)
            chunks.append(Chunk(submitted, task_ids, entry.get("index_map")))
        return cls(dict(row), chunks)

    @property
    def row_id(self) -> int:
        return int(self.row["id"])

    @property
    def attempt(self) -> int:
        return int(self.row.get("attempt") or 1)

    @property
    def name(self) -> str:
        return str(self.row["name"])

    @property
    def target_name(self) -> str:
        return str(self.row["target"])

    @property
    def scheduler_name(self) -> str:
        return str(self.row["scheduler"])

    @property
    def is_local(self) -> bool:
        return self.scheduler_name == "local"

    @property
    def remote_dir(self) -> str:
        return str(self.row["remote_dir"])

    @property
    def log_dir(self) -> str:
        return str(self.row.get("log_dir") or f"{self.remote_dir}/logs")

    @property
    def num_tasks(self) -> int:
        return int(self.row["num_tasks"])

    @property
    def task_ids(self) -> list[int]:
        return [task for chunk in self.chunks for task in chunk.task_ids]

    def log_path(self, task: int, stream: str = "out") -> str:
        return f"{self.log_dir}/{task}.{stream}"

    def chunk_of(self, task: int) -> Chunk:
        """The submitted scheduler job that runs `task` in this attempt."""
        if not self._chunk_by_task:
            self._chunk_by_task.update((t, chunk) for chunk in self.chunks for t in chunk.task_ids)
        return self._chunk_by_task[task]

    def final_statuses(self) -> dict[int, TaskStatus] | None:
        """The cached final states, if every task of this row had ended."""
        final = self.row.get("final")
        if not isinstance(final, dict):
            return None
        result = {}
        for key, value in final.items():
            task = int(key)
            result[task] = TaskStatus(
                task,
                TaskState(value["state"]),
                exit_code=value.get("exit_code"),
                message=value.get("message") or "",
                log_path=self.log_path(task, "err"),
                job_id=value.get("job_id"),
            )
        return result

    def executor(self) -> Any:
        """The executor the job was launched with (unpickled from the store)."""
        blob = self.row.get("executor_pickle")
        if blob is None:
            raise ReloadError(
                f"job {self.name!r}: the store holds no executor for it (launched by an older lxm3?)"
            )
        try:
            return pickle.loads(blob)
        except Exception as error:  # noqa: BLE001 - any unpickling problem becomes one line
            raise ReloadError(
                f"job {self.name!r}: cannot restore its executor {self.row.get('executor')}: {error}"
            ) from None


@attrs.define
class StoredJob:
    """A job of a work unit across all its attempts."""

    experiment_id: int
    work_unit_id: int
    name: str
    attempts: list[JobAttempt]

    @property
    def num_tasks(self) -> int:
        return self.attempts[0].num_tasks

    @property
    def first(self) -> JobAttempt:
        return self.attempts[0]

    def owners(self) -> dict[int, JobAttempt]:
        """The latest attempt of each task (which decides its state and holds its logs)."""
        owners: dict[int, JobAttempt] = {}
        for attempt in sorted(self.attempts, key=lambda a: (a.attempt, a.row_id)):
            for task in attempt.task_ids:
                owners[task] = attempt
        return owners

    def log_path(self, task: int, stream: str = "out") -> str:
        owner = self.owners().get(task, self.first)
        return owner.log_path(task, stream)


def group_jobs(experiment_id: int, rows: Iterable[Mapping[str, Any]]) -> list[StoredJob]:
    """Store rows -> jobs with their attempts, in (work unit, first submission) order."""
    jobs: dict[tuple[int, str], StoredJob] = {}
    for row in rows:
        key = (int(row["work_unit_id"]), str(row["name"]))
        job = jobs.get(key)
        if job is None:
            job = jobs[key] = StoredJob(experiment_id, key[0], key[1], [])
        job.attempts.append(JobAttempt.from_row(row))
    return sorted(jobs.values(), key=lambda j: (j.work_unit_id, j.first.row_id))


# ----------------------------------------------------------------------------- targets


class TargetResolver:
    """Recorded (config, target name, scheduler) -> the shared `Target` of this process."""

    def __init__(self) -> None:
        self._configs: dict[str | None, Config] = {}

    def config(self, config_path: str | None) -> Config:
        """The configuration an experiment was launched with (defaults when it had no file)."""
        if config_path not in self._configs:
            if config_path is None:
                self._configs[config_path] = Config()
            elif not os.path.isfile(config_path):
                raise ConfigError(
                    f"the experiment was launched with config {config_path}, which no longer exists; restore it to reach its cluster"
                )
            else:
                self._configs[config_path] = load_config_file(Path(config_path))
        return self._configs[config_path]

    def target(self, attempt: JobAttempt, config_path: str | None) -> targets.Target:
        if attempt.is_local:
            from lxm3.xm_cluster.executors.local import Local

            return targets.get_target(Local(), self._local_config(config_path))
        config = self.config(config_path)
        executor = attempt.executor()
        if attrs.has(type(executor)) and "cluster" in attrs.fields_dict(type(executor)):
            # The recorded cluster, whatever `$LXM_CLUSTER` says now.
            executor = attrs.evolve(executor, cluster=attempt.target_name)
        target = targets.get_target(executor, config)
        if target.name != attempt.target_name or target.scheduler.name != attempt.scheduler_name:
            raise ReloadError(
                f"job {attempt.name!r} ran on {attempt.target_name} ({attempt.scheduler_name}), but the config now maps it to "
                f"{target.name} ({target.scheduler.name})"
            )
        return target

    def _local_config(self, config_path: str | None) -> Config:
        # Local jobs need the config only for the local python/env; a missing file is no obstacle.
        try:
            return self.config(config_path)
        except ConfigError:
            return Config()


# ----------------------------------------------------------------------------- status


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
    if scheduler is not None and scheduler.state.is_terminal:
        code = scheduler.exit_code if scheduler.exit_code is not None else exit_code
        return attrs.evolve(
            scheduler, index=task, exit_code=code, log_path=log_path, job_id=scheduler.job_id or job_id
        )
    if exit_code is not None and not (active and exit_code > 128):
        return _from_exit_code(task, exit_code, job_id, log_path)
    if scheduler is not None and scheduler.state is not TaskState.UNKNOWN:
        return attrs.evolve(scheduler, index=task, log_path=log_path, job_id=scheduler.job_id or job_id)
    return _pending(task, job_id)


_EXIT_SCRIPT = (
    'i=0; for d in "$@"; do printf "@@ %s\\n" "$i"; '
    "[ -d \"$d\" ] && (cd \"$d\" && find . -maxdepth 1 -name '*.exit' -exec grep -H '' {} + 2>/dev/null); "
    "i=$((i + 1)); done; true"
)


def read_exit_files(transport: Any, log_dirs: Sequence[str]) -> list[dict[int, int]]:
    """The exit codes in each log dir (`<task>.exit`), read with ONE command."""
    if not log_dirs:
        return []
    result = transport.run(["bash", "-c", _EXIT_SCRIPT, "lxm3-exit", *log_dirs])
    codes: list[dict[int, int]] = [{} for _ in log_dirs]
    current: dict[int, int] | None = None
    for line in result.stdout.splitlines():
        if line.startswith("@@ "):
            index = int(line[3:])
            current = codes[index] if 0 <= index < len(codes) else None
            continue
        name, _, value = line.partition(":")
        name = name.removeprefix("./")
        if current is None or not name.endswith(".exit"):
            continue
        try:
            current[int(name[: -len(".exit")])] = int(value.strip())
        except ValueError:
            continue
    return codes


def _read_local_exit_codes(log_dir: str, tasks: Iterable[int]) -> dict[int, int]:
    codes = {}
    for task in tasks:
        try:
            with open(os.path.join(log_dir, f"{task}.exit")) as handle:
                codes[task] = int(handle.read().strip())
        except (OSError, ValueError):
            continue
    return codes


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
        relevant: dict[int, JobAttempt] = {}
        for key, job_owners in owners.items():
            for attempt in job_owners.values():
                relevant[attempt.row_id] = attempt
                experiment_of[attempt.row_id] = key[0]
        results: dict[int, dict[int, TaskStatus]] = {}
        live: list[JobAttempt] = []
        for row_id, attempt in relevant.items():
            cached = attempt.final_statuses()
            if cached is not None:
                results[row_id] = cached
            else:
                live.append(attempt)

        groups: dict[int, tuple[targets.Target, list[JobAttempt]]] = {}
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
                    attempt.row["final"] = {str(k): v for k, v in finished[attempt.row_id].items()}

        out: dict[tuple[int, int, str], dict[int, TaskStatus]] = {}
        for key, job_owners in owners.items():
            out[key] = {
                task: results[owner.row_id].get(task) or _pending(task)
                for task, owner in sorted(job_owners.items())
            }
        return out

    @staticmethod
    def _unknown(attempt: JobAttempt, message: str) -> dict[int, TaskStatus]:
        return {task: TaskStatus(task, TaskState.UNKNOWN, message=message) for task in attempt.task_ids}

    def _cluster(
        self, target: targets.Target, attempts: list[JobAttempt]
    ) -> dict[int, dict[int, TaskStatus]]:
        transport = target.transport()
        submitted = [chunk.submitted for attempt in attempts for chunk in attempt.chunks]
        known = target.scheduler.query(transport, submitted) if submitted else {}
        log_dirs = sorted({attempt.log_dir for attempt in attempts})  # attempts of a job share one
        exit_codes = dict(zip(log_dirs, read_exit_files(transport, log_dirs), strict=True))
        results: dict[int, dict[int, TaskStatus]] = {}
        for attempt in attempts:
            codes = exit_codes[attempt.log_dir]
            statuses: dict[int, TaskStatus] = {}
            for chunk in attempt.chunks:
                job_id = chunk.submitted.job_id
                by_key = known.get(job_id, {})
                for position, task in enumerate(chunk.task_ids):
                    reported = by_key.get(chunk.submitted.chunk.offset + position)
                    statuses[task] = combine(
                        task, reported, codes.get(task), job_id, attempt.log_path(task, "err")
                    )
            results[attempt.row_id] = statuses
        return results

    def _local(self, attempt: JobAttempt, config_path: str | None) -> dict[int, TaskStatus]:
        row = attempt.row
        if row.get("pid") == os.getpid() and row.get("host") in (None, socket.gethostname()):
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
            owner_running = process_alive(row.get("pid"), row.get("host"), row.get("pid_start"))
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
                    message = "its launcher exited first" if row.get("pid") else ""
                    statuses[task] = TaskStatus(
                        task, TaskState.CANCELLED, job_id=job_id, log_path=err_log, message=message
                    )
        return statuses


# ----------------------------------------------------------------------------- experiment


class ReloadedWorkUnit(xm.WorkUnit):
    """A work unit rebuilt from the store: wait, stop and status work as on the launched one."""

    def __init__(
        self,
        experiment: ReloadedExperiment,
        work_unit_id: int,
        args: Mapping[str, Any] | None,
        jobs: list[StoredJob],
    ) -> None:
        super().__init__(experiment, work_unit_id, args, xm.WorkUnitRole())
        self._reloaded = experiment
        self.jobs = jobs
        self._launched.set()

    async def _launch_job_group(self, job_group: xm.JobGroup, args_view: Mapping[str, Any]) -> None:
        raise xm.ExperimentUnitError(
            f"work unit {self.work_unit_name} was reloaded from the store; it cannot launch jobs"
        )

    def task_statuses(self) -> list[tuple[StoredJob, dict[int, TaskStatus]]]:
        """Each job with the state of its tasks (latest attempt of each)."""
        return self._reloaded.task_statuses([self.work_unit_id])[self.work_unit_id]

    def get_status(self) -> ExperimentUnitStatus:
        tasks: list[TaskStatus] = []
        for _, statuses in self.task_statuses():
            tasks.extend(statuses.values())
        return ExperimentUnitStatus(tuple(tasks))

    async def _wait_until_complete(self) -> None:
        from lxm3.schedulers.watcher import poll_intervals
        from lxm3.xm_cluster.experiment import raise_for_outcome

        next_interval = poll_intervals()
        while True:
            try:
                results = await asyncio.to_thread(self.task_statuses)
            except Exception as error:  # noqa: BLE001 - like the watcher: a flaky query is retried
                log.warning("status query failed (will retry): %s", error)
            else:
                if all(s.state.is_terminal for _, statuses in results for s in statuses.values()):
                    outcomes = [
                        (task, status, job.log_path(task, "err"))
                        for job, statuses in results
                        for task, status in sorted(statuses.items())
                    ]
                    raise_for_outcome(self.experiment_id, self.work_unit_id, outcomes)
                    return
            await asyncio.sleep(next_interval())

    def stop(self) -> None:
        self._reloaded.cancel([self.work_unit_id])


@attrs.define
class CancelReport:
    """What `cancel` did: scheduler jobs per target and local launcher processes signalled."""

    cancelled_jobs: dict[str, list[str]] = attrs.field(factory=dict)
    signalled: list[int] = attrs.field(factory=list)
    active_tasks: int = 0


@attrs.define
class RerunReport:
    """What `rerun_failed` submitted: per (work unit, job) the tasks and scheduler job ids."""

    attempt: int | None = None
    jobs: list[tuple[int, str, list[int], list[str]]] = attrs.field(factory=list)
    local: bool = False

    @property
    def num_tasks(self) -> int:
        return sum(len(tasks) for _, _, tasks, _ in self.jobs)


class ReloadedExperiment(xm.Experiment):
    """An experiment rebuilt from the store (`xm_cluster.get_experiment`)."""

    def __init__(
        self, record: Mapping[str, Any], store: ExperimentStore, resolver: TargetResolver | None = None
    ) -> None:
        super().__init__()
        self.record = dict(record)
        self.store = store
        self.title = str(record["title"])
        self.resolver = resolver or TargetResolver()
        self._experiment_id = int(record["id"])
        self.refresh()

    def refresh(self) -> None:
        """Re-reads the work units and job attempts from the store (after a rerun)."""
        args = {row["work_unit_id"]: row.get("args") for row in self.store.work_units(self._experiment_id)}
        jobs = group_jobs(self._experiment_id, self.store.jobs(self._experiment_id))
        units = {unit.work_unit_id: unit for unit in self._units if isinstance(unit, ReloadedWorkUnit)}
        for work_unit_id in sorted(set(args) | {job.work_unit_id for job in jobs}):
            unit_jobs = [job for job in jobs if job.work_unit_id == work_unit_id]
            if work_unit_id in units:
                units[work_unit_id].jobs = unit_jobs
                continue
            unit_args = args.get(work_unit_id)
            args_view = unit_args if isinstance(unit_args, Mapping) else None
            self._units.append(ReloadedWorkUnit(self, work_unit_id, args_view, unit_jobs))
        self._next_work_unit_id = max([0, *args, *units]) + 1

    @property
    def experiment_id(self) -> int:
        return self._experiment_id

    @property
    def config_path(self) -> str | None:
        return self.record.get("config_path")

    @property
    def work_units(self) -> dict[int, ReloadedWorkUnit]:  # type: ignore[override]
        return {unit.work_unit_id: unit for unit in self._units if isinstance(unit, ReloadedWorkUnit)}

    def select(self, work_unit_ids: Sequence[int] | None = None) -> list[ReloadedWorkUnit]:
        """The given work units (all when None); an unknown id raises xm.NotFoundError."""
        units = self.work_units
        if work_unit_ids is None:
            return list(units.values())
        missing = [i for i in work_unit_ids if i not in units]
        if missing:
            known = ", ".join(map(str, units)) or "none"
            raise xm.NotFoundError(
                f"experiment {self.experiment_id} has no work unit {missing[0]} (work units: {known})"
            )
        return [units[i] for i in work_unit_ids]

    def jobs(self, work_unit_ids: Sequence[int] | None = None) -> list[StoredJob]:
        return [job for unit in self.select(work_unit_ids) for job in unit.jobs]

    def task_statuses(
        self,
        work_unit_ids: Sequence[int] | None = None,
        *,
        reader: StatusReader | None = None,
        tolerate_errors: bool = False,
    ) -> dict[int, list[tuple[StoredJob, dict[int, TaskStatus]]]]:
        """Work unit -> [(job, {task: status})], with one scheduler query per cluster for all of them."""
        units = self.select(work_unit_ids)
        reader = reader or StatusReader(self.store, self.resolver)
        jobs = [job for unit in units for job in unit.jobs]
        states = reader.read(jobs, {self.experiment_id: self.config_path}, tolerate_errors=tolerate_errors)
        return {
            unit.work_unit_id: [
                (job, states[(job.experiment_id, job.work_unit_id, job.name)]) for job in unit.jobs
            ]
            for unit in units
        }

    def target_for(self, attempt: JobAttempt) -> targets.Target:
        return self.resolver.target(attempt, self.config_path)

    # ----- cancel -----
    def cancel(
        self, work_unit_ids: Sequence[int] | None = None, *, wait_seconds: float = 60.0
    ) -> CancelReport:
        """Cancels every unfinished task of the units: one cancel command per cluster.

        Local tasks are run by the process that submitted them; it is asked to
        stop them (SIGTERM/SIGINT, as Ctrl-C would), which stops ALL the local
        jobs of that process, so a unit's local jobs can only be cancelled alone
        when that process runs nothing else that is still active.
        """
        from lxm3.xm_cluster.controller.sync import stop_controllers

        # A parameter controller first (it adds nothing more), then everything, including its last units.
        stopped = stop_controllers(self, work_unit_ids, wait_seconds=wait_seconds)
        everything = self.task_statuses()
        chosen = set(work_unit_ids) if work_unit_ids is not None else set(everything)
        self.select(list(chosen))
        report = CancelReport(dict(stopped.cancelled_jobs), list(stopped.signalled), stopped.active_tasks)
        by_target: dict[int, tuple[targets.Target, list[str]]] = {}
        owners: dict[tuple[int, str | None, str | None], set[int]] = {}
        for work_unit_id, results in everything.items():
            for job, statuses in results:
                owner_of = job.owners()
                for task, status in statuses.items():
                    if status.state.is_terminal:
                        continue
                    attempt = owner_of[task]
                    row = attempt.row
                    owner = (int(row.get("pid") or 0), row.get("host"), row.get("pid_start"))
                    if attempt.is_local:
                        owners.setdefault(owner, set()).add(work_unit_id)
                    if work_unit_id not in chosen:
                        continue
                    report.active_tasks += 1
                    if attempt.is_local and owner[0] != os.getpid():
                        continue  # the process running it is asked to stop, below
                    target = self.target_for(attempt)
                    job_ids = by_target.setdefault(id(target), (target, []))[1]
                    job_id = attempt.chunk_of(task).submitted.job_id
                    if job_id not in job_ids:
                        job_ids.append(job_id)
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
            _interrupt(pid)
            signalled.append((pid, host, start))
        for target, job_ids in by_target.values():
            if job_ids:
                target.scheduler.cancel(target.transport(), job_ids)
                report.cancelled_jobs.setdefault(target.name, []).extend(job_ids)
        deadline = time.monotonic() + wait_seconds
        for pid, host, start in signalled:
            while process_alive(pid, host, start) and time.monotonic() < deadline:
                time.sleep(0.1)
            if process_alive(pid, host, start):
                raise ReloadError(
                    f"process {pid} (running the local tasks) did not stop within {wait_seconds:.0f} s"
                )
            report.signalled.append(pid)
        return report

    # ----- rerun -----
    def rerun_failed(
        self,
        work_unit_ids: Sequence[int] | None = None,
        *,
        states: Sequence[TaskState] = RERUN_STATES,
        on_submitted: Callable[[int, str, list[int], list[str]], None] | None = None,
    ) -> RerunReport:
        """Resubmits the tasks whose latest attempt ended in `states`, as attempt N+1.

        Same job dir, artifacts, args (the task table) and executor; new
        scripts that map array positions to the tasks' global ids through an
        index map. The old attempt's logs of those tasks move to
        `logs/attempt-<n>/`, so `logs/<task>.*` always belong to the latest one.
        """
        from lxm3.xm_cluster.controller.sync import rerun_scope

        plan: list[tuple[StoredJob, list[int]]] = []
        work_unit_ids = rerun_scope(self, work_unit_ids, states)
        for _, results in self.task_statuses(work_unit_ids).items():
            for job, statuses in results:
                tasks = sorted(task for task, status in statuses.items() if status.state in states)
                if tasks:
                    plan.append((job, tasks))
        report = RerunReport()
        if not plan:
            return report
        report.attempt = self.store.add_attempt(self.experiment_id, "rerun", sys.argv)
        for job, tasks in plan:
            submitted = self._resubmit(job, tasks, report.attempt)
            job_ids = [s.job_id for s in submitted]
            report.jobs.append((job.work_unit_id, job.name, tasks, job_ids))
            report.local = report.local or job.first.is_local
            if on_submitted is not None:
                on_submitted(job.work_unit_id, job.name, tasks, job_ids)
        self.refresh()
        return report

    def _resubmit(self, job: StoredJob, tasks: list[int], attempt_number: int) -> list[SubmittedJob]:
        base = job.first
        target = self.target_for(base)
        executor = base.executor()
        job_rel = f"experiments/{self.experiment_id}/{job.work_unit_id}/{base.name}"
        if not base.remote_dir.endswith("/" + job_rel):
            raise ReloadError(
                f"job {base.name!r}: unexpected job dir {base.remote_dir} (expected .../{job_rel})"
            )
        remote_root = base.remote_dir[: -len(job_rel) - 1]
        local_dir = base.row.get("local_dir") or base.remote_dir
        local_root = Path(local_dir[: -len(job_rel) - 1]) if local_dir.endswith("/" + job_rel) else None
        if local_root is None:
            raise ReloadError(f"job {base.name!r}: unexpected local mirror {local_dir}")
        job_dir = local_root / job_rel
        job_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        runners = [name for name in base.row.get("artifacts") or [] if name.startswith("runtime/")]
        runner_rel = runners[0] if runners else launching.runner_name()
        label = base.row.get("label") or f"{self.experiment_id}_{job.work_unit_id}_{base.name}"

        scripts: list[JobScript] = []
        job_files: list[str] = []
        chunk_ids: list[list[int]] = []
        for number, part in enumerate(split_into_chunks(len(tasks), target.max_array_size())):
            ids = tasks[part.offset : part.offset + part.count]
            map_rel = f"{job_rel}/index-a{attempt_number}-{number}.txt"
            (local_root / map_rel).write_text("".join(f"{task}\n" for task in ids))
            request = RenderRequest(
                job_name=base.name,
                label=label,
                executor=executor,
                chunk=ArrayChunk(0, len(ids)),
                num_tasks=base.num_tasks,
                job_dir=base.remote_dir,
                log_dir=base.log_dir,
                runner_path=f"{remote_root}/{runner_rel}",
                spec_path=f"{base.remote_dir}/job.json",
                python=target.python,
                env=target.env,
                index_map=f"{remote_root}/{map_rel}",
            )
            script_rel = f"{job_rel}/job-a{attempt_number}-{number}.sh"
            script_local = local_root / script_rel
            script_local.write_text(target.scheduler.render(request))
            script_local.chmod(0o700)
            scripts.append(JobScript(f"{remote_root}/{script_rel}", request))
            job_files += [map_rel, script_rel]
            chunk_ids.append(ids)
        staged = launching.StagedJob(
            name=base.name,
            local_root=local_root,
            remote_root=remote_root,
            job_rel=job_rel,
            num_tasks=base.num_tasks,
            scripts=tuple(scripts),
            content_addressed=tuple(base.row.get("artifacts") or ()),
            job_files=tuple(job_files),
        )
        transport = target.transport()
        needed = [
            *staged.content_addressed,
            f"{job_rel}/job.json",
            f"{job_rel}/tasks.jsonl",
            f"{job_rel}/tasks.idx",
        ]
        missing = launching.prepare_remote(transport, remote_root, [], needed)
        gone = [name for name in missing if not (local_root / name).exists()]
        if gone:
            raise ReloadError(
                f"job {base.name!r}: {gone[0]} is no longer staged (removed by `lxm3 clean`?); launch it again"
            )
        launching.deploy([staged], target)
        owners = job.owners()
        moves = "".join(f"{task} {owners[task].attempt}\n" for task in tasks if task in owners)
        _rotate_logs(transport, base.log_dir, moves)
        submitted = launching.submit(staged, target)
        self.store.add_job(
            self.experiment_id,
            job.work_unit_id,
            {
                "attempt": attempt_number,
                "name": base.name,
                "target": target.name,
                "scheduler": target.scheduler.name,
                "num_tasks": base.num_tasks,
                "remote_dir": base.remote_dir,
                "local_dir": str(job_dir),
                "log_dir": base.log_dir,
                "artifacts": list(staged.content_addressed),
                "submitted": [
                    {**s.to_record(), "index_map": script.request.index_map, "task_ids": ids}
                    for s, script, ids in zip(submitted, scripts, chunk_ids, strict=True)
                ],
                "executor": executor,
                "label": label,
                "task_ids": tasks,
            },
        )
        return submitted

    # ----- xm.Experiment hooks -----
    def _package(self, packageables: list[xm.Packageable]) -> list[xm.Executable]:
        raise xm.ExperimentUnitError(
            "a reloaded experiment cannot package executables; launch a new experiment"
        )

    def _create_experiment_unit(
        self, args: Mapping[str, Any] | None, role: xm.ExperimentUnitRole, identity: str
    ) -> xm.ExperimentUnit:
        raise xm.ExperimentUnitError("a reloaded experiment cannot add work units; launch a new experiment")


_ROTATE_SCRIPT = (
    'cd "$1" || exit 0; while read -r task attempt; do '
    'for stream in out err exit; do f="$task.$stream"; '
    'if [ -e "$f" ]; then mkdir -p "attempt-$attempt" && mv -f "$f" "attempt-$attempt/$f"; fi; done; done'
)


def _rotate_logs(transport: Any, log_dir: str, moves: str) -> None:
    """Moves the previous attempt's `<task>.out|.err|.exit` into `attempt-<n>/`, in one command."""
    if moves:
        transport.run(["bash", "-c", _ROTATE_SCRIPT, "lxm3-rotate", log_dir], input=moves)


def _signals_caught(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("SigCgt:"):
                    return int(line.split()[1], 16)
    except (OSError, ValueError):
        return None
    return None


def _interrupt(pid: int) -> None:
    """Asks a launcher process to stop its local jobs: SIGTERM if it handles it (lxm3 launch), else SIGINT."""
    caught = _signals_caught(pid)
    if (
        caught is not None
        and not caught & (1 << (signal.SIGTERM - 1))
        and not caught & (1 << (signal.SIGINT - 1))
    ):
        raise ReloadError(
            f"process {pid} runs the local tasks but handles neither SIGTERM nor SIGINT; stop it where it runs (Ctrl-C)"
        )
    signum = signal.SIGINT
    if caught is not None and caught & (1 << (signal.SIGTERM - 1)):
        signum = signal.SIGTERM
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def experiment_store(config: Config | None = None) -> ExperimentStore:
    """The store that launches with this (default: the found) config write to."""
    config = config or load_config()
    return open_store(config.store_path)


def get_experiment(
    experiment_id: int, *, store: ExperimentStore | None = None, config: Config | None = None
) -> ReloadedExperiment:
    """The recorded experiment, with work units that can wait, stop and report status.

    Raises xm.NotFoundError for an id the store does not hold.
    """
    store = store or experiment_store(config)
    record = store.experiment(int(experiment_id))
    if record is None:
        raise xm.NotFoundError(f"experiment {experiment_id} is not in the store {store.path}")
    from lxm3.xm_cluster.controller.sync import sync_quietly

    resolver = TargetResolver()
    sync_quietly(store, record, resolver)  # units a parameter controller added, from its journal
    return ReloadedExperiment(record, store, resolver)
