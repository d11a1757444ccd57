"""One shared status watcher per cluster: one scheduler query per poll.

Every launched job registers here. A refresh asks the scheduler about ALL
unfinished watched jobs in a single query (never one per job or per task);
tasks that reached a final state are cached and their jobs dropped from later
queries. Waiters share refreshes: a refresh younger than the caller's poll
interval is reused. A failing query is logged and tolerated (the next poll
retries), since one flaky `sacct` must not kill a week-long wait.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence

from lxm3.schedulers.base import Scheduler, SubmittedJob
from lxm3.transport.base import Transport
from lxm3.xm.status import TaskState, TaskStatus

log = logging.getLogger(__name__)


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


class StatusWatcher:
    """Batched status of every watched job on one cluster (one scheduler)."""

    def __init__(self, scheduler: Scheduler, transport_factory: Callable[[], Transport]) -> None:
        self._scheduler = scheduler
        self._transport_factory = transport_factory
        self._lock = threading.Lock()
        self._jobs: dict[str, SubmittedJob] = {}
        #: Jobs whose every task reached a final state (their states stay in `_latest`).
        self._final: set[str] = set()
        self._latest: dict[str, dict[int, TaskStatus]] = {}
        self._last_refresh = 0.0
        #: Number of scheduler queries made (benchmarks and tests read it).
        self.queries = 0
        self.errors = 0

    def watch(self, jobs: Sequence[SubmittedJob]) -> None:
        with self._lock:
            for job in jobs:
                self._jobs[job.job_id] = job

    def _unfinished(self) -> list[SubmittedJob]:
        return [job for job_id, job in self._jobs.items() if job_id not in self._final]

    def refresh(self, max_age: float = 0.0) -> None:
        """Queries the scheduler once for all unfinished jobs, unless fresh enough."""
        with self._lock:
            if time.monotonic() - self._last_refresh < max_age:
                return
            pending = self._unfinished()
            if not pending:
                self._last_refresh = time.monotonic()
                return
            try:
                statuses = self._scheduler.query_tasks(self._transport_factory(), pending)
            except Exception as error:  # noqa: BLE001 - tolerated, retried next poll
                self.errors += 1
                log.warning("status query failed (will retry): %s", error)
                self._last_refresh = time.monotonic()
                return
            finally:
                self.queries += 1
            for job_id, tasks in statuses.items():
                self._latest.setdefault(job_id, {}).update(tasks)
            for job in pending:
                known = self._latest.get(job.job_id, {})
                # No per-job copies: a 100,000-task sweep's wait must fit in its launch's memory.
                if all(
                    (status := known.get(task)) is not None and status.state.is_terminal
                    for task in job.chunk.task_ids
                ):
                    self._final.add(job.job_id)
            self._last_refresh = time.monotonic()

    def statuses(self, jobs: Sequence[SubmittedJob]) -> dict[int, TaskStatus]:
        """Latest known status of each task of `jobs` (PENDING if not yet seen)."""
        with self._lock:
            result: dict[int, TaskStatus] = {}
            for job in jobs:
                known = self._latest.get(job.job_id, {})
                for task in job.chunk.task_ids:
                    result[task] = known.get(task) or TaskStatus(task, TaskState.PENDING, job_id=job.job_id)
            return result

    def all_final(self, jobs: Sequence[SubmittedJob]) -> bool:
        with self._lock:
            return all(job.job_id in self._final for job in jobs)

    async def wait(self, jobs: Sequence[SubmittedJob]) -> dict[int, TaskStatus]:
        """Returns when every task of `jobs` is final, polling with backoff."""
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
