"""The building blocks of a launch: what to run, where, and with which args.

A launch script packages an `ExecutableSpec` for an `ExecutorSpec` into an
`Executable`, then pairs it with an `Executor` in a `Job`. Jobs can be grouped
(`JobGroup`) or produced by an async job generator. These classes carry no
backend logic; backends dispatch on their concrete types.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Union

import attrs

from lxm3.xm.args import SequentialArgs, UserArgs, merge_args


class ExecutableSpec(abc.ABC):
    """What code to run, before packaging (e.g. a Python project directory)."""

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """A short name used as the default job name."""


@attrs.define
class Executable:
    """A packaged, deployable form of an `ExecutableSpec`."""

    name: str


class ExecutorSpec(abc.ABC):
    """Where an executable will run, as far as packaging needs to know."""


class Executor(abc.ABC):
    """Where and with what resources a job runs."""

    @classmethod
    @abc.abstractmethod
    def Spec(cls) -> ExecutorSpec:  # noqa: N802 - XManager's public name
        """The spec to package executables for this executor."""


def _to_args(value: UserArgs | None) -> SequentialArgs:
    return SequentialArgs.from_collection(value)


_ENV_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def _to_env(value: Mapping[str, Any] | None) -> dict[str, Any]:
    """A copy of the env mapping, values kept as given (rendered to str at launch).

    Names are checked here, so a bad one fails at the line that built the job.
    """
    env = dict(value or {})
    for key in env:
        if not isinstance(key, str) or not _ENV_NAME.fullmatch(key):
            raise ValueError(
                f"Environment variables names must conform to [a-zA-Z_][a-zA-Z0-9_]*. Got {key!r}."
            )
    return env


@attrs.define
class Packageable:
    """What to build (`executable_spec`) for where (`executor_spec`), with baked-in args."""

    executable_spec: ExecutableSpec
    executor_spec: ExecutorSpec
    args: SequentialArgs = attrs.field(factory=SequentialArgs, converter=_to_args)
    env_vars: dict[str, Any] = attrs.field(factory=dict, converter=_to_env)


class Constraint(abc.ABC):
    """A scheduling constraint on a `JobGroup` (e.g. same machine)."""


class JobConfig(abc.ABC):
    """Base of everything `experiment.add` accepts besides job generators."""


@attrs.define
class Job(JobConfig):
    """One job: an executable, an executor, and the job's args and env."""

    executable: Executable
    executor: Executor
    name: str | None = None
    args: SequentialArgs = attrs.field(factory=SequentialArgs, converter=_to_args)
    env_vars: dict[str, Any] = attrs.field(factory=dict, converter=_to_env)


class JobGroup(JobConfig):
    """Named jobs that run together: `JobGroup(learner=Job(...), actor=Job(...))`."""

    def __init__(self, *, constraints: list[Constraint] | None = None, **jobs: JobType) -> None:
        self.jobs: dict[str, JobType] = dict(jobs)
        self.constraints: list[Constraint] = list(constraints or [])

    def __repr__(self) -> str:
        return f"JobGroup({', '.join(self.jobs)})"


JobGeneratorType = Callable[..., Awaitable[Any]]
JobType = Union[JobConfig, JobGeneratorType]


def apply_args(job: JobType, args: Mapping[str, Any] | None) -> None:
    """Applies `experiment.add(job, args=...)` overrides, as XManager does.

    For a `Job`, `args` may hold `args` (merged after the job's own) and
    `env_vars` (updated). For a `JobGroup` it maps job names to such dicts.
    """
    if not args:
        return
    if isinstance(job, JobGroup):
        unknown = set(args) - set(job.jobs)
        if unknown:
            raise ValueError(f"args name jobs {sorted(unknown)} that are not in the group {sorted(job.jobs)}")
        for name, inner in job.jobs.items():
            apply_args(inner, args.get(name))
        return
    if isinstance(job, JobConfig):
        unknown = set(args) - {"args", "env_vars"}
        if unknown:
            raise ValueError(f"job args may only hold 'args' and 'env_vars', got {sorted(unknown)}")
        apply = getattr(job, "apply_args", None)
        if apply is not None:
            apply(args)
            return
        if "args" in args:
            job.args = merge_args(job.args, args["args"])  # type: ignore[attr-defined]
        if "env_vars" in args:
            job.env_vars = {**job.env_vars, **_to_env(args["env_vars"])}  # type: ignore[attr-defined]


def get_args_for_all_jobs(job: JobType, args: Mapping[str, Any]) -> dict[str, Any]:
    """The `add(..., args=...)` value that gives every job of a (nested) group the same args.

    `get_args_for_all_jobs(group, {"logdir": d})` -> `{"learner": {"args": {...}}, ...}`.
    """
    if not isinstance(job, JobGroup):
        return {"args": dict(args)}
    return {name: get_args_for_all_jobs(inner, args) for name, inner in job.jobs.items()}
