"""The backend-agnostic Experiment / WorkUnit machinery, driven by a tiny in-test backend."""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

import pytest

from lxm3 import xm


def async_test(function: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
    """Runs an async test in a fresh event loop (no pytest-asyncio needed)."""

    @functools.wraps(function)
    def wrapper() -> None:
        asyncio.run(asyncio.wait_for(function(), timeout=30))

    return wrapper


class FakeExecutor(xm.Executor):
    @classmethod
    def Spec(cls) -> xm.ExecutorSpec:
        return xm.ExecutorSpec.__new__(xm.ExecutorSpec)  # type: ignore[type-abstract]


def job(name: str = "trainer", **kwargs: Any) -> xm.Job:
    return xm.Job(xm.Executable(name=name), FakeExecutor(), **kwargs)


class FakeUnit(xm.WorkUnit):
    """Launching = recording the jobs (after an optional delay); env vars steer failures."""

    def __init__(self, experiment: FakeExperiment, *args: Any, **kwargs: Any) -> None:
        super().__init__(experiment, *args, **kwargs)
        self.fake = experiment
        self.jobs: list[tuple[str, list[Any], dict[str, str]]] = []
        self.finished = threading.Event()
        self.stopped = False

    async def _launch_job_group(self, job_group: xm.JobGroup, args_view: Mapping[str, Any]) -> None:
        jobs = list(job_group.jobs.items())
        delay = max((float(j.env_vars.get("DELAY", 0)) for _, j in jobs), default=0.0)  # type: ignore[union-attr]
        await asyncio.sleep(delay)
        for name, inner in jobs:
            assert isinstance(inner, xm.Job)
            if "REFUSE" in inner.env_vars:
                raise RuntimeError(f"scheduler refused {name}: {inner.env_vars['REFUSE']}")
            self.jobs.append((name, inner.args.to_list(), dict(inner.env_vars)))
            if "EXIT" in inner.env_vars:
                self.exit_code = int(inner.env_vars["EXIT"])
        with self.fake.lock:
            self.fake.launch_order.append(self.work_unit_id)
        if not any("HOLD" in j.env_vars for _, j in jobs):  # type: ignore[union-attr]
            self.finished.set()

    async def _wait_until_complete(self) -> None:
        while not self.finished.is_set():
            await asyncio.sleep(0.01)
        code = getattr(self, "exit_code", 0)
        if code:
            raise xm.ExperimentUnitFailedError(
                f"task 0 exit code {code}, log /logs/0.err",
                failures=[xm.TaskStatus(0, xm.TaskState.FAILED, code)],
            )

    def stop(self) -> None:
        self.stopped = True
        self.finished.set()

    def get_status(self) -> xm.ExperimentUnitStatus:
        state = xm.TaskState.COMPLETED if self.finished.is_set() else xm.TaskState.RUNNING
        return xm.ExperimentUnitStatus((xm.TaskStatus(0, state),))


class FakeExperiment(xm.Experiment):
    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.launch_order: list[int] = []
        self.exits: list[bool] = []
        self.packaged: list[str] = []

    @property
    def experiment_id(self) -> int:
        return 42

    def _package(self, packageables: list[xm.Packageable]) -> list[xm.Executable]:
        names = [p.executable_spec.name for p in packageables]
        self.packaged.extend(names)
        return [xm.Executable(name=name) for name in names]

    def _create_experiment_unit(
        self, args: Mapping[str, Any] | None, role: xm.ExperimentUnitRole, identity: str
    ) -> xm.ExperimentUnit:
        return FakeUnit(self, self._reserve_work_unit_id(), args, role, identity)

    async def _on_exit(self, abrupt: bool) -> None:
        self.exits.append(abrupt)


def units(futures: list[xm.UnitFuture[Any]]) -> list[FakeUnit]:
    return [future.result(timeout=10) for future in futures]


# ----- ids and ordering -----


def test_work_unit_ids_follow_add_order_while_launches_finish_in_reverse() -> None:
    count = 6
    with FakeExperiment() as experiment:
        futures = [
            experiment.add(job(env_vars={"DELAY": 0.05 * (count - i)}), args={"args": {"i": i}})
            for i in range(count)
        ]
        added = units(futures)
    assert [u.work_unit_id for u in added] == list(range(1, count + 1))
    for i, unit in enumerate(added):
        assert unit.jobs[0][1] == [f"--i={i}"], "each unit launched its own add's args"
        assert unit.experiment_unit_name == f"42_{i + 1}" == unit.work_unit_name
        assert unit.experiment_id == 42 and unit.experiment is experiment
    assert experiment.launch_order == list(range(count, 0, -1)), "launches ran concurrently"
    assert list(experiment.work_units) == list(range(1, count + 1))
    assert experiment.work_unit_count == count


@async_test
async def test_async_with_ids_in_add_order_with_concurrent_launches() -> None:
    async with FakeExperiment() as experiment:
        futures = [
            experiment.add(job(env_vars={"DELAY": 0.03 * (5 - i)}), args={"args": [i]}) for i in range(5)
        ]
        added = await asyncio.gather(*futures)
        assert [u.work_unit_id for u in added] == [1, 2, 3, 4, 5]
        assert [u.jobs[0][1] for u in added] == [["0"], ["1"], ["2"], ["3"], ["4"]]
        assert experiment.launch_order == [5, 4, 3, 2, 1]
    assert experiment.exits == [False]


def test_launches_run_concurrently_not_one_after_another() -> None:
    started = time.monotonic()
    with FakeExperiment() as experiment:
        for _ in range(10):
            experiment.add(job(env_vars={"DELAY": 0.2}))
    elapsed = time.monotonic() - started
    assert elapsed < 1.0, f"10 launches of 0.2 s each took {elapsed:.2f} s"
    assert sorted(experiment.launch_order) == list(range(1, 11))


def test_with_block_waits_for_every_launch_before_exiting() -> None:
    with FakeExperiment() as experiment:
        future = experiment.add(job(env_vars={"DELAY": 0.2}))
        assert not future.done()
    assert future.done() and experiment.launch_order == [1]
    assert experiment.exits == [False]


# ----- add: jobs, groups, generators -----


def test_add_returns_future_whose_result_is_the_unit_with_its_args() -> None:
    with FakeExperiment() as experiment:
        future = experiment.add(job(args={"seed": 0}), args={"args": {"seed": 5}, "env_vars": {"E": "1"}})
        unit = future.result(timeout=10)
        assert future.done()
    assert isinstance(unit, FakeUnit)
    assert unit.jobs == [("trainer", ["--seed=5"], {"E": "1"})]
    assert unit.args == {"args": {"seed": 5}, "env_vars": {"E": "1"}}


def test_add_does_not_mutate_the_callers_job() -> None:
    original = job(args={"seed": 0})
    with FakeExperiment() as experiment:
        experiment.add(original, args={"args": {"seed": 1}})
        experiment.add(original, args={"args": {"seed": 2}})
    assert original.args.to_list() == ["--seed=0"]
    assert [u.jobs[0][1] for u in experiment.work_units.values()] == [["--seed=1"], ["--seed=2"]]  # type: ignore[attr-defined]


def test_job_group_args_are_routed_by_job_name() -> None:
    group = xm.JobGroup(learner=job("l", args={"role": "l"}), actor=job("a"))
    with FakeExperiment() as experiment:
        unit = experiment.add(group, args={"actor": {"args": {"n": 3}}}).result(timeout=10)
    assert unit.jobs == [("learner", ["--role=l"], {}), ("actor", ["--n=3"], {})]  # type: ignore[attr-defined]


def test_job_generator_receives_the_unit_and_keyword_args() -> None:
    seen: list[tuple[int, dict[str, Any]]] = []

    async def generator(work_unit: xm.WorkUnit, **kwargs: Any) -> None:
        seen.append((work_unit.work_unit_id, kwargs))
        await work_unit.add(job("first", args={"lr": kwargs["lr"]}))
        await work_unit.add(job("second", args=[kwargs["seed"]]))

    with FakeExperiment() as experiment:
        experiment.add(job("plain"))
        unit = experiment.add(generator, args={"lr": 0.1, "seed": 7}).result(timeout=10)
    assert seen == [(2, {"lr": 0.1, "seed": 7})]
    assert unit.work_unit_id == 2 and unit.args == {"lr": 0.1, "seed": 7}
    assert unit.jobs == [("first", ["--lr=0.1"], {}), ("second", ["7"], {})]  # type: ignore[attr-defined]


@async_test
async def test_job_generator_in_async_code() -> None:
    async def generator(work_unit: xm.WorkUnit, *, seed: int) -> None:
        await work_unit.add(job(args={"seed": seed}))

    async with FakeExperiment() as experiment:
        added = await asyncio.gather(*(experiment.add(generator, args={"seed": s}) for s in range(3)))
    assert [(u.work_unit_id, u.jobs[0][1]) for u in added] == [
        (1, ["--seed=0"]),
        (2, ["--seed=1"]),
        (3, ["--seed=2"]),
    ]


def test_non_job_is_rejected_with_a_clear_type_error() -> None:
    def not_async(work_unit: xm.WorkUnit) -> None:
        del work_unit

    with FakeExperiment() as experiment:
        with pytest.raises(TypeError, match="async job generator"):
            experiment.add(not_async)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"xm\.Job"):
            experiment.add("python train.py")  # type: ignore[arg-type]


