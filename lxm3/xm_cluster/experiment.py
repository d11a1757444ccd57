"""The cluster experiment: lxm3's concrete `xm.Experiment`.

`create_experiment(title)` records the launch in the store (what ran, with
which args, from which commit), and each work unit launches its jobs through
`staging` and `deploying` (stage, deploy, submit) on the job's target, then watches them
through the target's shared status watcher.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from lxm3 import xm
from lxm3.config import Config, load_config
from lxm3.runtime.job_paths import JobPaths, unit_rel
from lxm3.schedulers.base import SchedulerError, SubmittedJob
from lxm3.schedulers.watcher import WatchedJob
from lxm3.store.db import ExperimentStore
from lxm3.xm.dependencies import Flat, flatten
from lxm3.xm.status import ExperimentUnitStatus, TaskState, TaskStatus
from lxm3.xm_cluster import (
    current,
    dependencies,
    dependency_status,
    interrupts,
    results,
    staging,
    staging_owner,
    targets,
)
from lxm3.xm_cluster.batching import SubmitBatcher
from lxm3.xm_cluster.cancelling import cancel_by_target
from lxm3.xm_cluster.journal import PendingJob, StoreJournal
from lxm3.xm_cluster.packaging import Packager

log = logging.getLogger(__name__)

_LAST_EXPERIMENT_ID: int | None = None


def last_experiment_id() -> int | None:
    """The id of the experiment most recently created in this process (for `launch --wait`)."""
    return _LAST_EXPERIMENT_ID


#: Failed or cancelled Local tasks of the experiments closed in this process, as
#: "work unit W task T (exit code C)", so `lxm3 launch` can exit non-zero naming them.
_LOCAL_FAILURES: list[str] = []


def local_failures() -> list[str]:
    """The Local tasks that did not complete, over every experiment closed in this process."""
    return list(_LOCAL_FAILURES)


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
        for job in _flatten(job_group):
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


def raise_for_outcome(
    experiment_id: int, work_unit_id: int, outcomes: Iterable[tuple[int, TaskStatus, str]]
) -> None:
    """Raises the unit's typed error if a task failed or was cancelled.

    `outcomes` are the unit's final `(task, status, stderr log path)`; shared by
    launched units and units reloaded from the store (`xm_cluster.get_experiment`).
    """
    failures: list[str] = []
    failed: list[TaskStatus] = []
    cancelled = 0
    for task, status, err_log in outcomes:
        if status.state is TaskState.FAILED:
            failed.append(status)
            code = "?" if status.exit_code is None else status.exit_code
            detail = f" ({status.message})" if status.message else ""
            failures.append(f"task {task} exit code {code}{detail}, log {err_log}")
        elif status.state is TaskState.CANCELLED:
            cancelled += 1
    if failures:
        shown = "; ".join(failures[:5]) + (f"; and {len(failures) - 5} more" if len(failures) > 5 else "")
        raise xm.ExperimentUnitFailedError(
            f"work unit {work_unit_id} of experiment {experiment_id}: {len(failures)} task(s) failed: {shown}",
            failures=failed,
        )
    if cancelled:
        raise xm.ExperimentUnitNotCompletedError(
            f"work unit {work_unit_id} of experiment {experiment_id}: {cancelled} task(s) cancelled"
        )


def _failed_local_tasks(unit: ClusterWorkUnit) -> list[str]:
    """`work unit W task T (exit code C)` for each of the unit's Local tasks that did not complete."""
    failed = []
    for job, statuses in unit.task_statuses(refresh=False):
        if not job.target.is_local:
            continue
        for task, status in sorted(statuses.items()):
            if status.state in (TaskState.FAILED, TaskState.CANCELLED):
                code = "?" if status.exit_code is None else status.exit_code
                failed.append(f"work unit {unit.work_unit_id} task {task} (exit code {code})")
    return failed


def _flatten(group: xm.JobGroup) -> list[Any]:
    jobs: list[Any] = []
    for inner in group.jobs.values():
        if isinstance(inner, xm.JobGroup):
            jobs.extend(_flatten(inner))
        else:
            jobs.append(inner)
    return jobs


