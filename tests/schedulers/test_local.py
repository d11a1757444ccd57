"""The local scheduler: job scripts as subprocesses, statuses, parallelism, cancel."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from lxm3.schedulers.base import ArrayChunk, JobScript, RenderRequest, SubmittedJob
from lxm3.schedulers.local import LocalScheduler
from lxm3.transport.local import LocalTransport
from lxm3.xm.status import TaskState, TaskStatus
from lxm3.xm_cluster.executors.local import Local
from tests.hostile import hostile_env

TRANSPORT = LocalTransport()


def request(
    tmp_path: Path, count: int, *, offset: int = 0, parallelism: int = 4, **kwargs: Any
) -> RenderRequest:
    job_dir = kwargs.pop("job_dir", tmp_path / "job")
    (job_dir / "logs").mkdir(parents=True, exist_ok=True)
    defaults: dict[str, Any] = {
        "job_name": "trainer",
        "label": "7_1_trainer",
        "executor": Local(max_parallel=parallelism),
        "chunk": ArrayChunk(offset, count),
        "num_tasks": offset + count,
        "job_dir": str(job_dir),
        "log_dir": str(job_dir / "logs"),
        "runner_path": str(tmp_path / "runner.py"),
        "spec_path": str(job_dir / "job.json"),
    }
    defaults.update(kwargs)
    return RenderRequest(**defaults)


def submit_script(scheduler: LocalScheduler, req: RenderRequest, body: str) -> SubmittedJob:
    script = Path(req.job_dir) / "job-0.sh"
    script.write_text("#!/bin/bash\n" + body)
    [job] = scheduler.submit(TRANSPORT, [JobScript(str(script), req)])
    return job


def statuses(scheduler: LocalScheduler, job: SubmittedJob) -> dict[int, TaskStatus]:
    return scheduler.query(TRANSPORT, [job])[job.job_id]


def wait_for(condition: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_tasks_run_with_their_array_index_and_end_completed_or_failed(tmp_path: Path) -> None:
    scheduler = LocalScheduler(echo=False)
    req = request(tmp_path, 3)
    job = submit_script(
        scheduler,
        req,
        'echo "out $LXM_ARRAY_INDEX"\necho "err $LXM_ARRAY_INDEX" >&2\n[ "$LXM_ARRAY_INDEX" != 1 ] || exit 3\n',
    )
    scheduler.wait([job.job_id], timeout=20)
    final = statuses(scheduler, job)
    logs = Path(req.log_dir)
    assert {t: (s.state, s.exit_code) for t, s in final.items()} == {
        0: (TaskState.COMPLETED, 0),
        1: (TaskState.FAILED, 3),
        2: (TaskState.COMPLETED, 0),
    }
    assert final[1].log_path == str(logs / "1.err") and final[0].log_path == str(logs / "0.out")
    assert {s.job_id for s in final.values()} == {job.job_id}
    for task in range(3):
        assert (logs / f"{task}.out").read_text() == f"out {task}\n"
        assert (logs / f"{task}.err").read_text() == f"err {task}\n"
    assert [(logs / f"{t}.exit").read_text() for t in range(3)] == ["0\n", "3\n", "0\n"]


def test_task_killed_by_a_signal_reports_128_plus_signal(tmp_path: Path) -> None:
    scheduler = LocalScheduler(echo=False)
    req = request(tmp_path, 1)
    job = submit_script(scheduler, req, "kill -KILL $$\n")
    scheduler.wait([job.job_id], timeout=20)
    status = statuses(scheduler, job)[0]
    assert status.state is TaskState.FAILED and status.exit_code == 137
    assert (Path(req.log_dir) / "0.exit").read_text() == "137\n"


def test_rendered_script_runs_the_runner_with_the_global_task_id(tmp_path: Path) -> None:
    runner = tmp_path / "runner.py"
    runner.write_text(
        "import json, os, sys\n"
        "env = {k: v for k, v in os.environ.items() if k.startswith('HOSTILE_')}\n"
        "print(json.dumps([sys.argv[1:], os.environ['LXM_TASK_ID'], env]))\n"
    )
    weird = tmp_path / "we ird $dir 'q' `x`"
    hostile = hostile_env()
    req = request(tmp_path, 3, offset=10, job_dir=weird, python=sys.executable, env=hostile)
    scheduler = LocalScheduler(echo=False)
    script = weird / "job-0.sh"
    script.write_text(scheduler.render(req))
    [job] = scheduler.submit(TRANSPORT, [JobScript(str(script), req)])
    scheduler.wait([job.job_id], timeout=20)
    assert {t: s.state for t, s in statuses(scheduler, job).items()} == dict.fromkeys(
        (10, 11, 12), TaskState.COMPLETED
    )
    for task in (10, 11, 12):
        argv, task_id, env_value = json.loads((weird / "logs" / f"{task}.out").read_text())
        assert argv == [str(weird / "job.json"), str(task)] and task_id == str(task)
        assert env_value == hostile


def test_at_most_parallelism_tasks_run_and_the_rest_wait(tmp_path: Path) -> None:
    scheduler = LocalScheduler(echo=False)
    go = tmp_path / "go"
    job = submit_script(
        scheduler, request(tmp_path, 3, parallelism=1), f"while [ ! -e '{go}' ]; do sleep 0.02; done\n"
    )
    try:
        wait_for(lambda: any(s.state is TaskState.RUNNING for s in statuses(scheduler, job).values()))
        time.sleep(0.2)
        states = sorted(s.state.value for s in statuses(scheduler, job).values())
        assert states == ["PENDING", "PENDING", "RUNNING"]
    finally:
        go.touch()  # even when an assertion fails, so no task is left waiting forever
    scheduler.wait([job.job_id], timeout=20)
    assert {s.state for s in statuses(scheduler, job).values()} == {TaskState.COMPLETED}


def test_cancel_stops_running_tasks_and_never_starts_pending_ones(tmp_path: Path) -> None:
    scheduler = LocalScheduler(echo=False)
    req = request(tmp_path, 4, parallelism=2)
    job = submit_script(scheduler, req, f"touch '{tmp_path}/started-'$LXM_ARRAY_INDEX\nsleep 30\n")
    wait_for(lambda: len(list(tmp_path.glob("started-*"))) == 2)
    started = time.monotonic()
    scheduler.cancel(TRANSPORT, [job.job_id])
    scheduler.wait([job.job_id], timeout=20)
    assert time.monotonic() - started < 10
    final = statuses(scheduler, job)
    assert {s.state for s in final.values()} == {TaskState.CANCELLED}
    assert sorted(p.name for p in tmp_path.glob("started-*")) == ["started-0", "started-1"]
    assert not list(Path(req.log_dir).glob("*.exit")), "cancelled tasks leave no completion file"


def test_a_task_taken_just_before_a_cancel_ends_cancelled_not_pending_forever(tmp_path: Path) -> None:
    """The worker took the task and was opening its log when the cancel came."""
    scheduler = LocalScheduler(echo=False)
    req = request(tmp_path, 1, parallelism=1)
    fifo = Path(req.log_dir) / "0.out"
    os.mkfifo(fifo)  # opening it for append blocks until someone reads: the worker is held there
    job = submit_script(scheduler, req, "echo ran\n")
    time.sleep(0.2)
    scheduler.cancel(TRANSPORT, [job.job_id])
    reader = threading.Thread(target=fifo.read_bytes, daemon=True)
    reader.start()
    scheduler.wait([job.job_id], timeout=20)
    assert statuses(scheduler, job)[0].state is TaskState.CANCELLED


def test_cancel_after_completion_keeps_completed(tmp_path: Path) -> None:
    scheduler = LocalScheduler(echo=False)
    job = submit_script(scheduler, request(tmp_path, 2), "true\n")
    scheduler.wait([job.job_id], timeout=20)
    scheduler.cancel(TRANSPORT, [job.job_id])
    assert {s.state for s in statuses(scheduler, job).values()} == {TaskState.COMPLETED}


def test_query_answers_for_known_jobs_only(tmp_path: Path) -> None:
    scheduler = LocalScheduler(echo=False)
    first = submit_script(scheduler, request(tmp_path, 1), "true\n")
    second = submit_script(scheduler, request(tmp_path / "b", 2), "true\n")
    assert first.job_id != second.job_id
    scheduler.wait([first.job_id, second.job_id], timeout=20)
    unknown = SubmittedJob("local-0-999", ArrayChunk(0, 1), "/nowhere")
    result = scheduler.query(TRANSPORT, [first, second, unknown])
    assert set(result) == {first.job_id, second.job_id}
    assert set(result[second.job_id]) == {0, 1}
    scheduler.cancel(TRANSPORT, ["local-0-999"])  # unknown ids are ignored


def test_output_is_echoed_with_a_task_prefix(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    scheduler = LocalScheduler(echo=True)
    job = submit_script(
        scheduler, request(tmp_path, 2, parallelism=1), 'echo "hello $LXM_ARRAY_INDEX"\necho oops >&2\n'
    )
    scheduler.wait([job.job_id], timeout=20)
    out, err = capfd.readouterr()
    assert "[7_1_trainer 0] hello 0\n" in out and "[7_1_trainer 1] hello 1\n" in out
    assert err.count("] oops\n") == 2
