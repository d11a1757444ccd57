"""Experiments reloaded from the store, in any process: status, wait, stop, rerun.

`get_experiment(experiment_id)` rebuilds an experiment's work units from the
store's `JobRecord`s. Each job is a list of attempts (attempt 1 is the launch,
later ones are `lxm3 rerun`s of some of its tasks); a task's state is that of
its latest attempt, read by `StatusReader` through the cluster's shared
`StatusWatcher` (the engine that watches launched jobs too, so reloaded and
launched units waiting together share one query per poll). Cancelling goes through
`cancelling`, reruns through `rerun`, both shared with the rest of the backend.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from lxm3 import xm
from lxm3.config import Config, load_config
from lxm3.schedulers.base import SubmittedJob
from lxm3.schedulers.watcher import poll_intervals
from lxm3.store import cancel_requests
from lxm3.store.db import ExperimentStore, open_store
from lxm3.store.records import JobRecord
from lxm3.xm.status import ExperimentUnitStatus, TaskState, TaskStatus, all_terminal
from lxm3.xm_cluster import targets
from lxm3.xm_cluster.cancelling import CancelReport, cancel_by_target, cancel_recorded, held_in_error
from lxm3.xm_cluster.dependency_status import relabel_results
from lxm3.xm_cluster.rerun import RERUN_STATES, RerunReport, resubmit
from lxm3.xm_cluster.rerun_dependencies import (
    NEVER,
    cancelled_only,
    check_rerun,
    rerun_dependency,
    rerun_scope,
    rerun_states,
    unit_edges,
)
from lxm3.xm_cluster.resolver import TargetResolver
from lxm3.xm_cluster.status_reader import StatusReader
from lxm3.xm_cluster.stored_jobs import StoredJob, group_jobs
from lxm3.xm_cluster.unit_outcome import raise_for_outcome

if TYPE_CHECKING:
    from lxm3.xm_cluster import results as task_results

log = logging.getLogger(__name__)


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

    async def _launch_job_group(
        self, job_group: xm.JobGroup, args_view: Mapping[str, Any], dependency: xm.Dependency | None = None
    ) -> None:
        raise xm.ExperimentUnitError(
            f"work unit {self.work_unit_name} was reloaded from the store; it cannot launch jobs"
        )

    def task_statuses(self, max_age: float = 0.0) -> list[tuple[StoredJob, dict[int, TaskStatus]]]:
        """Each job with the state of its tasks (latest attempt of each)."""
        return self._reloaded.task_statuses([self.work_unit_id], max_age=max_age)[self.work_unit_id]

    def get_status(self) -> ExperimentUnitStatus:
        tasks: list[TaskStatus] = []
        for _, statuses in self.task_statuses():
            tasks.extend(statuses.values())
        return ExperimentUnitStatus(tuple(tasks))

    async def _wait_until_complete(self) -> None:
        import asyncio  # here: `lxm3 status` and `lxm3 list` import this module and never wait

        next_interval = poll_intervals()
        interval = next_interval()
        while True:
            try:
                # Every unit's jobs are watched from the first poll on, so units waiting
                # together share each refresh (one query per cluster), as launched units do.
                everything = await asyncio.to_thread(self._reloaded.task_statuses, max_age=interval * 0.9)
                results = everything[self.work_unit_id]
            except Exception as error:  # noqa: BLE001 - like the watcher: a flaky query is retried
                log.warning("status query failed (will retry): %s", error)
            else:
                if all(all_terminal(statuses.values()) for _, statuses in results):
                    outcomes = [
                        (task, status, job.log_path(task, "err"))
                        for job, statuses in results
                        for task, status in sorted(statuses.items())
                    ]
                    raise_for_outcome(self.experiment_id, self.work_unit_id, outcomes)
                    return
            await asyncio.sleep(interval)
            interval = next_interval()

    def stop(self) -> None:
        self._reloaded.cancel([self.work_unit_id])

    def outputs(self) -> list[task_results.JobOutputs]:
        """Where each job's task outputs and metrics are (`xm_cluster.results`)."""
        from lxm3.xm_cluster import results as task_results  # here: `lxm3 status` never reads them

        return [
            task_results.stored_job_outputs(job, self._reloaded.target_for(job.first)) for job in self.jobs
        ]

    def metrics(self, job: str | None = None) -> dict[int, dict[str, Any]]:
        """Task index -> the last value of each metric it reported; one command per cluster."""
        from lxm3.xm_cluster import results as task_results

        return task_results.unit_metrics(self.outputs(), job)


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
        #: A status query made just before (a controller sync's) that the next status read may reuse.
        self._reusable_query: float | None = None
        self.refresh()

    def refresh(self) -> None:
        """Re-reads the work units and job attempts from the store (after a rerun)."""
        args = {row["work_unit_id"]: row.get("args") for row in self.store.work_units(self._experiment_id)}
        jobs = group_jobs(self._experiment_id, self.store.job_records(self._experiment_id))
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
        max_age: float = 0.0,
    ) -> dict[int, list[tuple[StoredJob, dict[int, TaskStatus]]]]:
        """Work unit -> [(job, {task: status})], with one scheduler query per cluster for all of them."""
        if self._reusable_query is not None:
            # Once: the query a controller's journal read rode on, if it asked about these jobs.
            max_age = max(max_age, time.monotonic() - self._reusable_query + 1.0)
            self._reusable_query = None
        units = self.select(work_unit_ids)
        reader = reader or StatusReader(self.store, self.resolver)
        jobs = [job for unit in units for job in unit.jobs]
        states = reader.read(
            jobs, {self.experiment_id: self.config_path}, tolerate_errors=tolerate_errors, max_age=max_age
        )
        results = {
            unit.work_unit_id: [
                (job, states[(job.experiment_id, job.work_unit_id, job.name)]) for job in unit.jobs
            ]
            for unit in units
        }
        # Tasks that never ran because their dependency cannot hold: CANCELLED, with the reason.
        return relabel_results(
            self.experiment_id, results, self.store.dependencies(self.experiment_id), self._predecessor_states
        )

    def reuse_query_of(self, asked_at: float | None) -> None:
        """Lets the next `task_statuses` reuse a status query made at `asked_at` (monotonic)."""
        self._reusable_query = asked_at

    def _predecessor_states(self, units: list[tuple[int, int]]) -> dict[tuple[int, int], list[TaskStatus]]:
        """Task states of units (of this or other experiments) that dependents of this one wait on."""
        result: dict[tuple[int, int], list[TaskStatus]] = {}
        for experiment_id in sorted({e for e, _ in units}):
            ids = [w for e, w in units if e == experiment_id]
            other = (
                self
                if experiment_id == self.experiment_id
                else get_experiment(experiment_id, store=self.store)
            )
            known = [w for w in ids if w in other.work_units]
            for work_unit_id, jobs in other.task_statuses(known, tolerate_errors=True).items():
                result[(experiment_id, work_unit_id)] = [s for _, tasks in jobs for s in tasks.values()]
        return result

    def target_for(self, attempt: JobRecord) -> targets.Target:
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
        from lxm3.xm_cluster.controller.stop import stop_controllers

        # A parameter controller first (it adds nothing more), then everything, including its last units.
        stopped = stop_controllers(self, work_unit_ids, wait_seconds=wait_seconds)
        everything = self.task_statuses()
        chosen = set(work_unit_ids) if work_unit_ids is not None else set(everything)
        self.select(list(chosen))
        report = cancel_recorded(
            everything,
            chosen,
            self.target_for,
            wait_seconds=wait_seconds,
            record_intent=lambda rows: cancel_requests.mark(self.store, rows),
        )
        for where, job_ids in stopped.cancelled_jobs.items():
            report.cancelled_jobs.setdefault(where, [])[:0] = job_ids
        report.signalled[:0] = stopped.signalled
        report.active_tasks += stopped.active_tasks
        return report

    # ----- rerun -----
    def _delete_held(self, plan: Sequence[tuple[StoredJob, list[int]]]) -> None:
        """Deletes the old jobs of rerun tasks Grid Engine still holds in Eqw (else they stay queued)."""
        found = {
            (job.work_unit_id, job.name): statuses
            for _, results in self.task_statuses().items()
            for job, statuses in results
        }
        held: list[tuple[targets.Target, str]] = []
        for job, tasks in plan:
            statuses = found.get((job.work_unit_id, job.name), {})
            owners = job.owners()
            for task in tasks:
                if task in statuses and held_in_error(statuses[task]):
                    attempt = owners[task]
                    held.append((self.target_for(attempt), attempt.chunk_of(task).submitted.job_id))
        cancel_by_target(held)

    def rerun_failed(
        self,
        work_unit_ids: Sequence[int] | None = None,
        *,
        states: Sequence[TaskState] = RERUN_STATES,
        on_submitted: Callable[[int, str, list[int], list[str]], None] | None = None,
    ) -> RerunReport:
        """Resubmits the tasks whose latest attempt ended in `states`, as attempt N+1 (see `rerun`)."""
        from lxm3.xm_cluster.controller.sync import rerun_scope as controller_rerun_scope

        # A controller experiment reruns its controller only (it re-runs what needs it).
        work_unit_ids = controller_rerun_scope(self, work_unit_ids, states)
        if work_unit_ids is not None:
            self.select(work_unit_ids)
        everything = self.task_statuses()
        # Units waiting on a rerun unit are re-armed: their cancelled tasks rerun, held on its new jobs.
        scope = rerun_scope(self.store, self.experiment_id, work_unit_ids)
        plan: list[tuple[StoredJob, list[int]]] = []
        for work_unit_id, results in sorted(everything.items()):
            if work_unit_ids is not None and work_unit_id not in scope:
                continue
            wanted = cancelled_only(states, scope.get(work_unit_id, False))
            for job, statuses in results:
                tasks = sorted(task for task, status in statuses.items() if status.state in wanted)
                if tasks:
                    plan.append((job, tasks))
        report = RerunReport()
        if not plan:
            return report
        edges = unit_edges(self.store, self.experiment_id)
        decided = rerun_states(everything)
        check_rerun(self.experiment_id, [job.work_unit_id for job, _ in plan], edges, decided)
        resubmitted: dict[int, list[tuple[Any, list[SubmittedJob]]]] = {}
        report.attempt = self.store.add_attempt(self.experiment_id, "rerun", sys.argv)
        self._delete_held(plan)
        for job, tasks in plan:
            dependency = None
            if job.work_unit_id in edges:
                dependency = rerun_dependency(
                    self.experiment_id, job.work_unit_id, edges[job.work_unit_id], resubmitted, decided
                )
                if dependency == NEVER:
                    continue  # its condition can no longer hold: it stays cancelled
            target = self.target_for(job.first)
            submitted = resubmit(self.store, job, tasks, report.attempt, target, dependency=dependency)
            resubmitted.setdefault(job.work_unit_id, []).append((job, submitted))
            job_ids = [s.job_id for s in submitted]
            report.jobs.append((job.work_unit_id, job.name, tasks, job_ids))
            report.local = report.local or job.first.is_local
            if on_submitted is not None:
                on_submitted(job.work_unit_id, job.name, tasks, job_ids)
        self.refresh()
        return report

    # ----- xm.Experiment hooks -----
    def _package(self, packageables: list[xm.Packageable]) -> list[xm.Executable]:
        raise xm.ExperimentUnitError(
            "a reloaded experiment cannot package executables; launch a new experiment"
        )

    def _create_experiment_unit(
        self, args: Mapping[str, Any] | None, role: xm.ExperimentUnitRole, identity: str
    ) -> xm.ExperimentUnit:
        raise xm.ExperimentUnitError("a reloaded experiment cannot add work units; launch a new experiment")


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
    # Units a parameter controller added, from its journal (read in the status query's command).
    synced = sync_quietly(store, record, resolver)
    experiment = ReloadedExperiment(record, store, resolver)
    experiment.reuse_query_of(synced.asked_at)
    return experiment
