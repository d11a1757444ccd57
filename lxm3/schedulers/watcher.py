"""One shared status watcher per cluster: one scheduler query per poll.

Every watched job registers here, whether this process launched it or
reloaded it from the store. A refresh asks the scheduler about ALL unfinished
watched jobs in a single query (never one per job or per task), and reads
their completion files (`<task>.exit`) with one more command, since the
runner writes those seconds before the scheduler's accounting catches up
(`completion.combine` decides between the two). Tasks that reached a final
state are cached and their jobs dropped from later queries. Waiters share
refreshes: a refresh younger than the caller's poll interval is reused. A
failing query is logged and tolerated (the next poll retries), since one
flaky `sacct` must not kill a week-long wait.

A caller may have small files read with a refresh (`refresh_reading`): the
reads ride on the scheduler query's own command (`file_reads`), so a
parameter controller's journal costs no extra round trip.
"""

from __future__ import annotations

import itertools
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs

from lxm3.runtime.job_paths import JobPaths
from lxm3.schedulers import packing
from lxm3.schedulers.base import Scheduler, SubmittedJob
from lxm3.schedulers.completion import combine, read_exit_files
from lxm3.schedulers.file_reads import RidingReads
from lxm3.transport.base import Transport
from lxm3.xm.status import TaskState, TaskStatus, all_terminal, build_statuses

log = logging.getLogger(__name__)


def __getattr__(name: str) -> Any:
    """`asyncio`, imported when a caller first waits (PEP 562).

    `lxm3 status` and `lxm3 list` read states through this module and never
    wait: they skip asyncio's import (and its ssl). Looked up as a module
    attribute, so a test can replace it.
    """
    if name == "asyncio":
        import asyncio

        globals()["asyncio"] = asyncio
        return asyncio
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def poll_intervals(start: float = 0.2, cap: float | None = None, factor: float = 1.5) -> Callable[[], float]:
    """Intervals that ramp up after a submission and level off at `cap` seconds."""
    if cap is None:
        cap = float(os.environ.get("LXM3_POLL_MAX_INTERVAL", "10"))
    state = {"next": start}

    def next_interval() -> float:
        current = state["next"]
        state["next"] = min(cap, current * factor)
        return current

    return next_interval


@attrs.frozen
class WatchedJob:
    """A submitted scheduler job, the global task at each array position, and where its files are.

    A launch's chunk runs the contiguous tasks `offset..offset+count-1`; a
    rerun's runs any tasks, through an index map, so positions are mapped here.
    Without `paths` only the scheduler is asked (no completion files).
    """

    submitted: SubmittedJob
    task_ids: tuple[int, ...]
    paths: JobPaths | None = None

    @classmethod
    def of(
        cls, submitted: SubmittedJob, task_ids: Sequence[int] | None = None, paths: JobPaths | None = None
    ) -> WatchedJob:
        ids = tuple(submitted.chunk.task_ids) if task_ids is None else tuple(int(t) for t in task_ids)
        return cls(submitted, ids, paths)

    @property
    def job_id(self) -> str:
        return self.submitted.job_id

    def positions(self) -> list[tuple[int, int]]:
        """(task id the scheduler reports, global task id) for each array position."""
        offset = self.submitted.chunk.offset
        return [(offset + position, task) for position, task in enumerate(self.task_ids)]


def _log_dir(job: WatchedJob) -> str:
    return job.paths.log_dir if job.paths is not None else packing.log_dir(job.submitted)


