"""The Slurm scheduler module: rendering (golden files), parsing (real sacct/squeue
output captured from the testbed), one command per submit/query/cancel, and a
few checks against the real Slurm of the testbed through a LocalTransport
(root may submit there).

Regenerate the golden scripts with `LXM3_UPDATE_GOLDEN=1 pytest tests/schedulers/test_slurm.py`;
the captured fixtures with `bash tests/fixtures/slurm/capture.sh`.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import pytest

from lxm3 import xm
from lxm3.schedulers.base import ArrayChunk, JobScript, RenderRequest, SchedulerError, SubmittedJob
from lxm3.schedulers.slurm import (
    SlurmScheduler,
    map_state,
    parse_exit_code,
    parse_index_ranges,
    parse_max_array_size,
    parse_rows,
    parse_wait_status,
    sbatch_quote,
)
from lxm3.transport.local import LocalTransport
from lxm3.xm.status import TaskState, TaskStatus
from lxm3.xm_cluster.executors.slurm import Slurm
from tests.hostile import HOSTILE_VALUES, SLURM_VALUES, one_line
from tests.schedulers.fakes import RecordingTransport, chunked_scripts, fake_bin, result
from tests.schedulers.requests import render_request

TESTS = Path(__file__).resolve().parent.parent
GOLDEN = TESTS / "golden" / "slurm"
FIXTURES = TESTS / "fixtures" / "slurm"
IDS = json.loads((FIXTURES / "ids.json").read_text())

#: One line each (a directive holds no line break), plus what Slurm expands.
HOSTILE = one_line([*HOSTILE_VALUES, *SLURM_VALUES])


#: Slurm's golden files name the job `sweep_1_train`.
request = functools.partial(render_request, label="sweep_1_train")


GOLDEN_CASES: dict[str, RenderRequest] = {
    "single-job": request(Slurm()),
    "array-resources": request(
        Slurm(
            xm.JobRequirements(cpu=4, ram=16 * xm.GiB, a100=2),
            walltime="1-02:03:04",
            partition="gpu",
            qos="high",
            account="proj-42",
            exclusive=True,
            max_parallel=10,
            modules=["cuda/12.1", "gcc/12 openmpi/4"],
        ),
        chunk=ArrayChunk(101, 50),
        num_tasks=151,
        env={"WANDB_MODE": "offline", "DATA": "/data/my set"},
    ),
    "multi-node": request(
        Slurm(
            xm.JobRequirements(cpu=8, memory=6 * xm.GB, gpu=1, disk=10 * xm.GiB, replicas=2), walltime=3600
        ),
        chunk=ArrayChunk(0, 3),
        num_tasks=3,
    ),
    "overrides": request(
        Slurm(
            xm.JobRequirements(cpu=2, ram=4 * xm.GiB, gpu=1),
            resources={"gres": "gpu:tesla:1", "constraint": "v100|a100", "mem": 1234, "requeue": True},
            extra_directives=["--mail-type=END,FAIL", "--signal=B:USR1@60", "--comment=dropped"],
            skip_directives=["--job-name", "comment", "time"],
            walltime=60,
            log_directory="/scratch/me/slurm logs/100%",
        ),
        chunk=ArrayChunk(0, 4),
        num_tasks=4,
    ),
    "hostile-values": request(
        Slurm(resources={"comment": "a 'b' \"c\" \\d $e `f` #g"}, max_parallel=2),
        label="exp 'x' \"y\"\nrm -rf ~",
        chunk=ArrayChunk(0, 2),
        num_tasks=2,
        env={f"HOSTILE_{i}": value for i, value in enumerate(HOSTILE)},
    ),
    "rerun-index-map": request(
        Slurm(max_parallel=1),
        chunk=ArrayChunk(0, 3),
        num_tasks=20,
        index_map="/scratch/me/lxm3/experiments/7/1/train/rerun-1.idx",
    ),
}


# ---------------------------------------------------------------- rendering


@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_render_matches_golden_file(name: str) -> None:
    rendered = SlurmScheduler().render(GOLDEN_CASES[name])
    golden = GOLDEN / f"{name}.sh"
    if os.environ.get("LXM3_UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(rendered)
    assert golden.exists(), f"no golden file {golden}; run with LXM3_UPDATE_GOLDEN=1"
    assert rendered == golden.read_text()


@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_rendered_script_is_valid_bash(name: str, tmp_path: Path) -> None:
    script = tmp_path / "job.sh"
    script.write_text(SlurmScheduler().render(GOLDEN_CASES[name]))
    subprocess.run(["bash", "-n", str(script)], check=True)


def test_directives_precede_every_command() -> None:
    """sbatch stops reading #SBATCH lines at the first command."""
    for name, case in GOLDEN_CASES.items():
        lines = SlurmScheduler().render(case).splitlines()
        first_command = next(i for i, line in enumerate(lines) if line.strip() and not line.startswith("#"))
        assert not any(line.startswith("#SBATCH") for line in lines[first_command:]), name


