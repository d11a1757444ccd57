"""The watcher's per-job fast paths give what the general per-task code gives, on the same inputs."""

from __future__ import annotations

import itertools
import random

import pytest

from lxm3.runtime.job_paths import JobPaths
from lxm3.schedulers import packing
from lxm3.schedulers.base import ArrayChunk, SubmittedJob
from lxm3.schedulers.completion import combine
from lxm3.schedulers.watcher import WatchedJob, _spread, combine_job
from lxm3.xm.status import TaskState, TaskStatus, aggregate_state, all_terminal, count_states


def _general(job: WatchedJob, known: dict[int, TaskStatus], codes: dict[int, int]) -> dict[int, TaskStatus]:
    """`combine` task by task: what the watcher did before its fast paths."""
    return {
        task: combine(
            task,
            known.get(key),
            codes.get(task),
            job.job_id,
            job.paths.log(task, "err") if job.paths is not None else None,
        )
        for key, task in job.positions()
    }


def _reports(job: WatchedJob, rng: random.Random, share: float) -> dict[int, TaskStatus]:
    states = list(TaskState)
    return {
        key: TaskStatus(
            key,
            rng.choice(states),
            rng.choice([None, 0, 1, 137]),
            rng.choice(["", "attempt 2"]),
            rng.choice([None, "/sched/log"]),
            rng.choice([None, job.job_id, "other"]),
        )
        for key, _ in job.positions()
        if rng.random() < share
    }


@pytest.mark.parametrize(
    ("share", "with_paths", "task_ids"),
    list(itertools.product([0.0, 0.01, 0.3, 1.0], [True, False], [None, (7, 3, 11, 40, 2, 5, 9, 8, 1, 0)])),
)
def test_combine_job_is_combine_task_by_task(share: float, with_paths: bool, task_ids: tuple | None) -> None:
    rng = random.Random(f"{share}{with_paths}{task_ids}")
    submitted = SubmittedJob("42", ArrayChunk(100, 10 if task_ids else 400), "/s/job-0.sh")
    job = WatchedJob.of(submitted, task_ids, JobPaths("/stage/job") if with_paths else None)
    for codes in ({}, {job.task_ids[0]: 0, job.task_ids[-1]: 137}):
        known = _reports(job, rng, share)
        fast, general = combine_job(job, known, codes), _general(job, known, codes)
        assert fast == general
        assert list(fast) == list(general)  # same order (the positions')


def test_spread_of_a_launch_chunk_with_unreported_array_tasks() -> None:
    """A packed launch chunk whose scheduler reported only some array tasks (the rest: pending)."""
    submitted = SubmittedJob("9", ArrayChunk(1000, 95, pack=10), "/s/job-0.sh")
    job = WatchedJob.of(submitted, None, JobPaths("/stage/job"))
    elements = {
        0: TaskStatus(0, TaskState.RUNNING, job_id="9"),
        4: TaskStatus(4, TaskState.CANCELLED, job_id="9"),
    }
    states = _spread(job, elements, {1003: 0})
    assert list(states) == list(range(1000, 1095))
    assert states[1003].state is TaskState.COMPLETED and states[1003].exit_code == 0
    assert states[1001] == TaskStatus(1001, TaskState.RUNNING, None, "", None, "9")
    assert states[1042] == TaskStatus(1042, TaskState.CANCELLED, None, "", None, "9")
    assert states[1094] == TaskStatus(1094, TaskState.PENDING, job_id="9")
    # What the position-by-position loop (still used for a rerun's mapped chunk) gives.
    spread = packing.spread(submitted, elements, {1003: 0}, job.task_ids)
    expected = {
        task: spread.get(key) or TaskStatus(task, TaskState.PENDING, job_id="9")
        for key, task in job.positions()
    }
    assert states == expected and list(states) == list(expected)


def test_all_terminal_and_count_states_as_the_per_task_forms() -> None:
    rng = random.Random(3)
    for size in (0, 1, 50):
        statuses = [TaskStatus(i, rng.choice(list(TaskState))) for i in range(size)]
        assert all_terminal(statuses) == all(s.state.is_terminal for s in statuses)
        counted = count_states(statuses)
        assert counted == {state: n for state in TaskState if (n := sum(s.state is state for s in statuses))}
        assert list(counted) == list(dict.fromkeys(s.state for s in statuses))  # first-seen order
        assert aggregate_state(counted) == aggregate_state(s.state for s in statuses)
    done = [TaskStatus(i, TaskState.COMPLETED) for i in range(3)]
    assert all_terminal(done) and not all_terminal([*done, TaskStatus(3, TaskState.UNKNOWN)])
