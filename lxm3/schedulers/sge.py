"""Grid Engine (SGE, Son of Grid Engine, OGS): qsub array jobs, qstat/qacct status, qdel.

    render   `sge.sh.j2`: `#$` directives from the executor, then the common job
             script; SGE_TASK_ID (1-based; "undefined" outside arrays) minus one,
             plus the chunk's offset, is the task id
    submit   ONE remote command running `qsub -terse` on each script file in
             order (never `-b y`, which re-splits arguments), stopping at the
             first refusal
    query    ONE `qstat -xml` of the user's jobs; only when tasks have left it
             (or sit in the error state Eqw), ONE more remote command reading
             the `lxm3-exit <code>` line the job script leaves in
             Grid Engine's own output file of each such task, and running ONE
             `qacct` (filtered on the host to the jobs asked about) only for
             what those lines cannot settle
    cancel   ONE `qdel id1 id2 ...`

The end-of-task line needs no accounting file scan and has no accounting lag
(qacct can lag qstat by the cluster's flush time). A task that left qstat with
neither that line nor an accounting record is simply not final yet. Tasks
deleted while pending never get either; they count as cancelled once this
process cancelled them, or after `missing_grace` seconds.
"""

from __future__ import annotations

import logging
import os
import posixpath
import re
import shlex
import threading
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable, Sequence
from pathlib import Path

import attrs

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

log = logging.getLogger(__name__)

_SECTION_MARK = "@@lxm3"
#: qacct `failed` codes with a meaning of their own (see `man accounting`).
FAILED_RESCHEDULED = 25
FAILED_KILLED = 100
#: Longest job name kept (Grid Engine has no hard limit; qstat shows ~10 characters).
_MAX_NAME = 200
#: Words in qdel's output that are fine: deleted, marked for deletion, or already gone.
_QDEL_FINE = ("does not exist", "has deleted", "for deletion")
#: Above this many tasks of one job to look up, search its log dir instead of naming files.
_MAX_LISTED_FILES = 64
#: Grid Engine's array limit when `max_aj_tasks` is 0 (unlimited).
_UNLIMITED_ARRAY = 1_000_000


#: One qsub option with its arguments, e.g. `("-pe", "smp", "4")`.
Directive = tuple[str, ...]
#: Characters qsub cannot take inside a `#$` value, even quoted: it strips quotes
#: without nesting them, and `#` starts a comment anywhere on the line.
_FORBIDDEN = ("'", '"', "#", "\n", "\r", "\0")


def check_directive_value(value: str, what: str) -> str:
    """Refuses a value qsub would misread in a `#$` line (ValueError naming `what`); returns it."""
    if not value:
        raise ValueError(f"{what} must not be empty")
    bad = [ch for ch in _FORBIDDEN if ch in value]
    if bad:
        raise ValueError(
            f"{what}: {value!r} contains {', '.join(repr(ch) for ch in bad)}, which Grid Engine cannot read "
            "in a '#$' directive (quotes, '#' and line breaks are not allowed)"
        )
    return value


def directive_quote(value: object) -> str:
    """Quotes one `#$` value the way qsub reads it: shell single quotes, no escapes.

    qsub strips quotes but does not nest them and treats `#` as a comment even
    inside them, so such values (and line breaks) are refused, not escaped.
    """
    text = str(value)
    try:
        check_directive_value(text, "a '#$' value")
    except ValueError as error:
        raise SchedulerError(str(error)) from None
    return shell_quote(text)