def test_single_job_is_not_an_array_but_a_sweep_is() -> None:
    scheduler = SlurmScheduler()
    single = scheduler.render(request(Slurm()))
    assert "--array" not in single
    assert "--output=/scratch/me/lxm3/experiments/7/1/train/logs/slurm-%j.out" in single
    sweep = scheduler.render(request(Slurm(max_parallel=2), chunk=ArrayChunk(0, 5), num_tasks=5))
    assert "#SBATCH --array=0-4%2\n" in sweep
    assert "slurm-%A_%a.out" in sweep
    one_task_chunk = scheduler.render(request(Slurm(max_parallel=2), chunk=ArrayChunk(202, 1), num_tasks=203))
    assert "#SBATCH --array=0-0\n" in one_task_chunk
    assert "LXM_TASK_ID=$((LXM_ARRAY_INDEX + 202))" in one_task_chunk


def test_memory_and_time_are_rendered_in_slurm_units() -> None:
    directives = dict(Slurm(xm.JobRequirements(ram=8 * xm.GiB), walltime=90).requirement_directives())
    assert directives == {"mem": "8G", "time": "00:01:30"}
    assert dict(Slurm(xm.JobRequirements(ram=2 * xm.GB)).requirement_directives())["mem"] == "1908M"
    assert dict(Slurm(xm.JobRequirements(ram=1)).requirement_directives())["mem"] == "1M"
    assert dict(Slurm(walltime=3 * xm.Day + 5).requirement_directives())["time"] == "3-00:00:05"
    assert dict(Slurm(xm.JobRequirements(cpu=1.5)).requirement_directives())["cpus-per-task"] == "2"
    assert Slurm(xm.JobRequirements(memory=0, cpu=0)).requirement_directives() == []


def test_user_template_directory_overrides_the_shipped_template(tmp_path: Path) -> None:
    (tmp_path / "slurm.sh.j2").write_text(
        '{% extends "job.sh.j2" %}\n{% block directives %}#SBATCH --comment=mine\n{% endblock %}\n'
    )
    rendered = SlurmScheduler(template_dirs=[tmp_path]).render(request(Slurm()))
    assert rendered.splitlines()[1] == "#SBATCH --comment=mine"


def test_directive_quoting_rejects_line_breaks() -> None:
    with pytest.raises(ValueError, match="line break"):
        sbatch_quote("a\nb")
    assert sbatch_quote("plain") == "plain"
    assert sbatch_quote("a\\b c") == "'a\\\\b c'"


# ---------------------------------------------------------------- parsing


def jobs_from_ids(**chunks: ArrayChunk) -> list[SubmittedJob]:
    return [
        SubmittedJob(IDS[name], chunk, f"/stage/experiments/1/1/{name}/job-0.sh")
        for name, chunk in chunks.items()
    ]


def states(statuses: Mapping[int, TaskStatus]) -> dict[int, str]:
    return {task: status.state.value for task, status in sorted(statuses.items())}


