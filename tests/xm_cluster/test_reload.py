"""Reloading experiments from the store, against a fake cluster scheduler (no cluster needed).

The fake records every query, so these tests pin down the batching (ONE query
per cluster for every job of every unit), how rerun chunks' array positions
map back to global task ids, how completion files and the scheduler's word
combine, and that finished rows are answered from the store.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pytest

from lxm3 import xm, xm_cluster
from lxm3.schedulers.base import JobScript, RenderRequest, Scheduler, SubmittedJob
from lxm3.store.db import ExperimentStore
from lxm3.transport.base import Transport
from lxm3.transport.local import LocalTransport
from lxm3.xm.status import TaskState, TaskStatus
from lxm3.xm_cluster import targets
from lxm3.xm_cluster.config import Config
from lxm3.xm_cluster.reload import combine, read_exit_files


class FakeScheduler(Scheduler):
    """Answers queries from a table the test fills in: job id -> {array task key: state}."""

    name = "fake"
    answers: ClassVar[dict[str, dict[int, TaskStatus]]] = {}
    queries: ClassVar[list[list[str]]] = []
    cancelled: ClassVar[list[list[str]]] = []
    submitted: ClassVar[list[RenderRequest]] = []

    def render(self, request: RenderRequest) -> str:
        return f"# fake job {request.label} index_map={request.index_map} chunk={request.chunk}\n"

    def submit(self, transport: Transport, scripts: Sequence[JobScript]) -> list[SubmittedJob]:
        out = []
        for script in scripts:
            FakeScheduler.submitted.append(script.request)
            out.append(
                SubmittedJob(f"fake-{len(FakeScheduler.submitted)}", script.request.chunk, script.path)
            )
        return out

    def query(self, transport: Transport, jobs: Sequence[SubmittedJob]) -> dict[str, dict[int, TaskStatus]]:
        FakeScheduler.queries.append([job.job_id for job in jobs])
        return {
            job.job_id: dict(FakeScheduler.answers[job.job_id])
            for job in jobs
            if job.job_id in FakeScheduler.answers
        }

    def cancel(self, transport: Transport, job_ids: Sequence[str]) -> None:
        FakeScheduler.cancelled.append(list(job_ids))


@attrs.frozen
class FakeExecutor(xm.Executor):
    cluster: str | None = None

    @classmethod
    def Spec(cls) -> xm.ExecutorSpec:
        raise NotImplementedError


def _fake_target(executor: Any, config: Config) -> targets.Target:
    return targets.cached_target(
        targets.target_key("fake", config, executor.cluster),
        lambda: targets.Target(
            name=executor.cluster or "fakecluster",
            scheduler=FakeScheduler(),
            transport_factory=LocalTransport,
            staging=str(Path(os.environ["FAKE_STAGING"])),
        ),
    )


targets.register_executor(FakeExecutor, _fake_target)


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FAKE_STAGING", str(tmp_path / "staging"))
    FakeScheduler.answers = {}
    FakeScheduler.queries = []
    FakeScheduler.cancelled = []
    FakeScheduler.submitted = []
    targets.close_all()
    return tmp_path / "staging"


def _status(task: int, state: TaskState, code: int | None = None) -> TaskStatus:
    return TaskStatus(task, state, exit_code=code)


def _record_job(
    store: ExperimentStore,
    staging: Path,
    experiment_id: int,
    work_unit_id: int,
    job_ids: list[str],
    sizes: list[int],
) -> Path:
    job_dir = staging / f"experiments/{experiment_id}/{work_unit_id}/train"
    (job_dir / "logs").mkdir(parents=True)
    for name in ("job.json", "tasks.jsonl", "tasks.idx"):
        (job_dir / name).write_text("{}")
    submitted, offset = [], 0
    for job_id, size in zip(job_ids, sizes, strict=True):
        submitted.append(
            {"job_id": job_id, "offset": offset, "count": size, "script": str(job_dir / "job-0.sh")}
        )
        offset += size
    store.add_job(
        experiment_id,
        work_unit_id,
        {
            "name": "train",
            "target": "fakecluster",
            "scheduler": "fake",
            "num_tasks": offset,
            "remote_dir": str(job_dir),
            "local_dir": str(job_dir),
            "artifacts": [],
            "submitted": submitted,
            "executor": FakeExecutor(),
        },
    )
    return job_dir


def test_one_query_for_all_units_and_exit_files_win_over_lagging_accounting(fake: Path) -> None:
    store = ExperimentStore()
    experiment_id = store.create_experiment("batched")
    first = _record_job(store, fake, experiment_id, 1, ["fake-a", "fake-b"], [2, 1])
    _record_job(store, fake, experiment_id, 2, ["fake-c"], [2])
    FakeScheduler.answers = {
        "fake-a": {0: _status(0, TaskState.COMPLETED, 0), 1: _status(1, TaskState.RUNNING)},
        "fake-b": {2: _status(2, TaskState.CANCELLED)},
        "fake-c": {0: _status(0, TaskState.FAILED, 4)},
    }
    (first / "logs" / "1.exit").write_text("7\n")  # ended; the scheduler has not noticed yet
    (first / "logs" / "2.exit").write_text("143\n")  # the runner saw SIGTERM; the scheduler says why

    experiment = xm_cluster.get_experiment(experiment_id)
    results = experiment.task_statuses()
    assert FakeScheduler.queries == [["fake-a", "fake-b", "fake-c"]]
    [(_, unit1)] = results[1]
    [(_, unit2)] = results[2]
    assert {t: (s.state, s.exit_code) for t, s in unit1.items()} == {
        0: (TaskState.COMPLETED, 0),
        1: (TaskState.FAILED, 7),
        2: (TaskState.CANCELLED, 143),
    }
    assert {t: s.state for t, s in unit2.items()} == {0: TaskState.FAILED, 1: TaskState.PENDING}
    assert unit1[1].log_path == f"{first}/logs/1.err"

    # Unit 1 has ended: its states are now cached, so only unit 2's job is asked about.
    xm_cluster.get_experiment(experiment_id).task_statuses()
    assert FakeScheduler.queries[-1] == ["fake-c"]
    status = experiment.work_units[1].get_status()
    assert status.is_failed and status.counts() == {"COMPLETED": 1, "FAILED": 1, "CANCELLED": 1}


def test_rerun_maps_array_positions_to_task_ids(fake: Path) -> None:
    store = ExperimentStore()
    experiment_id = store.create_experiment("rerun")
    job_dir = _record_job(store, fake, experiment_id, 1, ["fake-a"], [5])
    FakeScheduler.answers = {
        "fake-a": {
            t: _status(t, TaskState.FAILED if t in (1, 3) else TaskState.COMPLETED, 1 if t in (1, 3) else 0)
            for t in range(5)
        }
    }
    for task in (1, 3):
        (job_dir / "logs" / f"{task}.err").write_text(f"first attempt of {task}\n")
        (job_dir / "logs" / f"{task}.exit").write_text("1\n")
    experiment = xm_cluster.get_experiment(experiment_id)
    report = experiment.rerun_failed()
    assert report.attempt == 2 and report.jobs == [(1, "train", [1, 3], ["fake-1"])]
    [request] = FakeScheduler.submitted
    assert request.chunk.offset == 0 and request.chunk.count == 2
    assert request.index_map is not None and Path(request.index_map).read_text() == "1\n3\n"
    assert request.job_dir == str(job_dir) and request.spec_path == f"{job_dir}/job.json"
    # The first attempt's logs of the rerun tasks moved aside; the others stay.
    assert (job_dir / "logs" / "attempt-1" / "1.err").read_text() == "first attempt of 1\n"
    assert not (job_dir / "logs" / "1.exit").exists()
    [_, rerun] = store.jobs(experiment_id)
    assert rerun["attempt"] == 2 and rerun["task_ids"] == [1, 3]
    assert rerun["submitted"][0]["task_ids"] == [1, 3]

    # The scheduler reports the rerun array by position: 0 -> task 1, 1 -> task 3.
    FakeScheduler.answers["fake-1"] = {
        0: _status(0, TaskState.COMPLETED, 0),
        1: _status(1, TaskState.RUNNING),
    }
    [(_, statuses)] = experiment.task_statuses()[1]
    assert {t: s.state for t, s in statuses.items()} == {
        0: TaskState.COMPLETED,
        1: TaskState.COMPLETED,
        2: TaskState.COMPLETED,
        3: TaskState.RUNNING,
        4: TaskState.COMPLETED,
    }
    assert (statuses[0].job_id, statuses[1].job_id, statuses[3].job_id) == ("fake-a", "fake-1", "fake-1")

    # Cancelling asks only about jobs with unfinished tasks, in one command.
    report_cancel = experiment.cancel()
    assert FakeScheduler.cancelled == [["fake-1"]] and report_cancel.active_tasks == 1
    # Nothing failed or was cancelled any more: nothing to rerun.
    FakeScheduler.answers["fake-1"] = {
        0: _status(0, TaskState.COMPLETED, 0),
        1: _status(1, TaskState.COMPLETED, 0),
    }
    assert experiment.rerun_failed().attempt is None


def test_unknown_ids_raise_not_found(fake: Path) -> None:
    with pytest.raises(xm.NotFoundError, match="experiment 4242 is not in the store"):
        xm_cluster.get_experiment(4242)
    store = ExperimentStore()
    experiment = xm_cluster.get_experiment(store.create_experiment("empty"))
    assert experiment.work_units == {}
    with pytest.raises(xm.NotFoundError, match="no work unit 3"):
        experiment.select([3])


def test_reloaded_unit_waits_and_raises_like_a_launched_one(fake: Path) -> None:
    store = ExperimentStore()
    experiment_id = store.create_experiment("wait")
    _record_job(store, fake, experiment_id, 1, ["fake-a"], [2])
    FakeScheduler.answers = {"fake-a": {0: _status(0, TaskState.RUNNING)}}
    unit = xm_cluster.get_experiment(experiment_id).work_units[1]

    import threading

    def finish() -> None:
        FakeScheduler.answers = {
            "fake-a": {0: _status(0, TaskState.COMPLETED, 0), 1: _status(1, TaskState.FAILED, 2)}
        }

    timer = threading.Timer(0.5, finish)
    timer.start()
    with pytest.raises(xm.ExperimentUnitFailedError, match="task 1 exit code 2"):
        unit.wait_until_complete()
    timer.join()


def test_reloaded_units_waiting_together_share_the_clusters_watcher(fake: Path) -> None:
    """One status engine: reloaded jobs go through the target's StatusWatcher, one query per poll."""
    store = ExperimentStore()
    experiment_id = store.create_experiment("shared")
    first = _record_job(store, fake, experiment_id, 1, ["fake-a"], [1])
    _record_job(store, fake, experiment_id, 2, ["fake-b"], [1])
    # sacct still says RUNNING; the completion files say both ended.
    FakeScheduler.answers = {
        "fake-a": {0: _status(0, TaskState.RUNNING)},
        "fake-b": {0: _status(0, TaskState.RUNNING)},
    }
    (first / "logs" / "0.exit").write_text("0\n")
    (fake / f"experiments/{experiment_id}/2/train/logs/0.exit").write_text("0\n")
    experiment = xm_cluster.get_experiment(experiment_id)
    units = experiment.work_units

    async def wait_both() -> None:
        await asyncio.gather(units[1]._wait_until_complete(), units[2]._wait_until_complete())

    asyncio.run(wait_both())
    assert FakeScheduler.queries == [["fake-a", "fake-b"]], "both units' jobs in the same single query"
    target = experiment.target_for(units[1].jobs[0].first)
    assert target.watcher.queries == 1
    assert target is experiment.target_for(units[2].jobs[0].first)


