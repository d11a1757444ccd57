"""From a job to submitted scheduler jobs: stage, render, deploy, submit.

    stage   write the task table, job spec and one job script per array chunk
            into a local mirror of the remote staging layout
    deploy  send what the target lacks: artifacts and the runner by digest
            (skipped when already there), the job's own small files always
    submit  hand the scripts to the scheduler in one command

Staging layout (identical locally and on the cluster):

    <staging>/artifacts/<sha256>.zip                  content-addressed code
    <staging>/artifacts/<sha256>.sif                  content-addressed container image
    <staging>/runtime/task_runner-<sha12>.py          content-addressed runner
    <staging>/experiments/<exp>/<wu>/<job>/           job.json, tasks.*, job-<k>.sh
    <staging>/experiments/<exp>/<wu>/<job>/logs/      <task>.out/.err/.exit
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import logging
import os
import shlex
import shutil
import tarfile
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs

from lxm3.containers.job_spec import container_job_spec
from lxm3.packaging.artifact import Artifact
from lxm3.packaging.digest import file_digest
from lxm3.runtime import task_runner
from lxm3.runtime.task_table import INDEX_NAME, TABLE_NAME, write_task_table
from lxm3.schedulers.base import ArrayChunk, JobScript, RenderRequest, SubmittedJob, split_into_chunks
from lxm3.transport.base import CommandResult, Transport, TransportError, check_result
from lxm3.xm.args import merge_args
from lxm3.xm_cluster.array_job import ArrayJob
from lxm3.xm_cluster.executables import Command
from lxm3.xm_cluster.targets import Target

log = logging.getLogger(__name__)
RUNNER_SOURCE = Path(task_runner.__file__)
_RUNNER_DIGEST: str | None = None


def runner_name() -> str:
    global _RUNNER_DIGEST
    if _RUNNER_DIGEST is None:
        _RUNNER_DIGEST = file_digest(RUNNER_SOURCE)
    return f"runtime/task_runner-{_RUNNER_DIGEST[:12]}.py"


@attrs.frozen
class JobTasks:
    """A job's tasks: the executable's baked-in args/env merged with each task's.

    Tasks are produced lazily (`iter_tasks`), so a 100,000-task sweep is
    streamed into the task table instead of held in memory twice.
    """

    name: str
    executable: Command
    executor: Any
    pairs: Sequence[tuple[Any, dict[str, str]]]

    @property
    def num_tasks(self) -> int:
        return len(self.pairs)

    def iter_tasks(self) -> Iterator[tuple[list[Any], dict[str, str]]]:
        base_args, base_env = self.executable.args, self.executable.env_vars
        for args, env in self.pairs:
            # Jobs keep env values as given (XManager); they become strings here, where tasks are rendered.
            merged = {**base_env, **env}
            yield merge_args(base_args, args).to_list(), {key: str(value) for key, value in merged.items()}

    @property
    def tasks(self) -> list[tuple[list[Any], dict[str, str]]]:
        return list(self.iter_tasks())


def job_tasks(job: Any) -> JobTasks:
    """The tasks of an xm.Job (one task) or an ArrayJob (one per element)."""
    executable = job.executable
    if not isinstance(executable, Command):
        raise TypeError(
            f"job {job.name!r}: its executable must come from experiment.package(), got {executable!r}"
        )
    if isinstance(job, ArrayJob):
        pairs: Sequence[tuple[Any, dict[str, str]]] = _Zipped(job.args, job.env_vars)
    else:
        pairs = [(job.args, job.env_vars)]
    return JobTasks(job.name or executable.name, executable, job.executor, pairs)


class _Zipped(Sequence[tuple[Any, dict[str, str]]]):
    """A zip of two equal-length lists that does not copy them."""

    def __init__(self, first: Sequence[Any], second: Sequence[dict[str, str]]) -> None:
        self._first, self._second = first, second

    def __len__(self) -> int:
        return len(self._first)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return list(zip(self._first[index], self._second[index], strict=True))
        return self._first[index], self._second[index]


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

    @property
    def remote_dir(self) -> str:
        return f"{self.remote_root}/{self.job_rel}"

    @property
    def log_dir(self) -> str:
        return f"{self.remote_dir}/logs"


def _safe_name(name: str) -> str:
    cleaned = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
    return cleaned.strip(".") or "job"


def _place_atomically(source: Path, destination: Path, *, link: bool) -> None:
    """Puts a content-addressed file in place under a temporary name, then renames it.

    Jobs are staged concurrently (one thread per work unit): a plain
    check-then-copy let one job see another's half-written runner, or fail with
    SameFileError when both hard-linked the same artifact.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.with_name(f".{destination.name}.{os.getpid()}.{threading.get_ident()}")
    temporary.unlink(missing_ok=True)
    try:
        if not link:
            raise OSError("copy requested")
        os.link(source, temporary)
    except OSError:
        shutil.copyfile(source, temporary)
    os.replace(temporary, destination)