def test_add_outside_the_context_is_an_error() -> None:
    experiment = FakeExperiment()
    with pytest.raises(RuntimeError, match="inside `with` or `async with`"):
        experiment.add(job())
    assert experiment.work_units == {}, "a refused add must not leave a unit behind"
    with experiment:
        assert experiment.add(job()).result(timeout=10).work_unit_id == 1


# ----- waiting -----


def test_wait_until_complete_blocks_in_sync_code() -> None:
    with FakeExperiment() as experiment:
        unit = experiment.add(job(env_vars={"HOLD": "1"})).result(timeout=10)
        threading.Timer(0.3, unit.finished.set).start()  # type: ignore[attr-defined]
        started = time.monotonic()
        result = unit.wait_until_complete()
        waited = time.monotonic() - started
    assert result is unit
    assert waited >= 0.25, "returned before the unit finished"


@async_test
async def test_wait_until_complete_is_awaitable_in_async_code() -> None:
    async with FakeExperiment() as experiment:
        unit = await experiment.add(job(env_vars={"HOLD": "1"}))
        waiter = unit.wait_until_complete()
        assert inspect.isawaitable(waiter)
        task = asyncio.ensure_future(waiter)
        await asyncio.sleep(0.1)
        assert not task.done(), "the wait must not finish while the unit runs"
        unit.finished.set()  # type: ignore[attr-defined]
        assert await asyncio.wait_for(task, 5) is unit