def fixture_lines(name: str) -> list[str]:
    return (FIXTURES / name).read_text().splitlines()


@pytest.mark.parametrize(
    ("text", "state", "message"),
    [
        ("PENDING", TaskState.PENDING, ""),
        ("REQUEUED", TaskState.PENDING, "REQUEUED"),
        ("RUNNING", TaskState.RUNNING, ""),
        ("COMPLETING", TaskState.RUNNING, ""),
        ("SUSPENDED", TaskState.RUNNING, ""),
        ("COMPLETED", TaskState.COMPLETED, ""),
        ("FAILED", TaskState.FAILED, "FAILED"),
        ("TIMEOUT", TaskState.FAILED, "TIMEOUT"),
        ("OUT_OF_MEMORY", TaskState.FAILED, "OUT_OF_MEMORY"),
        ("NODE_FAIL", TaskState.FAILED, "NODE_FAIL"),
        ("BOOT_FAIL", TaskState.FAILED, "BOOT_FAIL"),
        ("DEADLINE", TaskState.FAILED, "DEADLINE"),
        ("CANCELLED by 1001", TaskState.CANCELLED, "CANCELLED by 1001"),
        ("CANCELLED+", TaskState.CANCELLED, "CANCELLED+"),
        ("SOMETHING_NEW", TaskState.UNKNOWN, "SOMETHING_NEW"),
    ],
)
def test_map_state(text: str, state: TaskState, message: str) -> None:
    assert map_state(text) == (state, message)


def test_exit_codes() -> None:
    assert parse_exit_code("0:0") == 0
    assert parse_exit_code("3:0") == 3
    assert parse_exit_code("0:9") == 137
    assert parse_exit_code("") is None
    assert parse_wait_status("768") == 3
    assert parse_wait_status("9") == 137
    assert parse_wait_status("36608") == 143
    assert parse_wait_status("N/A") is None


def test_index_ranges() -> None:
    assert parse_index_ranges("4-9%2") == [4, 5, 6, 7, 8, 9]
    assert parse_index_ranges("0,3-5,7") == [0, 3, 4, 5, 7]
    assert parse_index_ranges("0-8:4") == [0, 4, 8]
    assert parse_index_ranges("12") == [12]


def test_sacct_running_array_with_pending_range_and_offsets() -> None:
    """Captured while both arrays ran; note sacct still listed 2-9 as pending (it lags squeue)."""
    jobs = jobs_from_ids(array=ArrayChunk(100, 10), cancelled=ArrayChunk(0, 6))
    parsed = parse_rows(fixture_lines("sacct-array-running.txt"), jobs)
    array = parsed[IDS["array"]]
    assert states(array) == {
        100: "COMPLETED",
        101: "FAILED",
        **{task: "PENDING" for task in range(102, 110)},
    }
    assert array[101].exit_code == 3
    assert array[101].message == "FAILED"
    assert array[101].log_path == "/stage/experiments/1/1/array/logs/101.err"
    assert array[100].log_path == "/stage/experiments/1/1/array/logs/100.out"
    assert array[102].exit_code is None and array[102].log_path is None
    assert states(parsed[IDS["cancelled"]]) == {0: "RUNNING", **{task: "PENDING" for task in range(1, 6)}}


def test_sacct_final_array() -> None:
    jobs = jobs_from_ids(array=ArrayChunk(0, 10))
    parsed = parse_rows(fixture_lines("sacct-array-final.txt"), jobs)[IDS["array"]]
    assert sorted(task for task, status in parsed.items() if status.state is TaskState.FAILED) == [1, 4, 7]
    assert all(status.state.is_terminal for status in parsed.values())
    assert {status.exit_code for status in parsed.values()} == {0, 3}
    assert {status.job_id for status in parsed.values()} == {IDS["array"]}


