"""Staging a job: its task table, job spec and job scripts, in a local mirror of the staging root.

A launch (`stage_job`) writes the job's files, then its scripts; a rerun
(`lxm3.xm_cluster.rerun`) reuses the recorded files and stages new scripts for
some of the tasks. Both go through `stage_scripts`, which splits the tasks into
array chunks and, for scattered tasks, writes the index maps the scripts read.
Every path comes from a `JobPaths` (see `lxm3.runtime.job_paths` for the layout);
what the tasks are comes from `lxm3.xm_cluster.job_tasks`.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from lxm3.files import atomic_write, place_atomically
from lxm3.packaging.artifact import Artifact
from lxm3.runtime import task_runner
from lxm3.runtime.job_paths import INDEX_NAME, TABLE_NAME, JobPaths
from lxm3.runtime.shipped_runner import runner_file_name, shipped_runner
from lxm3.runtime.task_table import write_task_lines
from lxm3.schedulers.base import ArrayChunk, JobScript, RenderRequest, SubmittedJob, split_into_chunks
from lxm3.store.records import ChunkRecord, JobRecord
from lxm3.xm_cluster.containers.job_spec import container_job_spec
from lxm3.xm_cluster.job_tasks import JobTasks, job_tasks
from lxm3.xm_cluster.targets import Target
from lxm3.xm_cluster.task_lines import table_lines

# Re-exported: the work unit, the controller and launching import them from here.
__all__ = [
    "RUNNER_SOURCE",
    "JobTasks",
    "StagedJob",
    "job_tasks",
    "private_dirs",
    "render_scripts",
    "runner_name",
    "stage_job",
    "stage_scripts",
]

#: The runner's entry module; it ships with its siblings as one zip (`shipped_runner`).
RUNNER_SOURCE = Path(task_runner.__file__)


def runner_name() -> str:
    """The shipped runner under the staging root: `runtime/task_runner-<sha12>.pyz`."""
    return f"runtime/{runner_file_name()}"


@attrs.frozen
class StagedJob:
    """A job rendered into the local mirror, ready to deploy and submit."""

    name: str
    local_root: Path
    remote_root: str
    job_rel: str
    num_tasks: int
    scripts: tuple[JobScript, ...]
    #: Files named by digest: sent only when the target lacks them.
    content_addressed: tuple[str, ...]
    #: The job's own files (relative to the staging root): always sent.
    job_files: tuple[str, ...]
    #: Per script, the global tasks it runs through its index map (a rerun); None: its chunk's range.
    task_ids: tuple[tuple[int, ...], ...] | None = None
    #: Why lxm3 packed the job's tasks (None when it did not decide to).
    packing: str | None = None

    @property
    def remote_dir(self) -> str:
        return f"{self.remote_root}/{self.job_rel}"

    @property
    def paths(self) -> JobPaths:
        """The job's paths on the execution host."""
        return JobPaths.under(self.remote_root, self.job_rel)

    @property
    def log_dir(self) -> str:
        return self.paths.log_dir

    def record(
        self,
        target: Target,
        submitted: Sequence[SubmittedJob],
        executor: Any,
        *,
        label: str | None,
        attempt: int = 1,
        log_dir: str | None = None,
    ) -> JobRecord:
        """What the store keeps once its scripts were submitted (a launch, or a rerun's attempt).

        With no `submitted` (the scheduler refused the job), the record has no chunks:
        the journal keeps it to show the launch as failed.
        """
        per_script = self.task_ids or [None] * len(self.scripts)
        return JobRecord(
            attempt=attempt,
            name=self.name,
            target_name=target.name,
            scheduler_name=target.scheduler.name,
            num_tasks=self.num_tasks,
            remote_dir=self.remote_dir,
            local_dir=str(self.local_root / self.job_rel),
            log_dir_override=log_dir,
            artifacts=self.content_addressed,
            chunks=[
                ChunkRecord.of(job, ids, script.request.index_map)
                for job, script, ids in zip(submitted, self.scripts, per_script, strict=True)
            ]
            if submitted
            else [],
            # The object itself: the store keeps its repr and a pickle for `lxm3 rerun`.
            executor=executor,
            label=label,
        )


