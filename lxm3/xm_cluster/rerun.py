"""Rerunning the failed or cancelled tasks of a recorded job, as attempt N+1.

Same job dir, artifacts, args (the task table) and executor; new scripts,
staged by the same `staging.stage_scripts` as a launch's, map array
positions to the tasks' global ids through an index map. The old attempt's
logs of those tasks move to `logs/attempt-<n>/`, so `logs/<task>.*` always
belong to the latest one. The new attempt is written to the store as a
`JobRecord`, like a launch.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from lxm3.runtime.job_paths import JobPaths, job_rel
from lxm3.schedulers.base import SubmittedJob
from lxm3.store.db import ExperimentStore
from lxm3.store.records import JobRecord, ReloadError
from lxm3.transport.base import Transport
from lxm3.xm.status import TaskState
from lxm3.xm_cluster import targets
from lxm3.xm_cluster.stored_jobs import StoredJob

if TYPE_CHECKING:  # staging (Jinja, container specs) is imported only when a rerun stages
    from lxm3.xm_cluster.staging import StagedJob

#: States a rerun resubmits.
RERUN_STATES = (TaskState.FAILED, TaskState.CANCELLED)


@attrs.define
class RerunReport:
    """What `rerun_failed` submitted: per (work unit, job) the tasks and scheduler job ids."""

    attempt: int | None = None
    jobs: list[tuple[int, str, list[int], list[str]]] = attrs.field(factory=list)
    local: bool = False

    @property
    def num_tasks(self) -> int:
        return sum(len(tasks) for _, _, tasks, _ in self.jobs)


def _roots(base: JobRecord, rel: str) -> tuple[str, Path]:
    """(remote staging root, local mirror root) of a recorded job whose dir is `<root>/<rel>`."""
    if not base.remote_dir.endswith("/" + rel):
        raise ReloadError(f"job {base.name!r}: unexpected job dir {base.remote_dir} (expected .../{rel})")
    local_dir = base.local_dir or base.remote_dir
    if not local_dir.endswith("/" + rel):
        raise ReloadError(f"job {base.name!r}: unexpected local mirror {local_dir}")
    return base.remote_dir[: -len(rel) - 1], Path(local_dir[: -len(rel) - 1])


def restage(
    job: StoredJob,
    tasks: list[int],
    attempt: int,
    target: targets.Target,
    executor: Any,
    dependency: Any = None,
) -> StagedJob:
    """Stages the scripts that rerun `tasks` of a recorded job (its table and spec are staged already)."""
    from lxm3.xm_cluster.staging import StagedJob, stage_scripts

    base = job.first
    rel = job_rel(job.experiment_id, job.work_unit_id, base.name)
    remote_root, local_root = _roots(base, rel)
    (local_root / rel).mkdir(parents=True, exist_ok=True, mode=0o700)
    recorded = StagedJob(
        name=base.name,
        local_root=local_root,
        remote_root=remote_root,
        job_rel=rel,
        num_tasks=base.num_tasks,
        scripts=(),
        content_addressed=tuple(base.artifacts),
        job_files=(),  # the table and spec stay as the launch deployed them
    )
    return stage_scripts(
        recorded,
        target,
        executor,
        label=base.label or f"{job.experiment_id}_{job.work_unit_id}_{base.name}",
        tasks=tasks,
        attempt=attempt,
        log_dir=base.log_dir,
        pack=max([chunk.submitted.chunk.pack for chunk in base.chunks] or [1]),
        dependency=dependency,
    )


def resubmit(
    store: ExperimentStore,
    job: StoredJob,
    tasks: list[int],
    attempt: int,
    target: targets.Target,
    *,
    dependency: Any = None,
) -> list[SubmittedJob]:
    """Stages, deploys and submits a rerun of `tasks`, and records it as attempt `attempt`.

    `dependency` (a `ResolvedDependency`) holds the rerun on the jobs it waits for
    (a re-armed dependent, see `rerun_dependencies`).
    """
    from lxm3.xm_cluster import deploying

    base = job.first
    executor = base.restore_executor()
    staged = restage(job, tasks, attempt, target, executor, dependency)
    transport = target.transport()
    relative = JobPaths(staged.job_rel)
    needed = [*staged.content_addressed, relative.spec, relative.table, relative.index]
    missing = deploying.prepare_remote(transport, staged.remote_root, [], needed)
    gone = [name for name in missing if not (staged.local_root / name).exists()]
    if gone:
        raise ReloadError(
            f"job {base.name!r}: {gone[0]} is no longer staged (removed by `lxm3 clean`?); launch it again"
        )
    deploying.deploy([staged], target)
    owners = job.owners()
    moves = "".join(f"{task} {owners[task].attempt}\n" for task in tasks if task in owners)
    rotate_logs(transport, base.log_dir, moves)
    submitted = deploying.submit(staged, target)
    label = staged.scripts[0].request.label if staged.scripts else base.label
    record = staged.record(target, submitted, executor, label=label, attempt=attempt, log_dir=base.log_dir)
    store.add_job(job.experiment_id, job.work_unit_id, record)
    return submitted


_ROTATE_SCRIPT = (
    'cd "$1" || exit 0; while read -r task attempt; do '
    'for stream in out err exit; do f="$task.$stream"; '
    'if [ -e "$f" ]; then mkdir -p "attempt-$attempt" && mv -f "$f" "attempt-$attempt/$f"; fi; done; done'
)


def rotate_logs(transport: Transport, log_dir: str, moves: str) -> None:
    """Moves the previous attempt's `<task>.out|.err|.exit` into `attempt-<n>/`, in one command."""
    if moves:
        transport.run(["bash", "-c", _ROTATE_SCRIPT, "lxm3-rotate", log_dir], input=moves)
