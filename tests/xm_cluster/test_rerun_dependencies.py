"""Re-arming dependents on `lxm3 rerun`: held on the rerun's new jobs, or decided now."""

from __future__ import annotations

from typing import Any

import pytest

from lxm3.schedulers.base import ArrayChunk, SubmittedJob
from lxm3.schedulers.dependency import ResolvedDependency
from lxm3.xm.dependencies import DependencyError
from lxm3.xm.status import TaskState, TaskStatus
from lxm3.xm_cluster.dependency_status import Edge
from lxm3.xm_cluster.rerun_dependencies import NEVER, rerun_dependency, rerun_scope


def edge(on: int, condition: str, *, mode: str = "all", per_task: bool = False, experiment: int = 5) -> Edge:
    return Edge(5, 9, mode, experiment, on, condition, per_task)


class Job:
    num_tasks = 2

    class first:  # noqa: N801 - what StoredJob.first offers
        log_dir = "/s/experiments/5/1/job/logs"


def states(*values: TaskState) -> list[TaskStatus]:
    return [TaskStatus(i, state) for i, state in enumerate(values)]


RESUBMITTED: dict[int, list[tuple[Any, list[SubmittedJob]]]] = {
    1: [(Job(), [SubmittedJob("77", ArrayChunk(0, 1), "/s/job-a2-0.sh")])]
}
DONE = {2: states(TaskState.COMPLETED), 3: states(TaskState.FAILED)}


def test_a_rerun_predecessor_is_waited_on_through_its_new_jobs() -> None:
    resolved = rerun_dependency(5, 9, [edge(1, "succeeded")], RESUBMITTED, DONE)
    assert isinstance(resolved, ResolvedDependency)
    [term] = resolved.terms
    assert (term.job_ids, term.condition, term.what) == (["77"], "succeeded", "work unit 1")


def test_a_predecessor_not_rerun_is_decided_from_how_it_ended() -> None:
    assert rerun_dependency(5, 9, [edge(2, "succeeded")], {}, DONE) is None
    assert rerun_dependency(5, 9, [edge(3, "succeeded")], {}, DONE) == NEVER
    assert rerun_dependency(5, 9, [edge(3, "failed")], {}, DONE) is None
    assert (
        rerun_dependency(5, 9, [edge(3, "succeeded", mode="any"), edge(2, "succeeded", mode="any")], {}, DONE)
        is None
    )
    both = rerun_dependency(5, 9, [edge(1, "succeeded"), edge(2, "succeeded")], RESUBMITTED, DONE)
    assert isinstance(both, ResolvedDependency) and [t.work_unit_id for t in both.terms] == [1]


def test_what_a_rerun_cannot_re_arm_is_an_error() -> None:
    with pytest.raises(DependencyError, match="task by task"):
        rerun_dependency(5, 9, [edge(1, "succeeded", per_task=True)], RESUBMITTED, DONE)
    with pytest.raises(DependencyError, match="another experiment"):
        rerun_dependency(5, 9, [edge(1, "succeeded", experiment=4)], {}, DONE)


class Store:
    def dependencies(self, experiment_id: int) -> list[dict[str, Any]]:
        rows = [(2, 1), (3, 2), (4, 1)]  # 2 <- 1, 3 <- 2, 4 <- 1
        return [
            {
                "experiment_id": 5,
                "work_unit_id": wu,
                "mode": "all",
                "on_experiment_id": 5,
                "on_work_unit_id": on,
                "condition": "succeeded",
                "per_task": 0,
            }
            for wu, on in rows
        ]


def test_rerunning_a_unit_takes_its_dependents_along_to_re_arm_them() -> None:
    assert rerun_scope(Store(), 5, [1]) == {1: False, 2: True, 3: True, 4: True}
    assert rerun_scope(Store(), 5, [2]) == {2: False, 3: True}
    assert rerun_scope(Store(), 5, None) == {}
