"""Slurm: sbatch job arrays, one `sacct` per poll, one `scancel` per stop.

    render   `slurm.sh.j2`: `#SBATCH` directives from the executor, then the
             common job script; the array index (`SLURM_ARRAY_TASK_ID`) plus
             the chunk's offset is the task id
    submit   ONE remote command running `sbatch --parsable` on each script in
             order, stopping at the first refusal
    query    ONE `sacct -X -n -P -j id1,id2,...` for every watched array; if
             accounting is off (or sacct fails), `squeue -t all` and the
             runner's `<task>.exit` files, in the same remote command
    cancel   ONE `scancel id1 id2 ...`

sacct lags squeue by a few seconds (more for arrays): a task it does not list
yet, or lists as not final, is simply not final yet, and the watcher polls
again.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import shlex
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from lxm3.schedulers.base import (
    JobScript,
    RenderRequest,
    Scheduler,
    SchedulerError,
    SubmittedJob,
    make_template_env,
    shell_quote,
)
from lxm3.transport.base import Transport
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


def parse_index_ranges(text: str) -> list[int]:
    """The inside of a pending array row, `0-9%2`, `3,5-7`, `0-15:4` -> indices."""
    text = text.split("%", 1)[0]
    indices: list[int] = []
    for part in filter(None, text.split(",")):
        step = 1
        if ":" in part:
            part, step_text = part.split(":", 1)
            step = max(1, int(step_text))
        first, _, last = part.partition("-")
        indices.extend(range(int(first), int(last or first) + 1, step))
    return indices


def _log_dir(job: SubmittedJob) -> str:
    return posixpath.join(posixpath.dirname(job.script_path), "logs")


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
    attempts: dict[tuple[str, int], int] = {}
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
        for index in indices:
            if 0 <= index < job.chunk.count:
                task = job.chunk.offset + index
                attempt = attempts[(job.job_id, task)] = attempts.get((job.job_id, task), 0) + 1
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


class SlurmScheduler(Scheduler):
    """Slurm's dialect: sbatch arrays, sacct (or squeue) status, scancel."""

    name = "slurm"
    display_name = "Slurm"

    def __init__(
        self,
        *,
        cluster_name: str | None = None,
        template_dirs: Sequence[str | Path] = (),
        cache_dir: str | Path | None = None,
    ) -> None:
        self.cluster_name = cluster_name
        extra = [Path(d).expanduser() for d in template_dirs]
        from_env = os.environ.get("LXM3_TEMPLATE_DIR")
        if from_env:
            extra.extend(Path(d).expanduser() for d in from_env.split(os.pathsep) if d)
        self._templates = make_template_env(extra)
        self._templates.filters["dq"] = sbatch_quote
        self._cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()

    # ----- render -----
    def directives(self, request: RenderRequest) -> tuple[list[tuple[str, str | None]], list[str]]:
        """`(option, value)` directives and raw extra lines for one chunk's script."""
        executor = request.executor
        chunk = request.chunk
        is_array = chunk.count > 1 or request.num_tasks > 1 or request.index_map is not None
        log_directory = getattr(executor, "log_directory", None) or request.log_dir
        output_name = "slurm-%A_%a.out" if is_array else "slurm-%j.out"
        derived: list[tuple[str, str | None]] = [
            ("job-name", _job_name(request.label)),
            ("output", f"{_escape_filename_pattern(log_directory.rstrip('/'))}/{output_name}"),
        ]
        if is_array:
            array = f"0-{chunk.count - 1}"
            max_parallel = getattr(executor, "max_parallel", None)
            if max_parallel and chunk.count > 1:
                array += f"%{max_parallel}"
            derived.append(("array", array))
        if hasattr(executor, "requirement_directives"):
            derived.extend(executor.requirement_directives())
        resources: dict[str, str | None] = dict(getattr(executor, "resources", {}) or {})
        directives = [(name, value) for name, value in derived if name not in resources]
        directives.extend(resources.items())
        skip = {_option_name(name) for name in getattr(executor, "skip_directives", ()) or ()}
        directives = [(name, value) for name, value in directives if name not in skip]
        raw = [
            line
            for line in getattr(executor, "extra_directives", ()) or ()
            if _option_name(line.split("=", 1)[0].split(" ", 1)[0]) not in skip
        ]
        return directives, raw

    def render(self, request: RenderRequest) -> str:
        directives, raw = self.directives(request)
        modules = [module.split() for module in getattr(request.executor, "modules", ()) or ()]
        template = self._templates.get_template("slurm.sh.j2")
        return template.render(
            **request.template_vars(), directives=directives, raw_directives=raw, modules=modules
        )

    # ----- submit -----
    def submit_argv(self, script: JobScript) -> list[str]:
        """The command that submits one script (what `--dry-run` shows)."""
        return ["sbatch", "--parsable", script.path]

    def parse_job_id(self, printed: str) -> str | None:
        """`sbatch --parsable` prints `ID` or `ID;cluster`."""
        job_id = printed.strip().split(";", 1)[0]
        return job_id if job_id.isdigit() else None

    def refusal_reason(self, stderr: str) -> str:
        return _error_lines(stderr)

    # ----- query -----
    def query_command(self, jobs: Sequence[SubmittedJob]) -> str:
        """ONE remote command: sacct; if that fails, squeue and the runner's exit files."""
        ids = ",".join(job.job_id for job in jobs)
        lines = [
            f"sacct -X -D -n -P -o {SACCT_FORMAT} -j {ids}",
            "rc=$?",
            'if [ "$rc" = 0 ]; then exit 0; fi',
            f"sq=$(squeue -h -t all -O {shlex.quote(SQUEUE_FORMAT)} -j {ids} 2>&1)",
            "sqrc=$?",
            f'printf "{_SECTION_MARK} squeue %s %s\\n" "$rc" "$sqrc"',
            'printf "%s\\n" "$sq"',
        ]
        for number, log_dir in enumerate(sorted({_log_dir(job) for job in jobs})):
            lines.append(
                f'printf "{_SECTION_MARK} exit-files {number}\\n"; '
                f"grep -r --include='*.exit' '' {shlex.quote(log_dir)} 2>/dev/null | sed 's|^.*/||'"
            )
        return "\n".join(lines)

    def query(self, transport: Transport, jobs: Sequence[SubmittedJob]) -> dict[str, dict[int, TaskStatus]]:
        if not jobs:
            return {}
        result = transport.run_script(self.query_command(jobs), check=False)
        return self.parse_query_output(result.stdout, result.stderr, result.returncode, jobs)

    def parse_query_output(
        self, stdout: str, stderr: str, returncode: int, jobs: Sequence[SubmittedJob]
    ) -> dict[str, dict[int, TaskStatus]]:
        """Splits the query command's output into its sections and parses each."""
        sections: list[tuple[str, list[str]]] = [("sacct", [])]
        for line in stdout.splitlines():
            if line.startswith(_SECTION_MARK + " "):
                sections.append((line[len(_SECTION_MARK) + 1 :], []))
            else:
                sections[-1][1].append(line)
        if len(sections) == 1:
            if returncode != 0:
                raise SchedulerError(f"sacct failed: {stderr.strip() or f'exit code {returncode}'}")
            return parse_rows(sections[0][1], jobs)
        header, squeue_lines = sections[1]
        squeue_rc = header.split()[-1]
        if squeue_rc != "0" and not any("Invalid job id" in line for line in squeue_lines):
            detail = (
                "; ".join(line.strip() for line in squeue_lines if line.strip()) or f"exit code {squeue_rc}"
            )
            raise SchedulerError(f"sacct failed ({stderr.strip()}) and squeue failed too: {detail}")
        rows = parse_rows(squeue_lines, jobs, wait_status=True)
        log_dirs = sorted({_log_dir(job) for job in jobs})
        codes: dict[str, dict[int, int]] = {}
        for title, lines in sections[2:]:
            kind, _, number = title.partition(" ")
            if kind == "exit-files" and number.isdigit() and int(number) < len(log_dirs):
                codes[log_dirs[int(number)]] = parse_exit_codes(lines)
        return {
            job.job_id: fallback_statuses(
                job, rows.get(job.job_id, {}), bool(rows.get(job.job_id)), codes.get(_log_dir(job), {})
            )
            for job in jobs
        }

    # ----- cancel -----
    def cancel(self, transport: Transport, job_ids: Sequence[str]) -> None:
        if not job_ids:
            return
        result = transport.run(["scancel", *job_ids], check=False)
        if result.returncode != 0:
            raise SchedulerError(f"scancel {' '.join(job_ids)} failed: {result.stderr.strip()}")

    # ----- limits -----
    def _cache_path(self) -> Path | None:
        if not self.cluster_name:
            return None
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", self.cluster_name)
        return self._cache_dir / f"{safe}.json"

    def _read_cache(self) -> dict[str, Any]:
        path = self._cache_path()
        if path is None:
            return {}
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write_cache(self, data: dict[str, Any]) -> None:
        path = self._cache_path()
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(f".tmp{os.getpid()}")
            temporary.write_text(json.dumps(data, sort_keys=True))
            os.replace(temporary, path)
        except OSError:
            pass  # a cache, not a requirement

    #: Slurm's own default MaxArraySize.
    default_max_array_size = 1001

    def known_max_array_size(self, transport: Transport) -> int | None:
        """The cached `MaxArraySize` for this host, if fresh; no remote command."""
        entry = self._read_cache().get("max_array_size")
        if (
            isinstance(entry, dict)
            and entry.get("host") == transport.label
            and isinstance(entry.get("value"), int)
            and time.time() - float(entry.get("time", 0)) < CACHE_TTL_SECONDS
        ):
            return int(entry["value"])
        return None

    array_limit_refusals = ("Invalid job array specification",)

    def forget_max_array_size(self) -> None:
        cached = self._read_cache()
        if cached.pop("max_array_size", None) is not None:
            self._write_cache(cached)

    def max_array_size(self, transport: Transport) -> int:
        """`MaxArraySize` (indices run 0..MaxArraySize-1, so that many tasks per array)."""
        known = self.known_max_array_size(transport)
        if known is not None:
            return known
        cached = self._read_cache()
        result = transport.run(["scontrol", "show", "config"], check=False)
        if result.returncode != 0:
            raise SchedulerError(f"scontrol show config failed on {transport.label}: {result.stderr.strip()}")
        value = parse_max_array_size(result.stdout)
        cached["max_array_size"] = {"value": value, "host": transport.label, "time": time.time()}
        self._write_cache(cached)
        return value


def _option_name(text: str) -> str:
    text = text.strip()
    return text[2:] if text.startswith("--") else text.lstrip("-")
