"""Task packing: K sweep tasks per scheduler array task, and what the scheduler's word means then.

A packed chunk (`ArrayChunk(offset, count, pack=K)`) is submitted as an array
of ceil(count / K) array tasks; array task e runs the chunk's positions
e*K .. e*K+K-1 through the runner, each as a task of its own (own
LXM_TASK_ID, args, env, logs and `<task>.exit`). Schedulers never see
packing: `query_tasks` hands them each packed job as an array of its array
tasks (`element_job`), then spreads each array task's state over its sweep
tasks, where each task's own completion file is the truth:

    exit file present              that task ended with that code
    array task running             its tasks without an exit file are RUNNING
    array task ended, no exit file the task never ran or was killed: the array
                                   task's state (CANCELLED, TIMEOUT -> FAILED ...)

The exit files of packed jobs are read in ONE command per poll, and only for
jobs with an array task that is running or ended.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING

from lxm3.schedulers.base import ArrayChunk, SubmittedJob
from lxm3.schedulers.completion import read_exit_files
from lxm3.transport.base import Transport
from lxm3.xm.status import TaskState, TaskStatus, build_statuses

if TYPE_CHECKING:
    from lxm3.schedulers.base import Scheduler


def element_job(job: SubmittedJob) -> SubmittedJob:
    """A packed job as the scheduler sees it: an array of its array tasks, numbered from 0."""
    return SubmittedJob(job.job_id, ArrayChunk(0, job.chunk.array_size), job.script_path)


def log_dir(job: SubmittedJob) -> str:
    return job.script_path.rsplit("/", 1)[0] + "/logs"


#: The one reader of completion files (kept under this name for callers of packing).
read_exit_codes = read_exit_files


def spread(
    job: SubmittedJob,
    elements: dict[int, TaskStatus],
    codes: dict[int, int],
    task_ids: Sequence[int] | None = None,
) -> dict[int, TaskStatus]:
    """A packed job's per-task states from its array tasks' states and the tasks' exit codes.

    Keyed like an unpacked job's (chunk offset + position); `task_ids` gives
    each position's global task id when they differ (a rerun's index map),
    which is how exit files are named.
    """
    chunk = job.chunk
    directory = log_dir(job)
    result: dict[int, TaskStatus] = {}
    for element, status in sorted(elements.items()):  # keys ascending, as an unpacked job's
        if not codes and status.state is not TaskState.COMPLETED:
            # No task wrote its exit file yet (e.g. a held 100,000-task sweep): each task has its
            # array task's state; the general loop below gives the same, 3x slower.
            positions = chunk.positions(element)
            tasks = range(chunk.offset + positions.start, chunk.offset + positions.stop)
            built = build_statuses(
                tasks, status.state, itertools.repeat(None), job.job_id, None, status.message
            )
            result.update(zip(tasks, built, strict=True))
            continue
        for position in chunk.positions(element):
            task = chunk.offset + position
            global_id = task_ids[position] if task_ids is not None and position < len(task_ids) else task
            code = codes.get(global_id)
            if code is not None:
                state = TaskState.COMPLETED if code == 0 else TaskState.FAILED
                log = f"{directory}/{global_id}.{'out' if code == 0 else 'err'}"
                result[task] = TaskStatus(task, state, code, "", log, job.job_id)
            elif status.state is TaskState.COMPLETED:
                # The array task ended well, so every task of it did; its file is just not read yet.
                result[task] = TaskStatus(task, TaskState.RUNNING, None, "", None, job.job_id)
            else:
                # No log path: the task never ran (or was killed before writing its exit file).
                result[task] = TaskStatus(task, status.state, None, status.message, None, job.job_id)
    return result


def query_tasks(
    scheduler: Scheduler, transport: Transport, jobs: Sequence[SubmittedJob], *, exit_codes: bool = True
) -> dict[str, dict[int, TaskStatus]]:
    """ONE scheduler query for `jobs` (packed or not), plus ONE exit-file read if packed jobs need it.

    With `exit_codes=False` the caller reads exit files itself (and must
    apply them to packed jobs; `lxm3.xm_cluster.reload` does so with `spread`).
    """
    packed = [job for job in jobs if job.chunk.pack > 1]
    if not packed:
        return scheduler.query(transport, jobs)
    asked = [element_job(job) if job.chunk.pack > 1 else job for job in jobs]
    answers = scheduler.query(transport, asked)
    if not exit_codes:
        return answers
    started = [
        job
        for job in packed
        if any(status.state is not TaskState.PENDING for status in answers.get(job.job_id, {}).values())
    ]
    dirs = sorted({log_dir(job) for job in started})
    codes = dict(zip(dirs, read_exit_codes(transport, dirs), strict=True))
    for job in packed:
        elements = answers.get(job.job_id, {})
        answers[job.job_id] = spread(job, elements, codes.get(log_dir(job), {}))
    return answers
