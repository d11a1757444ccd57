"""Task outputs back to this machine: ONE rsync per cluster, only what changed.

Remote, a task's outputs are `<staging>/experiments/<exp>/<wu>/<job>/outputs/<task>/`;
here they appear as `DEST/<wu>/<task>/` (a unit with several jobs:
`DEST/<wu>/<job>/<task>/`). rsync cannot rename paths on the way, so it
mirrors the remote tree into `DEST/.lxm3/<cluster>/` (one rsync over the
cluster's one SSH connection, filtered to the outputs wanted, quick-checking
size and mtime so a second fetch sends nothing), and the layout is made of
hard links into that mirror (no second copy on disk; a copy where links are
not possible). Local-executor outputs go the same way with a local rsync.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs

from lxm3.transport.base import TransportError
from lxm3.xm_cluster.results import METRICS_NAME, JobOutputs
from lxm3.xm_cluster.targets import Target

#: The hidden mirror inside DEST that rsync compares against.
MIRROR_DIR = ".lxm3"
_FILE_MARK = "lxm3-file "
_FILES = re.compile(r"Number of regular files transferred:\s*([\d,.]+)")
_BYTES = re.compile(r"Total transferred file size:\s*([\d,.]+)")
#: rsync's "some files vanished before they could be transferred": normal while tasks write.
_VANISHED = 24


@attrs.define
class FetchReport:
    """What one fetch brought: the files (as laid out in DEST) and rsync's own counts."""

    files: list[Path] = attrs.field(factory=list)
    files_transferred: int = 0
    bytes_transferred: int = 0
    commands: int = 0


def _number(pattern: re.Pattern[str], text: str) -> int:
    match = pattern.search(text)
    return int(re.sub(r"[,.]", "", match.group(1))) if match else 0


def filter_rules(
    jobs: Sequence[JobOutputs], tasks: Sequence[int] | None, includes: Sequence[str]
) -> list[str]:
    """rsync filter rules (relative to `<staging>/experiments/<exp>/`) that let through only outputs.

    Without `includes`, every file of the chosen tasks' output dirs; with them,
    the metrics file plus what the globs (relative to a task's output dir) match.
    """
    rules: list[str] = []
    for job in jobs:
        base = f"/{job.work_unit_id}/{job.name}"
        rules += [f"+ /{job.work_unit_id}/", f"+ {base}/", f"+ {base}/outputs/"]
        for task in [str(t) for t in tasks] if tasks is not None else ["*"]:
            here = f"{base}/outputs/{task}"
            rules.append(f"+ {here}/")
            if not includes:
                rules.append(f"+ {here}/**")
                continue
            rules += [f"+ {here}/{METRICS_NAME}", f"+ {here}/**/"]
            rules += [f"+ {here}/{glob.lstrip('/')}" for glob in includes]
    rules.append("- *")
    return rules


def _experiment_root(job: JobOutputs) -> str:
    suffix = f"/{job.work_unit_id}/{job.name}"
    if not job.job_dir.endswith(suffix):
        raise TransportError(f"job {job.name!r}: unexpected job dir {job.job_dir} (expected .../{suffix})")
    return job.job_dir[: -len(suffix)]


def _rsync_argv(target: Target, root: str, mirror: Path, rules_file: str) -> list[str]:
    rsync = shutil.which("rsync")
    if rsync is None:
        raise TransportError(
            "rsync is not installed on this machine; install it (e.g. apt-get install rsync)"
        )
    argv = [
        rsync, "--recursive", "--links", "--times", "--prune-empty-dirs", "--stats",
        f"--out-format={_FILE_MARK}%n", f"--filter=merge {rules_file}",
    ]  # fmt: skip
    if target.is_local:
        return [*argv, f"{os.path.expanduser(root)}/", f"{mirror}/"]
    transport = target.transport()
    connect = getattr(transport, "connect", None)
    ssh_argv = getattr(transport, "ssh_argv", None)
    if connect is None or ssh_argv is None:
        raise TransportError(f"cannot fetch from {transport.label}: its transport has no ssh connection")
    connect()  # rsync rides on the one master connection
    host = getattr(transport, "host")  # noqa: B009 - SSHTransport's host, checked above by duck typing
    return [*argv, "--protect-args", "-e", shlex.join(ssh_argv()), f"{host}:{root}/", f"{mirror}/"]


