"""What the store keeps about a submitted job: one typed record, written and read in one place.

A `JobRecord` is one row of the `jobs` table: one job of a work unit as one
attempt submitted it (attempt 1 is the launch, later ones are `lxm3 rerun`s of
some of its tasks). Launch and rerun build one and hand it to
`ExperimentStore.add_job`; reload reads rows back with `JobRecord.from_row`.
Each submitted scheduler job is a `ChunkRecord`: the `SubmittedJob`, the global
task id at each array position, and (for reruns) the index-map file that tells
the job script which task each array position runs.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from lxm3.runtime.job_paths import JobPaths
from lxm3.schedulers.base import SubmittedJob
from lxm3.xm.errors import ReloadError
from lxm3.xm.status import TaskState, TaskStatus

if TYPE_CHECKING:  # imported when used: `lxm3 list` reads records and needs no watcher (asyncio)
    from lxm3.schedulers.watcher import WatchedJob


__all__ = ["ChunkRecord", "JobRecord", "ReloadError", "executor_columns"]


def executor_columns(executor: Any, executor_pickle: bytes | None = None) -> tuple[Any, bytes | None]:
    """An executor as the store keeps it: its repr for people, a pickle for `lxm3 rerun`.

    A string (already a repr, read back from a row or a journal) is kept with
    the pickle given; an executor that cannot be pickled only loses `lxm3 rerun`.
    """
    if executor is None or isinstance(executor, str):
        return executor, executor_pickle
    try:
        blob: bytes | None = pickle.dumps(executor)
    except Exception:  # noqa: BLE001 - an unpicklable executor only loses `lxm3 rerun`
        blob = None
    return repr(executor), blob


@attrs.frozen
class ChunkRecord:
    """One submitted scheduler job of an attempt, and the global task id at each array position."""

    submitted: SubmittedJob
    task_ids: tuple[int, ...]
    #: The rerun's index-map file on the execution host (array position -> task id), if any.
    index_map: str | None = None

    @classmethod
    def of(
        cls, submitted: SubmittedJob, task_ids: Sequence[int] | None = None, index_map: str | None = None
    ) -> ChunkRecord:
        """A chunk whose tasks are `task_ids` (default: the chunk's contiguous range)."""
        ids = tuple(int(t) for t in task_ids) if task_ids is not None else tuple(submitted.chunk.task_ids)
        return cls(submitted, ids, index_map)

    def to_json(self) -> dict[str, Any]:
        """The JSON form kept in the `submitted` column."""
        entry = self.submitted.to_record()
        if self.index_map is not None or self.task_ids != tuple(self.submitted.chunk.task_ids):
            entry["index_map"] = self.index_map
            entry["task_ids"] = list(self.task_ids)
        return entry

    @classmethod
    def from_json(cls, entry: Mapping[str, Any]) -> ChunkRecord:
        return cls.of(SubmittedJob.from_record(entry), entry.get("task_ids"), entry.get("index_map"))

    def watched(self, paths: JobPaths | None = None) -> WatchedJob:
        """This chunk as the status watcher follows it (positions mapped to its tasks)."""
        from lxm3.schedulers.watcher import WatchedJob

        return WatchedJob(self.submitted, self.task_ids, paths)

    def global_id(self, task_key: int) -> int | None:
        """The global task id for a task id the scheduler reports (offset + array position)."""
        position = task_key - self.submitted.chunk.offset
        return self.task_ids[position] if 0 <= position < len(self.task_ids) else None


def _chunks(entries: Any) -> list[ChunkRecord]:
    return [
        entry if isinstance(entry, ChunkRecord) else ChunkRecord.from_json(entry) for entry in entries or []
    ]


def _names(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(names)


@attrs.define
class JobRecord:
    """One job of a work unit as submitted by one attempt (one row of the `jobs` table)."""

    name: str
    target_name: str
    scheduler_name: str
    num_tasks: int
    remote_dir: str
    chunks: list[ChunkRecord] = attrs.field(converter=_chunks)
    attempt: int = 1
    local_dir: str | None = None
    log_dir_override: str | None = None
    #: Content-addressed files (relative to the staging root) the job needs.
    artifacts: tuple[str, ...] = attrs.field(default=(), converter=_names)
    #: The executor itself when written (pickled for `lxm3 rerun`), its repr when read.
    executor: Any = None
    executor_pickle: bytes | None = None
    label: str | None = None
    #: Set by the store on read.
    row_id: int = 0
    experiment_id: int = 0
    work_unit_id: int = 0
    pid: int | None = None
    host: str | None = None
    pid_start: str | None = None
    #: The tasks' final states, cached once every task of the row ended.
    final: dict[str, Any] | None = None
    _chunk_by_task: dict[int, ChunkRecord] = attrs.field(factory=dict, init=False, repr=False, eq=False)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> JobRecord:
        """A record from a decoded store row (or the mapping a test or an older caller wrote)."""
        final = row.get("final")
        return cls(
            name=str(row["name"]),
            target_name=str(row["target"]),
            scheduler_name=str(row["scheduler"]),
            num_tasks=int(row["num_tasks"]),
            remote_dir=str(row["remote_dir"]),
            chunks=row.get("submitted") or [],
            attempt=int(row.get("attempt") or 1),
            local_dir=row.get("local_dir"),
            log_dir_override=row.get("log_dir"),
            artifacts=row.get("artifacts") or (),
            executor=row.get("executor"),
            executor_pickle=row.get("executor_pickle"),
            label=row.get("label"),
            row_id=int(row.get("id") or 0),
            experiment_id=int(row.get("experiment_id") or 0),
            work_unit_id=int(row.get("work_unit_id") or 0),
            pid=row.get("pid"),
            host=row.get("host"),
            pid_start=row.get("pid_start"),
            final=final if isinstance(final, dict) else None,
        )

    @property
    def is_local(self) -> bool:
        return self.scheduler_name == "local"

    @property
    def log_dir(self) -> str:
        return self.paths.log_dir

    @property
    def task_ids(self) -> list[int]:
        """The global ids of the tasks this attempt ran, in array order."""
        ids = [task for chunk in self.chunks for task in chunk.task_ids]
        if not ids and isinstance(self.final, dict):  # recorded as failed before any submission
            return sorted(int(task) for task in self.final)
        return ids

    @property
    def is_partial(self) -> bool:
        """Whether this attempt ran only some tasks (a rerun)."""
        return any(chunk.task_ids != tuple(chunk.submitted.chunk.task_ids) for chunk in self.chunks)

    @property
    def paths(self) -> JobPaths:
        """The job's paths on the execution host, as recorded."""
        return JobPaths(self.remote_dir, self.log_dir_override)

    def log_path(self, task: int, stream: str = "out") -> str:
        return self.paths.log(task, stream)

    def watched(self) -> list[WatchedJob]:
        """Its scheduler jobs as the status watcher follows them (with the completion files)."""
        return [chunk.watched(self.paths) for chunk in self.chunks]

    def chunk_of(self, task: int) -> ChunkRecord:
        """The submitted scheduler job that runs `task` in this attempt."""
        if not self._chunk_by_task:
            self._chunk_by_task.update((t, chunk) for chunk in self.chunks for t in chunk.task_ids)
        return self._chunk_by_task[task]

    def final_statuses(self) -> dict[int, TaskStatus] | None:
        """The cached final states, if every task of this row had ended."""
        if self.final is None:
            return None
        result = {}
        for key, value in self.final.items():
            task = int(key)
            result[task] = TaskStatus(
                task,
                TaskState(value["state"]),
                exit_code=value.get("exit_code"),
                message=value.get("message") or "",
                log_path=self.log_path(task, "err"),
                job_id=value.get("job_id"),
            )
        return result

    def restore_executor(self) -> Any:
        """The executor the job was launched with (unpickled from the store)."""
        if self.executor_pickle is None:
            raise ReloadError(
                f"job {self.name!r}: the store holds no executor for it (launched by an older lxm3?)"
            )
        try:
            return pickle.loads(self.executor_pickle)
        except Exception as error:  # noqa: BLE001 - any unpickling problem becomes one line
            raise ReloadError(
                f"job {self.name!r}: cannot restore its executor {self.executor}: {error}"
            ) from None

    def to_row(self) -> dict[str, Any]:
        """The column values `ExperimentStore.add_job` writes (executor still an object)."""
        partial = self.is_partial or self.attempt > 1
        return {
            "attempt": self.attempt,
            "name": self.name,
            "target": self.target_name,
            "scheduler": self.scheduler_name,
            "num_tasks": self.num_tasks,
            "remote_dir": self.remote_dir,
            "local_dir": self.local_dir,
            "log_dir": self.log_dir,
            "artifacts": list(self.artifacts),
            "submitted": [chunk.to_json() for chunk in self.chunks],
            "executor": self.executor,
            "executor_pickle": self.executor_pickle,
            "label": self.label,
            "task_ids": self.task_ids if partial else None,
        }