def test_sacct_cancelled_array_expands_the_cancelled_pending_range() -> None:
    jobs = jobs_from_ids(cancelled=ArrayChunk(0, 6))
    parsed = parse_rows(fixture_lines("sacct-array-cancelled.txt"), jobs)[IDS["cancelled"]]
    assert states(parsed) == {task: "CANCELLED" for task in range(6)}
    assert parsed[3].message.startswith("CANCELLED by")


def test_sacct_plain_jobs_and_timeout() -> None:
    jobs = jobs_from_ids(
        completed=ArrayChunk(0, 1), failed=ArrayChunk(0, 1), killed=ArrayChunk(0, 1), timeout=ArrayChunk(0, 1)
    )
    parsed = parse_rows(fixture_lines("sacct-plain.txt") + fixture_lines("sacct-timeout.txt"), jobs)
    summary = {
        name: (parsed[IDS[name]][0].state.value, parsed[IDS[name]][0].exit_code)
        for name in ("completed", "failed", "killed", "timeout")
    }
    assert summary == {
        "completed": ("COMPLETED", 0),
        "failed": ("FAILED", 3),
        "killed": ("FAILED", 137),
        "timeout": ("FAILED", 0),
    }
    assert parsed[IDS["timeout"]][0].message == "TIMEOUT"


def test_squeue_rows_parse_like_sacct_rows() -> None:
    jobs = jobs_from_ids(array=ArrayChunk(0, 10), cancelled=ArrayChunk(0, 6))
    running = parse_rows(fixture_lines("squeue-array-running.txt"), jobs, wait_status=True)
    assert states(running[IDS["array"]]) == {
        0: "COMPLETED",
        1: "FAILED",
        2: "COMPLETED",
        3: "COMPLETED",
        **{task: "PENDING" for task in range(4, 10)},
    }
    assert running[IDS["array"]][1].exit_code == 3
    cancelled = parse_rows(fixture_lines("squeue-array-cancelled.txt"), jobs, wait_status=True)
    assert states(cancelled[IDS["cancelled"]]) == {task: "CANCELLED" for task in range(6)}
    timeout = parse_rows(
        fixture_lines("squeue-timeout.txt"), jobs_from_ids(timeout=ArrayChunk(0, 1)), wait_status=True
    )
    assert timeout[IDS["timeout"]][0].exit_code == 143


def test_rows_of_other_jobs_warnings_and_out_of_range_indices_are_ignored() -> None:
    jobs = [SubmittedJob("10", ArrayChunk(0, 2), "/s/job-0.sh")]
    lines = [
        "sacct: error: something odd",
        "11_0|COMPLETED|0:0",
        "10_5|COMPLETED|0:0",
        "10_1|RUNNING|0:0",
        "10.batch|COMPLETED|0:0",
        "",
    ]
    assert states(parse_rows(lines, jobs)["10"]) == {1: "RUNNING"}


def test_max_array_size_from_scontrol() -> None:
    assert parse_max_array_size((FIXTURES / "scontrol-show-config.txt").read_text()) == 101
    with pytest.raises(SchedulerError, match="MaxArraySize"):
        parse_max_array_size("nothing here")


# ---------------------------------------------------------------- commands (fake transport)


def scripts(count: int, size: int = 101) -> list[JobScript]:
    return chunked_scripts(request, Slurm(), count, size)


def test_query_is_one_sacct_command_for_every_job() -> None:
    jobs = jobs_from_ids(array=ArrayChunk(0, 10), cancelled=ArrayChunk(10, 6))
    transport = RecordingTransport([result((FIXTURES / "sacct-array-running.txt").read_text())])
    parsed = SlurmScheduler().query(transport, jobs)
    assert len(transport.commands) == 1
    command = transport.commands[0][-1]
    assert f"sacct -X -D -n -P -o JobID,State,ExitCode -j {IDS['array']},{IDS['cancelled']}" in command
    assert set(parsed) == {IDS["array"], IDS["cancelled"]}
    assert states(parsed[IDS["cancelled"]])[10] == "RUNNING"