def job_name(label: str) -> str:
    """A `-N` name from a label: `[A-Za-z0-9_.-]` only, starting with a letter (qsub's rules)."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", label)
    if not name[:1].isalpha():
        name = "lxm3_" + name
    return name[:_MAX_NAME]


def format_directive(directive: Directive) -> str:
    """`("-l", "h_vmem=2G")` -> `-l h_vmem=2G`; every argument quoted."""
    return " ".join(directive_quote(argument) for argument in directive)


def _skipped(text: str, skip: Iterable[str]) -> bool:
    for prefix in skip:
        prefix = " ".join(prefix.split())
        if text == prefix or text.startswith((prefix + " ", prefix + "=")):
            return True
    return False


def _output_dir(path: str) -> str:
    """A directory for `-o`/`-e` (trailing slash: Grid Engine then names the files itself).

    `~/` becomes `$HOME/`, which Grid Engine expands in output paths.
    """
    if path.startswith("~/"):
        path = "$HOME/" + path[2:]
    return path.rstrip("/") + "/"


def parse_task_ranges(text: str) -> list[int]:
    """qstat's `<tasks>` text, `1`, `3-10:1`, `4,5,7-10:2` -> array indices."""
    indices: list[int] = []
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        step = 1
        if ":" in part:
            part, step_text = part.split(":", 1)
            step = max(1, int(step_text))
        first, _, last = part.partition("-")
        indices.extend(range(int(first), int(last or first) + 1, step))
    return indices


def parse_qstat_xml(text: str) -> dict[str, dict[int, str]]:
    """`qstat -xml` -> job id -> {array index (1 for a non-array job): state code such as `qw`, `r`, `Eqw`}."""
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as error:
        raise SchedulerError(f"qstat -xml printed unreadable XML ({error}): {text[:200]!r}") from None
    jobs: dict[str, dict[int, str]] = {}
    for entry in root.iter("job_list"):
        job_id = (entry.findtext("JB_job_number") or "").strip()
        state = (entry.findtext("state") or "").strip()
        if not job_id:
            continue
        tasks = entry.findtext("tasks")
        indices = parse_task_ranges(tasks) if tasks and tasks.strip() else [1]
        for index in indices:
            jobs.setdefault(job_id, {})[index] = state
    return jobs


def map_state(code: str) -> TaskState:
    """A qstat state code -> lxm3 state: `E...` failed, `r`/`t`/suspended running, else pending."""
    if "E" in code:
        return TaskState.FAILED
    if any(letter in code for letter in "rtsST"):
        return TaskState.RUNNING
    return TaskState.PENDING


@attrs.frozen
class AccountingRecord:
    """The parts of one qacct record lxm3 reads."""

    job_id: str
    index: int
    failed: int
    reason: str
    exit_status: int | None


def _leading_int(text: str) -> int | None:
    match = re.match(r"\s*(-?\d+)", text)
    return int(match[1]) if match else None


def parse_qacct(text: str) -> dict[tuple[str, int], AccountingRecord]:
    """`qacct -j` output (full, or lxm3's filtered form) -> (job id, array index) -> last record.

    A task has several records when Grid Engine rescheduled it; the last one
    (qacct lists them in the order they ended) is the one that counts.
    """
    records: dict[tuple[str, int], AccountingRecord] = {}
    fields: dict[str, str] = {}

    def flush() -> None:
        job_id = fields.get("jobnumber", "").strip()
        if job_id:
            task = fields.get("taskid", "undefined").strip()
            index = int(task) if task.isdigit() else 1
            failed_text = fields.get("failed", "0")
            failed = _leading_int(failed_text) or 0
            reason = failed_text.partition(":")[2].strip()
            exit_status = _leading_int(fields.get("exit_status", ""))
            records[(job_id, index)] = AccountingRecord(job_id, index, failed, reason, exit_status)
        fields.clear()

    for line in text.splitlines():
        if line.startswith("=="):
            flush()
            continue
        key, _, value = line.partition(" ")
        if key in ("jobnumber", "taskid", "failed", "exit_status"):
            fields[key] = value.strip()
    flush()
    return records


#: The job script's last line of output, in Grid Engine's `<name>.o<job>[.<task>]` file.
EXIT_MARKER = "lxm3-exit"
_MARKER_LINE = re.compile(r"\.o(\d+)(?:\.(\d+))?:" + EXIT_MARKER + r" (-?\d+)\s*$")


def parse_exit_markers(lines: Iterable[str]) -> dict[tuple[str, int], int]:
    """`<dir>/<name>.o<job>[.<task>]:lxm3-exit <code>` lines (grep -H) -> (job id, array index) -> code.

    A job that is not an array has no task suffix: its index is 1. The code is
    the task runner's (the program's) exit code, before the 99/100 remapping.
    """
    codes: dict[tuple[str, int], int] = {}
    for line in lines:
        match = _MARKER_LINE.search(line.rstrip("\n"))
        if match is not None:
            codes[(match[1], int(match[2] or 1))] = int(match[3])
    return codes