def _spread(job: WatchedJob, elements: dict[int, TaskStatus], codes: dict[int, int]) -> dict[int, TaskStatus]:
    """A packed job's states by global task: its array tasks' states and each task's completion file."""
    spread = packing.spread(job.submitted, elements, codes, job.task_ids)
    offset = job.submitted.chunk.offset
    launch_chunk = job.task_ids == tuple(range(offset, offset + len(job.task_ids)))
    if launch_chunk and len(spread) == len(job.task_ids):
        return spread  # a launch's chunk, every task reported: keyed by global id already
    if launch_chunk:
        # Keys are the global ids already; the tasks of unreported array tasks are pending (the
        # loop below, without a tuple and two lookups per task): all pending, in order, then the
        # reported ones put in their places.
        ids = job.task_ids
        pending = build_statuses(ids, TaskState.PENDING, itertools.repeat(None), job.job_id)
        states = dict(zip(ids, pending, strict=True))
        states.update(spread)
        return states
    states = {}
    for key, task in job.positions():
        found = spread.get(key)
        if found is None:
            states[task] = TaskStatus(task, TaskState.PENDING, job_id=job.job_id)
        elif found.index == task:
            states[task] = found  # a launch's chunk: positions are the global ids already
        else:
            states[task] = TaskStatus(
                task, found.state, found.exit_code, found.message, found.log_path, found.job_id
            )
    return states


def _brace_safe(prefix: str, suffix: str) -> str:
    """`prefix + suffix` as a `str.format` pattern whose only field is in `suffix`."""
    return prefix.replace("{", "{{").replace("}", "}}") + suffix


def combine_job(
    job: WatchedJob, known: dict[int, TaskStatus], exit_codes: dict[int, int]
) -> dict[int, TaskStatus]:
    """An unpacked job's states by global task: `combine` of the scheduler's word and each exit file.

    Keyed and ordered by the job's positions. Without any exit code (a held or
    queued sweep: 100,000 tasks on each `lxm3 status`) `combine` reduces to two
    cases, built here inline; the result is the same.
    """
    job_id = job.job_id
    log_dir = job.paths.log_dir if job.paths is not None else None
    if exit_codes:
        return {
            task: combine(
                task,
                known.get(key),
                exit_codes.get(task),
                job_id,
                f"{log_dir}/{task}.err" if log_dir is not None else None,
            )
            for key, task in job.positions()
        }
    pending, unknown = TaskState.PENDING, TaskState.UNKNOWN
    offset = job.submitted.chunk.offset
    ids = job.task_ids
    if len(known) * 4 < len(ids):
        # Few tasks reported (a queued array shows as one row): all pending first, built in
        # bulk, then the reported ones replaced in place (the order stays the positions').
        logs: Iterable[str | None] = (
            itertools.repeat(None) if log_dir is None else map(_brace_safe(log_dir, "/{}.err").format, ids)
        )
        states = dict(zip(ids, build_statuses(ids, pending, logs, job_id), strict=True))
        for key, reported in known.items():
            position = key - offset
            if 0 <= position < len(ids) and reported.state is not unknown:
                task = ids[position]
                log = states[task].log_path
                states[task] = TaskStatus(
                    task,
                    reported.state,
                    reported.exit_code,
                    reported.message,
                    log or reported.log_path,
                    reported.job_id or job_id,
                )
        return states
    states = {}
    for key, task in zip(range(offset, offset + len(ids)), ids, strict=True):
        log = f"{log_dir}/{task}.err" if log_dir is not None else None
        said = known.get(key)
        if said is None or said.state is unknown:
            states[task] = TaskStatus(task, pending, None, "", log, job_id)
        else:  # final or active: the scheduler's word, with this task's log
            states[task] = TaskStatus(
                task, said.state, said.exit_code, said.message, log or said.log_path, said.job_id or job_id
            )
    return states


def _watched(job: SubmittedJob | WatchedJob) -> WatchedJob:
    return job if isinstance(job, WatchedJob) else WatchedJob.of(job)


