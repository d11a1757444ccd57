"""A task the user cancelled is CANCELLED, however the stop signal landed.

`lxm3 cancel` records its intent per job row (`lxm3.store.cancel_requests`).
A task of such a row that ended FAILED because it was killed by a signal
(exit 128+SIGINT/SIGKILL/SIGTERM, as the runner writes it when scancel/qdel
stops the program), or that ended with no exit code at all, is shown as
CANCELLED: the scheduler's own CANCELLED wins anyway, this covers the race
where the completion file is read first or the scheduler has forgotten the job.
A task that failed on its own before the cancel (any other exit code) stays FAILED.
"""

from __future__ import annotations

import signal

import attrs

from lxm3.xm.status import TaskState, TaskStatus

#: Exit codes of a program stopped by a signal lxm3 or the scheduler sends to cancel.
_STOP_CODES = frozenset(128 + s for s in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL))


def as_cancelled(status: TaskStatus) -> TaskStatus:
    """The status of a task of a job row the user cancelled."""
    if status.state is TaskState.FAILED and (status.exit_code is None or status.exit_code in _STOP_CODES):
        return attrs.evolve(
            status, state=TaskState.CANCELLED, message=status.message or "cancelled (lxm3 cancel)"
        )
    return status


def apply(statuses: dict[int, TaskStatus]) -> dict[int, TaskStatus]:
    return {task: as_cancelled(status) for task, status in statuses.items()}