def _git_state(path: str) -> tuple[str | None, bool | None]:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, timeout=5
        )
        if commit.returncode != 0:
            return None, None
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=path, capture_output=True, text=True, timeout=5
        )
        return commit.stdout.strip(), bool(dirty.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return None, None


class ClusterExperiment(xm.Experiment):
    """An experiment recorded in the store, whose units run on cluster targets."""

    def __init__(
        self,
        experiment_title: str,
        *,
        project: str | None = None,
        config: Config | None = None,
        store: ExperimentStore | None = None,
        dry_run: bool | None = None,
        experiment_id: int | None = None,
    ) -> None:
        super().__init__()
        self.config = config or load_config()
        self.title = experiment_title
        self.project = project or self.config.project_name
        self.dry_run = dry_run if dry_run is not None else os.environ.get("LXM3_DRY_RUN") == "1"
        #: A dry run is not a launch: it gets a throwaway store and staging root, so it is
        #: never listed and never touches the files of a real experiment with the same id.
        self._dry_run_root = Path(tempfile.mkdtemp(prefix="lxm3-dry-run-")) if self.dry_run else None
        if store is None and self._dry_run_root is not None:
            store = ExperimentStore(self._dry_run_root / "experiments.sqlite3")
        self.store = store or ExperimentStore(
            Path(self.config.store_path).expanduser() if self.config.store_path else None
        )
        self.bytes_sent = 0
        self._packager = Packager(dry_run=self.dry_run)
        #: Every executable packaged, in order: a parameter controller's digest manifest.
        self.packaged: list[xm.Executable] = []
        self._batchers: dict[int, SubmitBatcher] = {}
        self._claimed: set[Path] = set()
        from lxm3.xm_cluster.paths import launcher_dir

        resume = experiment_id if experiment_id is not None else os.environ.get("LXM3_RESUME_EXPERIMENT")
        if resume not in (None, ""):
            self._experiment_id = self._reopen(int(resume))
        else:
            here = launcher_dir()
            commit, dirty = _git_state(here)
            self._experiment_id = self.store.create_experiment(
                experiment_title,
                project=self.project,
                launcher=os.environ.get("LXM3_LAUNCHER")
                or getattr(sys.modules.get("__main__"), "__file__", None),
                argv=sys.argv,
                cwd=os.getcwd(),
                git_commit=commit,
                git_dirty=dirty,
                config_path=self.config.source,
            )
        global _LAST_EXPERIMENT_ID
        _LAST_EXPERIMENT_ID = self._experiment_id
        current.opened(self)
        self.journal = StoreJournal(self.store, self._experiment_id)
        interrupts.GUARD.reset()

    def _reopen(self, experiment_id: int) -> int:
        """Continues a recorded experiment: new work units get ids after its last one.

        Used to resume a search (`lxm3 launch --resume EXP`): the launcher runs
        again and adds to the same experiment instead of starting a new one.
        """
        if self.store.experiment(experiment_id) is None:
            raise xm.NotFoundError(
                f"cannot resume experiment {experiment_id}: it is not in the store {self.store.path}"
            )
        recorded = [int(row["work_unit_id"]) for row in self.store.work_units(experiment_id)]
        self._next_work_unit_id = max([0, *recorded]) + 1
        return experiment_id

    @property
    def experiment_id(self) -> int:
        return self._experiment_id

    def batcher_for(self, target: targets.Target) -> SubmitBatcher:
        """The target's submit batcher for this experiment (one per target)."""
        batcher = self._batchers.get(id(target))
        if batcher is None:
            batcher = SubmitBatcher(
                target, on_bytes=self._count_bytes, owner=self.owner, journal=self.journal
            )
            self._batchers[id(target)] = batcher
        return batcher

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Pre-0.4 launchers group `add` calls in `with experiment.batch():`; a no-op grouping here.

        lxm3 0.3 submitted a batch as one array job; here every `add` is already
        batched with its neighbours per cluster (see `SubmitBatcher`), and a sweep
        is one `ArrayJob`, so the block only has to run its body.
        """
        yield

    def _count_bytes(self, sent: int) -> None:
        self.bytes_sent += sent

    @property
    def owner(self) -> str:
        """This store's claim on the staging roots it launches into (see staging_owner)."""
        return staging_owner.owner_line(self.store.identity, self.store.path)

    def local_root_for(self, target: targets.Target) -> Path:
        """The local mirror of a target's staging root (the root itself for Local)."""
        root = self._dry_run_root or targets.local_staging_root(self.config)
        if self._dry_run_root is None and root not in self._claimed:
            staging_owner.claim_local(root, self.owner)  # before anything is written there
            self._claimed.add(root)
        if target.is_local:
            return root
        return root / "remote" / target.name

    def _package(self, packageables: list[xm.Packageable]) -> list[xm.Executable]:
        executables: list[xm.Executable] = [
            self._packager.package(packageable) for packageable in packageables
        ]
        self.packaged.extend(executables)
        return executables

    def _create_experiment_unit(
        self, args: Mapping[str, Any] | None, role: xm.ExperimentUnitRole, identity: str
    ) -> xm.ExperimentUnit:
        if not isinstance(role, xm.WorkUnitRole):
            # Auxiliary units get ids after the sweep's, so work unit ids stay dense.
            return ClusterWorkUnit(self, 100000 + len(self.auxiliary_units()) + 1, args, role, identity)
        return ClusterWorkUnit(self, self._reserve_work_unit_id(), args, role, identity)

    def report_dry_run(self, staged: staging.StagedJob, target: targets.Target) -> None:
        from lxm3.xm_cluster.dry_run import describe_dry_run

        sys.stdout.write(describe_dry_run(staged, target))
        sys.stdout.flush()

    async def _on_exit(self, abrupt: bool) -> None:
        units = [unit for unit in self._units if isinstance(unit, ClusterWorkUnit)]
        local_jobs = [job for unit in units for job in unit.jobs if job.target.is_local]
        if abrupt:
            for unit in units:
                if any(job.target.is_local for job in unit.jobs):
                    unit.stop()
        for job in local_jobs:
            await job.target.watcher.wait(job.submitted)
        for unit in units:
            if any(job.target.is_local for job in unit.jobs) and not abrupt:
                status = unit.get_status()
                if status.is_failed:
                    log.warning("work unit %s: %s", unit.work_unit_id, status.message)
                _LOCAL_FAILURES.extend(_failed_local_tasks(unit))

    def _on_interrupt(self) -> None:
        interrupts.settle_interrupted_launch()

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        failed = exc_type is not None
        try:
            super().__exit__(exc_type, exc_value, traceback)
        except BaseException:
            failed = True
            raise
        finally:
            current.closed(self)
            targets.close_all()
            if self._dry_run_root is not None:  # a dry run leaves nothing behind
                self.store.close()
                shutil.rmtree(self._dry_run_root, ignore_errors=True)
            elif failed:
                # A launch that failed or was interrupted before submitting anything is not
                # recorded at all (rather than listed as "0 work units, UNKNOWN").
                with contextlib.suppress(Exception):
                    self.store.discard_if_empty(self._experiment_id)

    async def __aexit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        try:
            await super().__aexit__(exc_type, exc_value, traceback)
        finally:
            current.closed(self)
            targets.close_all()


def create_experiment(
    experiment_title: str,
    project: str | None = None,
    *,
    config: Config | None = None,
    experiment_id: int | None = None,
) -> ClusterExperiment:
    """Creates (and records) a new experiment; use it as `with create_experiment(...) as e:`.

    With `experiment_id` (or `lxm3 launch --resume ID`), continues that recorded
    experiment instead: new work units are numbered after its last one. Inside a
    parameter controller it is the workstation's experiment instead (see
    `lxm3.xm_cluster.controller.runtime`).
    """
    from lxm3.xm_cluster.controller import active_spec_path

    if active_spec_path():
        from lxm3.xm_cluster.controller.runtime import controller_experiment

        return controller_experiment(experiment_title, project=project, config=config)
    return ClusterExperiment(experiment_title, project=project, config=config, experiment_id=experiment_id)