class StatusWatcher:
    """Batched status of every watched job on one cluster (one scheduler)."""

    def __init__(self, scheduler: Scheduler, transport_factory: Callable[[], Transport]) -> None:
        self._scheduler = scheduler
        self._transport_factory = transport_factory
        self._lock = threading.Lock()
        self._jobs: dict[str, WatchedJob] = {}
        #: What the scheduler last said, by job id and the task id it reports.
        self._reported: dict[str, dict[int, TaskStatus]] = {}
        #: Combined states by job id and global task id.
        self._states: dict[str, dict[int, TaskStatus]] = {}
        self._final: set[str] = set()
        self._last_refresh = 0.0
        #: When each job was last asked about (a caller may reuse a query that covered its jobs).
        self._asked: dict[str, float] = {}
        #: Number of scheduler queries made (benchmarks and tests read it).
        self.queries = 0
        self.errors = 0

    def watch(self, jobs: Sequence[SubmittedJob | WatchedJob]) -> None:
        with self._lock:
            for job in map(_watched, jobs):
                known = self._jobs.get(job.job_id)
                if known is None or (job.paths is not None and known.paths is None):
                    self._jobs[job.job_id] = job

    def _unfinished(self) -> list[WatchedJob]:
        return [job for job_id, job in self._jobs.items() if job_id not in self._final]

    def refresh(self, max_age: float = 0.0, *, strict: bool = False) -> None:
        """Queries the scheduler once for all unfinished jobs, unless fresh enough.

        A failure is counted, and logged, or with `strict` raised to the caller instead.
        """
        with self._lock:
            if time.monotonic() - self._last_refresh < max_age:
                return
            self._refresh_locked(strict)

    def refresh_covering(
        self, jobs: Sequence[SubmittedJob | WatchedJob], max_age: float = 0.0, *, strict: bool = False
    ) -> None:
        """`refresh`, unless every one of `jobs` is final or was asked about in the last `max_age` s.

        Unlike `refresh`'s global age, a job watched since the last refresh is
        never taken as covered by it.
        """
        with self._lock:
            now = time.monotonic()
            if all(
                (job_id := _watched(job).job_id) in self._final
                or now - self._asked.get(job_id, -1e9) < max_age
                for job in jobs
            ):
                return
            self._refresh_locked(strict)

    def refresh_reading(self, paths: Sequence[str], *, strict: bool = False) -> dict[str, str | None]:
        """Refreshes now and reads `paths` (path -> text, None when missing) in the same command.

        The reads ride on the scheduler query's command; with no job to ask
        about, or a scheduler that ran no command, they take one of their own.
        A failed query raises here when `strict`; the files are then unread.
        """
        with self._lock:
            reads = RidingReads(self._transport_factory(), paths)
            self._refresh_locked(strict, reads)
            if reads.contents is None:
                return reads.read_alone()
            return reads.contents

    def _refresh_locked(self, strict: bool, transport: Transport | None = None) -> None:
        pending = self._unfinished()
        try:
            if pending:
                self._refresh(pending, strict, transport)
        except Exception as error:  # tolerated (retried next poll) unless strict
            self.errors += 1
            if strict:
                raise
            log.warning("status query failed (will retry): %s", error)
        finally:
            self._last_refresh = time.monotonic()
            for job in pending:
                self._asked[job.job_id] = self._last_refresh

    def _refresh(
        self, pending: list[WatchedJob], strict: bool = False, transport: Transport | None = None
    ) -> None:
        transport = transport or self._transport_factory()
        self.queries += 1
        # Packed jobs come back per array task; `packing.spread` below gives each task its state.
        reported = self._scheduler.query_tasks(
            transport, [job.submitted for job in pending], exit_codes=False
        )
        for job_id, tasks in reported.items():
            self._reported.setdefault(job_id, {}).update(tasks)
        for job in pending:
            if job.job_id not in reported:  # forgotten by the scheduler: its last word is stale
                self._reported.pop(job.job_id, None)
        # Completion files only where the scheduler's word is not the whole story yet, and not
        # for a job none of whose array tasks started (all reported PENDING: no task ran, so no
        # file to read; a held 100,000-task sweep then costs `lxm3 status` one command, not two).
        log_dirs = sorted(
            {
                _log_dir(job)
                for job in pending
                if (
                    job.submitted.chunk.pack > 1
                    or (
                        job.paths is not None
                        and not self._scheduler.knows_exit_codes_first
                        and not self._settled(job)
                    )
                )
                and not self._unstarted(job)
            }
        )
        try:
            codes = dict(zip(log_dirs, read_exit_files(transport, log_dirs), strict=True))
        except Exception as error:
            if strict:
                raise
            self.errors += 1
            log.warning("reading completion files failed (will retry): %s", error)
            codes = {}
        for job in pending:
            known = self._reported.get(job.job_id, {})
            exit_codes = codes.get(_log_dir(job), {})
            if job.submitted.chunk.pack > 1:
                states = _spread(job, known, exit_codes)
            else:
                states = combine_job(job, known, exit_codes)
            self._states[job.job_id] = states
            if all_terminal(states.values()):
                self._final.add(job.job_id)
                self._reported.pop(job.job_id, None)  # its states are kept once, in `_states`

    def _unstarted(self, job: WatchedJob) -> bool:
        """Whether the scheduler reported every array task of `job`, all PENDING."""
        known = self._reported.get(job.job_id, {})
        size = job.submitted.chunk.array_size if job.submitted.chunk.pack > 1 else len(job.task_ids)
        return len(known) >= size and all(status.state is TaskState.PENDING for status in known.values())

    def _settled(self, job: WatchedJob) -> bool:
        """Whether the scheduler reported every task of `job` final, with its exit code."""
        known = self._reported.get(job.job_id, {})
        offset = job.submitted.chunk.offset
        return all(
            (s := known.get(key)) is not None and s.state.is_terminal and s.exit_code is not None
            for key in range(offset, offset + len(job.task_ids))
        )

    def statuses(self, jobs: Sequence[SubmittedJob | WatchedJob]) -> dict[int, TaskStatus]:
        """Latest known status of each (global) task of `jobs` (PENDING if not yet seen)."""
        with self._lock:
            result: dict[int, TaskStatus] = {}
            for job in map(_watched, jobs):
                states = self._states.get(job.job_id, {})
                if len(states) == len(job.task_ids) and all(map(states.__contains__, job.task_ids)):
                    # The usual case: a refresh gave every task a state, keyed and ordered as the
                    # positions (see `_refresh`), so the loop below would copy them one by one.
                    result.update(states)
                    continue
                for _, task in job.positions():
                    result[task] = states.get(task) or TaskStatus(task, TaskState.PENDING, job_id=job.job_id)
            return result

    def reported(self, jobs: Sequence[SubmittedJob | WatchedJob]) -> bool:
        """Whether the scheduler has reported every one of `jobs` at least once."""
        with self._lock:
            return all(
                _watched(job).job_id in self._reported or _watched(job).job_id in self._final for job in jobs
            )

    def all_final(self, jobs: Sequence[SubmittedJob | WatchedJob]) -> bool:
        with self._lock:
            return all(_watched(job).job_id in self._final for job in jobs)

    async def wait(self, jobs: Sequence[SubmittedJob | WatchedJob]) -> dict[int, TaskStatus]:
        """Returns when every task of `jobs` is final, polling with backoff."""
        asyncio = sys.modules[__name__].asyncio  # imported on first use, see `__getattr__`
        self.watch(jobs)
        next_interval = poll_intervals(start=self._scheduler.first_poll_interval)
        interval = next_interval()
        # Reuse a refresh younger than the pause just taken (another waiter's), not the
        # next, longer one: that skipped every other poll while the intervals ramped up.
        max_age = interval * 0.9
        while True:
            await asyncio.to_thread(self.refresh, max_age)
            if self.all_final(jobs):
                return self.statuses(jobs)
            await asyncio.sleep(interval)
            max_age = interval * 0.9
            interval = next_interval()