def test_wait_until_complete_after_the_context_closed() -> None:
    with FakeExperiment() as experiment:
        unit = experiment.add(job()).result(timeout=10)
    assert unit.wait_until_complete() is unit


def test_failed_unit_raises_experiment_unit_failed_error_with_failures() -> None:
    with FakeExperiment() as experiment:
        unit = experiment.add(job(env_vars={"EXIT": "3"})).result(timeout=10)
        with pytest.raises(xm.ExperimentUnitFailedError, match="exit code 3") as error:
            unit.wait_until_complete()
    assert isinstance(error.value, xm.WorkUnitFailedError) and isinstance(error.value, xm.ExperimentUnitError)
    assert [f.exit_code for f in error.value.failures] == [3]  # type: ignore[attr-defined]


@async_test
async def test_failed_unit_raises_in_async_code_too() -> None:
    async with FakeExperiment() as experiment:
        unit = await experiment.add(job(env_vars={"EXIT": "9"}))
        with pytest.raises(xm.ExperimentUnitFailedError, match="exit code 9"):
            await unit.wait_until_complete()


# ----- launch errors -----


def test_launch_error_surfaces_from_result_wait_and_the_with_block() -> None:
    experiment = FakeExperiment()
    with pytest.raises(RuntimeError, match="scheduler refused trainer: no partition") as exited, experiment:
        ok = experiment.add(job())
        bad = experiment.add(job(env_vars={"REFUSE": "no partition"}))
        with pytest.raises(RuntimeError, match="no partition"):
            bad.result(timeout=10)
        unit = experiment.work_units[2]
        with pytest.raises(xm.ExperimentUnitError, match=r"42_2 failed to launch: .*no partition"):
            unit.wait_until_complete()
        assert ok.result(timeout=10).work_unit_id == 1
    assert "no partition" in str(exited.value)


@async_test
async def test_launch_error_surfaces_from_await_and_async_with() -> None:
    with pytest.raises(RuntimeError, match="bad account"):
        async with FakeExperiment() as experiment:
            future = experiment.add(job(env_vars={"REFUSE": "bad account"}))
            with pytest.raises(RuntimeError, match="bad account"):
                await future


def test_exception_in_the_body_closes_abruptly_and_propagates() -> None:
    experiment = FakeExperiment()
    with pytest.raises(KeyError), experiment:
        experiment.add(job())
        raise KeyError("boom")
    assert experiment.exits == [True]
    assert experiment.launch_order == [1], "launches already started are still drained"


def test_experiment_cannot_be_entered_twice() -> None:
    with FakeExperiment() as experiment, pytest.raises(RuntimeError, match="already open"):
        experiment.__enter__()


# ----- packaging and helpers -----


class NamedSpec(xm.ExecutableSpec):
    def __init__(self, name: str) -> None:
        self._name = name

    @property
    def name(self) -> str:
        return self._name


def test_package_keeps_order_and_package_async_builds_one() -> None:
    spec = xm.ExecutorSpec.__new__(xm.ExecutorSpec)  # type: ignore[type-abstract]
    experiment = FakeExperiment()
    built = experiment.package([xm.Packageable(NamedSpec(n), spec) for n in ("a", "b", "c")])
    assert [e.name for e in built] == ["a", "b", "c"]
    single = asyncio.run(experiment.package_async(xm.Packageable(NamedSpec("d"), spec)))
    assert single.name == "d" and experiment.packaged == ["a", "b", "c", "d"]


def test_run_in_asyncio_loop_runs_an_async_main() -> None:
    @xm.run_in_asyncio_loop
    async def main(argv: list[str]) -> str:
        await asyncio.sleep(0)
        return "ran " + " ".join(argv)

    assert main(["a", "b"]) == "ran a b"
    assert main.__name__ == "main"


def test_roles() -> None:
    assert xm.WorkUnitRole() == xm.WorkUnitRole()
    assert xm.AuxiliaryUnitRole(termination_delay_secs=5).termination_delay_secs == 5
    with FakeExperiment() as experiment:
        unit = experiment.add(job(), role=xm.WorkUnitRole(), identity="run-a").result(timeout=10)
    assert unit.identity == "run-a" and unit.role == xm.WorkUnitRole()
    assert unit.get_full_job_name("trainer") == "42_1_trainer"
