"""Writes a launch's job rows the moment the scheduler answers, from the submitting thread.

Before, the asyncio task awaiting a submission wrote the store row; an
interrupt that cancelled the task left jobs running that no row pointed to
(`lxm3 cancel` could not reach them). The journal is called by the batcher in
the thread that submitted, so what the scheduler accepted is recorded even if
the task waiting for it is gone. A job the scheduler refused, or a submission
cut short by a second interrupt, is recorded as FAILED with the reason, so
`lxm3 status` never shows a launch that failed as "UNKNOWN, no job recorded".
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

import attrs

from lxm3.schedulers.base import SubmittedJob
from lxm3.store.db import ExperimentStore
from lxm3.xm.status import TaskState
from lxm3.xm_cluster.interrupts import GUARD, LaunchInterruptedError
from lxm3.xm_cluster.staging import StagedJob
from lxm3.xm_cluster.targets import Target

log = logging.getLogger(__name__)


@attrs.frozen
class PendingJob:
    """What the store needs about a staged job besides its scheduler jobs."""

    work_unit_id: int
    executor: Any
    target: Target
    label: str
    #: An array-limit refusal will be retried (re-split): not recorded as a failure.
    retry_array_limit: bool = False


class StoreJournal:
    """The batcher's journal for one experiment: staged job -> store row."""

    def __init__(self, store: ExperimentStore, experiment_id: int) -> None:
        self._store = store
        self._experiment_id = experiment_id
        self._pending: dict[int, tuple[StagedJob, PendingJob]] = {}
        self._lock = threading.Lock()
        #: Rows written, by staged job (the launching task reads it back).
        self.rows: dict[int, int] = {}

    def expect(self, staged: StagedJob, pending: PendingJob) -> None:
        """Registers a staged job before it is handed to the batcher."""
        with self._lock:
            self._pending[id(staged)] = (staged, pending)

    def record(
        self, jobs: Sequence[StagedJob], outcomes: Sequence[list[SubmittedJob] | BaseException]
    ) -> None:
        for staged, outcome in zip(jobs, outcomes, strict=True):
            with self._lock:
                entry = self._pending.pop(id(staged), None)
            if entry is None or isinstance(outcome, LaunchInterruptedError):
                continue  # not ours, or never submitted: nothing runs, nothing to record
            pending = entry[1]
            if (
                isinstance(outcome, BaseException)
                and pending.retry_array_limit
                and pending.target.scheduler.is_array_limit_refusal(str(outcome))
            ):
                continue  # the unit re-splits and submits again (experiment._submit)
            if isinstance(outcome, BaseException):
                self._write(staged, pending, [], failure=str(outcome) or type(outcome).__name__)
            else:
                self._write(staged, pending, outcome)
                GUARD.note_recorded(self._experiment_id, [job.job_id for job in outcome])

    def _write(
        self,
        staged: StagedJob,
        pending: PendingJob,
        submitted: list[SubmittedJob],
        failure: str | None = None,
    ) -> None:
        try:
            record = staged.record(pending.target, submitted, pending.executor, label=pending.label)
            row = self._store.add_job(self._experiment_id, pending.work_unit_id, record)
            if failure is not None:
                message = f"not launched: {failure}"
                self._store.set_final(
                    {
                        row: {
                            task: {"state": TaskState.FAILED.value, "exit_code": None, "message": message}
                            for task in range(staged.num_tasks)
                        }
                    }
                )
        except Exception as error:  # noqa: BLE001 - the launch's own error is the one to report
            log.warning("could not record job %s in %s: %s", staged.name, self._store.path, error)
            return
        with self._lock:
            self.rows[id(staged)] = row
