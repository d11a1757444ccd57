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
import concurrent.futures
import getpass
import threading
from collections.abc import Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from lxm3.lazy import LazyModule
from lxm3.xm import job_blocks
from lxm3.xm.awaitables import UnitFuture, WorkUnitCompletedAwaitable
from lxm3.xm.dependencies import Dependency, flatten
from lxm3.xm.errors import (  # noqa: F401 - XManager scripts and tests reach these through `xm.core`
    ExperimentUnitError,
    ExperimentUnitFailedError,
    ExperimentUnitNotCompletedError,
    NotFoundError,
    WorkUnitError,
    WorkUnitFailedError,
    WorkUnitNotCompletedError,
)
from lxm3.xm.job_blocks import Job, JobGroup  # noqa: F401 - as above
from lxm3.xm.metadata_context import ContextAnnotations, MetadataContext
from lxm3.xm.roles import (
    AuxiliaryUnitJob,
    AuxiliaryUnitRole,
    ExperimentUnitRole,
    Importance,
    LaunchedJob,
    WorkUnitRole,
)
from lxm3.xm.status import ExperimentUnitStatus  # noqa: F401 - as above
from lxm3.xm.units import ExperimentUnit, WorkUnit, _in_running_loop, check_job_type

if TYPE_CHECKING:
    import asyncio
else:  # imported on first use: `lxm3 status` and `lxm3 list` load this API but never run a loop
    asyncio = LazyModule("asyncio")

__all__ = [
    "AuxiliaryUnitJob",
    "AuxiliaryUnitRole",
    "Experiment",
    "ExperimentUnit",
    "ExperimentUnitRole",
    "Importance",
    "LaunchedJob",
    "UnitFuture",
    "WorkUnit",
    "WorkUnitCompletedAwaitable",
    "WorkUnitRole",
]

T = TypeVar("T")


def _is_work_unit(unit: ExperimentUnit) -> bool:
    return isinstance(unit, WorkUnit) and not isinstance(unit.role, AuxiliaryUnitRole)


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

    @property
    def work_units(self) -> Mapping[int, WorkUnit]:
        """Work units by id, in `add` order (a property, as in XManager: `experiment.work_units[1]`)."""
        return {
            unit.work_unit_id: unit
            for unit in self._units
            if isinstance(unit, WorkUnit) and _is_work_unit(unit)
        }

    def auxiliary_units(self) -> list[ExperimentUnit]:
        """Units added with an auxiliary role, in `add` order."""
        return [unit for unit in self._units if not _is_work_unit(unit)]

    @property
    def context(self) -> MetadataContext:
        """The experiment's metadata (creator and annotations), as XManager offers it."""
        if not hasattr(self, "_annotations"):
            self._annotations = ContextAnnotations(title=str(getattr(self, "experiment_title", "") or ""))
        return MetadataContext(creator=getpass.getuser(), annotations=self._annotations)

    # ----- context management -----
    def __enter__(self) -> Experiment:
        if _in_running_loop():
            raise RuntimeError("When using Experiment from a coroutine please use `async with` syntax")
        if self._loop is not None:
            raise RuntimeError("this experiment is already open")
        self._loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(
            target=self._loop.run_forever, name="lxm3-experiment", daemon=True
        )
        self._loop_thread.start()
        return self

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        interrupted = exc_type is not None and issubclass(exc_type, KeyboardInterrupt)
        try:
            try:
                if interrupted:
                    self._on_interrupt()
                    self._cancel_pending_tasks()
                self._wait_for_tasks_sync()
                if exc_type is None:
                    self._run_sync(self._on_exit(abrupt=False))
            except KeyboardInterrupt:
                if not interrupted:
                    self._on_interrupt()
                    self._cancel_pending_tasks()
                self._run_sync(self._on_exit(abrupt=True))
                raise
            except BaseException:
                if not interrupted:
                    raise
                # A launch task failing because of the interrupt: the interrupt is the news.
            if exc_type is not None:
                self._run_sync(self._on_exit(abrupt=True))
        finally:
            loop, self._loop = self._loop, None
            if loop is not None:
                self._cancel_pending_tasks(loop)
                loop.call_soon_threadsafe(loop.stop)
                if self._loop_thread is not None:
                    self._loop_thread.join(timeout=5)
                loop.close()

    def _on_interrupt(self) -> None:
        """Backend hook for Ctrl-C/SIGTERM: stop submitting, settle what is in flight."""

    def _cancel_pending_tasks(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Cancels the loop's unfinished tasks and lets them unwind (no "Task was destroyed")."""
        loop = loop or self._loop
        if loop is None or not loop.is_running():
            return

        async def cancel_all() -> None:
            current = asyncio.current_task()
            pending = [task for task in asyncio.all_tasks() if task is not current]
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5)

        try:
            asyncio.run_coroutine_threadsafe(cancel_all(), loop).result(timeout=10)
        except (concurrent.futures.TimeoutError, RuntimeError):
            pass

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
                # Short waits, not one long one: a signal delivered to another thread only
                # runs its Python handler (Ctrl-C) once the main thread wakes up.
                while True:
                    try:
                        return future.result(timeout=0.1)
                    except concurrent.futures.TimeoutError:
                        continue
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
        # Every task's exception is read (so asyncio logs no "never retrieved"), the first raised.
        errors = [task.exception() for task in self._tasks if not task.cancelled()]
        first = next((error for error in errors if error is not None), None)
        if first is not None:
            raise first

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
        dependency: Dependency | None = None,
    ) -> UnitFuture[Any]:
        """Adds a unit running `job`; returns a future of the unit (awaitable).

        `args` are the unit's arguments: for a job generator its keyword args,
        for a Job `{"args": ..., "env_vars": ...}` overrides, for a JobGroup
        such dicts keyed by job name. `dependency` (e.g.
        `a.after_succeeded() & b.after_succeeded()`) makes the scheduler hold
        the unit's jobs until it holds; see `lxm3.xm.dependencies`.
        """
        if dependency is not None:
            flatten(dependency)  # a malformed expression fails here, before an id is reserved
        if self._loop is None:
            # Checked before creating the unit, so a misplaced add reserves no work unit id.
            raise RuntimeError("use the experiment inside `with` or `async with` before adding jobs")
        check_job_type(job)
        if isinstance(job, AuxiliaryUnitJob):
            role = job.role
        unit = self._create_experiment_unit(args, role, identity)
        self._units.append(unit)
        launched = unit.add(job, args, dependency=dependency)

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
