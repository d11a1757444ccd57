"""What every scheduler module provides: render, submit, query, cancel.

A scheduler module knows one scheduler's dialect and nothing about
experiments: it turns a `RenderRequest` into a job script, submits scripts
with one command, asks about many jobs with ONE query, and cancels. It runs
commands through a `Transport`, so the same code works over SSH or on a login
node. The launch glue (`lxm3.xm_cluster.launching`) and the status watcher
(`lxm3.schedulers.watcher`) are the only callers.
"""

from __future__ import annotations

import abc
import shlex
from collections.abc import Sequence
from typing import ClassVar

from lxm3.errors import LxmError
from lxm3.schedulers.array_jobs import (
    ArrayChunk,
    SubmittedJob,
    job_log_dir,
    parse_index_ranges,
    split_into_chunks,
)
from lxm3.schedulers.render_request import (
    TEMPLATE_DIR,
    DirectivesSource,
    JobDirectives,
    JobScript,
    LazyTemplates,
    RenderRequest,
    make_template_env,
    option_name,
    shell_quote,
)
from lxm3.transport.base import CommandResult, Transport
from lxm3.xm.status import TaskStatus

# Re-exported: scheduler modules, executors and tests import these from here.
__all__ = [
    "REASON_MARK",
    "REFUSED_MARK",
    "SUBMITTED_MARK",
    "TEMPLATE_DIR",
    "ArrayChunk",
    "DirectivesSource",
    "JobDirectives",
    "JobScript",
    "LazyTemplates",
    "RenderRequest",
    "Scheduler",
    "SchedulerError",
    "SubmittedJob",
    "job_log_dir",
    "make_template_env",
    "option_name",
    "parse_index_ranges",
    "shell_quote",
    "split_into_chunks",
]

#: Marks the lines of a multi-script submission: a job id, a refusal, the refusal's words.
SUBMITTED_MARK = "lxm3-submitted"
REFUSED_MARK = "lxm3-refused"
REASON_MARK = "lxm3-reason"


class SchedulerError(LxmError, RuntimeError):
    """The scheduler refused or failed; the message carries its own words.

    `submitted` lists the jobs a multi-script submission got accepted before
    the refusal, so the caller can record or cancel them.
    """

    def __init__(
        self, message: str, *, submitted: Sequence[SubmittedJob] = (), refused: str | None = None
    ) -> None:
        super().__init__(message)
        self.submitted: list[SubmittedJob] = list(submitted)
        #: The script path that was refused, when one was.
        self.refused = refused


