"""XManager's unit semantics, on the in-memory backend `lxm3.xm.testing`.

work_units as a mapping property, completion awaitables that name their unit,
cancellable adds, readable unit names, auxiliary units, launched jobs and
metadata, and XManager's errors for misuse.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from lxm3 import xm
from lxm3.xm import testing
from lxm3.xm.core import Experiment


def run(coroutine_function: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(asyncio.wait_for(coroutine_function(), timeout=30))


def job(name: str | None = None, **kwargs: Any) -> xm.Job:
    return xm.Job(testing.TestExecutable(), testing.TestExecutor(), name=name, **kwargs)


class Gate:
    """A job generator that waits until released (to catch a unit mid-launch)."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.cancelled = threading.Event()

    async def __call__(self, work_unit: xm.WorkUnit) -> None:
        self.started.set()
        try:
            while not self.release.is_set():
                await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise


def test_work_units_is_a_mapping_property_keyed_by_id() -> None:
    class MappingExperiment(testing.TestExperiment):
        work_units = Experiment.work_units  # the base property, not the test list

    experiment = MappingExperiment()
    with experiment:
        experiment.add(job("a"))
        experiment.add(job("b"))
        experiment.add(job("aux"), role=xm.AuxiliaryUnitRole(termination_delay_secs=0))
    units = experiment.work_units
    assert list(units) == [1, 2] and units[1].work_unit_id == 1
    assert [unit.role for unit in experiment.auxiliary_units()] == [
        xm.AuxiliaryUnitRole(termination_delay_secs=0)
    ]


def test_test_experiment_records_launches_like_xmanagers() -> None:
    experiment = testing.TestExperiment()
    with experiment:
        learner = job(args={"x": 1}, env_vars={"EDITOR": "vi"})
        experiment.add(
            xm.JobGroup(learner=learner, actor=job(args=["--a=1"])),
            args={"learner": {"args": {"x": 3}, "env_vars": {"TURBO": "ON"}}, "actor": {"args": ["--b"]}},
        )
    launched_learner, launched_actor = experiment.launched_jobs
    assert launched_learner.args == xm.SequentialArgs.from_collection({"x": 3})
    assert launched_learner.env_vars == {"EDITOR": "vi", "TURBO": "ON"}
    assert launched_actor.args == xm.SequentialArgs.from_collection(["--a=1", "--b"])
    assert (launched_learner.name, launched_actor.name) == ("learner", "actor")
    assert learner.env_vars == {"EDITOR": "vi"} and learner.name is None  # the caller's job is untouched


def test_str_of_a_work_unit_names_experiment_and_unit() -> None:
    with testing.TestExperiment() as experiment:
        unit = experiment.add(job("a")).result(timeout=10)
    assert str(unit) == "WorkUnit(experiment_id=1, work_unit_id=1)"
    assert unit.get_full_job_name("train") == "1_1_train"


def test_wait_until_complete_returns_an_awaitable_naming_its_unit() -> None:
    async def main() -> None:
        async with testing.TestExperiment() as experiment:
            first = await experiment.add(job("a"))
            second = await experiment.add(job("b"))
            waits = [first.wait_until_complete(), second.wait_until_complete()]
            assert isinstance(waits[0], xm.WorkUnitCompletedAwaitable) and waits[0].work_unit is first
            done, _ = await asyncio.wait([asyncio.ensure_future(w) for w in waits])
            assert {task.result() for task in done} == {first, second}

    run(main)


def test_wait_until_complete_blocks_in_sync_code() -> None:
    with testing.TestExperiment() as experiment:
        unit = experiment.add(job("a")).result(timeout=10)
        assert unit.wait_until_complete() is unit


def test_a_failed_launch_fails_the_wait_with_the_unit_named() -> None:
    async def refuse(work_unit: xm.WorkUnit) -> None:
        raise RuntimeError("no nodes")

    async def main() -> None:
        with pytest.raises(RuntimeError, match="no nodes"):
            async with testing.TestExperiment() as experiment:
                experiment.add(refuse)
                with pytest.raises(xm.ExperimentUnitError, match="could not be created") as error:
                    await experiment.work_units[0].wait_until_complete()
                assert error.value.work_unit is experiment.work_units[0]

    run(main)


def test_add_can_be_cancelled_before_its_launch_finishes() -> None:
    gate = Gate()
    with testing.TestExperiment() as experiment:
        future = experiment.add(gate)
        assert gate.started.wait(timeout=10)
        assert future.cancel() is True
        assert gate.cancelled.wait(timeout=10)
    assert future.cancelled() and experiment.launched_jobs == []


def test_add_can_be_cancelled_in_async_code() -> None:
    async def main() -> None:
        gate = Gate()
        async with testing.TestExperiment() as experiment:
            future = experiment.add(gate)
            while not gate.started.is_set():
                await asyncio.sleep(0.01)
            assert future.cancel()
            with pytest.raises(asyncio.CancelledError):
                await future
        assert gate.cancelled.is_set()

    run(main)


def test_auxiliary_unit_job_adds_an_auxiliary_unit() -> None:
    experiment = testing.TestExperiment()
    with experiment:
        aux = xm.AuxiliaryUnitJob(job("tensorboard"), importance=xm.Importance.LOW, termination_delay_secs=60)
        unit = experiment.add(aux).result(timeout=10)
    assert unit.role == xm.AuxiliaryUnitRole(importance=xm.Importance.LOW, termination_delay_secs=60)
    assert [j.name for j in experiment.launched_jobs] == ["tensorboard"]
    assert experiment.work_units == []


def test_launched_jobs_and_context() -> None:
    with testing.TestExperiment() as experiment:
        unit = experiment.add(xm.JobGroup(a=job(), b=xm.JobGroup(c=job()))).result(timeout=10)
    assert unit.launched_jobs == [xm.LaunchedJob(name="a"), xm.LaunchedJob(name="b_c")]
    experiment.context.annotations.set_title("sweep")
    experiment.context.annotations.add_tags("a", "b", "a")
    assert experiment.context.annotations.title == "sweep" and experiment.context.annotations.tags == [
        "a",
        "b",
    ]
    assert isinstance(unit.context, xm.MetadataContext) and unit.context.creator


def test_sync_generator_is_xmanagers_value_error() -> None:
    def not_async(work_unit: xm.WorkUnit) -> None:
        del work_unit

    experiment = testing.TestExperiment()
    with pytest.raises(ValueError, match="Job generator must be an async function"), experiment:
        experiment.add(not_async)  # type: ignore[arg-type]
    assert experiment.work_units == [], "a refused job creates no unit"


def test_sync_with_inside_a_coroutine_is_refused() -> None:
    async def main() -> None:
        with pytest.raises(RuntimeError, match="please use `async with`"), testing.TestExperiment():
            pass

    run(main)


def test_waiting_covers_jobs_a_generator_adds_without_awaiting() -> None:
    slow = Gate()

    async def generator(work_unit: xm.WorkUnit) -> None:
        work_unit.add(slow)  # not awaited, as XManager scripts often do

    with testing.TestExperiment() as experiment:
        unit = experiment.add(generator).result(timeout=10)
        assert slow.started.wait(timeout=10)
        waited = threading.Thread(target=unit.wait_until_complete)
        waited.start()
        waited.join(timeout=0.3)
        assert waited.is_alive(), "the wait returned before the generator's own add finished"
        slow.release.set()
        waited.join(timeout=10)
        assert not waited.is_alive()
