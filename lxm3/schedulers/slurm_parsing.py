"""What Slurm reads and prints, as lxm3 writes and parses it: sbatch quoting, sacct/squeue rows, exit codes.

Pure functions (no commands run here), tested against recorded outputs; the
scheduler module `lxm3.schedulers.slurm` uses them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from lxm3.schedulers.base import (
    SchedulerError,
    SubmittedJob,
    job_log_dir,
    parse_index_ranges,
    shell_quote,
)
from lxm3.xm.status import TaskState, TaskStatus

#: Columns asked of sacct; `-P` separates them with `|`.
SACCT_FORMAT = "JobID,State,ExitCode"
#: squeue's `-O` columns; the `:|` suffix separates them and disables padding.
SQUEUE_FORMAT = "JobArrayID:|,State:|,exit_code:|"
#: How long a cached `MaxArraySize` is trusted.
CACHE_TTL_SECONDS = 24 * 3600

_SECTION_MARK = "@@lxm3"

_PENDING_STATES = frozenset(
    {
        "PENDING",
        "REQUEUED",
        "REQUEUE_FED",
        "REQUEUE_HOLD",
        "RESV_DEL_HOLD",
        "CONFIGURING",
        "RESIZING",
    }
)
_RUNNING_STATES = frozenset(
    {"RUNNING", "COMPLETING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT", "POWER_UP_NODE", "UPDATE_DB"}
)
_FAILED_STATES = frozenset(
    {
        "FAILED",
        "TIMEOUT",
        "OUT_OF_MEMORY",
        "NODE_FAIL",
        "BOOT_FAIL",
        "DEADLINE",
        "PREEMPTED",
        "SPECIAL_EXIT",
    }
)
_CANCELLED_STATES = frozenset({"CANCELLED", "REVOKED"})

_ROW_ID = re.compile(r"^(?P<job>\d+)(?:_(?:(?P<index>\d+)|\[(?P<range>[^\]]*)\]))?$")


def sbatch_quote(value: object) -> str:
    """Quotes a directive value as sbatch reads `#SBATCH` lines.

    sbatch understands shell quotes but also treats a backslash as an escape
    inside them, so backslashes are doubled. A line break cannot be expressed
    in a directive (it would end the comment and start a shell command).
    """
    text = str(value)
    if "\n" in text or "\r" in text or "\0" in text:
        raise ValueError(f"an #SBATCH value cannot contain a line break or NUL: {text!r}")
    return shell_quote(text).replace("\\", "\\\\")


def _escape_filename_pattern(path: str) -> str:
    """A literal directory for `--output`, where Slurm expands `%` sequences."""
    return path.replace("%", "%%")


def _job_name(label: str) -> str:
    return "".join(ch if ch.isprintable() else "_" for ch in label) or "lxm3"


def map_state(state: str) -> tuple[TaskState, str]:
    """A Slurm state (`CANCELLED by 1001`, `OUT_OF_MEMORY`, `R`) -> lxm3 state and message."""
    word = state.strip().split(" ", 1)[0].rstrip("+").upper()
    if word in _PENDING_STATES:
        return TaskState.PENDING, word if word.startswith("REQUEUE") else ""
    if word in _RUNNING_STATES:
        return TaskState.RUNNING, ""
    if word == "COMPLETED":
        return TaskState.COMPLETED, ""
    if word in _FAILED_STATES:
        return TaskState.FAILED, word
    if word in _CANCELLED_STATES:
        return TaskState.CANCELLED, state.strip()
    return TaskState.UNKNOWN, state.strip()


def parse_exit_code(text: str) -> int | None:
    """sacct's `ExitCode` `code:signal` -> a shell-style exit code (128 + signal if killed)."""
    code, _, signal = text.strip().partition(":")
    try:
        number, signo = int(code), int(signal or 0)
    except ValueError:
        return None
    return 128 + signo if signo else number


def parse_wait_status(text: str) -> int | None:
    """squeue's `exit_code` (a raw wait status) -> a shell-style exit code."""
    try:
        status = int(text.strip())
    except ValueError:
        return None
    signo = status & 0x7F
    return 128 + signo if signo else (status >> 8) & 0xFF


def _log_dir(job: SubmittedJob) -> str:
    return job_log_dir(job)


def _status(
    job: SubmittedJob, task: int, state: TaskState, exit_code: int | None, message: str
) -> TaskStatus:
    log_path = None
    if state.is_terminal:
        stream = "out" if state is TaskState.COMPLETED else "err"
        log_path = f"{_log_dir(job)}/{task}.{stream}"
    return TaskStatus(task, state, exit_code=exit_code, message=message, log_path=log_path, job_id=job.job_id)


