"""The watcher's per-job fast paths give what the general per-task code gives, on the same inputs."""

from __future__ import annotations

import itertools
import random

import attrs
import pytest

from lxm3.runtime.job_paths import JobPaths
from lxm3.schedulers import packing
from lxm3.schedulers.base import ArrayChunk, SubmittedJob
from lxm3.schedulers.completion import combine
from lxm3.schedulers.watcher import WatchedJob, _spread, combine_job
from lxm3.xm.status import (
    TaskState,
    TaskStatus,
    aggregate_state,
    all_terminal,
    build_statuses,
    count_states,
)


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
    # Braces in the path: the bulk path formats log paths with str.format.
    job = WatchedJob.of(submitted, task_ids, JobPaths("/stage/{job}}") if with_paths else None)
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


def _parse_rows_task_by_task(lines: list[str], jobs: list[SubmittedJob]) -> dict[str, dict[int, TaskStatus]]:
    """`slurm_parsing.parse_rows` as it was before its pending-range fast path (the reference)."""
    from lxm3.schedulers.array_jobs import parse_index_ranges
    from lxm3.schedulers.slurm_parsing import _ROW_ID, _status, map_state, parse_exit_code

    by_id = {job.job_id: job for job in jobs}
    result: dict[str, dict[int, TaskStatus]] = {}
    attempts: dict[tuple[str, int], int] = {}
    for line in lines:
        fields = line.strip().split("|")
        match = _ROW_ID.match(fields[0].strip())
        if len(fields) < 2 or match is None or match["job"] not in by_id:
            continue
        job = by_id[match["job"]]
        state, message = map_state(fields[1])
        exit_code = parse_exit_code(fields[2]) if len(fields) > 2 and state.is_terminal else None
        if match["index"] is not None:
            indices = [int(match["index"])]
        elif match["range"] is not None:
            indices = parse_index_ranges(match["range"])
        else:
            indices = [0] if job.chunk.count == 1 else []
        tasks = result.setdefault(job.job_id, {})
        for index in indices:
            if 0 <= index < job.chunk.count:
                task = job.chunk.offset + index
                attempt = attempts[(job.job_id, task)] = attempts.get((job.job_id, task), 0) + 1
                shown = message
                if attempt > 1:
                    shown = f"attempt {attempt}" + (f", {message}" if message else "")
                tasks[task] = _status(job, task, state, exit_code, shown)
    return result


def test_pending_array_ranges_parse_as_task_by_task() -> None:
    from lxm3.schedulers.slurm_parsing import parse_rows

    jobs = [SubmittedJob(str(70 + n), ArrayChunk(n * 10, 10), f"/s/e/job-{n}.sh") for n in range(4)]
    lines = [
        "70_[0-9]|PENDING|0:0",  # a whole pending array
        "71_0|COMPLETED|0:0",
        "71_1|RUNNING|0:0",
        "71_[2-9%2]|PENDING|0:0",  # its rest, throttled
        "72_3|FAILED|1:0",  # requeued: then pending again with the rest
        "72_[3-5]|PENDING|0:0",
        "72_[6,6,7]|PENDING|0:0",  # an index twice: its second row is attempt 2
        "73_[0-12]|PENDING|0:0",  # indices past the chunk are not its tasks
        "73_[1-2]|REQUEUED|0:0",
        "99_[0-3]|PENDING|0:0",  # another job
        "garbage",
    ]
    assert parse_rows(lines, jobs) == _parse_rows_task_by_task(lines, jobs)
    for job_id, tasks in parse_rows(lines, jobs).items():
        assert list(tasks) == list(_parse_rows_task_by_task(lines, jobs)[job_id])


def test_build_statuses_is_the_constructor_in_bulk() -> None:
    # build_statuses skips __init__: valid only while TaskStatus's fields have nothing for it to run.
    for field in attrs.fields(TaskStatus):
        assert field.validator is None and field.converter is None, field.name
    assert not hasattr(TaskStatus, "__attrs_post_init__")
    ids = (5, 3, 9)
    built = build_statuses(ids, TaskState.RUNNING, ["/a", None, "/c"], "j1", exit_code=2, message="m")
    assert built == [
        TaskStatus(t, TaskState.RUNNING, 2, "m", log, "j1")
        for t, log in zip(ids, ["/a", None, "/c"], strict=True)
    ]
    assert [hash(s) for s in built] == [
        hash(TaskStatus(t, TaskState.RUNNING, 2, "m", log, "j1"))
        for t, log in zip(ids, ["/a", None, "/c"], strict=True)
    ]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        built[0].index = 1  # type: ignore[misc]
    assert build_statuses((), TaskState.PENDING, [], None) == []


def test_spread_without_exit_files_is_the_general_loop() -> None:
    """`packing.spread` with no exit code at all (bulk) against its per-task loop (an unrelated code)."""
    submitted = SubmittedJob("7", ArrayChunk(300, 95, pack=10), "/s/job-0.sh")
    elements = {
        0: TaskStatus(0, TaskState.PENDING, job_id="7"),
        3: TaskStatus(3, TaskState.RUNNING, message="node1", job_id="7"),
        9: TaskStatus(9, TaskState.CANCELLED, message="by user", job_id="7"),
        5: TaskStatus(5, TaskState.FAILED, exit_code=1, job_id="7"),
    }
    bulk = packing.spread(submitted, elements, {})
    general = packing.spread(submitted, elements, {10**9: 0})  # a code of no task of this job
    assert bulk == general and list(bulk) == list(general)
    assert len(bulk) == 10 * 3 + 5  # elements 0, 3, 5 (10 tasks each) and 9 (the last 5)