def _view_path(dest: Path, relative: str, several: set[int]) -> Path | None:
    """`<wu>/<job>/outputs/<task>/<rest>` in the mirror -> its place in DEST's layout."""
    parts = relative.split("/")
    if len(parts) < 5 or parts[2] != "outputs" or not parts[0].isdigit():
        return None
    work_unit, job, task, rest = parts[0], parts[1], parts[3], parts[4:]
    if int(work_unit) in several:
        return dest.joinpath(work_unit, job, task, *rest)
    return dest.joinpath(work_unit, task, *rest)


def _place(source: Path, view: Path) -> None:
    """Hard-links a mirrored file into the layout (a copy where links are impossible)."""
    try:
        if view.exists() and os.path.samefile(source, view):
            return
    except OSError:
        pass
    view.parent.mkdir(parents=True, exist_ok=True)
    view.unlink(missing_ok=True)
    try:
        os.link(source, view)
    except OSError:
        shutil.copy2(source, view)


def _relink(mirror: Path, dest: Path, jobs: Sequence[JobOutputs], several: set[int]) -> None:
    """Makes the layout match the mirror (files rsync replaced, layout files the user removed).

    One `stat` per file (the mirror's inode comes from the directory scan), and
    plain strings rather than Path objects: 30,000 files cost well under a second.
    """
    for job in jobs:
        unit, name = str(job.work_unit_id), job.name
        outputs = os.path.join(mirror, unit, name, "outputs")
        base = os.path.join(dest, unit, name) if job.work_unit_id in several else os.path.join(dest, unit)
        pending = [(outputs, base)]
        while pending:
            source_dir, view_dir = pending.pop()
            try:
                entries = list(os.scandir(source_dir))
            except OSError:
                continue
            for entry in entries:
                view = os.path.join(view_dir, entry.name)
                if entry.is_dir(follow_symlinks=False):
                    pending.append((entry.path, view))
                    continue
                try:
                    if os.stat(view).st_ino == entry.inode():
                        continue
                except OSError:
                    pass
                _place(Path(entry.path), Path(view))


def fetch(
    jobs: Sequence[JobOutputs],
    dest: Path,
    *,
    tasks: Sequence[int] | None = None,
    includes: Sequence[str] = (),
) -> FetchReport:
    """Brings the outputs of `jobs` (all their units' jobs) into `dest`: one rsync per cluster."""
    counts: dict[int, int] = {}
    for job in jobs:
        counts[job.work_unit_id] = counts.get(job.work_unit_id, 0) + 1
    several = {unit for unit, count in counts.items() if count > 1}
    groups: dict[tuple[int, str], tuple[Target, str, list[JobOutputs]]] = {}
    for job in jobs:
        root = _experiment_root(job)
        groups.setdefault((id(job.target), root), (job.target, root, []))[2].append(job)
    report = FetchReport()
    dest.mkdir(parents=True, exist_ok=True)
    for target, root, members in groups.values():
        mirror = dest / MIRROR_DIR / target.name
        mirror.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", prefix="lxm3-fetch-", suffix=".rules") as rules:
            rules.write("\n".join(filter_rules(members, tasks, includes)) + "\n")
            rules.flush()
            argv = _rsync_argv(target, root, mirror, rules.name)
            completed = subprocess.run(argv, capture_output=True, text=True, errors="replace")
        report.commands += 1
        if completed.returncode not in (0, _VANISHED):
            detail = completed.stderr.strip().splitlines()
            raise TransportError(
                f"rsync from {target.name}:{root} failed: {detail[-1] if detail else completed.returncode}"
            )
        report.files_transferred += _number(_FILES, completed.stdout)
        report.bytes_transferred += _number(_BYTES, completed.stdout)
        for line in completed.stdout.splitlines():
            if line.startswith(_FILE_MARK) and not line.endswith("/"):
                view = _view_path(dest, line[len(_FILE_MARK) :], several)
                if view is not None:
                    report.files.append(view)
        _relink(mirror, dest, members, several)
    return report


def follow(
    jobs: Sequence[JobOutputs],
    dest: Path,
    all_ended: Callable[[], bool],
    on_report: Callable[[FetchReport], None],
    *,
    interval: float = 3.0,
    tasks: Sequence[int] | None = None,
    includes: Sequence[str] = (),
    sleep: Callable[[float], None] | None = None,
) -> None:
    """Mirrors every `interval` seconds until `all_ended()`, then once more (what the last moments wrote)."""
    import time

    pause = sleep or time.sleep
    while True:
        ended = all_ended()
        on_report(fetch(jobs, dest, tasks=tasks, includes=includes))
        if ended:
            return
        pause(interval)