def parse_rows(
    lines: Iterable[str], jobs: Sequence[SubmittedJob], *, wait_status: bool = False
) -> dict[str, dict[int, TaskStatus]]:
    """Rows `JobID|State|ExitCode` (sacct -P, or squeue -O with `|`) -> per-job task statuses.

    A row names one array element (`123_4`), the still-pending rest of an array
    (`123_[5-9%2]`) or a job that is not an array (`123`, the chunk's only
    task). Array indices are converted to global task ids with the chunk
    offset; rows of other jobs and lines that are not rows (warnings) are
    ignored.
    """
    by_id = {job.job_id: job for job in jobs}
    result: dict[str, dict[int, TaskStatus]] = {}
    #: Rows seen per task: `sacct -D` lists every attempt of a requeued task, oldest first.
    attempts: dict[str, dict[int, int]] = {}
    for line in lines:
        fields = line.strip().split("|")
        if len(fields) < 2:
            continue
        match = _ROW_ID.match(fields[0].strip())
        if match is None or match["job"] not in by_id:
            continue
        job = by_id[match["job"]]
        state, message = map_state(fields[1])
        exit_code = None
        if len(fields) > 2 and state.is_terminal:
            exit_code = parse_wait_status(fields[2]) if wait_status else parse_exit_code(fields[2])
        if match["index"] is not None:
            indices = [int(match["index"])]
        elif match["range"] is not None:
            indices = parse_index_ranges(match["range"])
        else:
            indices = [0] if job.chunk.count == 1 else []
        tasks = result.setdefault(job.job_id, {})
        seen = attempts.setdefault(job.job_id, {})
        if len(indices) > 1 and not state.is_terminal:
            # The still-pending rest of an array (`123_[5-100]`, up to MaxArraySize tasks), seen
            # for the first time: the loop below without its per-task work (no log path for a
            # task that has not ended, first attempt of each).
            offset, count, job_id = job.chunk.offset, job.chunk.count, job.job_id
            valid = [offset + index for index in indices if 0 <= index < count]
            first = dict.fromkeys(valid, 1)
            if len(first) == len(valid) and seen.keys().isdisjoint(first):
                seen.update(first)
                for task in valid:
                    tasks[task] = TaskStatus(task, state, exit_code, message, None, job_id)
                continue
        for index in indices:
            if 0 <= index < job.chunk.count:
                task = job.chunk.offset + index
                attempt = seen[task] = seen.get(task, 0) + 1
                shown = message
                if attempt > 1:  # requeued (preemption, node failure, scontrol requeue)
                    shown = f"attempt {attempt}" + (f", {message}" if message else "")
                tasks[task] = _status(job, task, state, exit_code, shown)
    return result


def parse_exit_codes(lines: Iterable[str]) -> dict[int, int]:
    """`<task>.exit:<code>` lines (grep -r, directory stripped) -> {task: exit code}."""
    codes: dict[int, int] = {}
    for line in lines:
        name, _, text = line.strip().partition(":")
        match = re.fullmatch(r"(\d+)\.exit", name)
        if match is not None and text.strip().lstrip("-").isdigit():
            codes[int(match[1])] = int(text.strip())
    return codes


def fallback_statuses(
    job: SubmittedJob, rows: dict[int, TaskStatus], listed: bool, codes: dict[int, int]
) -> dict[int, TaskStatus]:
    """A job's statuses without accounting: squeue's rows, else the runner's exit files.

    A task with an exit file has ended with that code. When squeue no longer
    lists the job at all (older than MinJobAge), a task without an exit file
    never finished normally (cancelled before it started, killed, timed out).
    """
    statuses: dict[int, TaskStatus] = {}
    for task in job.chunk.task_ids:
        code = codes.get(task)
        if code is not None:
            state = TaskState.COMPLETED if code == 0 else TaskState.FAILED
            statuses[task] = _status(job, task, state, code, "")
        elif not listed:
            message = "ended without an exit file (no accounting, and squeue no longer lists the job)"
            statuses[task] = _status(job, task, TaskState.FAILED, None, message)
    statuses.update(rows)
    return statuses


def parse_max_array_size(config_text: str) -> int:
    """`MaxArraySize = 1001` from `scontrol show config`."""
    match = re.search(r"^\s*MaxArraySize\s*=\s*(\d+)", config_text, re.M)
    if match is None:
        raise SchedulerError("`scontrol show config` did not report MaxArraySize")
    return int(match[1])


def _error_lines(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    cleaned = [re.sub(r"^sbatch: (error: )?", "", line) for line in lines]
    return "; ".join(cleaned)


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "lxm3" / "clusters"
