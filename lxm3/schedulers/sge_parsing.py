"""What Grid Engine reads and prints, as lxm3 writes and parses it: directives, qstat XML, qacct, exit markers.

Pure functions (no commands run here), tested against recorded outputs; the
scheduler module `lxm3.schedulers.sge` uses them.
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable

import attrs

from lxm3.schedulers.base import (
    SchedulerError,
    SubmittedJob,
    job_log_dir,
    parse_index_ranges,
    shell_quote,
)
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
    """An option prefix (`-l h_vmem`, `-pe`) drops the directives it starts, on whole words;
    any other text (`h_vmem`, lxm3 0.4's form) drops every directive containing it."""
    for prefix in skip:
        prefix = " ".join(prefix.split())
        if not prefix.startswith("-"):
            if prefix in text:
                return True
        elif text == prefix or text.startswith((prefix + " ", prefix + "=")):
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
    return parse_index_ranges(text)


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
    return job_log_dir(job)


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
