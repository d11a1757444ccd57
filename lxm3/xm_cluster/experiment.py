"""The cluster experiment: lxm3's concrete `xm.Experiment`.

`create_experiment(title)` records the launch in the store (what ran, with
which args, from which commit), and each work unit (`work_unit.ClusterWorkUnit`)
launches its jobs through `staging` and `deploying` (stage, deploy, submit) on
the job's target, then watches them through the target's shared status watcher.
This module owns the experiment's side: its store record, its targets' submit
batchers and staging roots, and what happens when the `with` block ends.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from lxm3 import xm
from lxm3.config import Config, load_config
from lxm3.store.db import ExperimentStore
from lxm3.xm_cluster import current, interrupts, staging, staging_owner, targets
from lxm3.xm_cluster.batching import SubmitBatcher
from lxm3.xm_cluster.journal import StoreJournal
from lxm3.xm_cluster.packaging import Packager
from lxm3.xm_cluster.unit_outcome import failed_local_tasks, raise_for_outcome
from lxm3.xm_cluster.work_unit import ClusterWorkUnit, LaunchedJob

# Re-exported: launch scripts, the controller and `reloaded` import them from here.
__all__ = [
    "ClusterExperiment",
    "ClusterWorkUnit",
    "LaunchedJob",
    "create_experiment",
    "last_experiment_id",
    "local_failures",
    "raise_for_outcome",
]

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


def _git_state(path: str) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the launcher's checkout; both None outside a git repository.

    The two git commands run side by side: every launch waits for them.
    """
    commands = (["git", "rev-parse", "HEAD"], ["git", "status", "--porcelain"])
    processes: list[subprocess.Popen[str]] = []
    try:
        for argv in commands:
            processes.append(
                subprocess.Popen(argv, cwd=path, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            )
        (commit, _), (status, _) = (process.communicate(timeout=5) for process in processes)
    except (OSError, subprocess.SubprocessError):
        return None, None
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    if processes[0].returncode != 0:
        return None, None
    return commit.strip(), bool(status.strip())


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
                _LOCAL_FAILURES.extend(failed_local_tasks(unit))

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
