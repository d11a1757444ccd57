"""Task states and how a unit's status is derived from its tasks."""

from __future__ import annotations

import itertools

import pytest

from lxm3 import xm
from lxm3.xm.status import aggregate_state

S = xm.TaskState


def unit(*states: xm.TaskState) -> xm.ExperimentUnitStatus:
    return xm.ExperimentUnitStatus(tuple(xm.TaskStatus(i, state) for i, state in enumerate(states)))


def test_terminal_states() -> None:
    assert {s for s in S if s.is_terminal} == {S.COMPLETED, S.FAILED, S.CANCELLED}


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ((), S.UNKNOWN),
        ((S.COMPLETED, S.COMPLETED), S.COMPLETED),
        ((S.COMPLETED, S.RUNNING, S.FAILED), S.RUNNING),
        ((S.COMPLETED, S.PENDING, S.FAILED), S.PENDING),
        ((S.COMPLETED, S.UNKNOWN), S.PENDING),
        ((S.COMPLETED, S.FAILED, S.CANCELLED), S.FAILED),
        ((S.COMPLETED, S.CANCELLED), S.CANCELLED),
    ],
)
def test_aggregate_state_active_beats_failed_beats_cancelled(
    states: tuple[xm.TaskState, ...], expected: xm.TaskState
) -> None:
    assert aggregate_state(states) is expected
    assert unit(*states).state is expected


def test_aggregate_is_order_independent() -> None:
    states = [S.COMPLETED, S.FAILED, S.CANCELLED, S.RUNNING]
    results = {aggregate_state(p) for p in itertools.permutations(states)}
    assert results == {S.RUNNING}


def test_unit_predicates() -> None:
    done = unit(S.COMPLETED, S.COMPLETED)
    assert done.is_completed and not done.is_active and not done.is_failed and not done.is_cancelled
    failed = unit(S.COMPLETED, S.FAILED)
    assert failed.is_failed and not failed.is_active and not failed.is_completed
    running = unit(S.PENDING, S.RUNNING)
    assert running.is_active and not running.is_completed
    cancelled = unit(S.CANCELLED)
    assert cancelled.is_cancelled and not cancelled.is_active


def test_counts_and_message() -> None:
    status = unit(S.COMPLETED, S.COMPLETED, S.FAILED, S.COMPLETED)
    assert status.counts() == {"COMPLETED": 3, "FAILED": 1}
    assert status.message == "failed (3 completed, 1 failed)"
    assert xm.ExperimentUnitStatus().message == "unknown"


def test_launch_error_means_failed_whatever_the_tasks_say() -> None:
    status = xm.ExperimentUnitStatus(
        (xm.TaskStatus(0, S.COMPLETED),), launch_error="sbatch: invalid partition"
    )
    assert status.state is S.FAILED and status.is_failed
    assert status.message == "launch failed: sbatch: invalid partition"


def test_task_status_carries_detail_and_is_immutable() -> None:
    task = xm.TaskStatus(4, S.FAILED, exit_code=3, message="OUT_OF_MEMORY", log_path="/x/4.err", job_id="12")
    assert (task.index, task.exit_code, task.log_path, task.job_id) == (4, 3, "/x/4.err", "12")
    with pytest.raises(AttributeError):
        task.state = S.COMPLETED  # type: ignore[misc]
