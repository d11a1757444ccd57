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
import posixpath
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import attrs

from lxm3.errors import LxmError
from lxm3.runtime.job_paths import JobPaths
from lxm3.transport.base import CommandResult, Transport
from lxm3.xm.status import TaskStatus

if TYPE_CHECKING:  # Jinja is imported when a script is rendered, not by `lxm3 status`
    import jinja2

TEMPLATE_DIR = Path(__file__).parent / "templates"
#: Marks the lines of a multi-script submission: a job id, a refusal, the refusal's words.
SUBMITTED_MARK = "lxm3-submitted"
REFUSED_MARK = "lxm3-refused"
REASON_MARK = "lxm3-reason"


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
    #: Sweep tasks run one after another by each array task (see `lxm3.schedulers.packing`).
    pack: int = 1

    @property
    def task_ids(self) -> range:
        return range(self.offset, self.offset + self.count)

    @property
    def array_size(self) -> int:
        """How many array tasks the scheduler sees: `count` unpacked, ceil(count / pack) packed."""
        return -(-self.count // self.pack)

    def positions(self, element: int) -> range:
        """The positions (0-based, within the chunk) that array task `element` runs."""
        return range(element * self.pack, min((element + 1) * self.pack, self.count))


def split_into_chunks(num_tasks: int, max_array_size: int, pack: int = 1) -> list[ArrayChunk]:
    """Cuts `num_tasks` into arrays of at most `max_array_size` array tasks of `pack` tasks each."""
    if max_array_size < 1:
        raise ValueError(f"max_array_size must be >= 1, got {max_array_size}")
    if pack < 1:
        raise ValueError(f"pack must be >= 1, got {pack}")
    per_chunk = max_array_size * pack
    return [
        ArrayChunk(offset, min(per_chunk, num_tasks - offset), pack)
        for offset in range(0, num_tasks, per_chunk)
    ]


@attrs.frozen
class JobDirectives:
    """What an executor asks of a scheduler: the only executor data a scheduler module reads.

    Each executor builds one (`job_directives()`) in its scheduler's dialect,
    so a scheduler never looks attributes up on an executor it does not know.
    """

    #: Options derived from the executor's requirements and typed fields, e.g. `("mem", "8G")`.
    requirements: tuple[tuple[str | None, ...], ...] = ()
    #: (Slurm) explicit `--key=value` options; a key here replaces a derived option.
    resources: tuple[tuple[str, str | None], ...] = ()
    #: Where the scheduler writes the job script's own output (None: the job's log dir).
    log_directory: str | None = None
    #: (Grid Engine) stderr joined into stdout.
    merge_output: bool = True
    #: At most this many tasks of the job at once (None: no limit).
    max_parallel: int | None = None
    #: `module load` arguments, one entry per line.
    modules: tuple[str, ...] = ()
    #: Raw scheduler options, written as given.
    extra_directives: tuple[str, ...] = ()
    #: Option names to leave out of the script.
    skip_directives: tuple[str, ...] = ()


class DirectivesSource(Protocol):
    """An executor, as a scheduler sees it."""

    def job_directives(self) -> JobDirectives:
        """The executor's wishes in its scheduler's terms."""
        ...


@attrs.frozen
class RenderRequest:
    """Everything a job-script template needs, with paths as seen on the execution host."""

    job_name: str
    #: Unique, readable name for the scheduler's job name and log prefixes: `<exp>_<wu>_<job>`.
    label: str
    executor: DirectivesSource
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
    #: Tasks of a packed array task run at once (1: one after another).
    pack_parallel: int = 1
    #: What the job waits for (a `lxm3.schedulers.dependency.ResolvedDependency`), if anything.
    dependency: Any = None

    @property
    def directives(self) -> JobDirectives:
        """The executor's directives (the executor itself stays opaque to schedulers)."""
        return self.executor.job_directives()

    def template_vars(self) -> dict[str, Any]:
        """The names every job-script template can use."""
        return {field.name: getattr(self, field.name) for field in attrs.fields(RenderRequest)} | {
            "env": dict(self.env),
            "runner_tasks": self.runner_tasks,
        }

    @property
    def runner_tasks(self) -> str:
        """The runner's task arguments in the script: one id, or a packed array task's ids."""
        if self.chunk.pack == 1:
            return '"$LXM_TASK_ID"'
        parallel = f"--parallel {int(self.pack_parallel)} " if self.pack_parallel > 1 else ""
        return parallel + "$LXM_TASK_IDS"


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

    def to_record(self) -> dict[str, Any]:
        """The JSON form the experiment store keeps (see `from_record`)."""
        record: dict[str, Any] = {
            "job_id": self.job_id,
            "offset": self.chunk.offset,
            "count": self.chunk.count,
            "script": self.script_path,
        }
        if self.chunk.pack > 1:
            record["pack"] = self.chunk.pack
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> SubmittedJob:
        return cls(
            str(record["job_id"]),
            ArrayChunk(int(record.get("offset", 0)), int(record.get("count", 1)), int(record.get("pack", 1))),
            record.get("script") or "",
        )


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


def option_name(text: str) -> str:
    """A scheduler option as written (`--mem`, ` mem`, `-p`) -> its name (`mem`, `p`), for skipping and replacing."""
    text = text.strip()
    return text[2:] if text.startswith("--") else text.lstrip("-")


def parse_index_ranges(text: str) -> list[int]:
    """Array index ranges as schedulers print them, `1`, `3-10:1`, `4,5,7-10:2`, `0-9%2` -> indices."""
    text = text.split("%", 1)[0]
    indices: list[int] = []
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        step = 1
        if ":" in part:
            part, step_text = part.split(":", 1)
            step = max(1, int(step_text))
        first, _, last = part.partition("-")
        indices.extend(range(int(first), int(last or first) + 1, step))
    return indices


def job_log_dir(job: SubmittedJob) -> str:
    """The log dir of a submitted job (its script sits in the job dir)."""
    return JobPaths(posixpath.dirname(job.script_path)).log_dir


def shell_quote(value: object) -> str:
    """Quotes one value for bash; the only way templates put values in scripts."""
    return shlex.quote(str(value))


def make_template_env(extra_dirs: Sequence[Path] = ()) -> jinja2.Environment:
    """Jinja environment over user overrides first, then the shipped templates."""
    import jinja2

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


class LazyTemplates:
    """`make_template_env`, built on the first render.

    A scheduler is also built to query or cancel (`lxm3 status`, `list`), which
    never renders a script and so need not import Jinja.
    """

    def __init__(self, extra_dirs: Sequence[Path] = (), filters: Mapping[str, Any] | None = None) -> None:
        self._extra_dirs = tuple(extra_dirs)
        self._filters = dict(filters or {})
        self._env: jinja2.Environment | None = None

    def get_template(self, name: str) -> jinja2.Template:
        if self._env is None:
            env = make_template_env(self._extra_dirs)
            env.filters.update(self._filters)
            self._env = env
        return self._env.get_template(name)


class Scheduler(abc.ABC):
    """One scheduler's dialect. Subclasses live in `lxm3.schedulers.<name>`."""

    #: Short name recorded in the store: "slurm", "sge", "local".
    name: ClassVar[str]
    #: First pause between status polls (they ramp up from here); cheap queries start sooner.
    first_poll_interval: ClassVar[float] = 0.2
    #: Whether `query` learns each exit code the moment a task ends (the local scheduler runs
    #: them as its own subprocesses), so reading the completion files would add nothing.
    knows_exit_codes_first: ClassVar[bool] = False

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
