"""A work unit of a cluster experiment: launching its jobs, their states, stopping them.

Split from `experiment.py` so the experiment (store record, targets, exit
handling) and the unit (stage -> submit -> watch of each job) each have one
home. A unit's jobs are staged through `staging`, submitted through the
experiment's per-target `SubmitBatcher` (recorded by its journal), and watched
through the target's shared `StatusWatcher`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from lxm3 import xm
from lxm3.runtime.job_paths import JobPaths, unit_rel
from lxm3.schedulers.base import SchedulerError, SubmittedJob
from lxm3.schedulers.watcher import WatchedJob
from lxm3.xm.dependencies import Flat, flatten
from lxm3.xm.status import ExperimentUnitStatus, TaskStatus
from lxm3.xm_cluster import dependencies, dependency_status, results, staging, targets
from lxm3.xm_cluster.cancelling import cancel_by_target
from lxm3.xm_cluster.journal import PendingJob
from lxm3.xm_cluster.unit_outcome import raise_for_outcome

if TYPE_CHECKING:
    from lxm3.xm_cluster.experiment import ClusterExperiment

log = logging.getLogger(__name__)


@attrs.define
class LaunchedJob:
    """A job of a unit as submitted: where, which scheduler jobs, where its logs are."""

    name: str
    target: targets.Target
    num_tasks: int
    remote_dir: str
    submitted: list[SubmittedJob]

    @property
    def paths(self) -> JobPaths:
        """The job's paths on the execution host."""
        return JobPaths(self.remote_dir)

    @property
    def log_dir(self) -> str:
        return self.paths.log_dir

    def log_path(self, task: int, stream: str = "out") -> str:
        return self.paths.log(task, stream)