def stage_job(
    job: JobTasks,
    target: Target,
    local_root: Path,
    unit_rel: str,
    *,
    label: str | None = None,
    chunks: Sequence[ArrayChunk] | None = None,
    spec_extras: dict[str, Any] | None = None,
) -> StagedJob:
    """Writes the job's files into `local_root/unit_rel/<job>/` and renders its scripts."""
    name = _safe_name(job.name)
    job_rel = f"{unit_rel}/{name}"
    job_dir = local_root / job_rel
    if job_dir.exists():
        shutil.rmtree(job_dir)
    (job_dir / "logs").mkdir(parents=True, mode=0o700)
    num_tasks = write_task_table(job_dir, job.iter_tasks())

    content_addressed: list[str] = []
    remote_root = target.staging
    runner_rel = runner_name()
    runner_local = local_root / runner_rel
    if not runner_local.exists():
        _place_atomically(RUNNER_SOURCE, runner_local, link=False)
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
    }

    def place_artifact(artifact: Artifact) -> str:
        """Every content-addressed file (code zip, .sif image) goes the same way: by digest."""
        artifact_rel = f"artifacts/{artifact.file_name}"
        artifact_local = local_root / artifact_rel
        if not artifact_local.exists():
            _place_atomically(artifact.path, artifact_local, link=True)
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
    (job_dir / "job.json").write_text(json.dumps(spec, indent=1, sort_keys=True))

    if chunks is None:
        chunks = split_into_chunks(num_tasks, target.max_array_size())
    remote_dir = f"{remote_root}/{job_rel}"
    scripts: list[JobScript] = []
    job_files = [f"{job_rel}/job.json", f"{job_rel}/{TABLE_NAME}", f"{job_rel}/{INDEX_NAME}"]
    for number, chunk in enumerate(chunks):
        request = RenderRequest(
            job_name=name,
            label=label or name,
            executor=job.executor,
            chunk=chunk,
            num_tasks=num_tasks,
            job_dir=remote_dir,
            log_dir=f"{remote_dir}/logs",
            runner_path=f"{remote_root}/{runner_rel}",
            spec_path=f"{remote_dir}/job.json",
            python=target.python,
            env=target.env,
        )
        script_rel = f"{job_rel}/job-{number}.sh"
        script_local = local_root / script_rel
        script_local.write_text(target.scheduler.render(request))
        script_local.chmod(0o700)
        scripts.append(JobScript(f"{remote_root}/{script_rel}", request))
        job_files.append(script_rel)
    return StagedJob(
        name=name,
        local_root=local_root,
        remote_root=remote_root,
        job_rel=job_rel,
        num_tasks=num_tasks,
        scripts=tuple(scripts),
        content_addressed=tuple(content_addressed),
        job_files=tuple(job_files),
    )


@attrs.frozen
class DeployPlan:
    """What deploying a batch of staged jobs involves, for either way of sending it."""

    local_root: Path
    remote_root: str
    #: Content-addressed files the jobs need (sent only when missing).
    wanted: list[str]
    #: The jobs' own files (always sent).
    job_files: list[str]
    #: Log dirs to create before submitting.
    dirs: list[str]
    #: Experiment dirs to claim for the launching store.
    claims: dict[str, str]

    @classmethod
    def of(cls, staged_jobs: Sequence[StagedJob], owner: str | None) -> DeployPlan:
        remote_root = staged_jobs[0].remote_root
        return cls(
            local_root=staged_jobs[0].local_root,
            remote_root=remote_root,
            wanted=sorted({name for job in staged_jobs for name in job.content_addressed}),
            job_files=sorted({name for job in staged_jobs for name in job.job_files}),
            dirs=sorted({f"{remote_root}/{job.job_rel}/logs" for job in staged_jobs}),
            claims={f"{remote_root}/{'/'.join(job.job_rel.split('/')[:2])}": owner for job in staged_jobs}
            if owner
            else {},
        )


