"""ArrayJob: one job, many tasks (a sweep), submitted as scheduler arrays.

`ArrayJob(executable, executor, args=[{...}, {...}], env_vars=[{...}])` runs
one task per element; a length-1 list is broadcast to the other's length.
Task i (0-based, `LXM_TASK_ID`) gets `args[i]` and `env_vars[i]`.

`pack=K` runs K tasks in each scheduler array task (one after another, or
`pack_parallel` at once: give the executor that many CPUs); each task keeps
its own id, args, env, logs, exit code and state. Unset, lxm3 packs only when
the sweep exceeds the cluster's job limits; `pack=1` never packs.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from lxm3 import xm
from lxm3.xm.args import SequentialArgs, merge_args
from lxm3.xm_cluster.after_files import to_after_files


def _to_args_list(values: Sequence[Any] | None) -> list[SequentialArgs]:
    if values is None:
        return [SequentialArgs()]
    if isinstance(values, (Mapping, SequentialArgs)):
        raise TypeError(
            "ArrayJob args must be a list with one entry per task, e.g. [{'seed': 0}, {'seed': 1}]"
        )
    # Already converted values pass through: attrs runs this converter again on every assignment.
    return SequentialArgs.from_collections(values)


def _to_env_list(values: Sequence[Mapping[str, Any]] | None) -> list[dict[str, str]]:
    if values is None:
        return [{}]
    if isinstance(values, Mapping):
        raise TypeError("ArrayJob env_vars must be a list with one dict per task")
    return [{str(k): str(v) for k, v in (value or {}).items()} for value in values]


def broadcast(
    args: list[SequentialArgs], env_vars: list[dict[str, str]]
) -> tuple[list[SequentialArgs], list[dict[str, str]]]:
    """Matches the two lists' lengths; a length-1 list repeats."""
    if len(args) == len(env_vars):
        return args, env_vars
    size = max(len(args), len(env_vars))
    if min(len(args), len(env_vars)) != 1:
        raise ValueError(
            f"ArrayJob args ({len(args)} entries) and env_vars ({len(env_vars)} entries) must have "
            "the same length, or one of them length 1"
        )
    if len(args) == 1:
        args = [copy.deepcopy(args[0]) for _ in range(size)]
    if len(env_vars) == 1:
        first = env_vars[0]
        # A dict each (never shared: a job may change one task's); `{}` is the usual one, built faster.
        env_vars = [{} for _ in range(size)] if not first else [dict(first) for _ in range(size)]
    return args, env_vars


@attrs.define
class ArrayJob(xm.JobConfig):
    """A job run once per element of `args`/`env_vars`."""

    executable: xm.Executable
    executor: xm.Executor
    name: str | None = None
    args: list[SequentialArgs] = attrs.field(factory=lambda: [SequentialArgs()], converter=_to_args_list)
    env_vars: list[dict[str, str]] = attrs.field(factory=lambda: [{}], converter=_to_env_list)
    #: Globs in the work dir kept in each task's output dir (added to the executor's).
    after_files: tuple[str, ...] = attrs.field(default=(), converter=to_after_files, kw_only=True)
    pack: int | None = attrs.field(default=None, kw_only=True)
    pack_parallel: int = attrs.field(default=1, kw_only=True)
    #: lxm3 0.4's other form: one `{"args": {...}, "env_vars": {...}}` per task.
    work_list: list[Mapping[str, Any]] | None = attrs.field(default=None, kw_only=True, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.work_list is not None:
            self._take_work_list(self.work_list)
        if not self.args and not self.env_vars:
            raise ValueError("ArrayJob needs at least one task")
        for name in ("pack", "pack_parallel"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"ArrayJob {name} must be a whole number >= 1, got {value!r}")
        args, env_vars = broadcast(self.args, self.env_vars)
        # Already converted: skip attrs' converters, which would convert 100,000 tasks again.
        object.__setattr__(self, "args", args)
        object.__setattr__(self, "env_vars", env_vars)

    def _take_work_list(self, work_list: Sequence[Mapping[str, Any]]) -> None:
        if isinstance(work_list, Mapping) or not work_list:
            raise TypeError(
                "ArrayJob work_list must be a non-empty list of {'args': ..., 'env_vars': ...} dicts"
            )
        if self.args != [SequentialArgs()] or self.env_vars != [{}]:
            raise ValueError("ArrayJob takes either work_list or args/env_vars, not both")
        for item in work_list:
            unknown = set(item) - {"args", "env_vars"}
            if unknown:
                raise ValueError(
                    f"ArrayJob work_list entries hold only 'args' and 'env_vars', got {sorted(unknown)}"
                )
        object.__setattr__(self, "args", _to_args_list([item.get("args") or {} for item in work_list]))
        object.__setattr__(self, "env_vars", _to_env_list([item.get("env_vars") or {} for item in work_list]))
        object.__setattr__(self, "work_list", None)

    @property
    def num_tasks(self) -> int:
        return len(self.args)

    def apply_args(self, overrides: Mapping[str, Any]) -> None:
        """`experiment.add(array_job, args={"args": {...}})` applies to every task."""
        if "args" in overrides:
            self.args = [merge_args(task_args, overrides["args"]) for task_args in self.args]
        extra_env = {str(k): str(v) for k, v in (overrides.get("env_vars") or {}).items()}
        if extra_env:
            # New dicts, never mutation: the job may be a shallow copy of the user's.
            self.env_vars = [{**env, **extra_env} for env in self.env_vars]
