"""Experiments and their units: the backend-agnostic heart of the launch API.

A launch script opens an `Experiment` (`with` or `async with`), packages
executables and `add`s jobs; each `add` creates a work unit whose id is
reserved at once (1, 2, ... in `add` order, so args can mention it) and whose
launch runs asynchronously. A backend subclasses `Experiment` and
`ExperimentUnit` and fills in a few hooks: create a unit, launch a job group,
wait, stop, status. The sync facade runs an event loop in a background thread,
as XManager does, so blocking calls and job generators both work.
"""

from __future__ import annotations

import abc
import asyncio
import concurrent.futures
import inspect
import threading
from collections.abc import Awaitable, Coroutine, Generator, Mapping, Sequence
from typing import Any, Generic, TypeVar

import attrs

from lxm3.xm import job_blocks
from lxm3.xm.errors import ExperimentUnitError
from lxm3.xm.status import ExperimentUnitStatus

T = TypeVar("T")


class ExperimentUnitRole(abc.ABC):
    """Why a unit exists: a work unit of the sweep, or an auxiliary helper."""


@attrs.frozen
class WorkUnitRole(ExperimentUnitRole):
    """A unit of the experiment's sweep, numbered 1, 2, ..."""


@attrs.frozen
class AuxiliaryUnitRole(ExperimentUnitRole):
    """A helper unit (e.g. a TensorBoard) that is not part of the sweep."""

    termination_delay_secs: int = 0


@attrs.frozen
class AuxiliaryUnitJob:
    """A job to add as an auxiliary unit (XManager's name), e.g. a parameter controller.

    `experiment.add(AuxiliaryUnitJob(job))` gives the unit `AuxiliaryUnitRole`,
    so it gets no work unit id of the sweep.
    """

    job: Any
    termination_delay_secs: int = attrs.field(default=0, kw_only=True)


def _in_running_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class UnitFuture(Generic[T]):
    """What `add` returns: awaitable in async code, `.result()` in sync code."""

    def __init__(self, future: concurrent.futures.Future[T] | asyncio.Future[T]) -> None:
        self._future = future

    def result(self, timeout: float | None = None) -> T:
        """Blocks until the launch finished (sync code only) and returns its value."""
        if isinstance(self._future, concurrent.futures.Future):
            return self._future.result(timeout)
        return self._future.result()

    def done(self) -> bool:
        return self._future.done()

    def __await__(self) -> Generator[Any, None, T]:
        if isinstance(self._future, concurrent.futures.Future):
            return asyncio.wrap_future(self._future).__await__()
        return self._future.__await__()


