"""The controller's journal: what it added and how it ended, in the experiment's dir.

    <staging>/experiments/<exp>/controller/journal.jsonl    one JSON object per line
    <staging>/experiments/<exp>/controller/stop             `lxm3 cancel` was here: add nothing

Events: `start` (a controller process began; `attempt` counts them), `unit`
(a work unit id and its args), `job` (a submitted job, in the store's record
form: what `ExperimentStore.add_job` takes, with the executor pickled as
base64), `end` (`state` COMPLETED, FAILED or CANCELLED and, when it failed,
the error's first line). Lines are appended with one `write` on an O_APPEND
descriptor and fsynced, so a reader never sees half a record of a finished
write; a torn last line (the node died mid-write) is skipped.

The journal is the controller's memory across restarts (it replays `job`
events instead of submitting again) and the workstation's view of what the
controller did (`sync.py` imports it into the store).
"""

from __future__ import annotations

import base64
import json
import os
import socket
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from lxm3.store.db import ExperimentStore, process_start_time
from lxm3.store.records import JobRecord, executor_columns

JOURNAL_NAME = "journal.jsonl"
STOP_NAME = "stop"


def controller_dir(staging: str, experiment_id: int) -> str:
    """The experiment's controller dir under a staging root (same layout on every host)."""
    return f"{staging.rstrip('/')}/experiments/{experiment_id}/controller"


def parse(text: str) -> list[dict[str, Any]]:
    """Journal text -> events, skipping a torn or foreign line."""
    events = []
    for line in text.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and "event" in event:
            events.append(event)
    return events


def replayable_jobs(events: Iterable[Mapping[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """Work unit -> its journaled job records (the latest per job name), for a restarted controller."""
    units: dict[int, dict[str, dict[str, Any]]] = {}
    for event in events:
        if event.get("event") == "job":
            record = dict(event["record"])
            units.setdefault(int(event["work_unit_id"]), {})[str(record["name"])] = record
    return {unit: list(jobs.values()) for unit, jobs in units.items()}


def jsonable_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """A store job record as journal JSON: the executor object becomes its repr + base64 pickle."""
    result = {key: value for key, value in record.items() if key not in ("executor", "executor_pickle")}
    executor, blob = executor_columns(record.get("executor"), record.get("executor_pickle"))
    result["executor"] = executor
    result["executor_pickle_b64"] = base64.b64encode(blob).decode() if blob else None
    return result


def store_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of `jsonable_record`: the dict `ExperimentStore.add_job` takes."""
    result = {key: value for key, value in record.items() if key != "executor_pickle_b64"}
    blob = record.get("executor_pickle_b64")
    result["executor_pickle"] = base64.b64decode(blob) if blob else None
    return result


class Journal:
    """Appends events to the controller's journal (controller side)."""

    def __init__(self, directory: str) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = self.directory / JOURNAL_NAME

    def read(self) -> list[dict[str, Any]]:
        try:
            return parse(self.path.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            return []

    def append(self, event: str, **fields: Any) -> None:
        line = json.dumps({"event": event, "time": time.time(), **fields}, default=repr) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    @property
    def stop_path(self) -> Path:
        return self.directory / STOP_NAME

    def stopped(self) -> bool:
        """Whether `lxm3 cancel` asked the controller to add nothing more."""
        return self.stop_path.exists()


class JournalStore(ExperimentStore):
    """The controller's store: a scratch SQLite for this process, plus the journal.

    `ClusterExperiment` writes units and jobs through its store; here each
    write is also journaled, so the workstation learns of it. The experiment
    id and the store identity (which claims experiment dirs on the cluster)
    are the workstation's, not new ones.
    """

    def __init__(self, path: Path, journal: Journal, experiment_id: int, identity: str) -> None:
        super().__init__(path)
        self.journal = journal
        self._experiment_id = experiment_id
        self._identity = identity

    @property
    def identity(self) -> str:
        return self._identity

    def create_experiment(self, title: str, **fields: Any) -> int:
        del title, fields  # the workstation created it
        return self._experiment_id

    def add_work_unit(self, experiment_id: int, work_unit_id: int, args: Mapping[str, Any]) -> None:
        super().add_work_unit(experiment_id, work_unit_id, args)
        self.journal.append(
            "unit", work_unit_id=work_unit_id, args=json.loads(json.dumps(args, default=repr))
        )

    def add_job(self, experiment_id: int, work_unit_id: int, job: JobRecord | Mapping[str, Any]) -> int:
        row = super().add_job(experiment_id, work_unit_id, job)
        record = job.to_row() if isinstance(job, JobRecord) else job
        pid = os.getpid()
        entry = jsonable_record(record)
        # Local units are run by this process: the workstation tells "running" from "gone" by it.
        entry["owner"] = [pid, socket.gethostname(), process_start_time(pid)]
        self.journal.append("job", work_unit_id=work_unit_id, record=entry)
        return row