def test_query_falls_back_to_squeue_and_exit_files() -> None:
    """Job 40 is still in squeue; job 41 is not (older than MinJobAge): its exit files decide."""
    jobs = [
        SubmittedJob("40", ArrayChunk(0, 3), "/stage/a/job-0.sh"),
        SubmittedJob("41", ArrayChunk(3, 3), "/stage/b/job-1.sh"),
    ]
    stdout = (
        "@@lxm3 squeue 1 0\n40_0|COMPLETED|0|\n40_[1-2]|PENDING|0|\n"
        "@@lxm3 exit-files 0\n0.exit:0\n1.exit:5\n"
        "@@lxm3 exit-files 1\n3.exit:0\n5.exit:2\n"
    )
    transport = RecordingTransport([result(stdout, "Slurm accounting storage is disabled\n", 0)])
    parsed = SlurmScheduler().query(transport, jobs)
    # squeue wins where it has a row; an exit file tells a task squeue lists only as pending range.
    assert states(parsed["40"]) == {0: "COMPLETED", 1: "PENDING", 2: "PENDING"}
    assert states(parsed["41"]) == {3: "COMPLETED", 4: "FAILED", 5: "FAILED"}
    assert parsed["41"][5].exit_code == 2
    assert "without an exit file" in parsed["41"][4].message


def test_query_fallback_when_squeue_forgot_every_job() -> None:
    jobs = [SubmittedJob("42", ArrayChunk(0, 2), "/stage/c/job-0.sh")]
    stdout = "@@lxm3 squeue 1 1\nslurm_load_jobs error: Invalid job id specified\n@@lxm3 exit-files 0\n0.exit:0\n1.exit:0\n"
    parsed = SlurmScheduler().query(RecordingTransport([result(stdout)]), jobs)
    assert states(parsed["42"]) == {0: "COMPLETED", 1: "COMPLETED"}


def test_query_fallback_never_guesses_when_squeue_fails_too() -> None:
    jobs = [SubmittedJob("43", ArrayChunk(0, 2), "/stage/d/job-0.sh")]
    stdout = "@@lxm3 squeue 1 1\nsqueue: error: Unable to contact slurm controller (connect failure)\n@@lxm3 exit-files 0\n"
    with pytest.raises(SchedulerError, match="Unable to contact slurm controller"):
        SlurmScheduler().query(RecordingTransport([result(stdout, "sacct: error: slurmdbd down")]), jobs)


def test_query_raises_when_sacct_fails_without_fallback_output() -> None:
    transport = RecordingTransport([result("", "ssh: connection refused", 255)])
    with pytest.raises(SchedulerError, match="connection refused"):
        SlurmScheduler().query(transport, [SubmittedJob("1", ArrayChunk(0, 1), "/s/job-0.sh")])


def test_submit_is_one_command_and_returns_jobs_in_order() -> None:
    to_submit = scripts(3)
    transport = RecordingTransport(
        # Parallel submissions print in any order; each line carries its script's index.
        [result("lxm3-submitted 2 53\nlxm3-submitted 0 51\nlxm3-submitted 1 52;cluster\n")]
    )
    submitted = SlurmScheduler().submit(transport, to_submit)
    assert len(transport.commands) == 1
    assert [job.job_id for job in submitted] == ["51", "52", "53"]
    assert [job.chunk.offset for job in submitted] == [0, 101, 202]
    assert [job.script_path for job in submitted] == [script.path for script in to_submit]


def test_submit_refusal_names_the_script_and_keeps_sbatch_words() -> None:
    to_submit = scripts(3)
    stderr = (FIXTURES / "sbatch-bad-partition.stderr").read_text()
    reasons = "".join(f"lxm3-reason 1 {line}\n" for line in stderr.splitlines())
    transport = RecordingTransport([result(f"lxm3-submitted 0 61\nlxm3-refused 1\n{reasons}", "", 1)])
    with pytest.raises(SchedulerError) as caught:
        SlurmScheduler().submit(transport, to_submit)
    message = str(caught.value)
    assert "invalid partition specified: no-such-partition" in message
    assert "Invalid partition name specified" in message
    assert "job-1.sh" in message and "tasks 101..201" in message
    assert [job.job_id for job in caught.value.submitted] == ["61"]
    assert caught.value.refused == to_submit[1].path


