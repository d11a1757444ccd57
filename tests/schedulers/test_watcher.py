"""The status watcher: one batched scheduler query per refresh, backoff, tolerance of failures."""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

import pytest

from lxm3.runtime.job_paths import JobPaths
from lxm3.schedulers import watcher as watcher_module
from lxm3.schedulers.base import ArrayChunk, JobScript, RenderRequest, Scheduler, SubmittedJob
from lxm3.schedulers.watcher import StatusWatcher, WatchedJob, poll_intervals
from lxm3.transport.base import Transport
from lxm3.transport.local import LocalTransport
from lxm3.xm.status import TaskState, TaskStatus


class FakeClock:
    """Monotonic time that only moves when the watcher sleeps (or a test sets `elapsed`)."""

    START = 1000.0  # like the real clock, far from 0

    def __init__(self) -> None:
        self.elapsed = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.START + self.elapsed

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.elapsed += seconds
        await asyncio.sleep(0)


class CountingScheduler(Scheduler):
    """Answers from a script: job -> time it finishes; counts every query and what it asked."""

    name = "fake"

    def __init__(
        self,
        clock: FakeClock,
        done_at: dict[str, float],
        *,
        fail_calls: Sequence[int] = (),
        unknown_tasks: Sequence[int] = (),
    ) -> None:
        self.clock = clock
        self.done_at = done_at
        self.fail_calls = set(fail_calls)
        self.unknown_tasks = set(unknown_tasks)
        self.calls: list[list[str]] = []
        self.lock = threading.Lock()

    def render(self, request: RenderRequest) -> str:
        raise NotImplementedError

    def submit(self, transport: Transport, scripts: Sequence[JobScript]) -> list[SubmittedJob]:
        raise NotImplementedError

    def cancel(self, transport: Transport, job_ids: Sequence[str]) -> None:
        raise NotImplementedError

    def query(self, transport: Transport, jobs: Sequence[SubmittedJob]) -> dict[str, dict[int, TaskStatus]]:
        with self.lock:
            self.calls.append([job.job_id for job in jobs])
            if len(self.calls) in self.fail_calls:
                raise RuntimeError("sacct: error: slurmdbd not responding")
        result = {}
        for job in jobs:
            done = self.clock.elapsed >= self.done_at[job.job_id]
            state = TaskState.COMPLETED if done else TaskState.RUNNING
            result[job.job_id] = {
                task: TaskStatus(task, state, exit_code=0 if done else None, job_id=job.job_id)
                for task in job.chunk.task_ids
                if task not in self.unknown_tasks
            }
        return result


def make_jobs(count: int, tasks: int = 4, prefix: str = "j") -> list[SubmittedJob]:
    return [SubmittedJob(f"{prefix}{n}", ArrayChunk(0, tasks), f"/s/{prefix}{n}.sh") for n in range(count)]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(watcher_module, "time", SimpleNamespace(monotonic=fake.monotonic))
    monkeypatch.setattr(
        watcher_module, "asyncio", SimpleNamespace(sleep=fake.sleep, to_thread=asyncio.to_thread)
    )
    return fake


def make_watcher(scheduler: Scheduler) -> tuple[StatusWatcher, list[Transport]]:
    made: list[Transport] = []

    def factory() -> Transport:
        made.append(LocalTransport())
        return made[-1]

    return StatusWatcher(scheduler, factory), made


def test_one_query_covers_every_watched_job(clock: FakeClock) -> None:
    jobs = make_jobs(50)
    scheduler = CountingScheduler(clock, {job.job_id: 10.0 for job in jobs})
    watcher, _ = make_watcher(scheduler)
    watcher.watch(jobs[:20])
    watcher.watch(jobs[20:])
    watcher.refresh()
    assert watcher.queries == 1
    assert scheduler.calls == [[job.job_id for job in jobs]]
    assert {s.state for s in watcher.statuses(jobs).values()} == {TaskState.RUNNING}
    assert len(watcher.statuses(jobs)) == 4, "statuses are keyed by task id"


def test_finished_jobs_are_dropped_from_later_queries(clock: FakeClock) -> None:
    jobs = make_jobs(10)
    scheduler = CountingScheduler(
        clock, {job.job_id: (0.0 if n % 2 == 0 else 5.0) for n, job in enumerate(jobs)}
    )
    watcher, _ = make_watcher(scheduler)
    watcher.watch(jobs)
    watcher.refresh()
    assert watcher.all_final(jobs[0::2]) and not watcher.all_final(jobs)
    watcher.refresh()
    assert scheduler.calls[1] == [job.job_id for job in jobs[1::2]]
    clock.elapsed = 6.0
    watcher.refresh()
    assert watcher.all_final(jobs)
    watcher.refresh()
    assert watcher.queries == 3, "nothing left to ask about: no query"
    assert all(s.state is TaskState.COMPLETED for s in watcher.statuses(jobs).values())