def _safe_name(name: str) -> str:
    cleaned = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
    return cleaned.strip(".") or "job"


def render_scripts(
    target: Target,
    executor: Any,
    *,
    local_root: Path,
    remote_root: str,
    job_rel: str,
    name: str,
    label: str,
    num_tasks: int,
    runner_rel: str,
    chunks: Sequence[ArrayChunk],
    attempt: int = 1,
    task_ids: Sequence[Sequence[int]] | None = None,
    log_dir: str | None = None,
    pack_parallel: int = 1,
    dependency: Any = None,
) -> tuple[list[JobScript], list[str]]:
    """Renders one job script per chunk into the local mirror: (scripts, their names under the root).

    With `task_ids` (a rerun of scattered tasks, one list per chunk), each chunk
    also gets an index map, array position -> global task id, which its script reads.
    """
    remote = JobPaths.under(remote_root, job_rel, log_dir)
    relative = JobPaths(job_rel)
    scripts: list[JobScript] = []
    job_files: list[str] = []
    for number, chunk in enumerate(chunks):
        index_map = None
        if task_ids is not None:
            map_rel = relative.index_map(number, attempt)
            (local_root / map_rel).write_text("".join(f"{task}\n" for task in task_ids[number]))
            job_files.append(map_rel)
            index_map = f"{remote_root}/{map_rel}"
        request = RenderRequest(
            job_name=name,
            label=label,
            executor=executor,
            chunk=chunk,
            num_tasks=num_tasks,
            job_dir=remote.job_dir,
            log_dir=remote.log_dir,
            runner_path=f"{remote_root}/{runner_rel}",
            spec_path=remote.spec,
            python=target.python,
            env=target.env,
            index_map=index_map,
            pack_parallel=pack_parallel,
            dependency=dependency,
        )
        script_rel = relative.script(number, attempt)
        script_local = local_root / script_rel
        script_local.write_text(target.scheduler.render(request))
        script_local.chmod(0o700)
        scripts.append(JobScript(f"{remote_root}/{script_rel}", request))
        job_files.append(script_rel)
    return scripts, job_files


def private_dirs(root: Path, rel: str) -> Path:
    """Creates `root/rel` with every level from `root` down 0700: staged files hold args and env."""
    path = root
    for part in [None, *Path(rel).parts]:
        if part is not None:
            path = path / part
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        if path.stat().st_mode & 0o077:
            path.chmod(0o700)
    return path