def test_cancel_is_one_scancel() -> None:
    transport = RecordingTransport([result()])
    SlurmScheduler().cancel(transport, ["1", "2", "3"])
    assert transport.commands == [["scancel", "1", "2", "3"]]


def test_max_array_size_is_cached_on_disk_per_cluster(tmp_path: Path) -> None:
    config = (FIXTURES / "scontrol-show-config.txt").read_text()
    transport = RecordingTransport([result(config)])
    assert SlurmScheduler(cluster_name="c1", cache_dir=tmp_path).max_array_size(transport) == 101
    assert SlurmScheduler(cluster_name="c1", cache_dir=tmp_path).max_array_size(transport) == 101
    assert transport.commands == [["scontrol", "show", "config"]]
    assert json.loads((tmp_path / "c1.json").read_text())["max_array_size"]["value"] == 101
    other = RecordingTransport(
        [result(config.replace("MaxArraySize            = 101", "MaxArraySize = 5001"))]
    )
    assert SlurmScheduler(cluster_name="c2", cache_dir=tmp_path).max_array_size(other) == 5001


# ---------------------------------------------------------------- real bash, fake Slurm binaries


def test_submit_command_stops_at_the_first_refusal_in_real_bash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_bin(
        tmp_path,
        monkeypatch,
        {
            "sbatch": f"""
            echo "$@" >> {tmp_path}/calls
            case "$2" in *job-1.sh) echo "sbatch: error: Batch job submission failed: nope" >&2; exit 1;; esac
            echo $((RANDOM % 1000 + 1))
            """
        },
    )
    # One at a time: nothing after the refused script is submitted.
    monkeypatch.setattr(SlurmScheduler, "submit_parallelism", 1)
    with pytest.raises(SchedulerError, match="nope") as caught:
        SlurmScheduler().submit(LocalTransport(), scripts(3))
    assert len(caught.value.submitted) == 1
    assert len((tmp_path / "calls").read_text().splitlines()) == 2


def test_submissions_run_in_waves_and_none_starts_after_a_refusal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_bin(
        tmp_path,
        monkeypatch,
        {
            "sbatch": f"""
            echo "$2 $(date +%s.%N)" >> {tmp_path}/calls
            sleep 0.3
            case "$2" in *job-1.sh) echo "sbatch: error: Batch job submission failed: nope" >&2; exit 1;; esac
            echo $((RANDOM % 1000 + 1))
            """
        },
    )
    monkeypatch.setattr(SlurmScheduler, "submit_parallelism", 4)
    started = time.monotonic()
    with pytest.raises(SchedulerError, match="nope") as caught:
        SlurmScheduler().submit(LocalTransport(), scripts(7))
    elapsed = time.monotonic() - started
    calls = (tmp_path / "calls").read_text().splitlines()
    # The first wave (scripts 0-3) ran together; the second wave never started.
    assert sorted(line.split()[0].rsplit("/", 1)[1] for line in calls) == [f"job-{i}.sh" for i in range(4)]
    assert elapsed < 1.0  # four 0.3 s submissions in parallel, not in sequence
    assert [job.script_path.rsplit("/", 1)[1] for job in caught.value.submitted] == [
        "job-0.sh",
        "job-2.sh",
        "job-3.sh",
    ]
    assert caught.value.refused is not None and caught.value.refused.endswith("job-1.sh")