class Scheduler(abc.ABC):
    """One scheduler's dialect. Subclasses live in `lxm3.schedulers.<name>`."""

    #: Short name recorded in the store: "slurm", "sge", "local".
    name: ClassVar[str]
    #: First pause between status polls (they ramp up from here); cheap queries start sooner.
    first_poll_interval: ClassVar[float] = 0.2
    #: Whether `query` learns each exit code the moment a task ends (the local scheduler runs
    #: them as its own subprocesses), so reading the completion files would add nothing.
    knows_exit_codes_first: ClassVar[bool] = False

    def preload_templates(self) -> None:
        """Compiles this scheduler's templates now rather than at the first render."""
        templates = getattr(self, "_templates", None)
        if templates is not None:
            templates.preload()

    @abc.abstractmethod
    def render(self, request: RenderRequest) -> str:
        """The job script for one chunk."""

    #: How messages name the scheduler ("Slurm", "Grid Engine").
    display_name: ClassVar[str] = "the scheduler"

    def submit_argv(self, script: JobScript) -> list[str]:
        """The command that submits one script (what `--dry-run` shows)."""
        raise NotImplementedError

    def submit_prelude(self, scripts: Sequence[JobScript]) -> list[str]:
        """Shell lines run before the submissions (e.g. creating output dirs)."""
        return []

    def parse_job_id(self, printed: str) -> str | None:
        """The job id in what the submit command printed, or None if it is not one."""
        raise NotImplementedError

    def refusal_reason(self, stderr: str) -> str:
        """The scheduler's own words about a refusal, without its decorations."""
        return "; ".join(line.strip() for line in stderr.splitlines() if line.strip())

    #: Submissions run this many at a time: a 100,000-task sweep on a cluster with a small
    #: array limit means ~1,000 sbatch calls, and the controller takes several at once.
    submit_parallelism: ClassVar[int] = 8

    def submit_command(self, scripts: Sequence[JobScript]) -> str:
        """One bash script submitting every script, in waves; no wave starts after a refusal.

        Each submission prints `lxm3-submitted <index> <output>`, or
        `lxm3-refused <index>` followed by `lxm3-reason <index> <line>` lines
        carrying the scheduler's own words.
        """
        lines = self.submit_prelude(scripts)
        lines += [
            'tmp="$(mktemp -d)" || exit 1',
            "trap 'rm -rf \"$tmp\"' EXIT",
            "submit() {",
            "  i=$1; shift",
            '  if out="$("$@" 2>"$tmp/$i")"; then',
            f'    printf "{SUBMITTED_MARK} %s %s\\n" "$i" "$out"',
            "  else",
            f'    printf "{REFUSED_MARK} %s\\n" "$i"; sed "s/^/{REASON_MARK} $i /" "$tmp/$i"; : >"$tmp/refused"',
            "  fi",
            "}",
        ]
        wave = max(1, self.submit_parallelism)
        for start in range(0, len(scripts), wave):
            batch = range(start, min(start + wave, len(scripts)))
            if start:
                lines.append('[ -e "$tmp/refused" ] && exit 1')
            if len(batch) == 1:
                lines.append(f"submit {start} {shlex.join(self.submit_argv(scripts[start]))}")
            else:
                lines.append(
                    " ".join(f"submit {i} {shlex.join(self.submit_argv(scripts[i]))} &" for i in batch)
                    + " wait"
                )
        lines.append('[ -e "$tmp/refused" ] && exit 1')
        lines.append("exit 0")
        return "\n".join(lines)

    def submit(self, transport: Transport, scripts: Sequence[JobScript]) -> list[SubmittedJob]:
        """Submits scripts with ONE remote command; stops after a refusal.

        Raises SchedulerError carrying the scheduler's message for the first
        refused script (`refused`); jobs accepted are on its `submitted`.
        """
        if not scripts:
            return []
        result = transport.run_script(self.submit_command(scripts), check=False)
        return self.parse_submission(result, scripts, transport.label)

    def parse_submission(
        self, result: CommandResult, scripts: Sequence[JobScript], where: str
    ) -> list[SubmittedJob]:
        """The jobs `submit_command` reported; SchedulerError for the first refused script."""
        accepted: dict[int, str] = {}
        refused: set[int] = set()
        reasons: dict[int, list[str]] = {}
        bad_output: tuple[int, str] | None = None
        for line in result.stdout.splitlines():
            mark, _, rest = line.partition(" ")
            index_text, _, printed = rest.partition(" ")
            if not index_text.isdigit() or int(index_text) >= len(scripts):
                continue
            index = int(index_text)
            if mark == SUBMITTED_MARK:
                job_id = self.parse_job_id(printed)
                if job_id is None:
                    bad_output = bad_output or (index, printed)
                else:
                    accepted[index] = job_id
            elif mark == REFUSED_MARK:
                refused.add(index)
            elif mark == REASON_MARK:
                reasons.setdefault(index, []).append(printed)
        submitted = [
            SubmittedJob(accepted[i], scripts[i].request.chunk, scripts[i].path) for i in sorted(accepted)
        ]
        if bad_output is not None:
            index, printed = bad_output
            raise SchedulerError(
                f"{self.display_name} printed {printed!r} for {scripts[index].path}, not a job id",
                submitted=submitted,
                refused=scripts[index].path,
            )
        if refused or len(accepted) < len(scripts):
            first = min(refused) if refused else min(set(range(len(scripts))) - set(accepted))
            script = scripts[first]
            chunk = script.request.chunk
            stderr = "\n".join(reasons.get(first, [])) or result.stderr
            reason = self.refusal_reason(stderr) or f"exit code {result.returncode}"
            raise SchedulerError(
                f"{self.display_name} refused job {script.request.label!r} "
                f"(tasks {chunk.offset}..{chunk.offset + chunk.count - 1}, {script.path}) on {where}: {reason}",
                submitted=submitted,
                refused=script.path,
            )
        return submitted

    @abc.abstractmethod
    def query(self, transport: Transport, jobs: Sequence[SubmittedJob]) -> dict[str, dict[int, TaskStatus]]:
        """ONE query for all given jobs: job id -> {global task id -> status}.

        Tasks the scheduler does not (yet, or any more) know are left out; the
        watcher decides what missing means. Jobs are never packed here: callers
        go through `query_tasks`, which hands packed jobs over as their array tasks.
        """

    def query_tasks(
        self, transport: Transport, jobs: Sequence[SubmittedJob], *, exit_codes: bool = True
    ) -> dict[str, dict[int, TaskStatus]]:
        """`query`, with packed jobs' array tasks resolved into their sweep tasks (see `packing`)."""
        from lxm3.schedulers import packing

        return packing.query_tasks(self, transport, jobs, exit_codes=exit_codes)

    @abc.abstractmethod
    def cancel(self, transport: Transport, job_ids: Sequence[str]) -> None:
        """Cancels jobs (whole arrays) with one command."""

    #: The array limit assumed when it cannot be asked (a dry run): the scheduler's own default.
    default_max_array_size: ClassVar[int] = 1_000_000

    def max_array_size(self, transport: Transport) -> int:
        """The cluster's largest array (queried once per cluster and cached by the caller)."""
        return self.default_max_array_size

    def known_max_array_size(self, transport: Transport) -> int | None:
        """The array limit if known without contacting the cluster (e.g. cached), else None."""
        return None

    #: Words of a refusal caused by an array larger than the cluster allows (a stale cached limit).
    array_limit_refusals: ClassVar[tuple[str, ...]] = ()

    def is_array_limit_refusal(self, message: str) -> bool:
        """True when the scheduler refused a submission because the array was too large."""
        return any(words in message for words in self.array_limit_refusals)

    def forget_max_array_size(self) -> None:
        """Drops the cached array limit, so the next `max_array_size` asks the cluster again."""