def stage_job(
    job: JobTasks,
    target: Target,
    local_root: Path,
    unit_rel: str,
    *,
    label: str | None = None,
    chunks: Sequence[ArrayChunk] | None = None,
    spec_extras: dict[str, Any] | None = None,
    dependency: Any = None,
) -> StagedJob:
    """Writes the job's files into `local_root/unit_rel/<job>/` and renders its scripts."""
    name = _safe_name(job.name)
    job_rel = f"{unit_rel}/{name}"
    relative = JobPaths(job_rel)
    job_dir = local_root / job_rel
    if job_dir.exists():
        shutil.rmtree(job_dir)
    private_dirs(local_root, relative.log_dir)
    num_tasks = write_task_lines(job_dir, table_lines(job))

    content_addressed: list[str] = []
    private_dirs(local_root, "runtime")
    private_dirs(local_root, "artifacts")
    remote_root = target.staging
    runner_rel = runner_name()
    runner_local = local_root / runner_rel
    if not runner_local.exists():
        atomic_write(runner_local, shipped_runner()[0])
    content_addressed.append(runner_rel)

    spec: dict[str, Any] = {
        "name": name,
        "table": TABLE_NAME,
        "index": INDEX_NAME,
        "num_tasks": num_tasks,
        "entrypoint": job.executable.entrypoint.to_spec(),
        "python": "python3",
        "log_dir": None if target.is_local else "logs",
        "env": dict(target.env),
        # Each task's kept results: `outputs/<task>/` (LXM_OUTPUT_DIR), after-files copied there.
        "outputs": "outputs",
        "after_files": list(job.after_files),
    }

    def place_artifact(artifact: Artifact) -> str:
        """Every content-addressed file (code zip, .sif image) goes the same way: by digest."""
        artifact_rel = f"artifacts/{artifact.file_name}"
        artifact_local = local_root / artifact_rel
        if not artifact_local.exists():
            place_atomically(artifact.path, artifact_local, link=True)
        content_addressed.append(artifact_rel)
        return f"{remote_root}/{artifact_rel}"

    if job.executable.artifact is not None:
        spec["archive"] = place_artifact(job.executable.artifact)
    image = job.executable.container
    image_path = place_artifact(image.artifact) if image is not None and image.artifact is not None else None
    container = container_job_spec(job.executable, job.executor, target, image_path)
    if container is not None:
        spec["container"] = container
    if spec_extras:
        spec.update(spec_extras)
    spec_file = local_root / relative.spec
    spec_file.write_text(json.dumps(spec, indent=1, sort_keys=True))
    spec_file.chmod(0o600)  # holds the cluster env

    files = StagedJob(
        name=name,
        local_root=local_root,
        remote_root=remote_root,
        job_rel=job_rel,
        num_tasks=num_tasks,
        scripts=(),
        content_addressed=tuple(content_addressed),
        job_files=(relative.spec, relative.table, relative.index),
    )
    plan = None
    if chunks is None:
        from lxm3.xm_cluster.task_packing import plan_chunks

        plan = plan_chunks(num_tasks, target, pack=job.pack, parallel=job.pack_parallel, job_name=name)
        chunks = plan.chunks
    staged = stage_scripts(
        files,
        target,
        job.executor,
        label=label or name,
        chunks=chunks,
        pack_parallel=job.pack_parallel,
        dependency=dependency,
    )
    return attrs.evolve(staged, packing=plan.notice if plan is not None else None)


def stage_scripts(
    job: StagedJob,
    target: Target,
    executor: Any,
    *,
    label: str,
    tasks: Sequence[int] | None = None,
    chunks: Sequence[ArrayChunk] | None = None,
    attempt: int = 1,
    log_dir: str | None = None,
    pack: int = 1,
    pack_parallel: int = 1,
    dependency: Any = None,
) -> StagedJob:
    """Renders the scripts of a job whose files are staged: all its tasks, or only `tasks`.

    All tasks (a launch) are split into contiguous chunks (`chunks`, default: the
    cluster's array limit). Chosen `tasks` (a rerun, attempt > 1) are split the
    same way, and each chunk gets an index map, array position -> global task
    id, so its array runs exactly those tasks; `pack` tasks per array task
    (a packed job's rerun is packed alike, so it fits the same limits).
    """
    count = job.num_tasks if tasks is None else len(tasks)
    parts = list(chunks) if chunks is not None else split_into_chunks(count, target.max_array_size(), pack)
    task_ids = None
    if tasks is not None:
        task_ids = tuple(tuple(tasks[part.offset : part.offset + part.count]) for part in parts)
        parts = [ArrayChunk(0, len(ids), part.pack) for ids, part in zip(task_ids, parts, strict=True)]
    runners = [name for name in job.content_addressed if name.startswith("runtime/")]
    scripts, script_files = render_scripts(
        target,
        executor,
        local_root=job.local_root,
        remote_root=job.remote_root,
        job_rel=job.job_rel,
        name=job.name,
        label=label,
        num_tasks=job.num_tasks,
        runner_rel=runners[0] if runners else runner_name(),
        chunks=parts,
        attempt=attempt,
        task_ids=task_ids,
        log_dir=log_dir,
        pack_parallel=pack_parallel,
        dependency=dependency,
    )
    return attrs.evolve(
        job, scripts=tuple(scripts), job_files=(*job.job_files, *script_files), task_ids=task_ids
    )
