"""Inside the controller: re-run the launcher, replay the journal, run the coroutine.

The launcher module runs again (`runpy`, as `lxm3 launch` does), so the
executables, executors and flags the coroutine closes over are the same
objects it was written with. `xm_cluster.create_experiment` returns a
`ControllerExperiment` here:

- it is the workstation's experiment (same id, same store identity, so the
  experiment dir on the cluster is its own), with a scratch store whose
  writes are journaled (`journal.JournalStore`);
- `experiment.package(...)` hands back, in order, the executables the
  workstation packaged and deployed (its digest manifest): the cluster never
  builds;
- `experiment.add(controller_job)` runs the user's coroutine; other top-level
  `add`s were launched by the workstation already and are skipped;
- units the coroutine adds are submitted with the cluster's own scheduler
  commands (the controller's cluster is reached with a local transport, same
  staging root), same job scripts and watcher as from the workstation;
- after a restart (requeue, `lxm3 rerun`), a unit whose id the journal knows
  is re-attached to its submitted jobs instead of being added again (the
  coroutine must add units in a deterministic order, as in XManager).
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextvars
import json
import logging
import os
import pickle
import runpy
import signal
import socket
import sys
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lxm3 import xm
from lxm3.config import Config
from lxm3.schedulers.base import SubmittedJob
from lxm3.xm.status import TaskState
from lxm3.xm_cluster import staging, targets
from lxm3.xm_cluster.controller import activate, active_spec_path
from lxm3.xm_cluster.controller.journal import Journal, JournalStore, replayable_jobs
from lxm3.xm_cluster.experiment import ClusterExperiment
from lxm3.xm_cluster.work_unit import ClusterWorkUnit, LaunchedJob, flatten_jobs

log = logging.getLogger(__name__)

#: The file (in the controller's work dir) the workstation writes the controller's spec to.
SPEC_FILE = "lxm3_controller.json"
#: The attribute marking the job generator of a controller (see lxm3.contrib.parameter_controller).
CALL_ATTR = "__lxm3_controller__"
_INSIDE_COROUTINE: contextvars.ContextVar[bool] = contextvars.ContextVar("lxm3_controller", default=False)


def load_spec() -> dict[str, Any]:
    with open(str(active_spec_path()), encoding="utf-8") as handle:
        spec: dict[str, Any] = json.load(handle)
    return spec


class ControllerWorkUnit(ClusterWorkUnit):
    """A work unit added by the coroutine: re-attached from the journal, or launched."""

    async def _launch_job_group(
        self, job_group: xm.JobGroup, args_view: Mapping[str, Any], dependency: xm.Dependency | None = None
    ) -> None:
        experiment = self._cluster_experiment
        assert isinstance(experiment, ControllerExperiment)
        records = experiment.replayed.get(self.work_unit_id)
        reattached = False
        if records:
            reattached = await asyncio.to_thread(self._reattach, job_group, records)
        if reattached:
            log.info("work unit %s: re-attached to its jobs from the journal", self.work_unit_id)
            return
        if experiment.stopping or experiment.controller_journal.stopped():
            raise xm.ExperimentUnitError(
                f"experiment {self.experiment_id} was cancelled (`lxm3 cancel`): the controller adds no more units"
            )
        await super()._launch_job_group(job_group, args_view, dependency)

    def _reattach(self, job_group: xm.JobGroup, records: list[dict[str, Any]]) -> bool:
        """Watches the journaled jobs of this unit again; False when one must run again.

        A cluster job that failed or was cancelled (`lxm3 cancel`, then `lxm3
        rerun`) runs again under the same work unit id. Local jobs ran in the
        controller process that is gone: completed ones (every task left exit
        code 0) are taken as they are, others run again.
        """
        experiment = self._cluster_experiment
        by_name = {str(record["name"]): record for record in records}
        launched = []
        for job in flatten_jobs(job_group):
            tasks = staging.job_tasks(job)
            record = by_name.get(staging._safe_name(tasks.name))
            if record is None:
                return False
            target = targets.get_target(job.executor, experiment.config)
            submitted = [SubmittedJob.from_record(entry) for entry in record["submitted"]]
            num_tasks = int(record["num_tasks"])
            if target.is_local:
                log_dir = str(record.get("log_dir") or f"{record['remote_dir']}/logs")
                if not all(_exit_code(log_dir, task) == 0 for task in range(num_tasks)):
                    return False
                submitted = []
            else:
                target.watcher.watch(submitted)
                # One query for everything watched: a job that was cancelled or failed runs again.
                target.watcher.refresh()
                states = target.watcher.statuses(submitted).values()
                if any(status.state in (TaskState.FAILED, TaskState.CANCELLED) for status in states):
                    return False
            launched.append(
                LaunchedJob(str(record["name"]), target, num_tasks, record["remote_dir"], submitted)
            )
        self.jobs.extend(launched)
        return True


def _exit_code(log_dir: str, task: int) -> int | None:
    try:
        with open(os.path.join(log_dir, f"{task}.exit")) as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None


class ControllerExperiment(ClusterExperiment):
    """The workstation's experiment, as the controller process sees and extends it."""

    def __init__(
        self,
        experiment_title: str,
        *,
        spec: Mapping[str, Any],
        project: str | None = None,
        config: Config | None = None,
    ) -> None:
        self.spec = dict(spec)
        self.controller_journal = Journal(self.spec["journal_dir"])
        self.replayed = replayable_jobs(self.controller_journal.read())
        self._manifest: list[Any] = [pickle.loads(base64.b64decode(entry)) for entry in self.spec["manifest"]]
        self._packaged_count = 0
        self._controller_started = False
        self._controller_task: Any = None
        #: Set when the controller is being stopped: no unit may be added any more.
        self.stopping = False
        store = JournalStore(
            Path(os.getcwd()) / "controller-store.sqlite3",
            self.controller_journal,
            int(self.spec["experiment_id"]),
            str(self.spec["store_identity"]),
        )
        super().__init__(experiment_title, project=project, config=config, store=store, dry_run=False)

    def _package(self, packageables: list[xm.Packageable]) -> list[xm.Executable]:
        result: list[xm.Executable] = []
        for _ in packageables:
            if self._packaged_count >= len(self._manifest):
                raise xm.ExperimentUnitError(
                    f"the controller packages more executables than the workstation did ({len(self._manifest)}); "
                    "package every executable before `experiment.add(controller())`"
                )
            # Matched by position (names derive from paths, which differ on the cluster).
            result.append(self._manifest[self._packaged_count])
            self._packaged_count += 1
        return result

    def local_root_for(self, target: targets.Target) -> Path:
        """On the controller's cluster the staging root IS the local root: nothing is copied."""
        if target.is_local:
            return super().local_root_for(target)
        return Path(target.staging)

    def _create_experiment_unit(
        self, args: Mapping[str, Any] | None, role: xm.ExperimentUnitRole, identity: str
    ) -> xm.ExperimentUnit:
        if isinstance(role, xm.WorkUnitRole):
            return ControllerWorkUnit(self, self._reserve_work_unit_id(), args, role, identity)
        return super()._create_experiment_unit(args, role, identity)

    def add(  # type: ignore[override]
        self,
        job: Any,
        args: Mapping[str, Any] | None = None,
        *,
        role: xm.ExperimentUnitRole = xm.WorkUnitRole(),
        identity: str = "",
    ) -> xm.UnitFuture[Any]:
        # The job generator inside (XManager's AuxiliaryUnitJob keeps it private).
        inner = getattr(job, "_job", job) if isinstance(job, xm.AuxiliaryUnitJob) else job
        call = getattr(inner, CALL_ATTR, None)
        if call is not None:
            if self._controller_started:
                raise xm.ExperimentUnitError("a launcher can add only one parameter controller")
            self._controller_started = True
            self._controller_task = self._create_task(self._run_controller(call))
            return xm.UnitFuture(self._controller_task)
        if not _INSIDE_COROUTINE.get():
            # Added at the launcher's top level: the workstation launched it already.
            log.info("skipping a top-level experiment.add (launched by the workstation)")
            done: concurrent.futures.Future[Any] = concurrent.futures.Future()
            done.set_result(None)
            return xm.UnitFuture(done)
        return super().add(job, args, role=role, identity=identity)

    async def _on_exit(self, abrupt: bool) -> None:
        if abrupt:
            # Stopped (scancel, qdel, `lxm3 cancel`): the coroutine must not go on adding units.
            self.stopping = True
            if self._controller_task is not None:
                self._controller_task.cancel()
        await super()._on_exit(abrupt)

    async def _run_controller(self, call: Any) -> None:
        token = _INSIDE_COROUTINE.set(True)
        try:
            await call.function(self, *call.args, **call.kwargs)
        finally:
            _INSIDE_COROUTINE.reset(token)


