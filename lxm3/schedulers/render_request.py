"""What a job-script template is given: the request, the executor's directives, quoting.

Split from `base.py`: a scheduler module renders a `RenderRequest` through a
Jinja template, and sees the executor only through the typed `JobDirectives`
it builds, never by looking attributes up on it. `shell_quote` (the `q`
filter) is the only way a template puts a value in a script.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from lxm3.schedulers.array_jobs import ArrayChunk

if TYPE_CHECKING:  # Jinja is imported when a script is rendered, not by `lxm3 status`
    import jinja2

TEMPLATE_DIR = Path(__file__).parent / "templates"


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


def option_name(text: str) -> str:
    """A scheduler option as written (`--mem`, ` mem`, `-p`) -> its name (`mem`, `p`), for skipping and replacing."""
    text = text.strip()
    return text[2:] if text.startswith("--") else text.lstrip("-")


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


#: One Jinja environment per (template dirs, filters), shared by the schedulers of a process, so
#: a template is compiled once per process (and once per warm lxm3 server, for all the commands
#: it serves: lxm3/cli/warm). Jinja re-reads a template whose file changed (`auto_reload`).
_ENVIRONMENTS: dict[tuple[object, ...], jinja2.Environment] = {}


class LazyTemplates:
    """`make_template_env`, built on the first render.

    A scheduler is also built to query or cancel (`lxm3 status`, `list`), which
    never renders a script and so need not import Jinja.
    """

    def __init__(self, extra_dirs: Sequence[Path] = (), filters: Mapping[str, Any] | None = None) -> None:
        self._extra_dirs = tuple(extra_dirs)
        self._filters = dict(filters or {})
        self._env: jinja2.Environment | None = None

    def _environment(self) -> jinja2.Environment:
        if self._env is None:
            key = (self._extra_dirs, tuple(sorted(self._filters.items())))
            env = _ENVIRONMENTS.get(key)
            if env is None:
                env = make_template_env(self._extra_dirs)
                env.filters.update(self._filters)
                _ENVIRONMENTS[key] = env
            self._env = env
        return self._env

    def get_template(self, name: str) -> jinja2.Template:
        return self._environment().get_template(name)

    def preload(self) -> None:
        """Compiles every shipped template this environment can (a warm server's start-up)."""
        env = self._environment()
        for path in sorted(TEMPLATE_DIR.glob("*.j2")):
            try:
                env.get_template(path.name)
            except Exception:  # noqa: BLE001 - (a template using another scheduler's filters)
                continue
