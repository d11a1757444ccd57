"""Coalesces the deploys and submissions of a burst of work units.

XManager sweeps are often written as `for hp in sweep: experiment.add(job,
args=hp)`: hundreds of work units added in a tight loop. Deploying and
submitting each one separately costs several SSH round trips per unit. The
batcher collects the jobs staged within a short window and sends them with
ONE deploy (one remote prepare command + one rsync) and ONE submit command.

A refusal affects only its own work unit: the scheduler stops at the first
refused script, so the batcher cancels that unit's chunks accepted before it,
drops the rest of that unit's scripts, fails that unit's future with the
scheduler's message, and submits the other units' remaining scripts in a
further call.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

from lxm3.schedulers.base import JobScript, SchedulerError, SubmittedJob
from lxm3.transport.base import check_result
from lxm3.xm_cluster.deploying import (
    ArtifactsMissingError,
    PresenceRecord,
    check_prepared,
    deploy,
    fast_deploy,
)
from lxm3.xm_cluster.interrupts import GUARD, Submission
from lxm3.xm_cluster.staging import StagedJob
from lxm3.xm_cluster.targets import Target

log = logging.getLogger(__name__)

#: How long to wait for more jobs of the same burst before flushing, seconds.
DEFAULT_WINDOW = 0.01


class SubmissionCutShortError(RuntimeError):
    """A submission cut short by a second interrupt: its jobs may or may not be queued."""


class Journal(Protocol):
    """Records the outcome of a batch in the store, from the submitting thread."""

    def record(
        self, jobs: Sequence[StagedJob], outcomes: Sequence[list[SubmittedJob] | BaseException]
    ) -> None:
        """Submitted jobs become job rows; failures become FAILED rows with the reason."""


class SubmitBatcher:
    """Per-target queue of staged jobs awaiting deploy + submit."""

    def __init__(
        self,
        target: Target,
        *,
        window: float = DEFAULT_WINDOW,
        on_bytes: Callable[[int], None] | None = None,
        owner: str | None = None,
        journal: Journal | None = None,
    ) -> None:
        self._target = target
        self._journal = journal
        self._window = window
        self._on_bytes = on_bytes
        self._owner = owner
        self._pending: list[tuple[StagedJob, asyncio.Future[list[SubmittedJob]]]] = []
        self._lock = threading.Lock()
        self._flush_scheduled = False

    async def submit(self, staged: StagedJob) -> list[SubmittedJob]:
        """Queues a staged job; returns its scheduler jobs once the batch is submitted."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[SubmittedJob]] = loop.create_future()
        with self._lock:
            self._pending.append((staged, future))
            if not self._flush_scheduled:
                self._flush_scheduled = True
                loop.call_later(self._window, lambda: loop.create_task(self._flush()))
        return await future

    async def _flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
            self._flush_scheduled = False
        if not batch:
            return
        jobs = [staged for staged, _ in batch]
        try:
            results = await asyncio.to_thread(self._deploy_and_submit, jobs)
        except Exception as error:  # noqa: BLE001 - every job of the batch learns why
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        for (staged, future), outcome in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
            del staged

    def _deploy_and_submit(self, jobs: Sequence[StagedJob]) -> list[list[SubmittedJob] | BaseException]:
        """Deploys and submits under the launch guard; the journal records the outcome at once.

        Recording happens here, in the thread that got the scheduler's answer,
        so an interrupt that cancels the waiting asyncio task loses nothing.
        """
        labels = [job.scripts[0].request.label if job.scripts else job.name for job in jobs]
        what = f"{', '.join(labels[:3])}{f' and {len(labels) - 3} more' if len(labels) > 3 else ''} on {self._target.name}"
        with GUARD.submission(what, abandon=lambda: self._abandon(jobs)) as submission:
            try:
                outcomes = self._deploy_then_submit(jobs, submission)
            except Exception as error:  # noqa: BLE001 - every job of the batch learns why
                outcomes = [error for _ in jobs]
            if self._journal is not None and submission.claim():
                self._journal.record(jobs, outcomes)
        return outcomes

    def _abandon(self, jobs: Sequence[StagedJob]) -> None:
        if self._journal is not None:
            reason = "lxm3 was interrupted while submitting; the scheduler may have accepted it"
            self._journal.record(jobs, [SubmissionCutShortError(reason) for _ in jobs])

    def _deploy_then_submit(
        self, jobs: Sequence[StagedJob], submission: Submission
    ) -> list[list[SubmittedJob] | BaseException]:
        """Deploys then submits; ONE remote command when the cluster already has every artifact."""
        fast = fast_deploy(jobs, self._target, owner=self._owner)
        if fast is not None:
            try:
                submission.submitting()
                return self._submit_all(jobs, first=fast)
            except ArtifactsMissingError as error:
                log.info("%s; sending it again", error)
                PresenceRecord(self._target.transport().label, jobs[0].remote_root).forget()
        sent = deploy(jobs, self._target, owner=self._owner)
        self._count(sent)
        submission.submitting()  # raises if interrupted while uploading
        return self._submit_all(jobs)

    def _count(self, sent: int) -> None:
        if self._on_bytes is not None:
            self._on_bytes(sent)

    def _run_first(self, scripts: Sequence[JobScript], first: tuple[str, str]) -> list[SubmittedJob]:
        """The fast path's one command: deploy prelude + submissions, job files on stdin."""
        prelude, payload = first
        transport = self._target.transport()
        scheduler = self._target.scheduler
        command = f"{prelude}\n{scheduler.submit_command(scripts)}"
        result = transport.run(["bash", "-c", command], input=payload, check=False)
        self._count(len(payload) + len(command))
        check_prepared(result, self._target.staging, transport.label)
        reported = any(
            line.startswith(("lxm3-submitted ", "lxm3-refused ")) for line in result.stdout.splitlines()
        )
        if result.returncode != 0 and not reported:  # the deploy part failed (mkdir, tar, ...)
            check_result(result, f"deploying job files on {transport.label}")
        return scheduler.parse_submission(result, scripts, transport.label)

    def _submit_all(
        self, jobs: Sequence[StagedJob], *, first: tuple[str, str] | None = None
    ) -> list[list[SubmittedJob] | BaseException]:
        """Submits every job's scripts, retrying past a refused unit; blocking."""
        owner: dict[str, int] = {}
        remaining: list[JobScript] = []
        for index, staged in enumerate(jobs):
            for script in staged.scripts:
                owner[script.path] = index
                remaining.append(script)
        outcomes: list[list[SubmittedJob] | BaseException] = [[] for _ in jobs]
        transport = self._target.transport()
        while remaining:
            try:
                if first is not None:
                    submitted = self._run_first(remaining, first)
                    first = None
                else:
                    submitted = self._target.scheduler.submit(transport, remaining)
                refused: SchedulerError | None = None
            except SchedulerError as error:
                submitted = list(error.submitted)
                refused = error
            for job in submitted:
                index = owner[job.script_path]
                result = outcomes[index]
                if isinstance(result, list):
                    result.append(job)
            done = {job.script_path for job in submitted}
            remaining = [script for script in remaining if script.path not in done]
            if refused is None:
                break
            if not remaining:  # pragma: no cover - a refusal always leaves its own script
                break
            failed_index = owner.get(refused.refused or "", owner[remaining[0].path])
            accepted = outcomes[failed_index]
            if isinstance(accepted, list) and accepted:
                # The unit's earlier chunks were accepted: cancel them, so a refused
                # work unit leaves nothing running that no record points to.
                self._cancel_quietly([job.job_id for job in accepted])
            outcomes[failed_index] = refused
            remaining = [script for script in remaining if owner[script.path] != failed_index]
        return outcomes

    def _cancel_quietly(self, job_ids: list[str]) -> None:
        try:
            self._target.scheduler.cancel(self._target.transport(), job_ids)
        except Exception as error:  # noqa: BLE001 - the refusal is the error to report
            log.warning("could not cancel %s after a refused submission: %s", ", ".join(job_ids), error)
