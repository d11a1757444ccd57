"""Experiment units: what `experiment.add` creates and a launch script waits on.

A unit holds the jobs of one `add` (a work unit of the sweep, or an
auxiliary unit). Adding a job copies it, applies the unit's args, names it
and hands the group to the backend's `_launch_job_group` hook as a task of
the experiment's event loop; waiting goes through the backend's
`_wait_until_complete` hook.
"""

from __future__ import annotations

import abc
import getpass
import inspect
import threading
from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING, Any

from lxm3.lazy import LazyModule
from lxm3.xm import job_blocks, job_operators
from lxm3.xm.awaitables import UnitFuture, WorkUnitCompletedAwaitable
from lxm3.xm.dependencies import After, Condition, Dependency
from lxm3.xm.errors import ExperimentUnitError, JobTypeError
from lxm3.xm.metadata_context import ContextAnnotations, MetadataContext
from lxm3.xm.roles import ExperimentUnitRole, LaunchedJob
from lxm3.xm.status import ExperimentUnitStatus

if TYPE_CHECKING:
    import asyncio

    from lxm3.xm.core import Experiment
else:  # imported on first use: `lxm3 status` and `lxm3 list` load this API but never run a loop
    asyncio = LazyModule("asyncio")


def _in_running_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _is_job_generator(job: object) -> bool:
    # An async function, or an object with an async __call__ (e.g. xm.AuxiliaryUnitJob).
    return inspect.iscoroutinefunction(job) or (
        callable(job) and inspect.iscoroutinefunction(type(job).__call__)
    )


def check_job_type(job: object) -> None:
    """Raises the user-facing error for anything `add` cannot run."""
    if isinstance(job, job_blocks.JobConfig) or _is_job_generator(job):
        return
    what = "a sync function" if callable(job) else repr(job)
    raise JobTypeError(
        "Job generator must be an async function: experiment.add takes an xm.Job, an xm.JobGroup, an ArrayJob "
        f"or an async job generator `async def f(work_unit, **kwargs) -> None`, got {what}"
    )


def _named_leaves(group: job_blocks.JobGroup) -> list[tuple[str, Any]]:
    leaves: list[tuple[str, Any]] = []
    for key, inner in group.jobs.items():
        leaves.extend(_named_leaves(inner) if isinstance(inner, job_blocks.JobGroup) else [(key, inner)])
    return leaves


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
        self._pending_launches = 0
        self._pending_lock = threading.Lock()
        self._launched_jobs: list[LaunchedJob] = []
        self._annotations = ContextAnnotations()
        #: The dependency of jobs a job generator adds without naming one.
        self._default_dependency: Dependency | None = None

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

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(experiment_id={self.experiment_id}, name={self.experiment_unit_name!r})"
        )

    @property
    def context(self) -> MetadataContext:
        """The unit's metadata (creator and annotations), as XManager offers it."""
        return MetadataContext(creator=getpass.getuser(), annotations=self._annotations)

    @property
    def launched_jobs(self) -> list[LaunchedJob]:
        """One entry per job this unit launched (every job of an added group)."""
        return list(self._launched_jobs)

    # ----- dependencies (see lxm3.xm.dependencies) -----
    def after_succeeded(self, per_task: bool = False) -> Dependency:
        """Holds a dependent until every task of this unit exited 0.

        With `per_task`, task i of the dependent array waits for task i of
        this unit only (both must have the same number of tasks).
        """
        return After(self, Condition.SUCCEEDED, per_task)

    def after_finished(self) -> Dependency:
        """Holds a dependent until every task of this unit ended, in any state."""
        return After(self, Condition.FINISHED)

    def after_failed(self) -> Dependency:
        """Holds a dependent until this unit ended with a task failed or cancelled."""
        return After(self, Condition.FAILED)

    def after_started(self) -> Dependency:
        """Holds a dependent until this unit's tasks started."""
        return After(self, Condition.STARTED)

    def add(
        self,
        job: job_blocks.JobType,
        args: Mapping[str, Any] | None = None,
        *,
        identity: str = "",
        dependency: Dependency | None = None,
    ) -> UnitFuture[None]:
        """Adds a Job, JobGroup or async job generator to this unit and launches it.

        `identity` is accepted for XManager compatibility; lxm3 launches every
        add (it has no add-if-absent store lookup). With `dependency`, the
        scheduler holds the jobs until it holds (the jobs a job generator adds
        inherit it unless they name their own).
        """
        del identity
        if dependency is not None and not isinstance(dependency, Dependency):
            raise TypeError(f"dependency must come from e.g. `wu.after_succeeded()`, got {dependency!r}")
        check_job_type(job)
        job = job_operators.shallow_copy_job_type(job)
        if isinstance(job, job_blocks.JobConfig):
            job_blocks.apply_args(job, args)
            job_operators.populate_job_names(job)
            if isinstance(job, job_blocks.JobGroup):
                group = job
            else:
                group = job_blocks.JobGroup()
                group.jobs[str(getattr(job, "name", "job"))] = job
            self._launched_jobs.extend(
                LaunchedJob(name=str(getattr(inner, "name", key))) for key, inner in _named_leaves(group)
            )
            held = dependency or self._default_dependency
            args_view = self._args or dict(args or {})
            # Backends written before dependencies take (group, args_view): pass it only when set.
            awaitable: Awaitable[Any] = (
                self._launch_job_group(group, args_view, held)
                if held is not None
                else self._launch_job_group(group, args_view)
            )
        else:
            self._default_dependency = dependency
            awaitable = job(self, **(args or {}))  # type: ignore[operator]

        # `_launched` is set while no launch of this unit is pending: a job generator's own
        # `work_unit.add` calls count too, so waiting covers every job the unit launches.
        with self._pending_lock:
            self._pending_launches += 1
            self._launched.clear()

        async def launch() -> None:
            try:
                await awaitable
            except BaseException as error:
                if self._launch_error is None:
                    self._launch_error = error
                raise
            finally:
                with self._pending_lock:
                    self._pending_launches -= 1
                    if self._pending_launches == 0:
                        self._launched.set()

        return UnitFuture(self._experiment._create_task(launch()))

    @abc.abstractmethod
    async def _launch_job_group(
        self,
        job_group: job_blocks.JobGroup,
        args_view: Mapping[str, Any],
        dependency: Dependency | None = None,
    ) -> None:
        """Backend hook: launches the (flattened) jobs of a group, held by `dependency`."""

    @abc.abstractmethod
    async def _wait_until_complete(self) -> None:
        """Backend hook: returns when every job ended; raises on failure."""

    async def _wait_impl(self) -> ExperimentUnit:
        while not self._launched.is_set():
            await asyncio.sleep(0.01)
        if self._launch_error is not None:
            raise ExperimentUnitError(
                f"{self} could not be created: {self._launch_error}", work_unit=self
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

    def wait_until_complete(self) -> Any:
        """Waits until every job of the unit ended; raises if one failed.

        In async code this returns a `WorkUnitCompletedAwaitable` (awaiting it
        gives the unit; `.work_unit` names it, for `asyncio.wait` users); in
        sync code it blocks and returns the unit.
        """
        if _in_running_loop():
            return WorkUnitCompletedAwaitable(self, self._wait_impl)
        return self._experiment._run_sync(self._wait_impl())

    def __repr__(self) -> str:
        return f"WorkUnit(experiment_id={self.experiment_id}, work_unit_id={self.work_unit_id})"
