"""An in-memory backend for testing launch logic without a cluster (XManager's `xm.testing`).

`TestExperiment` records what would be launched instead of launching it:
`launched_jobs` (the jobs after args were applied) and `launched_jobs_args`
(the unit args each launch saw). Its units complete at once.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import attrs

from lxm3.xm import job_blocks
from lxm3.xm.core import Experiment
from lxm3.xm.roles import AuxiliaryUnitRole, ExperimentUnitRole
from lxm3.xm.status import ExperimentUnitStatus
from lxm3.xm.units import ExperimentUnit, WorkUnit


class TestWorkUnit(WorkUnit):
    """A work unit that records its job groups and completes immediately."""

    __test__ = False  # not a pytest test class

    def __init__(
        self, experiment: TestExperiment, work_unit_id: int, args: Any, role: ExperimentUnitRole
    ) -> None:
        super().__init__(experiment, work_unit_id, args, role)
        self._test_experiment = experiment

    async def _launch_job_group(
        self, job_group: job_blocks.JobGroup, args_view: Mapping[str, Any], dependency: Any = None
    ) -> None:
        del dependency  # nothing runs, so nothing waits
        self._test_experiment.launched_jobs.extend(job_group.jobs.values())
        self._test_experiment.launched_jobs_args.append(args_view)

    async def _wait_until_complete(self) -> None:
        """Test units are complete as soon as they are launched."""

    def stop(self) -> None:
        """Nothing runs, so there is nothing to stop."""

    def get_status(self) -> ExperimentUnitStatus:
        return ExperimentUnitStatus()


class TestExperiment(Experiment):
    """An experiment (id 1) whose units record launches instead of running them."""

    __test__ = False

    def __init__(self) -> None:
        super().__init__()
        self.launched_jobs: list[Any] = []
        self.launched_jobs_args: list[Any] = []
        self._aux_ids = itertools.count(1)

    @property
    def experiment_id(self) -> int:
        return 1

    @property
    def work_units(self) -> list[WorkUnit]:  # type: ignore[override]
        """Work units in `add` order (a list, as XManager's test experiment has it)."""
        return list(super().work_units.values())

    def _create_experiment_unit(
        self, args: Mapping[str, Any] | None, role: ExperimentUnitRole, identity: str
    ) -> ExperimentUnit:
        if isinstance(role, AuxiliaryUnitRole):
            return TestWorkUnit(self, 100000 + next(self._aux_ids), args, role)
        return TestWorkUnit(self, self._reserve_work_unit_id(), args, role)

    def _package(self, packageables: list[job_blocks.Packageable]) -> list[job_blocks.Executable]:
        return [TestExecutable() for _ in packageables]


class TestExecutable(job_blocks.Executable):
    """An executable named by a global counter ('0', '1', ...)."""

    __test__ = False
    counter = 0

    def __init__(self) -> None:
        super().__init__(name=str(TestExecutable.counter))
        TestExecutable.counter += 1


class TestExecutor(job_blocks.Executor):
    """An executor that runs nothing."""

    __test__ = False

    @classmethod
    def Spec(cls) -> job_blocks.ExecutorSpec:  # noqa: N802 - XManager's public name
        return TestExecutorSpec()


class TestExecutorSpec(job_blocks.ExecutorSpec):
    """The spec of `TestExecutor`."""

    __test__ = False


@attrs.define
class TestConstraint(job_blocks.Constraint):
    """A named constraint."""

    __test__ = False
    id: str
