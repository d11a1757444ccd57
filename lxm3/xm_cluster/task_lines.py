"""A job's task table, encoded a block of tasks at a time (a sweep's usual tasks column by column).

`JobTasks.iter_tasks` renders one task at a time, which for a 100,000-task
`ArrayJob` of dicts is most of a launch's CPU: per task a `to_list()`, then
per argument a quote and a check. Such a sweep is really a table with one
column per keyword, so here each block of tasks is rendered column by column
(`keyword_columns`, `keyword_argv`) and encoded the same way
(`encode_columns`): the same bytes, with the per-task Python work gone. Any
task outside that shape (positionals, other value types, env, baked-in args,
a value the checks must look at) and every task after it takes the general
path, `encode_task` per task, which also raises what it must.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

from lxm3.runtime.task_table import encode_columns, encode_task
from lxm3.xm.args import keyword_argv, keyword_columns, merge_args
from lxm3.xm_cluster.job_tasks import JobTasks, task_lists

#: Tasks per block: bounds the memory the columns of a 100,000-task sweep take at once.
BLOCK = 8192


def table_lines(job: JobTasks) -> Iterator[list[str]]:
    """The job's task table lines (ASCII, newline-terminated), in blocks, in task order."""
    lists = task_lists(job)
    base = job.executable
    start = 0
    if lists is not None and not base.env_vars and not merge_args(base.args).to_list():
        args, envs = lists
        while start < len(args):
            stop = min(start + BLOCK, len(args))
            lines = _block(args[start:stop], envs[start:stop])
            if lines is None:
                break
            yield lines
            start = stop
    if start < job.num_tasks:
        # The general path from the first task the columns cannot take, to the end.
        tasks = itertools.islice(job.iter_tasks(), start, None)
        for first in itertools.count(start, BLOCK):
            block = [
                encode_task(task_args, env, task_id).decode("ascii")
                for task_id, (task_args, env) in enumerate(itertools.islice(tasks, BLOCK), first)
            ]
            if not block:
                return
            yield block


def _block(args: Sequence[Any], envs: Sequence[dict[str, str]]) -> list[str] | None:
    """One block's lines from its columns, or None when a task needs the general path."""
    if any(envs):
        return None
    columns = keyword_columns(args)
    if columns is None:
        return None
    names, values = columns
    rendered = []
    for name, column in zip(names, values, strict=True):
        argv = keyword_argv(name, column)
        if argv is None:
            return None
        rendered.append(argv)
    return encode_columns(rendered, len(args))
