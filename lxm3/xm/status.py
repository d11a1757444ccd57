"""Task and work-unit states, one vocabulary for every scheduler.

Each scheduler module maps its own codes (Slurm's `OUT_OF_MEMORY`, Grid
Engine's `Eqw`, a local exit code) onto `TaskState`; everything above the
scheduler layer (wait, status, the CLI) only ever sees these five states.
"""

from __future__ import annotations

import collections
import enum
import itertools
import operator
from collections.abc import Iterable, Sequence

import attrs


class TaskState(enum.Enum):
    """The state of one task (one element of a sweep)."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    UNKNOWN = "UNKNOWN"

    @property
    def is_terminal(self) -> bool:
        return self in (TaskState.COMPLETED, TaskState.FAILED, TaskState.CANCELLED)


@attrs.frozen
class TaskStatus:
    """What is known about one task; `index` is its 0-based `LXM_TASK_ID`."""

    index: int
    state: TaskState
    exit_code: int | None = None
    message: str = ""
    log_path: str | None = None
    job_id: str | None = None


#: The final states, as a tuple: `in` compares enum members by identity in C, while a set would
#: call `Enum.__hash__` (Python) once per task.
_TERMINAL = (TaskState.COMPLETED, TaskState.FAILED, TaskState.CANCELLED)
_STATE = operator.attrgetter("state")
_BY_ID = {id(state): state for state in TaskState}


def all_terminal(statuses: Iterable[TaskStatus]) -> bool:
    """Whether every status is final: `all(s.state.is_terminal ...)` without Python per task.

    A 100,000-task sweep checks this on every poll and every `lxm3 status`.
    """
    return all(map(_TERMINAL.__contains__, map(_STATE, statuses)))


def count_states(statuses: Iterable[TaskStatus]) -> dict[TaskState, int]:
    """Tasks per state (states with no task left out), counted in C.

    Counted by the state's identity, mapped back to the state: hashing the
    enum members themselves runs `Enum.__hash__` (Python) once per task.
    """
    counted = collections.Counter(map(id, map(_STATE, statuses)))
    return {_BY_ID[key]: number for key, number in counted.items()}


#: The setters of TaskStatus's slots, in field order (`build_statuses` fills them from C loops).
_SETTERS = tuple(vars(TaskStatus)[field.name].__set__ for field in attrs.fields(TaskStatus))


def build_statuses(
    indices: Sequence[int],
    state: TaskState,
    log_paths: Iterable[str | None],
    job_id: str | None,
    exit_code: int | None = None,
    message: str = "",
) -> list[TaskStatus]:
    """`TaskStatus(index, state, exit_code, message, log_path, job_id)` for each index and log path.

    The same objects, with no Python call per task: `lxm3 status` of a queued
    100,000-task sweep builds that many, and `__init__` (frozen: six
    `object.__setattr__` calls) was most of its time. TaskStatus has no
    validators or converters for `__init__` to run (a test keeps it so).
    """
    count = len(indices)
    built = list(map(TaskStatus.__new__, itertools.repeat(TaskStatus, count)))
    values = (
        indices,
        itertools.repeat(state, count),
        itertools.repeat(exit_code, count),
        itertools.repeat(message, count),
        log_paths,
        itertools.repeat(job_id, count),
    )
    for setter, column in zip(_SETTERS, values, strict=True):
        collections.deque(map(setter, built, column), maxlen=0)  # type: ignore[call-overload]
    return built


def aggregate_state(states: Iterable[TaskState]) -> TaskState:
    """The state of a unit from its tasks: active beats failed beats cancelled."""
    seen = set(states)
    if not seen:
        return TaskState.UNKNOWN
    if TaskState.RUNNING in seen:
        return TaskState.RUNNING
    if TaskState.PENDING in seen or TaskState.UNKNOWN in seen:
        return TaskState.PENDING
    if TaskState.FAILED in seen:
        return TaskState.FAILED
    if TaskState.CANCELLED in seen:
        return TaskState.CANCELLED
    return TaskState.COMPLETED


@attrs.frozen
class ExperimentUnitStatus:
    """The status of a work unit, with the per-task detail behind it."""

    tasks: tuple[TaskStatus, ...] = ()
    launch_error: str | None = None

    @property
    def state(self) -> TaskState:
        if self.launch_error is not None:
            return TaskState.FAILED
        return aggregate_state(task.state for task in self.tasks)

    @property
    def is_active(self) -> bool:
        return not self.state.is_terminal

    @property
    def is_completed(self) -> bool:
        return self.state is TaskState.COMPLETED

    @property
    def is_failed(self) -> bool:
        return self.state is TaskState.FAILED

    @property
    def is_cancelled(self) -> bool:
        return self.state is TaskState.CANCELLED

    def counts(self) -> dict[str, int]:
        """Number of tasks in each state, e.g. `{"COMPLETED": 9, "FAILED": 1}`."""
        return dict(collections.Counter(task.state.value for task in self.tasks))

    @property
    def message(self) -> str:
        if self.launch_error is not None:
            return f"launch failed: {self.launch_error}"
        counts = ", ".join(f"{n} {state.lower()}" for state, n in sorted(self.counts().items()))
        return f"{self.state.value.lower()} ({counts})" if counts else self.state.value.lower()