def test_combine_rules() -> None:
    running = _status(0, TaskState.RUNNING)
    assert combine(0, running, None, "j", "l").state is TaskState.RUNNING
    assert combine(0, running, 0, "j", "l").state is TaskState.COMPLETED
    assert combine(0, running, 3, "j", "l").state is TaskState.FAILED
    # Killed by a signal while the scheduler still says running: wait for its reason (e.g. cancelled).
    assert combine(0, running, 143, "j", "l").state is TaskState.RUNNING
    assert combine(0, None, 143, "j", "l").state is TaskState.FAILED
    assert combine(0, _status(0, TaskState.CANCELLED), 143, "j", "l").state is TaskState.CANCELLED
    assert combine(0, None, None, "j", "l").state is TaskState.PENDING
    assert combine(0, _status(0, TaskState.UNKNOWN), None, "j", "l").state is TaskState.PENDING
    timeout = TaskStatus(0, TaskState.FAILED, message="TIMEOUT")
    combined = combine(5, timeout, 143, "j", "l")
    assert (combined.index, combined.state, combined.exit_code, combined.message) == (
        5,
        TaskState.FAILED,
        143,
        "TIMEOUT",
    )


def test_read_exit_files_in_one_command(tmp_path: Path) -> None:
    first, second, missing = tmp_path / "a", tmp_path / "b", tmp_path / "missing"
    first.mkdir()
    second.mkdir()
    (first / "0.exit").write_text("0\n")
    (first / "12.exit").write_text("3\n")
    (first / "12.exit.tmp99").write_text("junk")
    (second / "1.exit").write_text("143\n")
    (second / "1.out").write_text("not an exit file")
    assert read_exit_files(LocalTransport(), [str(first), str(missing), str(second)]) == [
        {0: 0, 12: 3},
        {},
        {1: 143},
    ]
