"""A job's tasks: the executable's baked-in args and env merged with each task's.

Split from `staging.py`: what the tasks of an `xm.Job` or `ArrayJob` are is
decided here, before anything is written; staging streams them into the task
table. Kept lazy so a 100,000-task sweep is never held in memory twice.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import attrs

from lxm3.xm.args import SequentialArgs, merge_args
from lxm3.xm_cluster.after_files import job_after_files
from lxm3.xm_cluster.array_job import ArrayJob
from lxm3.xm_cluster.executables import Command


@attrs.frozen
class JobTasks:
    """A job's tasks: the executable's baked-in args/env merged with each task's.

    Tasks are produced lazily (`iter_tasks`), so a 100,000-task sweep is
    streamed into the task table instead of held in memory twice.
    """

    name: str
    executable: Command
    executor: Any
    pairs: Sequence[tuple[Any, dict[str, str]]]
    #: ArrayJob(pack=...): tasks per array task (None: lxm3 decides), and how many at once.
    pack: int | None = None
    pack_parallel: int = 1
    #: Globs the runner copies from the work dir into each task's output dir at its end.
    after_files: Sequence[str] = ()

    @property
    def num_tasks(self) -> int:
        return len(self.pairs)

    def iter_tasks(self) -> Iterator[tuple[list[Any], dict[str, str]]]:
        base_args, base_env = self.executable.args, self.executable.env_vars
        # No baked-in args (the usual sweep): each task's own args as they are, without a merged copy.
        plain = not merge_args(base_args).to_list()
        for args, env in self.pairs:
            # Jobs keep env values as given (XManager); they become strings here, where tasks are rendered.
            merged = {**base_env, **env} if base_env else env
            rendered = (
                {key: value if type(value) is str else str(value) for key, value in merged.items()}
                if merged
                else {}
            )
            if plain and isinstance(args, SequentialArgs):
                yield args.to_list(), rendered
            else:
                yield merge_args(base_args, args).to_list(), rendered

    @property
    def tasks(self) -> list[tuple[list[Any], dict[str, str]]]:
        return list(self.iter_tasks())


def job_tasks(job: Any) -> JobTasks:
    """The tasks of an xm.Job (one task) or an ArrayJob (one per element)."""
    executable = job.executable
    if not isinstance(executable, Command):
        raise TypeError(
            f"job {job.name!r}: its executable must come from experiment.package(), got {executable!r}"
        )
    if isinstance(job, ArrayJob):
        pairs: Sequence[tuple[Any, dict[str, str]]] = _Zipped(job.args, job.env_vars)
        return JobTasks(
            job.name or executable.name,
            executable,
            job.executor,
            pairs,
            job.pack,
            job.pack_parallel,
            job_after_files(job.executor, job),
        )
    pairs = [(job.args, job.env_vars)]
    return JobTasks(
        job.name or executable.name,
        executable,
        job.executor,
        pairs,
        after_files=job_after_files(job.executor, job),
    )


def task_lists(job: JobTasks) -> tuple[Sequence[Any], Sequence[dict[str, str]]] | None:
    """An ArrayJob's per-task args and env lists as they are (None for any other job)."""
    pairs = job.pairs
    return (pairs._first, pairs._second) if isinstance(pairs, _Zipped) else None


class _Zipped(Sequence[tuple[Any, dict[str, str]]]):
    """A zip of two equal-length lists that does not copy them."""

    def __init__(self, first: Sequence[Any], second: Sequence[dict[str, str]]) -> None:
        self._first, self._second = first, second

    def __len__(self) -> int:
        return len(self._first)

    def __iter__(self) -> Iterator[tuple[Any, dict[str, str]]]:
        # Sequence's default iterates by index (two lookups and a tuple per task).
        return zip(self._first, self._second, strict=True)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return list(zip(self._first[index], self._second[index], strict=True))
        return self._first[index], self._second[index]