def parse_qsub_ids(stdout: str) -> list[str]:
    """`qsub -terse` prints `41` for a job and `42.1-10:1` for an array: the ids."""
    return [
        line.strip().split(".", 1)[0] for line in stdout.splitlines() if re.match(r"^\d+(\.|$)", line.strip())
    ]


def parse_max_aj_tasks(config_text: str) -> int:
    """`max_aj_tasks 101` from `qconf -sconf` (0 means unlimited)."""
    match = re.search(r"^max_aj_tasks\s+(\d+)", config_text, re.M)
    if match is None:
        raise SchedulerError("`qconf -sconf` did not report max_aj_tasks")
    value = int(match[1])
    return value if value > 0 else _UNLIMITED_ARRAY


def _log_dir(job: SubmittedJob) -> str:
    return posixpath.join(posixpath.dirname(job.script_path), "logs")


def _status(
    job: SubmittedJob, task: int, state: TaskState, exit_code: int | None = None, message: str = ""
) -> TaskStatus:
    log_path = None
    if state.is_terminal:
        log_path = f"{_log_dir(job)}/{task}.{'out' if state is TaskState.COMPLETED else 'err'}"
    return TaskStatus(task, state, exit_code=exit_code, message=message, log_path=log_path, job_id=job.job_id)


def final_status(
    job: SubmittedJob, task: int, record: AccountingRecord | None, exit_code: int | None, cancelled: bool
) -> TaskStatus | None:
    """The final status of a task that left qstat, or None while that is not known yet.

    `exit_code` is what the job script's `lxm3-exit` line says, if it got that far.
    """
    if record is not None:
        if record.failed == FAILED_RESCHEDULED:
            return None  # requeued: a later record will follow
        if record.failed == FAILED_KILLED:
            how = "deleted with qdel" if cancelled else "killed by Grid Engine (qdel, or a limit)"
            return _status(
                job,
                task,
                TaskState.CANCELLED,
                record.exit_status,
                f"{how}: failed {record.failed} ({record.reason})",
            )
        if record.failed:
            return _status(
                job,
                task,
                TaskState.FAILED,
                record.exit_status,
                f"Grid Engine: failed {record.failed} ({record.reason})",
            )
        # The job script passes 99/100 on as 1 (they mean requeue/Eqw); its lxm3-exit line has the real code.
        code = exit_code if exit_code is not None else record.exit_status
        if code == 0 and record.exit_status == 0:
            return _status(job, task, TaskState.COMPLETED, 0)
        return _status(job, task, TaskState.FAILED, code)
    if exit_code is not None:
        return _status(job, task, TaskState.COMPLETED if exit_code == 0 else TaskState.FAILED, exit_code)
    return None


