"""What a finished work unit's task states mean for its caller: done, failed or cancelled.

Shared by launched units (`work_unit`), units reloaded from the store
(`reloaded`) and the launch's exit (`experiment`), so a failure reads the
same whichever way the unit was waited on.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from lxm3 import xm
from lxm3.xm.status import TaskState, TaskStatus

if TYPE_CHECKING:
    from lxm3.xm_cluster.work_unit import ClusterWorkUnit


def raise_for_outcome(
    experiment_id: int, work_unit_id: int, outcomes: Iterable[tuple[int, TaskStatus, str]]
) -> None:
    """Raises the unit's typed error if a task failed or was cancelled.

    `outcomes` are the unit's final `(task, status, stderr log path)`; shared by
    launched units and units reloaded from the store (`xm_cluster.get_experiment`).
    """
    failures: list[str] = []
    failed: list[TaskStatus] = []
    cancelled = 0
    for task, status, err_log in outcomes:
        if status.state is TaskState.FAILED:
            failed.append(status)
            code = "?" if status.exit_code is None else status.exit_code
            detail = f" ({status.message})" if status.message else ""
            failures.append(f"task {task} exit code {code}{detail}, log {err_log}")
        elif status.state is TaskState.CANCELLED:
            cancelled += 1
    if failures:
        shown = "; ".join(failures[:5]) + (f"; and {len(failures) - 5} more" if len(failures) > 5 else "")
        raise xm.ExperimentUnitFailedError(
            f"work unit {work_unit_id} of experiment {experiment_id}: {len(failures)} task(s) failed: {shown}",
            failures=failed,
        )
    if cancelled:
        raise xm.ExperimentUnitNotCompletedError(
            f"work unit {work_unit_id} of experiment {experiment_id}: {cancelled} task(s) cancelled"
        )


def failed_local_tasks(unit: ClusterWorkUnit) -> list[str]:
    """`work unit W task T (exit code C)` for each of the unit's Local tasks that did not complete."""
    failed = []
    for job, statuses in unit.task_statuses(refresh=False):
        if not job.target.is_local:
            continue
        for task, status in sorted(statuses.items()):
            if status.state in (TaskState.FAILED, TaskState.CANCELLED):
                code = "?" if status.exit_code is None else status.exit_code
                failed.append(f"work unit {unit.work_unit_id} task {task} (exit code {code})")
    return failed
