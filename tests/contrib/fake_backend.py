"""An in-process xm backend for testing the search logic without a scheduler.

Each unit "runs" by sleeping and evaluating an objective of its args; it
reports the result the way a task reports through $LXM_METRICS_FILE (as
`metrics()`), or fails. The real schedulers are covered by the e2e tests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any

from lxm3 import xm


class FakeUnit(xm.WorkUnit):
    def __init__(self, experiment: FakeExperiment, work_unit_id: int, args: Mapping[str, Any] | None) -> None:
        super().__init__(experiment, work_unit_id, args, xm.WorkUnitRole())
        self.fake = experiment
        self.result: dict[str, float] = {}
        self.error: str | None = None
        self.start = self.end = 0.0

    async def _launch_job_group(self, job_group: xm.JobGroup, args_view: Mapping[str, Any]) -> None:
        self.fake.running += 1
        self.fake.peak = max(self.fake.peak, self.fake.running)
        self.start = time.monotonic()
        self._task = asyncio.ensure_future(self._run(dict(self.args.get("args", {}))))

    async def _run(self, params: dict[str, Any]) -> None:
        try:
            await asyncio.sleep(self.fake.duration(params))
            outcome = self.fake.objective(params)
            if isinstance(outcome, Exception):
                self.error = str(outcome)
            elif outcome is not None:
                self.result = {"loss": outcome, "step": 1}
        finally:
            self.end = time.monotonic()
            self.fake.running -= 1

    async def _wait_until_complete(self) -> None:
        await asyncio.shield(self._task)  # like a real job, it outlives a cancelled wait
        if self.error:
            raise xm.ExperimentUnitFailedError(f"work unit {self.work_unit_id} failed: {self.error}")

    def metrics(self) -> dict[int, dict[str, float]]:
        return {0: dict(self.result)}

    def stop(self) -> None:
        self._task.cancel()

    def get_status(self) -> xm.ExperimentUnitStatus:
        return xm.ExperimentUnitStatus()


class FakeExperiment(xm.Experiment):
    def __init__(
        self,
        objective: Callable[[dict[str, Any]], Any],
        duration: Callable[[dict[str, Any]], float] = lambda params: 0.01,
        experiment_id: int = 4242,
    ) -> None:
        super().__init__()
        self.objective = objective
        self.duration = duration
        self.running = 0
        self.peak = 0
        self._id = experiment_id

    @property
    def experiment_id(self) -> int:
        return self._id

    def _package(self, packageables: list[xm.Packageable]) -> list[xm.Executable]:
        return [xm.Executable(name="fake") for _ in packageables]

    def _create_experiment_unit(
        self, args: Mapping[str, Any] | None, role: xm.ExperimentUnitRole, identity: str
    ) -> xm.ExperimentUnit:
        return FakeUnit(self, self._reserve_work_unit_id(), args)


class FakeExecutor(xm.Executor):
    @classmethod
    def Spec(cls) -> xm.ExecutorSpec:
        raise NotImplementedError


def fake_job() -> xm.Job:
    return xm.Job(executable=xm.Executable(name="fake"), executor=FakeExecutor())