class GridEngineScheduler(Scheduler):
    """Grid Engine's dialect: qsub arrays, qstat -xml + qacct status, qdel."""

    name = "sge"
    display_name = "Grid Engine"
    #: Grid Engine's own default max_aj_tasks (used by dry runs, which ask nothing).
    default_max_array_size = 75000

    def __init__(self, *, template_dirs: Sequence[str | Path] = (), missing_grace: float = 300.0) -> None:
        extra = [Path(d).expanduser() for d in template_dirs]
        from_env = os.environ.get("LXM3_TEMPLATE_DIR")
        if from_env:
            extra.extend(Path(d).expanduser() for d in from_env.split(os.pathsep) if d)
        self._templates = make_template_env(extra)
        #: Seconds a task may be gone from qstat with no accounting record or lxm3-exit line
        #: before it counts as cancelled (deleted while pending leaves no record).
        self.missing_grace = missing_grace
        self._lock = threading.Lock()
        self._cancelled: set[str] = set()
        self._final: dict[tuple[str, int], TaskStatus] = {}
        self._eqw: dict[tuple[str, int], TaskStatus] = {}
        self._missing_since: dict[tuple[str, int], float] = {}
        self._max_array_size: int | None = None
        #: Remote commands run by `query`: one qstat each, then (only when tasks left
        #: qstat) one lookup, which runs qacct only when `lxm3-exit` lines cannot answer.
        self.qstat_calls = 0
        self.lookup_calls = 0
        self.qacct_calls = 0

    # ----- render -----
    def directives(self, request: RenderRequest) -> list[str]:
        """The `#$` lines' text (without the `#$ `) for one chunk, after `skip_directives`."""
        executor = request.executor
        chunk = request.chunk
        output = _output_dir(getattr(executor, "log_directory", None) or request.log_dir)
        derived: list[Directive] = [("-N", job_name(request.label)), ("-o", output)]
        if getattr(executor, "merge_output", True):
            derived.append(("-j", "y"))
        else:
            derived.append(("-e", output))
        if chunk.count > 1:
            derived.append(("-t", f"1-{chunk.count}"))
            max_parallel = getattr(executor, "max_parallel_tasks", None)
            if max_parallel:
                derived.append(("-tc", str(max_parallel)))
        if hasattr(executor, "requirement_directives"):
            derived.extend(executor.requirement_directives())
        lines = [format_directive(directive) for directive in derived]
        lines.extend(getattr(executor, "extra_directives", ()) or ())
        skip = getattr(executor, "skip_directives", ()) or ()
        return [line for line in lines if not _skipped(line, skip)]

    def render(self, request: RenderRequest) -> str:
        directives = self.directives(request)
        modules = [module.split() for module in getattr(request.executor, "modules", ()) or ()]
        template = self._templates.get_template("sge.sh.j2")
        script = template.render(**request.template_vars(), directives=directives, modules=modules)
        # qsub reads `#$` lines anywhere in the file, so a value that put one at the start of a
        # line of the script's body (a line break in an env value or path) would be a directive.
        lines = script.splitlines()
        body = next(
            (n for n, line in enumerate(lines) if line.strip() and not line.startswith("#")), len(lines)
        )
        stray = [line for line in lines[body:] if line.lstrip().startswith("#$")]
        if stray:
            raise SchedulerError(
                f"job {request.label!r}: a value in its script would be read by Grid Engine as a directive: {stray[:3]}"
            )
        return script

    # ----- submit -----
    def submit_argv(self, script: JobScript) -> list[str]:
        """The command that submits one script (what `--dry-run` shows)."""
        return ["qsub", "-terse", script.path]

    def submit_prelude(self, scripts: Sequence[JobScript]) -> list[str]:
        """Creates custom log directories first: a missing one puts the job in Eqw."""
        lines: list[str] = []
        custom = sorted(
            {
                _output_dir(script.request.executor.log_directory)
                for script in scripts
                if getattr(script.request.executor, "log_directory", None)
            }
        )
        if custom:
            quoted = [
                '"$HOME"/' + shlex.quote(d[6:]) if d.startswith("$HOME/") else shlex.quote(d) for d in custom
            ]
            lines.append(f"mkdir -p {' '.join(quoted)} || exit 1")
        return lines

    def parse_job_id(self, printed: str) -> str | None:
        """`qsub -terse` prints `41`, or `42.1-10:1` for an array."""
        ids = parse_qsub_ids(printed)
        return ids[0] if len(ids) == 1 else None

    def refusal_reason(self, stderr: str) -> str:
        return "; ".join(
            line.strip() for line in stderr.splitlines() if line.strip() and line.strip() != "Exiting."
        )

    # ----- query -----
    def qstat_command(self) -> str:
        """The user's own jobs only: `-u '*'` would ship every user's queue each poll."""
        return 'qstat -xml -u "$(id -un)"'

    def lookup_command(self, lookup: dict[SubmittedJob, list[int]], ask_qacct: set[str]) -> str:
        """ONE remote command for tasks gone from qstat: their `lxm3-exit` lines, then at most ONE qacct.

        The job script ends by printing `lxm3-exit <code>` into Grid Engine's own
        output file of the task (`<name>.o<job>[.<task>]` in the job's log dir),
        which settles most tasks at once and cheaply. qacct runs only for jobs in
        `ask_qacct` (Eqw reasons) and jobs with a task that left no such line
        (killed, deleted, failed before the script's end, or a custom
        log_directory). qacct takes a single -j, so for several jobs it lists the
        user's jobs and awk keeps ours.
        """
        lines = ['need=" "', f'printf "{_SECTION_MARK} exit-lines\\n"']
        for job, tasks in lookup.items():
            job_id = shlex.quote(job.job_id)
            logs = shlex.quote(_log_dir(job))
            if len(tasks) > _MAX_LISTED_FILES:  # too many to name: search the log dir
                suffixes = f"--include='*.o{job.job_id}' --include='*.o{job.job_id}.*'"
                search = f"grep -r -H -s {suffixes} '^{EXIT_MARKER} ' {logs}"
            else:
                names = [
                    f"*.o{job.job_id}" + (f".{task - job.chunk.offset + 1}" if job.chunk.count > 1 else "")
                    for task in tasks
                ]
                search = f"grep -H -s '^{EXIT_MARKER} ' " + " ".join(f"{logs}/{name}" for name in names)
            lines.append(f"found=$({search})")
            lines.append('[ -z "$found" ] || printf "%s\\n" "$found"')
            lines.append(
                f'[ "$(printf "%s" "$found" | grep -c "")" -ge {len(tasks)} ] || need="$need"{job_id}" "'
            )
        for job_id in sorted(ask_qacct):
            lines.append(f'need="$need"{shlex.quote(job_id)}" "')
        keep = (
            "/^error:/ { print; next } /^=+$/ { keep = 0; next } "
            '$1 == "jobnumber" { keep = index(ids, " " $2 " ") > 0; if (keep) print "==" } '
            'keep && ($1 == "jobnumber" || $1 == "taskid" || $1 == "failed" || $1 == "exit_status") { $1 = $1; print }'
        )
        lines += [
            f'printf "{_SECTION_MARK} qacct%s\\n" "$need"',
            "set -- $need",
            'if [ $# = 1 ]; then qacct -j "$1"; elif [ $# -gt 1 ]; then qacct -o "$(id -un)" -j; fi 2>&1 |',
            f'  awk -v ids="$need" {shlex.quote(keep)}',
            "exit 0",
        ]
        return "\n".join(lines)

    def query(self, transport: Transport, jobs: Sequence[SubmittedJob]) -> dict[str, dict[int, TaskStatus]]:
        if not jobs:
            return {}
        self.qstat_calls += 1
        result = transport.run_script(self.qstat_command(), check=False)
        if result.returncode != 0:
            raise SchedulerError(
                f"qstat failed on {transport.label}: {result.stderr.strip() or result.returncode}"
            )
        live = parse_qstat_xml(result.stdout)
        statuses: dict[str, dict[int, TaskStatus]] = {}
        lookup: dict[str, list[int]] = {}
        with self._lock:
            for job in jobs:
                tasks = statuses.setdefault(job.job_id, {})
                in_qstat = live.get(job.job_id, {})
                for index in range(1, job.chunk.count + 1):
                    task = job.chunk.offset + index - 1
                    key = (job.job_id, task)
                    if key in self._final:
                        tasks[task] = self._final[key]
                        continue
                    code = in_qstat.get(index)
                    if code is None:
                        lookup.setdefault(job.job_id, []).append(task)
                    elif map_state(code) is TaskState.FAILED:
                        if key not in self._eqw:
                            lookup.setdefault(job.job_id, []).append(task)
                        tasks[task] = self._eqw.get(key) or self._eqw_status(job, task, code, None)
                    else:
                        self._missing_since.pop(key, None)
                        tasks[task] = _status(job, task, map_state(code))
        if lookup:
            by_id = {job.job_id: job for job in jobs}
            self._resolve(transport, [by_id[job_id] for job_id in lookup], lookup, live, statuses)
        return statuses

    def _eqw_status(
        self, job: SubmittedJob, task: int, code: str, record: AccountingRecord | None
    ) -> TaskStatus:
        reason = f": failed {record.failed} ({record.reason})" if record is not None and record.failed else ""
        message = (
            f"Grid Engine holds it in error state {code}{reason}; `qstat -j {job.job_id}` says why, "
            f"`qdel {job.job_id}` removes it"
        )
        return _status(job, task, TaskState.FAILED, record.exit_status if record else None, message)

    def _resolve(
        self,
        transport: Transport,
        jobs: Sequence[SubmittedJob],
        lookup: dict[str, list[int]],
        live: dict[str, dict[int, str]],
        statuses: dict[str, dict[int, TaskStatus]],
    ) -> None:
        """Final states of tasks that left qstat (and reasons for Eqw): `lxm3-exit` lines, then qacct."""
        in_error = {
            job.job_id
            for job in jobs
            if any(task - job.chunk.offset + 1 in live.get(job.job_id, {}) for task in lookup[job.job_id])
        }
        self.lookup_calls += 1
        result = transport.run_script(
            self.lookup_command({job: lookup[job.job_id] for job in jobs}, in_error), check=False
        )
        exit_lines: list[str] = []
        qacct_lines: list[str] = []
        current: list[str] = exit_lines
        for line in result.stdout.splitlines():
            if line.startswith(_SECTION_MARK + " "):
                kind, _, argument = line[len(_SECTION_MARK) + 1 :].partition(" ")
                current = qacct_lines if kind == "qacct" else exit_lines
                if kind == "qacct":
                    self.qacct_calls += bool(argument.split())
                continue
            current.append(line)
        exit_codes = parse_exit_markers(exit_lines)
        errors = [line for line in qacct_lines if line.startswith("error:") and "not found" not in line]
        if errors:
            log.warning("qacct on %s: %s", transport.label, "; ".join(errors))
        records = parse_qacct("\n".join(qacct_lines))
        now = time.monotonic()
        with self._lock:
            for job in jobs:
                tasks = statuses[job.job_id]
                cancelled = job.job_id in self._cancelled
                for task in lookup[job.job_id]:
                    index = task - job.chunk.offset + 1
                    key = (job.job_id, task)
                    record = records.get((job.job_id, index))
                    code = live.get(job.job_id, {}).get(index)
                    if code is not None:  # still in qstat, in an error state
                        self._eqw[key] = tasks[task] = self._eqw_status(job, task, code, record)
                        continue
                    status = final_status(job, task, record, exit_codes.get((job.job_id, index)), cancelled)
                    if status is None:
                        first_missing = self._missing_since.setdefault(key, now)
                        if cancelled or now - first_missing >= self.missing_grace:
                            how = (
                                "deleted with qdel"
                                if cancelled
                                else "left the queue (deleted while pending?)"
                            )
                            status = _status(
                                job,
                                task,
                                TaskState.CANCELLED,
                                None,
                                f"{how}; no accounting record or lxm3-exit line",
                            )
                    if status is not None:
                        self._missing_since.pop(key, None)
                        self._final[key] = tasks[task] = status

    # ----- cancel -----
    def cancel(self, transport: Transport, job_ids: Sequence[str]) -> None:
        if not job_ids:
            return
        with self._lock:
            self._cancelled.update(job_ids)
        result = transport.run(["qdel", *job_ids], check=False)
        if result.returncode != 0:
            lines = [
                line.strip() for line in (result.stdout + "\n" + result.stderr).splitlines() if line.strip()
            ]
            # qdel deletes what it can and fails for jobs that already ended: not an error here.
            unexpected = [line for line in lines if not any(word in line for word in _QDEL_FINE)]
            if unexpected or not lines:
                reason = "; ".join(unexpected) or f"exit code {result.returncode}"
                raise SchedulerError(f"qdel {' '.join(job_ids)} failed on {transport.label}: {reason}")

    # ----- limits -----
    array_limit_refusals = ("you tried to submit a job with more than",)

    def forget_max_array_size(self) -> None:
        self._max_array_size = None

    def max_array_size(self, transport: Transport) -> int:
        """`max_aj_tasks` of the global configuration (asked once per scheduler)."""
        if self._max_array_size is None:
            result = transport.run(["qconf", "-sconf"], check=False)
            if result.returncode != 0:
                raise SchedulerError(f"qconf -sconf failed on {transport.label}: {result.stderr.strip()}")
            self._max_array_size = parse_max_aj_tasks(result.stdout)
        return self._max_array_size
