"""A recorded job across its attempts: which attempt owns each task (and so its state and logs).

Attempt 1 is the launch; `lxm3 rerun` adds attempts that run some of its
tasks again. A task's state and logs are those of its latest attempt.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from lxm3.store.records import JobRecord

#: One attempt of a job: a row of the store's jobs table.
JobAttempt = JobRecord


@attrs.define
class StoredJob:
    """A job of a work unit across all its attempts."""

    experiment_id: int
    work_unit_id: int
    name: str
    attempts: list[JobRecord]

    @property
    def num_tasks(self) -> int:
        return self.attempts[0].num_tasks

    @property
    def first(self) -> JobRecord:
        return self.attempts[0]

    def owners(self) -> dict[int, JobRecord]:
        """The latest attempt of each task (which decides its state and holds its logs)."""
        owners: dict[int, JobRecord] = {}
        for attempt in sorted(self.attempts, key=lambda a: (a.attempt, a.row_id)):
            for task in attempt.task_ids:
                owners[task] = attempt
        return owners

    def log_path(self, task: int, stream: str = "out") -> str:
        owner = self.owners().get(task, self.first)
        return owner.log_path(task, stream)


def group_jobs(experiment_id: int, rows: Iterable[Mapping[str, Any] | JobRecord]) -> list[StoredJob]:
    """Store rows -> jobs with their attempts, in (work unit, first submission) order."""
    jobs: dict[tuple[int, str], StoredJob] = {}
    for row in rows:
        record = row if isinstance(row, JobRecord) else JobRecord.from_row(row)
        key = (record.work_unit_id, record.name)
        job = jobs.get(key)
        if job is None:
            job = jobs[key] = StoredJob(experiment_id, key[0], key[1], [])
        job.attempts.append(record)
    return sorted(jobs.values(), key=lambda j: (j.work_unit_id, j.first.row_id))