def deploy(staged_jobs: Sequence[StagedJob], target: Target, *, owner: str | None = None) -> int:
    """Sends the jobs' files; content-addressed ones only if missing. Returns bytes sent.

    With `owner` (the launching store's identity), each experiment directory is
    claimed for that store first: two machines whose stores both reached
    experiment id N must not overwrite each other's job files in one staging root.
    """
    if not staged_jobs:
        return 0
    transport = target.transport()
    plan = DeployPlan.of(staged_jobs, owner)
    local_root, remote_root = plan.local_root, plan.remote_root
    if target.is_local and Path(os.path.expanduser(remote_root)).resolve() == local_root.resolve():
        return 0
    missing = prepare_remote(transport, remote_root, plan.dirs, plan.wanted, claims=plan.claims)
    present = PresenceRecord(transport.label, remote_root)
    # Large files (container images) go one by one under a progress bar; the rest in one transfer.
    large = [name for name in missing if (local_root / name).stat().st_size >= LARGE_UPLOAD_BYTES]
    files = sorted((set(missing) - set(large)) | set(plan.job_files))
    sent = 0
    if large:
        with upload_progress(local_root, large, transport.label) as advance:
            for name in large:
                sent += transport.upload(local_root, remote_root, files=[name])
                advance(name)
    sent += transport.upload(local_root, remote_root, files=files)
    present.add(plan.wanted)
    return sent


#: Files at least this big are sent on their own, with a progress bar on a terminal.
LARGE_UPLOAD_BYTES = 64 * 1024 * 1024


