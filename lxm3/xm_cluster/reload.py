"""The names of reloading, gathered for callers that import them from here (lxm3 <= 0.5.x).

Each concept has its own home:

    lxm3.store.records             JobRecord (was JobAttempt), ChunkRecord (was Chunk), ReloadError
    lxm3.xm_cluster.stored_jobs    StoredJob, group_jobs
    lxm3.xm_cluster.resolver       TargetResolver
    lxm3.schedulers.completion     combine, read_exit_files (completion files vs the scheduler)
    lxm3.schedulers.watcher        StatusWatcher, WatchedJob (one status engine)
    lxm3.xm_cluster.status_reader  StatusReader (store-side: cached finals, attempts, local jobs)
    lxm3.xm_cluster.cancelling     cancel_by_target, cancel_recorded, CancelReport
    lxm3.xm_cluster.rerun          resubmit, RerunReport, RERUN_STATES
    lxm3.xm_cluster.reloaded       ReloadedExperiment, ReloadedWorkUnit, get_experiment
"""

from __future__ import annotations

from lxm3.schedulers.completion import combine, read_exit_files
from lxm3.store.records import ChunkRecord as Chunk
from lxm3.store.records import JobRecord, ReloadError
from lxm3.xm_cluster.cancelling import CancelReport
from lxm3.xm_cluster.reloaded import ReloadedExperiment, ReloadedWorkUnit, experiment_store, get_experiment
from lxm3.xm_cluster.rerun import RERUN_STATES, RerunReport
from lxm3.xm_cluster.resolver import TargetResolver
from lxm3.xm_cluster.status_reader import StatusReader
from lxm3.xm_cluster.stored_jobs import JobAttempt, StoredJob, group_jobs

__all__ = [
    "RERUN_STATES",
    "CancelReport",
    "Chunk",
    "JobAttempt",
    "JobRecord",
    "ReloadError",
    "ReloadedExperiment",
    "ReloadedWorkUnit",
    "RerunReport",
    "StatusReader",
    "StoredJob",
    "TargetResolver",
    "combine",
    "experiment_store",
    "get_experiment",
    "group_jobs",
    "read_exit_files",
]
