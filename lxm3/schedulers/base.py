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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import attrs
import jinja2

from lxm3.transport.base import Transport
from lxm3.xm.status import TaskStatus

TEMPLATE_DIR = Path(__file__).parent / "templates"
#: Marks the lines of a multi-script submission that carry a job id.
SUBMITTED_MARK = "lxm3-submitted"


@attrs.frozen
class ArrayChunk:
    """A contiguous slice of a sweep submitted as one scheduler job/array.

    Global task ids `offset .. offset + count - 1`; the scheduler sees array
    indices starting at its own base (0 on Slurm, 1 on Grid Engine), and the
    job script adds `offset` back, so a sweep larger than the cluster's
    maximum array size still gives every task its own args.
    """

    offset: int
    count: int

    @property
    def task_ids(self) -> range:
        return range(self.offset, self.offset + self.count)


def split_into_chunks(num_tasks: int, max_array_size: int) -> list[ArrayChunk]:
    """Cuts `num_tasks` into arrays of at most `max_array_size` tasks."""
    if max_array_size < 1:
        raise ValueError(f"max_array_size must be >= 1, got {max_array_size}")
    return [
        ArrayChunk(offset, min(max_array_size, num_tasks - offset))
        for offset in range(0, num_tasks, max_array_size)
    ]


@attrs.frozen
class RenderRequest:
    """Everything a job-script template needs, with paths as seen on the execution host."""

    job_name: str
    #: Unique, readable name for the scheduler's job name and log prefixes: `<exp>_<wu>_<job>`.
    label: str
    executor: Any
    chunk: ArrayChunk
    num_tasks: int
    job_dir: str
    log_dir: str
    runner_path: str
    spec_path: str
    python: str = "python3"
    #: Extra environment exported by the script (cluster config `env`).
    env: Mapping[str, str] = attrs.field(factory=dict)
    #: Set when the chunk is a rerun of scattered tasks: array index -> task id file.
    index_map: str | None = None

    def template_vars(self) -> dict[str, Any]:
        """The names every job-script template can use."""
        return {field.name: getattr(self, field.name) for field in attrs.fields(RenderRequest)} | {
            "env": dict(self.env)
        }


@attrs.frozen
class JobScript:
    """A rendered script on the execution host, with what it was rendered from."""

    path: str
    request: RenderRequest


@attrs.frozen
class SubmittedJob:
    """One scheduler job (usually an array) that runs a chunk of a sweep."""

    job_id: str
    chunk: ArrayChunk
    script_path: str


class SchedulerError(RuntimeError):
    """The scheduler refused or failed; the message carries its own words.

    `submitted` lists the jobs a multi-script submission got accepted before
    the refusal, so the caller can record or cancel them.
    """

    def __init__(self, message: str, *, submitted: Sequence[SubmittedJob] = ()) -> None:
        super().__init__(message)
        self.submitted: list[SubmittedJob] = list(submitted)


def shell_quote(value: object) -> str:
    """Quotes one value for bash; the only way templates put values in scripts."""
    return shlex.quote(str(value))


def make_template_env(extra_dirs: Sequence[Path] = ()) -> jinja2.Environment:
    """Jinja environment over user overrides first, then the shipped templates."""
    loader = jinja2.FileSystemLoader([*map(str, extra_dirs), str(TEMPLATE_DIR)])
    env = jinja2.Environment(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["q"] = shell_quote
    return env


class Scheduler(abc.ABC):
    """One scheduler's dialect. Subclasses live in `lxm3.schedulers.<name>`."""

    #: Short name recorded in the store: "slurm", "sge", "local".
    name: ClassVar[str]
    #: First pause between status polls (they ramp up from here); cheap queries start sooner.
    first_poll_interval: ClassVar[float] = 0.2

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

    def submit_command(self, scripts: Sequence[JobScript]) -> str:
        """One bash script submitting every script in order, stopping at the first refusal."""
        lines = self.submit_prelude(scripts)
        lines.append(f'submit() {{ out="$("$@")" || return 1; printf "{SUBMITTED_MARK} %s\\n" "$out"; }}')
        lines.extend(f"submit {shlex.join(self.submit_argv(script))} || exit 1" for script in scripts)
        return "\n".join(lines)

    def submit(self, transport: Transport, scripts: Sequence[JobScript]) -> list[SubmittedJob]:
        """Submits scripts with ONE remote command; stops at the first refusal.

        Raises SchedulerError carrying the scheduler's message; jobs submitted
        before the refusal are on the error's `submitted` attribute.
        """
        if not scripts:
            return []
        result = transport.run_script(self.submit_command(scripts), check=False)
        submitted: list[SubmittedJob] = []
        for line in result.stdout.splitlines():
            if not line.startswith(SUBMITTED_MARK + " ") or len(submitted) == len(scripts):
                continue
            printed = line[len(SUBMITTED_MARK) + 1 :]
            script = scripts[len(submitted)]
            job_id = self.parse_job_id(printed)
            if job_id is None:
                raise SchedulerError(
                    f"{self.display_name} printed {printed!r} for {script.path}, not a job id",
                    submitted=submitted,
                )
            submitted.append(SubmittedJob(job_id, script.request.chunk, script.path))
        if result.returncode != 0 or len(submitted) < len(scripts):
            refused = scripts[len(submitted)]
            chunk = refused.request.chunk
            reason = self.refusal_reason(result.stderr) or f"exit code {result.returncode}"
            raise SchedulerError(
                f"{self.display_name} refused job {refused.request.label!r} "
                f"(tasks {chunk.offset}..{chunk.offset + chunk.count - 1}, {refused.path}) on {transport.label}: {reason}",
                submitted=submitted,
            )
        return submitted

    @abc.abstractmethod
    def query(self, transport: Transport, jobs: Sequence[SubmittedJob]) -> dict[str, dict[int, TaskStatus]]:
        """ONE query for all given jobs: job id -> {global task id -> status}.

        Tasks the scheduler does not (yet, or any more) know are left out; the
        watcher decides what missing means.
        """

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