class ExperimentUnit(abc.ABC):
    """A collection of jobs launched together (a work unit or an auxiliary unit)."""

    def __init__(
        self,
        experiment: Experiment,
        args: Mapping[str, Any] | None,
        role: ExperimentUnitRole,
        identity: str = "",
    ) -> None:
        self._experiment = experiment
        self._args = dict(args or {})
        self._role = role
        self._identity = identity
        self._launched = threading.Event()
        self._launch_error: BaseException | None = None

    @property
    def experiment(self) -> Experiment:
        return self._experiment

    @property
    def experiment_id(self) -> int:
        return self._experiment.experiment_id

    @property
    def role(self) -> ExperimentUnitRole:
        return self._role

    @property
    def identity(self) -> str:
        return self._identity

    @property
    def args(self) -> Mapping[str, Any]:
        """The unit's arguments as given to `experiment.add` (its sweep point)."""
        return self._args

    @property
    @abc.abstractmethod
    def experiment_unit_name(self) -> str:
        """A name unique within the experiment, e.g. `12_3`."""

    def get_full_job_name(self, job_name: str) -> str:
        return f"{self.experiment_unit_name}_{job_name}"

    def add(self, job: job_blocks.JobType, args: Mapping[str, Any] | None = None) -> UnitFuture[None]:
        """Adds a Job, JobGroup or job generator to this unit and launches it."""
        job = job_blocks.shallow_copy_job(job)
        if isinstance(job, job_blocks.JobConfig):
            job_blocks.apply_args(job, args)
            job_blocks.populate_job_names(job)
            if isinstance(job, job_blocks.JobGroup):
                group = job
            else:
                group = job_blocks.JobGroup()
                group.jobs[str(getattr(job, "name", "job"))] = job
            awaitable: Awaitable[Any] = self._launch_job_group(group, self._args or dict(args or {}))
        elif inspect.iscoroutinefunction(job):
            awaitable = job(self, **(args or {}))
        else:
            raise TypeError(
                "experiment.add takes an xm.Job, an xm.JobGroup, an ArrayJob or an async job "
                f"generator `async def f(work_unit, **kwargs)`, got {job!r}"
            )

        async def launch() -> None:
            try:
                await awaitable
            except BaseException as error:
                self._launch_error = error
                raise
            finally:
                self._launched.set()

        return UnitFuture(self._experiment._create_task(launch()))

    @abc.abstractmethod
    async def _launch_job_group(self, job_group: job_blocks.JobGroup, args_view: Mapping[str, Any]) -> None:
        """Backend hook: launches the (flattened) jobs of a group."""

    @abc.abstractmethod
    async def _wait_until_complete(self) -> None:
        """Backend hook: returns when every job ended; raises on failure."""

    async def _wait_impl(self) -> ExperimentUnit:
        while not self._launched.is_set():
            await asyncio.sleep(0.01)
        if self._launch_error is not None:
            raise ExperimentUnitError(
                f"{self.experiment_unit_name} failed to launch: {self._launch_error}"
            ) from self._launch_error
        await self._wait_until_complete()
        return self

    def wait_until_complete(self) -> Any:
        """Waits until every job of the unit ended; raises if one failed.

        In async code this returns an awaitable (as XManager's does); in sync
        code it blocks and returns the unit, so a plain launch script can say
        `work_unit.wait_until_complete()`.
        """
        if _in_running_loop():
            return self._wait_impl()
        return self._experiment._run_sync(self._wait_impl())

    @abc.abstractmethod
    def stop(self) -> None:
        """Asks the scheduler to stop every job of the unit (does not wait)."""

    @abc.abstractmethod
    def get_status(self) -> ExperimentUnitStatus:
        """The unit's status, with per-task detail."""


class WorkUnit(ExperimentUnit):
    """A unit of the sweep; `work_unit_id` is 1-based in `add` order."""

    def __init__(
        self,
        experiment: Experiment,
        work_unit_id: int,
        args: Mapping[str, Any] | None,
        role: ExperimentUnitRole,
        identity: str = "",
    ) -> None:
        super().__init__(experiment, args, role, identity)
        self.work_unit_id = work_unit_id

    @property
    def experiment_unit_name(self) -> str:
        return f"{self.experiment_id}_{self.work_unit_id}"

    @property
    def work_unit_name(self) -> str:
        return self.experiment_unit_name