def test_a_fresh_enough_refresh_is_reused(clock: FakeClock) -> None:
    jobs = make_jobs(3)
    scheduler = CountingScheduler(clock, {job.job_id: 100.0 for job in jobs})
    watcher, _ = make_watcher(scheduler)
    watcher.watch(jobs)
    watcher.refresh()
    clock.elapsed = 1.0
    watcher.refresh(max_age=2.0)
    assert watcher.queries == 1
    watcher.refresh(max_age=0.5)
    assert watcher.queries == 2


def test_tasks_the_scheduler_does_not_report_are_pending_and_keep_the_job_open(clock: FakeClock) -> None:
    [job] = make_jobs(1)
    scheduler = CountingScheduler(clock, {job.job_id: 0.0}, unknown_tasks=[2])
    watcher, _ = make_watcher(scheduler)
    watcher.watch([job])
    assert watcher.statuses([job])[0].state is TaskState.PENDING, "never queried yet"
    watcher.refresh()
    statuses = watcher.statuses([job])
    assert statuses[2].state is TaskState.PENDING and statuses[0].state is TaskState.COMPLETED
    assert not watcher.all_final([job])


def test_a_failing_query_is_tolerated_and_retried(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    jobs = make_jobs(2)
    scheduler = CountingScheduler(clock, {job.job_id: 0.0 for job in jobs}, fail_calls=[1])
    watcher, _ = make_watcher(scheduler)
    watcher.watch(jobs)
    watcher.refresh()
    assert (watcher.queries, watcher.errors) == (1, 1)
    assert "slurmdbd not responding" in caplog.text
    assert not watcher.all_final(jobs)
    watcher.refresh()
    assert (watcher.queries, watcher.errors) == (2, 1) and watcher.all_final(jobs)


def test_wait_survives_failing_queries(clock: FakeClock) -> None:
    jobs = make_jobs(3)
    scheduler = CountingScheduler(clock, {job.job_id: 2.0 for job in jobs}, fail_calls=[2, 3, 4])
    watcher, _ = make_watcher(scheduler)
    final = asyncio.run(watcher.wait(jobs))
    assert {s.state for s in final.values()} == {TaskState.COMPLETED}
    assert watcher.errors == 3


def test_wait_backs_off_to_the_configured_cap(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LXM3_POLL_MAX_INTERVAL", "2")
    jobs = make_jobs(5)
    scheduler = CountingScheduler(clock, {job.job_id: 20.0 for job in jobs})
    watcher, transports = make_watcher(scheduler)
    asyncio.run(watcher.wait(jobs))
    sleeps = clock.sleeps
    assert sleeps[0] == pytest.approx(0.2)
    assert all(b >= a for a, b in itertools.pairwise(sleeps)), "intervals never shrink"
    assert sleeps[1] == pytest.approx(0.3) and max(sleeps) == pytest.approx(2.0)
    assert sleeps.count(2.0) >= 5, "levels off at the cap"
    assert watcher.queries == len(sleeps) + 1, "one query per poll, no more"
    assert all(len(call) == 5 for call in scheduler.calls)
    assert len(transports) == watcher.queries


def test_poll_intervals_sequence() -> None:
    intervals = poll_intervals(start=0.5, cap=3.0, factor=2.0)
    assert [intervals() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_poll_interval_cap_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LXM3_POLL_MAX_INTERVAL", "0.3")
    intervals = poll_intervals()
    assert [intervals() for _ in range(3)] == [0.2, 0.3, 0.3]


def test_concurrent_waiters_share_queries() -> None:
    """Real time: two units waiting on one cluster ask the scheduler together, not each."""
    clock = FakeClock()
    first, second = make_jobs(4, prefix="a"), make_jobs(4, prefix="b")
    scheduler = CountingScheduler(clock, {job.job_id: 1.0 for job in first + second})
    watcher, _ = make_watcher(scheduler)
    watcher.watch(first + second)

    async def both() -> None:
        async def tick() -> None:
            while clock.elapsed < 1.0:
                await asyncio.sleep(0.05)
                clock.elapsed += 0.05

        await asyncio.gather(watcher.wait(first), watcher.wait(second), tick())

    asyncio.run(both())
    for call in scheduler.calls:
        assert any(job.startswith("a") for job in call) == any(job.startswith("b") for job in call), call
    assert watcher.queries <= 7, f"{watcher.queries} queries for two waiters over ~1 s"


class ScriptedScheduler(CountingScheduler):
    """Reports the same state for every task (what a lagging `sacct` says)."""

    def __init__(self, clock: FakeClock, state: TaskState) -> None:
        super().__init__(clock, {})
        self.state = state

    def query(self, transport: Transport, jobs: Sequence[SubmittedJob]) -> dict[str, dict[int, TaskStatus]]:
        self.calls.append([job.job_id for job in jobs])
        return {
            job.job_id: {task: TaskStatus(task, self.state, job_id=job.job_id) for task in job.chunk.task_ids}
            for job in jobs
        }


def test_a_completion_file_ends_a_task_the_scheduler_still_lists_running(
    clock: FakeClock, tmp_path: Path
) -> None:
    # sacct lags the runner by seconds: the `.exit` file is the first word, as in submitit.
    paths = JobPaths(str(tmp_path))
    Path(paths.log_dir).mkdir()
    watcher, _ = make_watcher(ScriptedScheduler(clock, TaskState.RUNNING))
    job = WatchedJob.of(SubmittedJob("7", ArrayChunk(0, 3), "/s.sh"), paths=paths)
    watcher.watch([job])
    Path(paths.log(0, "exit")).write_text("0\n")
    Path(paths.log(1, "exit")).write_text("3\n")
    watcher.refresh()
    states = watcher.statuses([job])
    assert [states[t].state for t in range(3)] == [TaskState.COMPLETED, TaskState.FAILED, TaskState.RUNNING]
    assert states[1].exit_code == 3 and states[1].log_path == paths.log(1, "err")
    Path(paths.log(2, "exit")).write_text("0\n")
    watcher.refresh()
    assert watcher.all_final([job]), "ended by its files while the scheduler still says RUNNING"
    watcher.refresh()
    assert len(watcher._scheduler.calls) == 2, "a job ended by its files is no longer asked about"  # type: ignore[attr-defined]


def test_a_task_the_scheduler_cancelled_stays_cancelled(clock: FakeClock, tmp_path: Path) -> None:
    paths = JobPaths(str(tmp_path))
    Path(paths.log_dir).mkdir()
    Path(paths.log(0, "exit")).write_text("143\n")  # the runner saw SIGTERM
    running, _ = make_watcher(ScriptedScheduler(clock, TaskState.RUNNING))
    job = WatchedJob.of(SubmittedJob("8", ArrayChunk(0, 1), "/s.sh"), paths=paths)
    running.watch([job])
    running.refresh()
    assert running.statuses([job])[0].state is TaskState.RUNNING, "killed by a signal: ask the scheduler why"
    cancelled, _ = make_watcher(ScriptedScheduler(clock, TaskState.CANCELLED))
    cancelled.watch([job])
    cancelled.refresh()
    status = cancelled.statuses([job])[0]
    assert (status.state, status.exit_code) == (TaskState.CANCELLED, 143)


def test_a_rerun_maps_array_positions_to_its_tasks(clock: FakeClock, tmp_path: Path) -> None:
    # A rerun of tasks 7 and 2 is an array of 2 whose index map names them.
    paths = JobPaths(str(tmp_path))
    Path(paths.log_dir).mkdir()
    Path(paths.log(7, "exit")).write_text("0\n")
    watcher, _ = make_watcher(ScriptedScheduler(clock, TaskState.RUNNING))
    job = WatchedJob.of(SubmittedJob("9", ArrayChunk(0, 2), "/s.sh"), task_ids=[7, 2], paths=paths)
    watcher.watch([job])
    watcher.refresh()
    states = watcher.statuses([job])
    assert sorted(states) == [2, 7]
    assert (states[7].state, states[2].state) == (TaskState.COMPLETED, TaskState.RUNNING)


@pytest.mark.parametrize("pack", [1, 4])
def test_no_completion_files_are_read_while_every_array_task_is_pending(
    clock: FakeClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pack: int
) -> None:
    # A held sweep: none of its tasks ran, so `lxm3 status` asks the scheduler and nothing else.
    paths = JobPaths(str(tmp_path))
    Path(paths.log_dir).mkdir()
    reads: list[Sequence[str]] = []
    real_read = watcher_module.read_exit_files

    def counted(transport: Transport, log_dirs: Sequence[str]) -> list[dict[int, int]]:
        reads.append(list(log_dirs))
        return real_read(transport, log_dirs)

    monkeypatch.setattr(watcher_module, "read_exit_files", counted)
    scheduler = ScriptedScheduler(clock, TaskState.PENDING)
    watcher, _ = make_watcher(scheduler)
    job = WatchedJob.of(SubmittedJob("5", ArrayChunk(0, 8, pack=pack), "/x/job-0.sh"), paths=paths)
    watcher.watch([job])
    watcher.refresh()
    assert reads in ([], [[]]), "no log dir read while everything is pending"
    assert {s.state for s in watcher.statuses([job]).values()} == {TaskState.PENDING}
    scheduler.state = TaskState.RUNNING
    watcher.refresh()
    assert reads[-1], "once an array task runs, its tasks' files are read"
