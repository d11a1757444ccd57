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
import shlex
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from lxm3.schedulers.base import (
    JobScript,
    LazyTemplates,
    RenderRequest,
    Scheduler,
    SchedulerError,
    SubmittedJob,
)
from lxm3.schedulers.sge_parsing import (
    _MAX_LISTED_FILES,
    _QDEL_FINE,
    _SECTION_MARK,
    EXIT_MARKER,
    FAILED_KILLED,
    FAILED_RESCHEDULED,
    AccountingRecord,
    Directive,
    _log_dir,
    _output_dir,
    _skipped,
    _status,
    check_directive_value,
    directive_quote,
    final_status,
    format_directive,
    job_name,
    map_state,
    parse_exit_markers,
    parse_max_aj_tasks,
    parse_qacct,
    parse_qstat_xml,
    parse_qsub_ids,
    parse_task_ranges,
)
from lxm3.transport.base import Transport
from lxm3.xm.status import TaskState, TaskStatus

log = logging.getLogger(__name__)

#: Parsing helpers keep their 0.5 import path here.
__all__ = [
    "AccountingRecord",
    "Directive",
    "EXIT_MARKER",
    "FAILED_KILLED",
    "FAILED_RESCHEDULED",
    "GridEngineScheduler",
    "check_directive_value",
    "directive_quote",
    "final_status",
    "format_directive",
    "job_name",
    "map_state",
    "parse_exit_markers",
    "parse_max_aj_tasks",
    "parse_qacct",
    "parse_qstat_xml",
    "parse_qsub_ids",
    "parse_task_ranges",
]


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
        self._templates = LazyTemplates(extra)
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
        wanted = request.directives
        chunk = request.chunk
        output = _output_dir(wanted.log_directory or request.log_dir)
        derived: list[Directive] = [("-N", job_name(request.label)), ("-o", output)]
        if wanted.merge_output:
            derived.append(("-j", "y"))
        else:
            derived.append(("-e", output))
        if chunk.array_size > 1:
            derived.append(("-t", f"1-{chunk.array_size}"))
            if wanted.max_parallel:
                derived.append(("-tc", str(wanted.max_parallel)))
        if request.dependency is not None:
            from lxm3.schedulers.dependency import sge_holds

            hold, hold_array, _ = sge_holds(request.dependency, chunk)
            if hold:
                derived.append(("-hold_jid", ",".join(hold)))
            if hold_array:
                derived.append(("-hold_jid_ad", ",".join(hold_array)))
        # Grid Engine executors derive only valued options (`Directive`s).
        derived.extend(tuple(str(part) for part in directive) for directive in wanted.requirements)
        lines = [format_directive(directive) for directive in derived]
        lines.extend(wanted.extra_directives)
        return [line for line in lines if not _skipped(line, wanted.skip_directives)]

    def render(self, request: RenderRequest) -> str:
        directives = self.directives(request)
        modules = [module.split() for module in request.directives.modules]
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
                _output_dir(log_directory)
                for script in scripts
                if (log_directory := script.request.directives.log_directory)
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