class Experiment(abc.ABC):
    """An experiment: a titled collection of units launched by one script."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._in_async_context = False
        self._tasks: list[concurrent.futures.Future[Any] | asyncio.Future[Any]] = []
        self._tasks_lock = threading.Lock()
        self._units: list[ExperimentUnit] = []
        self._next_work_unit_id = 1

    # ----- identity -----
    @property
    @abc.abstractmethod
    def experiment_id(self) -> int:
        """A unique integer id."""

    @property
    def work_unit_count(self) -> int:
        return sum(1 for unit in self._units if isinstance(unit, WorkUnit))

    def work_units(self) -> dict[int, WorkUnit]:
        """Work units by id, in `add` order."""
        return {unit.work_unit_id: unit for unit in self._units if isinstance(unit, WorkUnit)}

    def auxiliary_units(self) -> list[ExperimentUnit]:
        return [unit for unit in self._units if not isinstance(unit, WorkUnit)]

    # ----- context management -----
    def __enter__(self) -> Experiment:
        if self._loop is not None:
            raise RuntimeError("this experiment is already open")
        self._loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(
            target=self._loop.run_forever, name="lxm3-experiment", daemon=True
        )
        self._loop_thread.start()
        return self

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        try:
            try:
                self._wait_for_tasks_sync()
                if exc_type is None:
                    self._run_sync(self._on_exit(abrupt=False))
            except KeyboardInterrupt:
                self._run_sync(self._on_exit(abrupt=True))
                raise
            if exc_type is not None:
                self._run_sync(self._on_exit(abrupt=True))
        finally:
            loop, self._loop = self._loop, None
            if loop is not None:
                loop.call_soon_threadsafe(loop.stop)
                if self._loop_thread is not None:
                    self._loop_thread.join(timeout=5)
                loop.close()

    async def __aenter__(self) -> Experiment:
        self._in_async_context = True
        self._loop = asyncio.get_running_loop()
        return self

    async def __aexit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        try:
            await self._drain_tasks()
            self._raise_first_task_error()
            await self._on_exit(abrupt=exc_type is not None)
        finally:
            self._loop = None
            self._in_async_context = False

    async def _on_exit(self, abrupt: bool) -> None:
        """Backend hook run when the context closes (e.g. wait for local jobs)."""

    # ----- task plumbing -----
    def _create_task(
        self, coroutine: Coroutine[Any, Any, T]
    ) -> concurrent.futures.Future[T] | asyncio.Future[T]:
        if self._loop is None:
            raise RuntimeError("use the experiment inside `with` or `async with` before adding jobs")
        task: concurrent.futures.Future[T] | asyncio.Future[T]
        if _in_running_loop() and asyncio.get_running_loop() is self._loop:
            task = self._loop.create_task(coroutine)
        else:
            task = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        with self._tasks_lock:
            self._tasks.append(task)
        return task

    def _run_sync(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Runs a coroutine to completion from sync code, on the experiment's loop if open."""
        loop = self._loop
        if loop is not None and loop.is_running() and not self._in_async_context:
            future = asyncio.run_coroutine_threadsafe(coroutine, loop)
            try:
                return future.result()
            except BaseException:
                future.cancel()  # e.g. Ctrl-C: don't leave the coroutine pending on the loop
                raise
        return asyncio.run(coroutine)

    async def _drain_tasks(self) -> None:
        """Waits for every launch task, including ones created while waiting."""
        while True:
            with self._tasks_lock:
                pending = [t for t in self._tasks if not t.done()]
            if not pending:
                return
            await asyncio.gather(
                *(asyncio.wrap_future(t) if isinstance(t, concurrent.futures.Future) else t for t in pending),
                return_exceptions=True,
            )

    def _wait_for_tasks_sync(self) -> None:
        self._run_sync(self._drain_tasks())
        self._raise_first_task_error()

    def _raise_first_task_error(self) -> None:
        for task in self._tasks:
            if task.cancelled():
                continue
            error = task.exception()
            if error is not None:
                raise error

    # ----- packaging -----
    def package(self, packageables: Sequence[job_blocks.Packageable] = ()) -> list[job_blocks.Executable]:
        """Packages executables (sync); returns one executable per packageable, in order."""
        return self._package(list(packageables))

    async def package_async(self, packageable: job_blocks.Packageable) -> job_blocks.Executable:
        """Packages one executable without blocking the event loop."""
        return (await asyncio.to_thread(self._package, [packageable]))[0]

    @abc.abstractmethod
    def _package(self, packageables: list[job_blocks.Packageable]) -> list[job_blocks.Executable]:
        """Backend hook: builds artifacts for the packageables."""

    # ----- adding work -----
    def add(
        self,
        job: job_blocks.JobType,
        args: Mapping[str, Any] | None = None,
        *,
        role: ExperimentUnitRole = WorkUnitRole(),
        identity: str = "",
    ) -> UnitFuture[ExperimentUnit]:
        """Adds a unit running `job`; returns a future of the unit (awaitable).

        `args` are the unit's arguments: for a job generator its keyword args,
        for a Job `{"args": ..., "env_vars": ...}` overrides, for a JobGroup
        such dicts keyed by job name.
        """
        if self._loop is None:
            # Checked before creating the unit, so a misplaced add reserves no work unit id.
            raise RuntimeError("use the experiment inside `with` or `async with` before adding jobs")
        if isinstance(job, AuxiliaryUnitJob):
            role = AuxiliaryUnitRole(termination_delay_secs=job.termination_delay_secs)
            job = job.job
        unit = self._create_experiment_unit(args, role, identity)
        self._units.append(unit)
        launched = unit.add(job, args)

        async def launch() -> ExperimentUnit:
            await launched
            return unit

        return UnitFuture(self._create_task(launch()))

    def _reserve_work_unit_id(self) -> int:
        with self._tasks_lock:  # job generators may add from the loop thread while the script adds
            work_unit_id = self._next_work_unit_id
            self._next_work_unit_id += 1
        return work_unit_id

    @abc.abstractmethod
    def _create_experiment_unit(
        self, args: Mapping[str, Any] | None, role: ExperimentUnitRole, identity: str
    ) -> ExperimentUnit:
        """Backend hook: creates (not launches) a unit; work unit ids via `_reserve_work_unit_id`."""