@contextlib.contextmanager
def upload_progress(local_root: Path, names: Sequence[str], where: str) -> Iterator[Callable[[str], None]]:
    """A byte-counting progress bar over whole files (stderr; a log line when not a terminal)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TransferSpeedColumn,
    )

    sizes = {name: (local_root / name).stat().st_size for name in names}
    console = Console(stderr=True)
    if not console.is_terminal:
        for name in names:
            log.info("sending %s (%.1f MB) to %s", name, sizes[name] / 1e6, where)
        yield lambda name: None
        return
    columns = (
        TextColumn("sending {task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(f"{len(names)} large file(s) to {where}", total=sum(sizes.values()))
        yield lambda name: progress.advance(task, sizes[name])


OWNER_FILE = ".lxm3-owner"
_COLLISION = "lxm3-collision"
_MISSING = "lxm3-missing"


def prepare_script(
    remote_root: str,
    dirs: Sequence[str],
    names: Sequence[str],
    *,
    claims: dict[str, str] | None = None,
    require: bool = False,
) -> str:
    """Shell that claims experiment dirs, creates `dirs` (0700) and checks `names`.

    Missing names are listed one per line; with `require`, the first missing
    one is reported as `lxm3-missing <path>` and the script exits 5.
    """
    quoted_dirs = " ".join(shlex.quote(d) for d in dirs)
    checks = " ".join(shlex.quote(f"{remote_root}/{name}") for name in names)
    script = "umask 077"
    for directory, owner in sorted((claims or {}).items()):
        mark = shlex.quote(f"{directory}/{OWNER_FILE}")
        script += (
            f" && mkdir -p {shlex.quote(directory)}"
            f" && {{ [ ! -e {mark} ] && printf %s {shlex.quote(owner)} > {mark}"
            f' || [ "$(cat {mark})" = {shlex.quote(owner)} ]'
            f" || {{ printf '{_COLLISION} %s\\n' {shlex.quote(directory)}; exit 3; }}; }}"
        )
    if dirs:
        script += f" && mkdir -p {quoted_dirs}"
    if names and require:
        script += (
            f' && for f in {checks}; do [ -e "$f" ] || {{ printf "{_MISSING} %s\\n" "$f"; exit 5; }}; done'
        )
    elif names:
        script += f' && for f in {checks}; do [ -e "$f" ] || printf "%s\\n" "$f"; done'
    return script


class ArtifactsMissingError(RuntimeError):
    """Files believed to be on the cluster were not (someone cleaned the staging dir)."""


def check_prepared(result: CommandResult, remote_root: str, where: str) -> None:
    """Raises for a claim collision (TransportError) or a required file missing (ArtifactsMissingError)."""
    lines = result.stdout.splitlines()
    collided = [line.split(" ", 1)[1] for line in lines if line.startswith(_COLLISION + " ")]
    if collided:
        raise TransportError(
            f"{collided[0]} on {where} belongs to another lxm3 experiment store (another machine or "
            "LXM3_STORE launched there with the same experiment id); give each machine its own staging directory"
        )
    missing = [line.split(" ", 1)[1] for line in lines if line.startswith(_MISSING + " ")]
    if missing:
        raise ArtifactsMissingError(f"{missing[0]} is no longer in {remote_root} on {where}")


def prepare_remote(
    transport: Transport,
    remote_root: str,
    dirs: Sequence[str],
    names: Sequence[str],
    *,
    claims: dict[str, str] | None = None,
) -> list[str]:
    """In ONE remote command: claim experiment dirs, create `dirs` (0700), list missing `names`."""
    result = transport.run_script(prepare_script(remote_root, dirs, names, claims=claims), check=False)
    check_prepared(result, remote_root, transport.label)
    if result.returncode != 0:
        check_result(result, f"preparing {remote_root} on {transport.label}")
    prefix = f"{remote_root}/"
    return [line[len(prefix) :] for line in result.stdout.splitlines() if line.startswith(prefix)]


class PresenceRecord:
    """Content-addressed files known to be on a target, remembered between launches.

    When every file a launch needs is known present, deploy and submit become
    ONE remote command (the job's small files travel inside it); if a file
    turns out to be gone, the record is dropped and the launch takes the
    normal path. Kept in ~/.cache/lxm3/clusters/.
    """

    def __init__(self, label: str, remote_root: str) -> None:
        from lxm3.packaging.artifact import default_cache_dir

        key = hashlib.sha256(f"{label}\0{remote_root}".encode()).hexdigest()[:20]
        self.path = default_cache_dir() / "clusters" / f"present-{key}.json"

    def load(self) -> set[str]:
        try:
            return set(json.loads(self.path.read_text()))
        except (OSError, ValueError):
            return set()

    def add(self, names: Sequence[str]) -> None:
        known = self.load() | set(names)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_suffix(f".tmp{os.getpid()}")
            temporary.write_text(json.dumps(sorted(known)))
            os.replace(temporary, self.path)
        except OSError:
            pass  # a cache, not a requirement

    def forget(self) -> None:
        self.path.unlink(missing_ok=True)


def fast_deploy(
    staged_jobs: Sequence[StagedJob], target: Target, *, owner: str | None = None
) -> tuple[str, str] | None:
    """(shell prelude, stdin payload) that deploys the jobs inside the submit command.

    None when a needed content-addressed file is not known to be on the target
    (then `deploy` must run first). The prelude fails with `lxm3-missing` if a
    file believed present is gone.
    """
    if not staged_jobs or target.is_local:
        return None
    plan = DeployPlan.of(staged_jobs, owner)
    if not set(plan.wanted) <= PresenceRecord(target.transport().label, plan.remote_root).load():
        return None
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=6) as archive:
        for name in plan.job_files:
            archive.add(plan.local_root / name, arcname=name)
    payload = base64.b64encode(buffer.getvalue()).decode()
    prelude = prepare_script(plan.remote_root, plan.dirs, plan.wanted, claims=plan.claims, require=True)
    prelude += f" && base64 -d | tar -xzf - -C {shlex.quote(plan.remote_root)} || exit 4"
    return prelude, payload


def submit(staged: StagedJob, target: Target) -> list[SubmittedJob]:
    return target.scheduler.submit(target.transport(), staged.scripts)