class ClusterWorkUnit(xm.WorkUnit):
    """A work unit whose jobs run on Local, Slurm or Grid Engine targets."""

    def __init__(
        self,
        experiment: ClusterExperiment,
        work_unit_id: int,
        args: Mapping[str, Any] | None,
        role: xm.ExperimentUnitRole,
        identity: str = "",
    ) -> None:
        super().__init__(experiment, work_unit_id, args, role, identity)
        self._cluster_experiment = experiment
        self.jobs: list[LaunchedJob] = []
        #: What the unit's jobs wait on (set at launch), for status reasons.
        self.dependency: Flat | None = None

    @property
    def unit_rel(self) -> str:
        return unit_rel(self.experiment_id, self.work_unit_id)

    async def _launch_job_group(
        self, job_group: xm.JobGroup, args_view: Mapping[str, Any], dependency: xm.Dependency | None = None
    ) -> None:
        experiment = self._cluster_experiment
        await asyncio.to_thread(
            experiment.store.add_work_unit, self.experiment_id, self.work_unit_id, args_view
        )
        flat = None
        if dependency is not None:
            flat = flatten(dependency)
            await dependencies.wait_launched(flat, self)
            self.dependency = flat
        for job in flatten_jobs(job_group):
            target, staged, label = await asyncio.to_thread(self._stage_job, job, flat)
            if experiment.dry_run:
                experiment.report_dry_run(staged, target)
                self.jobs.append(LaunchedJob(staged.name, target, staged.num_tasks, staged.remote_dir, []))
                continue
            # Jobs staged in the same burst share one deploy and one submit command; the
            # journal records them in the store from the submitting thread (see journal.py).
            staged, submitted = await self._submit(job, target, staged, label, flat)
            self.jobs.append(self._record_job(target, staged, submitted))
        if flat is not None and self.jobs:  # the graph `lxm3 status` shows; a refused unit has none
            rows = dependencies.store_rows(flat)
            await asyncio.to_thread(
                experiment.store.add_dependencies, self.experiment_id, self.work_unit_id, rows
            )

    async def _submit(
        self, job: Any, target: targets.Target, staged: staging.StagedJob, label: str, flat: Flat | None
    ) -> tuple[staging.StagedJob, list[SubmittedJob]]:
        """Submits through the batcher; an array refused as too large is re-split and sent once more.

        The cached array limit is a hint: when the cluster says the array is too
        large (its limit went down), the limit is asked again, the job re-staged
        in smaller chunks and resubmitted, and the cache updated.
        """
        experiment = self._cluster_experiment
        for retry in (True, False):
            experiment.journal.expect(
                staged, PendingJob(self.work_unit_id, job.executor, target, label, retry_array_limit=retry)
            )
            try:
                return staged, await experiment.batcher_for(target).submit(staged)
            except SchedulerError as error:
                if not (retry and target.scheduler.is_array_limit_refusal(str(error))):
                    raise
                log.info("%s refused an array as too large: asking its limit again", target.name)
                await asyncio.to_thread(target.forget_max_array_size)
                _, staged, _ = await asyncio.to_thread(self._stage_job, job, flat)
        raise AssertionError("unreachable")

    def _stage_job(self, job: Any, flat: Flat | None = None) -> tuple[targets.Target, staging.StagedJob, str]:
        experiment = self._cluster_experiment
        tasks = staging.job_tasks(job)
        target = targets.get_target(job.executor, experiment.config)
        target.offline = target.offline or experiment.dry_run
        target.warm_up()
        label = f"{self.experiment_unit_name}_{tasks.name}"
        held: dict[str, Any] = {}
        if flat is not None:
            resolved, chunks, check = dependencies.resolve(
                flat,
                experiment_id=self.experiment_id,
                target=target,
                num_tasks=tasks.num_tasks,
                dry_run=experiment.dry_run,
            )
            held = {
                "dependency": resolved,
                "chunks": chunks,
                "spec_extras": {"dependency": check} if check else None,
            }
        staged = staging.stage_job(
            tasks, target, experiment.local_root_for(target), self.unit_rel, label=label, **held
        )
        return target, staged, label

    def _record_job(
        self, target: targets.Target, staged: staging.StagedJob, submitted: list[SubmittedJob]
    ) -> LaunchedJob:
        """Watches a submitted job (its store row was written by the journal)."""
        paths = JobPaths(staged.remote_dir)
        target.watcher.watch([WatchedJob.of(s, paths=paths) for s in submitted])
        ids = ", ".join(s.job_id for s in submitted)
        log.info(
            "work unit %s: %s submitted %d task(s) to %s as %s",
            self.work_unit_id,
            staged.name,
            staged.num_tasks,
            target.name,
            ids,
        )
        return LaunchedJob(staged.name, target, staged.num_tasks, staged.remote_dir, submitted)

    def task_statuses(self, refresh: bool = True) -> list[tuple[LaunchedJob, dict[int, TaskStatus]]]:
        result = []
        for job in self.jobs:
            if refresh:
                job.target.watcher.refresh()
            result.append((job, self._relabel(job.target.watcher.statuses(job.submitted))))
        return result

    def _relabel(self, statuses: dict[int, TaskStatus]) -> dict[int, TaskStatus]:
        """Tasks that never ran because the dependency can never hold: CANCELLED, with why."""
        if self.dependency is None:
            return statuses
        return dependency_status.live_relabel(self, statuses)

    def get_status(self) -> ExperimentUnitStatus:
        if self._launch_error is not None:
            return ExperimentUnitStatus(launch_error=str(self._launch_error))
        tasks: list[TaskStatus] = []
        for _, statuses in self.task_statuses():
            tasks.extend(statuses.values())
        return ExperimentUnitStatus(tuple(tasks))

    async def _wait_until_complete(self) -> None:
        if self._cluster_experiment.dry_run:
            return
        results = [self._relabel(await job.target.watcher.wait(job.submitted)) for job in self.jobs]
        # A generator, not a list: 100,000 (task, status, log path) tuples would outgrow the launch.
        outcomes = (
            (task, status, job.log_path(task, "err"))
            for job, statuses in zip(self.jobs, results, strict=True)
            for task, status in statuses.items()  # in task order already
        )
        raise_for_outcome(self.experiment_id, self.work_unit_id, outcomes)

    def outputs(self) -> list[results.JobOutputs]:
        """Where each job's task outputs and metrics are (`xm_cluster.results`)."""
        root = self._cluster_experiment.local_root_for
        return [
            results.JobOutputs(
                self.work_unit_id,
                job.name,
                job.num_tasks,
                job.remote_dir,
                str(root(job.target) / self.unit_rel / job.name),
                job.target,
            )
            for job in self.jobs
        ]

    def metrics(self, job: str | None = None) -> dict[int, dict[str, Any]]:
        """Task index -> the last value of each metric it reported; one command per cluster."""
        return results.unit_metrics(self.outputs(), job)

    def stop(self) -> None:
        cancel_by_target((job.target, s.job_id) for job in self.jobs for s in job.submitted)


def flatten_jobs(group: xm.JobGroup) -> list[Any]:
    """The jobs of a (nested) job group, in order: each is staged and submitted on its own."""
    jobs: list[Any] = []
    for inner in group.jobs.values():
        if isinstance(inner, xm.JobGroup):
            jobs.extend(flatten_jobs(inner))
        else:
            jobs.append(inner)
    return jobs
