"""Task packing without a cluster: chunks, the rendered scripts run by bash, the runner, states.

The end-to-end behaviour on real Slurm and Grid Engine is in
tests/e2e/test_packing_e2e.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lxm3.schedulers import limits
from lxm3.schedulers.base import ArrayChunk, SubmittedJob, split_into_chunks
from lxm3.schedulers.packing import element_job, spread
from lxm3.schedulers.sge import GridEngineScheduler
from lxm3.schedulers.slurm import SlurmScheduler
from lxm3.xm.status import TaskState, TaskStatus
from lxm3.xm_cluster import ArrayJob
from lxm3.xm_cluster.executors.gridengine import GridEngine
from lxm3.xm_cluster.executors.slurm import Slurm
from tests.runtime.test_task_runner import Job
from tests.schedulers.test_slurm import request


def test_chunks_hold_max_array_size_array_tasks_of_pack_tasks() -> None:
    chunks = split_into_chunks(1000, 101, pack=4)
    assert [(c.offset, c.count, c.array_size) for c in chunks] == [
        (0, 404, 101),
        (404, 404, 101),
        (808, 192, 48),
    ]
    assert list(chunks[2].positions(47)) == [188, 189, 190, 191]
    assert chunks[2].array_size == 48 and list(chunks[2].positions(0)) == [0, 1, 2, 3]
    assert split_into_chunks(5, 101) == [ArrayChunk(0, 5)]  # unpacked as before


def test_packed_chunk_round_trips_through_the_store_record() -> None:
    job = SubmittedJob("42", ArrayChunk(10, 9, pack=4), "/s/job-0.sh")
    assert SubmittedJob.from_record(job.to_record()) == job
    assert "pack" not in SubmittedJob("1", ArrayChunk(0, 3), "/s").to_record()


def test_array_job_validates_pack() -> None:
    with pytest.raises(ValueError, match="pack must be a whole number >= 1"):
        ArrayJob(object(), Slurm(), args=[{}], pack=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="pack_parallel"):
        ArrayJob(object(), Slurm(), args=[{}], pack=2, pack_parallel=-1)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["slurm", "sge"])
@pytest.mark.parametrize(
    ("chunk", "index", "expected"),
    [
        (ArrayChunk(200, 10, pack=4), 0, ["200", "201", "202", "203"]),
        (ArrayChunk(200, 10, pack=4), 2, ["208", "209"]),  # the last array task holds the rest
        (ArrayChunk(0, 3, pack=3), 0, ["0", "1", "2"]),
    ],
)
def test_packed_script_passes_its_task_ids_to_the_runner(
    tmp_path: Path, kind: str, chunk: ArrayChunk, index: int, expected: list[str]
) -> None:
    case = request(
        Slurm() if kind == "slurm" else GridEngine(),
        chunk=chunk,
        num_tasks=500,
        python="echo",
        pack_parallel=1,
    )
    scheduler = SlurmScheduler() if kind == "slurm" else GridEngineScheduler()
    script = tmp_path / "job.sh"
    script.write_text(scheduler.render(case))
    env = {"PATH": os.environ["PATH"], "SLURM_ARRAY_TASK_ID": str(index), "SGE_TASK_ID": str(index + 1)}
    if chunk.array_size == 1:
        env["SGE_TASK_ID"] = "undefined"
    out = subprocess.run(["bash", str(script)], env=env, check=True, capture_output=True, text=True).stdout
    words = out.splitlines()[0].split()
    assert words[0] == case.runner_path and words[2:] == expected
    directive = "--array=0-" if kind == "slurm" else "#$ -t 1-"
    if chunk.array_size > 1:
        assert (
            f"{directive}{chunk.array_size - 1 if kind == 'slurm' else chunk.array_size}\n"
            in script.read_text()
        )


def test_packed_rerun_reads_its_ids_from_the_index_map(tmp_path: Path) -> None:
    index_map = tmp_path / "rerun.idx"
    index_map.write_text("3\n17\n42\n99\n")
    case = request(
        Slurm(),
        chunk=ArrayChunk(0, 4, pack=3),
        num_tasks=100,
        index_map=str(index_map),
        python="echo",
        pack_parallel=2,
    )
    script = tmp_path / "job.sh"
    script.write_text(SlurmScheduler().render(case))
    env = {"PATH": os.environ["PATH"], "SLURM_ARRAY_TASK_ID": "0"}
    out = subprocess.run(["bash", str(script)], env=env, check=True, capture_output=True, text=True).stdout
    assert out.split()[2:] == ["--parallel", "2", "3", "17", "42"]
    env["SLURM_ARRAY_TASK_ID"] = "1"
    out = subprocess.run(["bash", str(script)], env=env, check=True, capture_output=True, text=True).stdout
    assert out.split()[2:] == ["--parallel", "2", "99"]


def runner_job(tmp_path: Path, count: int) -> Job:
    tasks = [
        ([f"--seed={i}", "a b"], {"PROBE_EXIT": "3" if i == 2 else "0", "PROBE_SLEEP": "0.3"})
        for i in range(count)
    ]
    return Job(tmp_path, tasks)


def pack_argv(job: Job, *tasks: int, parallel: int = 1) -> list[str]:
    argv = job.argv(tasks[0])[:-1]
    return [*argv, *(["--parallel", str(parallel)] if parallel > 1 else []), *map(str, tasks)]


@pytest.mark.parametrize("parallel", [1, 3])
def test_runner_runs_each_packed_task_as_its_own_task(tmp_path: Path, parallel: int) -> None:
    job = runner_job(tmp_path, 4)
    result = subprocess.run(pack_argv(job, 0, 1, 2, 3, parallel=parallel), capture_output=True, timeout=60)
    assert result.returncode == 3, "the first failed task's code"
    for task in range(4):
        report = job.report(task)
        assert report["argv"] == [f"--seed={task}", "a b"]
        assert report["env"]["LXM_TASK_ID"] == str(task)
        assert job.exit_code(task) == (3 if task == 2 else 0)


@pytest.mark.parametrize("parallel", [1, 2])
def test_packed_tasks_run_one_after_another_or_at_once(tmp_path: Path, parallel: int) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    # Each task leaves a start mark, waits, then counts the marks: sequential tasks see 1, 2, 3.
    script = f"touch {marks}/start-$LXM_TASK_ID; sleep 1; ls {marks} | grep -c start > {marks}/../seen-$LXM_TASK_ID"
    job = Job(tmp_path, [([], {}) for _ in range(3)], entrypoint={"kind": "commands", "commands": [script]})
    subprocess.run(pack_argv(job, 0, 1, 2, parallel=parallel), check=True, timeout=60)
    seen = [int((tmp_path / f"seen-{task}").read_text()) for task in range(3)]
    if parallel == 1:
        assert seen == [1, 2, 3]
    else:
        assert seen[0] == 2 and seen[1] == 2 and seen[2] == 3, seen


def test_a_stop_signal_stops_the_running_task_and_starts_no_more(tmp_path: Path) -> None:
    job = Job(
        tmp_path, [([], {"PROBE_SLEEP": "30", "PROBE_READY": str(tmp_path / f"ready-{i}")}) for i in range(3)]
    )
    process = subprocess.Popen(pack_argv(job, 0, 1, 2), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not (tmp_path / "ready-0").exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGTERM, "dies of the signal: the scheduler shows CANCELLED"
    assert job.exit_code(0) == 128 + signal.SIGTERM
    assert not (job.logs / "1.exit").exists() and not (job.logs / "1.out").exists()


def element(index: int, state: TaskState, code: int | None = None) -> TaskStatus:
    return TaskStatus(index, state, exit_code=code, job_id="7")


def test_spread_gives_each_task_its_own_state() -> None:
    job = SubmittedJob("7", ArrayChunk(100, 7, pack=3), "/x/job/job-0.sh")
    assert element_job(job).chunk == ArrayChunk(0, 3)
    states = spread(
        job,
        {
            0: element(0, TaskState.FAILED, 3),  # ran all three; one failed
            1: element(1, TaskState.CANCELLED),  # cancelled while running its second task
            2: element(2, TaskState.PENDING),
        },
        {100: 0, 101: 3, 102: 0, 103: 0},
    )
    summary = {task: (s.state.value, s.exit_code) for task, s in states.items()}
    assert summary == {
        100: ("COMPLETED", 0),
        101: ("FAILED", 3),
        102: ("COMPLETED", 0),
        103: ("COMPLETED", 0),
        104: ("CANCELLED", None),
        105: ("CANCELLED", None),
        106: ("PENDING", None),
    }
    assert states[101].log_path == "/x/job/logs/101.err"


def test_slurm_limits_parse_and_decide(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    head = "MaxArraySize            = 101\nMaxJobCount             = 100000\n@@lxm3-limits\n"
    assoc_mgr = head + "MaxSubmitJobs=40\nGrpSubmitJobs=300\n"
    assert limits.parse_slurm_static(assoc_mgr) == {"max_job_count": 100000, "max_submit_jobs": 40}
    sacctmgr = head + "@@lxm3-limits sacctmgr\n500|\n|\n"
    assert limits.parse_slurm_static(sacctmgr) == {"max_job_count": 100000, "max_submit_jobs": 500}
    assert limits.parse_slurm_static(head) == {"max_job_count": 100000, "max_submit_jobs": None}
    assert limits.parse_sge_static("max_u_jobs                   40\nmax_jobs 0\n") == {
        "max_u_jobs": 40,
        "max_jobs": None,
    }


def test_python_36_compatible_runner_syntax() -> None:
    from lxm3.runtime.shipped_runner import runner_sources

    for path in runner_sources().values():
        source = path.read_text()
        assert 'f"' not in source and "f'" not in source, (
            f"no f-strings in {path.name}: the runner must run on Python 3.6"
        )
    assert sys.version_info >= (3, 8)