def controller_experiment(
    experiment_title: str, *, project: str | None = None, config: Config | None = None
) -> ControllerExperiment:
    """What `xm_cluster.create_experiment` returns inside a controller."""
    return ControllerExperiment(experiment_title, spec=load_spec(), project=project, config=config)


def _setup_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("lxm3 controller %(asctime)s: %(message)s", "%H:%M:%S"))
    logger = logging.getLogger("lxm3")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def main() -> int:
    """Runs the controller in its work dir (the unpacked launcher package); returns the exit code."""
    spec_path = os.path.abspath(SPEC_FILE)
    with open(spec_path, encoding="utf-8") as handle:
        spec = json.load(handle)
    activate(spec_path, spec.get("cluster"))
    os.environ["LXM3_LOCAL_ECHO"] = "0"  # local units have their own logs
    if spec.get("config"):
        os.environ["LXM_CONFIG"] = os.path.abspath(spec["config"])
    launcher = os.path.abspath(spec["launcher"])
    os.environ["LXM3_LAUNCHER"] = launcher
    os.environ["LXM3_LAUNCHER_DIR"] = os.path.dirname(launcher)
    _setup_logging()
    journal = Journal(spec["journal_dir"])
    # A stop mark left by `lxm3 cancel` belongs to the run it cancelled; this one is a rerun.
    journal.stop_path.unlink(missing_ok=True)
    attempt = 1 + sum(1 for event in journal.read() if event.get("event") == "start")
    journal.append("start", attempt=attempt, pid=os.getpid(), host=socket.gethostname())
    log.info(
        "experiment %s: controller attempt %d running %s", spec["experiment_id"], attempt, spec["launcher"]
    )
    # The scheduler's stop signal (scancel/qdel, `lxm3 cancel`) stops the controller as Ctrl-C would.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    sys.argv = [launcher, *spec.get("argv", [])]
    sys.path.insert(0, os.path.dirname(launcher))
    try:
        runpy.run_path(launcher, run_name="__main__")
    except SystemExit as exit_request:
        code = exit_request.code
        if code not in (None, 0):
            journal.append("end", state="FAILED", error=f"the launcher exited with {code}")
            return code if isinstance(code, int) else 1
    except KeyboardInterrupt:
        journal.append("end", state="CANCELLED")
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)  # die of it, so the scheduler says CANCELLED
        return 143
    except BaseException as error:  # noqa: BLE001 - the traceback goes to the log, its first line to the journal
        traceback.print_exc()
        first = (str(error).strip().splitlines() or [""])[0]
        journal.append("end", state="FAILED", error=f"{type(error).__name__}: {first}".rstrip(": "))
        return 1
    journal.append("end", state="COMPLETED")
    return 0