def test_query_command_fallback_in_real_bash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Accounting off: squeue knows job 70 (task 1 also has an exit file); job 71 is gone."""
    logs = tmp_path / "stage" / "logs"
    logs.mkdir(parents=True)
    (logs / "2.exit").write_text("0\n")
    (logs / "3.exit").write_text("4\n")
    (logs / "2.out").write_text("not an exit file\n")
    other_logs = tmp_path / "other" / "logs"
    other_logs.mkdir(parents=True)
    (other_logs / "1.exit").write_text("9\n")
    fake_bin(
        tmp_path,
        monkeypatch,
        {
            "sacct": 'echo "Slurm accounting storage is disabled" >&2; exit 1\n',
            "squeue": "printf '%s\\n' '70_0|RUNNING|0|' '70_1|FAILED|256|'\n",
        },
    )
    jobs = [
        SubmittedJob("70", ArrayChunk(0, 2), str(tmp_path / "other" / "job-0.sh")),
        SubmittedJob("71", ArrayChunk(2, 2), str(tmp_path / "stage" / "job-1.sh")),
    ]
    parsed = SlurmScheduler().query(LocalTransport(), jobs)
    assert states(parsed["70"]) == {0: "RUNNING", 1: "FAILED"}
    assert parsed["70"][1].exit_code == 1
    assert states(parsed["71"]) == {2: "COMPLETED", 3: "FAILED"}
    assert parsed["71"][3].exit_code == 4


# ---------------------------------------------------------------- the real Slurm of the testbed


def require_local_slurm() -> None:
    """These tests need the testbed's Slurm; they fail (never skip) when it is down."""
    for tool in ("sbatch", "sacct", "scontrol", "scancel"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} not found; bring the testbed up with: bash tests/testbed/up.sh")
    probe = subprocess.run(["sinfo", "-h"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.fail(f"Slurm testbed is down ({probe.stderr.strip()}); run: bash tests/testbed/up.sh")


def wait_final(
    scheduler: SlurmScheduler, jobs: list[SubmittedJob], timeout: float = 60
) -> dict[int, TaskStatus]:
    deadline = time.monotonic() + timeout
    while True:
        parsed = scheduler.query(LocalTransport(), jobs)
        merged = {task: status for tasks in parsed.values() for task, status in tasks.items()}
        wanted = [task for job in jobs for task in job.chunk.task_ids]
        if all(task in merged and merged[task].state.is_terminal for task in wanted):
            return merged
        if time.monotonic() > deadline:
            raise AssertionError(f"not final after {timeout} s: {merged}")
        time.sleep(0.5)


def staged_scripts(
    tmp_path: Path, scheduler: SlurmScheduler, executor: Slurm, sizes: list[int], sleep: float = 0
) -> list[JobScript]:
    """Job scripts whose "runner" records the task id and fails task 1."""
    runner = tmp_path / "runner.py"
    runner.write_text(
        "import sys, time\n"
        f"time.sleep({sleep})\n"
        "task = int(sys.argv[2])\n"
        "open(sys.argv[1] + '.' + str(task), 'w').write(str(task))\n"
        "sys.exit(3 if task == 1 else 0)\n"
    )
    (tmp_path / "logs").mkdir(exist_ok=True)
    result = []
    offset = 0
    for number, size in enumerate(sizes):
        case = request(
            executor,
            label="lxm3-unit-test",
            chunk=ArrayChunk(offset, size),
            num_tasks=sum(sizes),
            job_dir=str(tmp_path),
            log_dir=str(tmp_path / "logs"),
            runner_path=str(runner),
            spec_path=str(tmp_path / "done"),
        )
        path = tmp_path / f"job-{number}.sh"
        path.write_text(scheduler.render(case))
        result.append(JobScript(str(path), case))
        offset += size
    return result


@pytest.mark.slurm
def test_real_slurm_submit_query_and_global_task_ids(tmp_path: Path) -> None:
    require_local_slurm()
    scheduler = SlurmScheduler()
    to_submit = staged_scripts(tmp_path, scheduler, Slurm(max_parallel=3), [3, 2])
    jobs = scheduler.submit(LocalTransport(), to_submit)
    assert [job.chunk for job in jobs] == [ArrayChunk(0, 3), ArrayChunk(3, 2)]
    final = wait_final(scheduler, jobs)
    assert {task: status.state.value for task, status in final.items()} == {
        0: "COMPLETED", 1: "FAILED", 2: "COMPLETED", 3: "COMPLETED", 4: "COMPLETED",
    }  # fmt: skip
    assert final[1].exit_code == 3
    assert sorted(int(p.read_text()) for p in tmp_path.glob("done.*")) == [0, 1, 2, 3, 4]


@pytest.mark.slurm
def test_real_slurm_without_accounting_falls_back_to_squeue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Client commands reading a slurm.conf without accounting: sacct refuses, squeue answers."""
    require_local_slurm()
    scheduler = SlurmScheduler()
    jobs = scheduler.submit(LocalTransport(), staged_scripts(tmp_path, scheduler, Slurm(), [3]))
    with_accounting = wait_final(scheduler, jobs)
    conf = Path(os.environ.get("SLURM_CONF", "/etc/slurm/slurm.conf")).read_text()
    no_accounting = tmp_path / "slurm.conf"
    no_accounting.write_text(
        re.sub(r"(?m)^AccountingStorageType=.*$", "AccountingStorageType=accounting_storage/none", conf)
    )
    monkeypatch.setenv("SLURM_CONF", str(no_accounting))
    assert (
        "accounting storage is disabled" in subprocess.run(["sacct"], capture_output=True, text=True).stderr
    )
    without = wait_final(scheduler, jobs)
    assert states(without) == states(with_accounting) == {0: "COMPLETED", 1: "FAILED", 2: "COMPLETED"}
    assert without[1].exit_code == 3


@pytest.mark.slurm
def test_real_slurm_refusal_and_cancel(tmp_path: Path) -> None:
    require_local_slurm()
    scheduler = SlurmScheduler()
    good, bad = staged_scripts(tmp_path, scheduler, Slurm(max_parallel=1), [2, 1], sleep=60)
    bad_path = Path(bad.path)
    bad_path.write_text(
        bad_path.read_text().replace(
            "#SBATCH --job-name", "#SBATCH --partition=no-such-partition\n#SBATCH --job-name"
        )
    )
    with pytest.raises(SchedulerError, match="invalid partition specified: no-such-partition") as caught:
        scheduler.submit(LocalTransport(), [good, bad])
    [submitted] = caught.value.submitted  # type: ignore[attr-defined]
    scheduler.cancel(LocalTransport(), [submitted.job_id])
    final = wait_final(scheduler, [submitted])
    assert {status.state for status in final.values()} == {TaskState.CANCELLED}


@pytest.mark.slurm
def test_real_slurm_directive_values_arrive_as_written(tmp_path: Path) -> None:
    """sbatch's own #SBATCH parser reads back every hostile value exactly."""
    require_local_slurm()
    values = [value for value in HOSTILE if value and value == value.strip()]
    scheduler = SlurmScheduler()
    for value in values:
        case = request(
            Slurm(resources={"comment": value}), label=value, job_dir=str(tmp_path), log_dir=str(tmp_path)
        )
        path = tmp_path / "job.sh"
        path.write_text(scheduler.render(case))
        job_id = subprocess.run(
            ["sbatch", "--parsable", "--hold", str(path)], capture_output=True, text=True, check=True
        ).stdout.strip()
        try:
            shown = subprocess.run(
                ["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True, check=True
            ).stdout
        finally:
            subprocess.run(["scancel", job_id], check=False)
        assert f"JobName={value.replace(chr(9), '_')} " in shown, (
            value,
            shown,
        )  # control characters become _
        assert f"Comment={value} " in shown, (value, shown)


@pytest.mark.slurm
def test_real_max_array_size(tmp_path: Path) -> None:
    require_local_slurm()
    assert SlurmScheduler(cluster_name="local", cache_dir=tmp_path).max_array_size(LocalTransport()) == 101
