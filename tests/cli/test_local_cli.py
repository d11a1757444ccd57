"""The lifecycle commands end to end on the Local executor, each from a fresh process.

`lxm3 launch` runs a small sweep and exits; list, status, logs, cancel, rerun
and clean then only have the store and the staging dirs to go by.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from lxm3 import xm, xm_cluster
from lxm3.store.db import ExperimentStore

from .conftest import (
    alive,
    all_final,
    launched_id,
    lxm3_argv,
    run_lxm3,
    status_json,
    task_states,
    wait_for,
)

pytestmark = pytest.mark.timeout(180)


def launch(project: Path, control: Path, *flags: str, check: int = 0) -> int:
    result = run_lxm3("launch", str(project / "launch.py"), f"--control={control}", *flags, check=check)
    return launched_id(result)


def test_status_logs_rerun_after_the_launcher_exited(
    flaky_project: Path, local_config: Path, control: Path
) -> None:
    (control / "fail-2").touch()
    # Failed Local tasks make the launch exit 1, naming them (issue #10).
    result = run_lxm3(
        "launch", str(flaky_project / "launch.py"), f"--control={control}", "--units=2", check=1
    )
    assert (
        "2 local task(s) failed: work unit 1 task 2 (exit code 3), work unit 2 task 2 (exit code 3)"
        in result.stderr
    )
    experiment_id = launched_id(result)

    listed = json.loads(run_lxm3("list", "--json").stdout)
    [entry] = [e for e in listed if e["experiment_id"] == experiment_id]
    assert entry["title"] == "cli-test" and entry["created"].endswith("+00:00")
    assert entry["tasks"] == {"COMPLETED": 6, "FAILED": 2} and entry["state"] == "FAILED"
    assert "cli-test" in run_lxm3("list").stdout

    document = status_json(experiment_id)
    assert document == {
        "experiment_id": experiment_id,
        "work_units": [
            {
                "work_unit_id": unit,
                "state": "FAILED",
                "tasks": [
                    {"index": 0, "state": "COMPLETED", "exit_code": 0},
                    {"index": 1, "state": "COMPLETED", "exit_code": 0},
                    {"index": 2, "state": "FAILED", "exit_code": 3},
                    {"index": 3, "state": "COMPLETED", "exit_code": 0},
                ],
            }
            for unit in (1, 2)
        ],
    }
    only_unit_2 = status_json_for(experiment_id, "--wu", "2")
    assert [u["work_unit_id"] for u in only_unit_2["work_units"]] == [2]
    table = run_lxm3("status", str(experiment_id)).stdout
    assert "FAILED" in table and f"lxm3 rerun {experiment_id} --failed" in table
    assert "failing" not in table
    per_task = run_lxm3("status", str(experiment_id), "--wu", "1").stdout
    assert per_task.count("COMPLETED") == 3

    assert (
        run_lxm3("logs", str(experiment_id), "--wu", "1", "--task", "1").stdout
        == "task 1 seed 1 started\ntask 1 done\n"
    )
    stderr = run_lxm3("logs", str(experiment_id), "--wu", "2", "--task", "2", "--stderr").stdout
    assert stderr == "stderr of task 2\nfailing on purpose\n"
    every_task = run_lxm3("logs", str(experiment_id), "--wu", "1").stdout
    assert every_task.count("==> work unit 1") == 4 and "task 3 done" in every_task
    ambiguous = run_lxm3("logs", str(experiment_id), check=1)
    assert ambiguous.stderr.strip().startswith("lxm3: error:") and "--wu" in ambiguous.stderr
    assert len(ambiguous.stderr.strip().splitlines()) == 1

    # The fault is fixed outside the package: only the two failed tasks run again.
    (control / "fail-2").unlink()
    rerun = run_lxm3("rerun", str(experiment_id), "--failed")
    assert "attempt 2 reruns 2 task(s)" in rerun.stdout
    after = status_json(experiment_id)
    assert all(task["state"] == "COMPLETED" for unit in after["work_units"] for task in unit["tasks"])
    assert (
        run_lxm3("logs", str(experiment_id), "--wu", "2", "--task", "2").stdout
        == "task 2 seed 2 started\ntask 2 done\n"
    )

    store = ExperimentStore()
    assert [a["kind"] for a in store.attempts(experiment_id)] == ["launch", "rerun"]
    reruns = [row for row in store.jobs(experiment_id) if row["attempt"] == 2]
    assert sorted(row["work_unit_id"] for row in reruns) == [1, 2]
    assert all(row["task_ids"] == [2] for row in reruns)
    job_dir = Path(reruns[0]["remote_dir"])
    assert (job_dir / "logs" / "attempt-1" / "2.err").read_text() == "stderr of task 2\nfailing on purpose\n"
    assert (job_dir / "index-a2-0.txt").read_text() == "2\n"
    # Tasks 0, 1, 3 ran once: their logs were never touched by the rerun.
    assert (job_dir / "logs" / "0.out").read_text() == "task 0 seed 0 started\ntask 0 done\n"
    assert run_lxm3("rerun", str(experiment_id), "--failed").stdout.startswith("nothing to rerun")


def status_json_for(experiment_id: int, *flags: str) -> dict:
    return json.loads(run_lxm3("status", str(experiment_id), "--json", *flags).stdout)


def test_cancel_stops_a_running_local_launch_then_rerun_completes_it(
    flaky_project: Path, local_config: Path, control: Path
) -> None:
    (control / "sleep").write_text("60")
    launcher = subprocess.Popen(
        lxm3_argv("launch", str(flaky_project / "launch.py"), f"--control={control}", "--tasks=3"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert launcher.stdout is not None
        experiment_id = int(launcher.stdout.readline().split()[1])
        running = wait_for(experiment_id, lambda d: "RUNNING" in json.dumps(d), timeout=30)
        states = {state for state, _ in task_states(running)[1].values()}
        assert states <= {"RUNNING", "PENDING"}  # max_parallel=2: 2 running, 1 pending

        cancel = run_lxm3("cancel", str(experiment_id))
        assert "cancelled 3 unfinished task(s)" in cancel.stdout
        assert launcher.wait(30) == 130
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
    cancelled = status_json(experiment_id)
    assert {state for state, _ in task_states(cancelled)[1].values()} == {"CANCELLED"}
    assert cancelled["work_units"][0]["state"] == "CANCELLED"
    assert "nothing to cancel" in run_lxm3("cancel", str(experiment_id)).stdout
    # No task of the sweep is left behind.
    time.sleep(0.5)
    leftovers = subprocess.run(
        ["pgrep", "-f", f"--control={control}"], capture_output=True, text=True
    ).stdout.split()
    assert [pid for pid in leftovers if alive(int(pid))] == []

    (control / "sleep").unlink()
    rerun = run_lxm3("rerun", str(experiment_id), "--failed")
    assert "attempt 2 reruns 3 task(s)" in rerun.stdout
    assert {state for state, _ in task_states(status_json(experiment_id))[1].values()} == {"COMPLETED"}


def test_logs_follow_until_the_task_ends(flaky_project: Path, local_config: Path, control: Path) -> None:
    (control / "sleep").write_text("2")
    launcher = subprocess.Popen(
        lxm3_argv("launch", str(flaky_project / "launch.py"), f"--control={control}", "--tasks=1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert launcher.stdout is not None
        experiment_id = int(launcher.stdout.readline().split()[1])
        wait_for(experiment_id, lambda d: "RUNNING" in json.dumps(d), timeout=30, interval=0.1)
        followed = run_lxm3("logs", str(experiment_id), "--task", "0", "--follow", timeout=60)
        assert launcher.wait(30) == 0
    finally:
        if launcher.poll() is None:
            launcher.kill()
    expected = "task 0 seed 0 started\n" + "".join(f"tick {i}\n" for i in range(10)) + "task 0 done\n"
    assert followed.stdout == expected


def test_launch_wait_reports_failure(flaky_project: Path, local_config: Path, control: Path) -> None:
    (control / "fail-1").touch()
    result = run_lxm3("launch", "--wait", str(flaky_project / "launch.py"), f"--control={control}", check=1)
    assert "ended: 3 completed, 1 failed" in result.stderr
    (control / "fail-1").unlink()
    result = run_lxm3("launch", "--wait", str(flaky_project / "launch.py"), f"--control={control}")
    assert "ended: 4 completed" in result.stderr


def test_get_experiment_in_another_process(flaky_project: Path, local_config: Path, control: Path) -> None:
    (control / "fail-0").touch()
    experiment_id = launch(flaky_project, control, "--units=2", "--tasks=2", check=1)
    experiment = xm_cluster.get_experiment(experiment_id)
    assert experiment.title == "cli-test"
    units = experiment.work_units
    assert sorted(units) == [1, 2]
    status = units[1].get_status()
    assert status.is_failed and status.counts() == {"FAILED": 1, "COMPLETED": 1}
    with pytest.raises(xm.ExperimentUnitFailedError, match="task 0 exit code 3"):
        units[2].wait_until_complete()
    units[1].stop()  # nothing left to stop: a no-op
    with pytest.raises(xm.NotFoundError):
        xm_cluster.get_experiment(experiment_id + 100)


def test_errors_are_one_line(local_config: Path) -> None:
    for args in (
        ["status", "999"],
        ["logs", "999"],
        ["cancel", "999"],
        ["rerun", "999", "--failed"],
        ["status", "x"],
    ):
        result = run_lxm3(*args, check=1)
        [line] = result.stderr.strip().splitlines()
        assert line.startswith("lxm3: error: "), result.stderr
    assert "--failed" in run_lxm3("rerun", "1", check=2).stderr
    assert json.loads(run_lxm3("list", "--json").stdout) == []


def test_concurrent_launches_get_distinct_ids(flaky_project: Path, local_config: Path, control: Path) -> None:
    launches = [
        subprocess.Popen(
            lxm3_argv(
                "launch",
                str(flaky_project / "launch.py"),
                f"--control={control}",
                "--tasks=2",
                f"--title=race-{n}",
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    outputs = [process.communicate(timeout=120) for process in launches]
    assert [process.returncode for process in launches] == [0] * 4, outputs
    ids = [int(out.split()[1]) for out, _ in outputs]
    assert len(set(ids)) == 4
    listed = {e["experiment_id"]: e for e in json.loads(run_lxm3("list", "--json").stdout)}
    assert {listed[i]["title"] for i in ids} == {f"race-{n}" for n in range(4)}
    assert all(listed[i]["tasks"] == {"COMPLETED": 2} for i in ids)


def test_clean_removes_only_what_no_kept_experiment_needs(
    flaky_project: Path, local_config: Path, control: Path, tmp_path: Path
) -> None:
    old = launch(flaky_project, control, "--title=old")
    kept = launch(flaky_project, control, "--title=kept")
    staging = local_config
    outside = tmp_path / "outside.txt"
    outside.write_text("not lxm3's")
    orphan = staging / "experiments" / "9999"
    orphan.mkdir()
    stray = staging / "notes.txt"
    stray.write_text("mine")
    # Age the old experiment (and the orphan dir) by 40 days.
    store = ExperimentStore()
    db = store._connection()
    db.execute("UPDATE experiments SET created = created - 40 * 86400 WHERE id = ?", (old,))
    db.execute("UPDATE jobs SET created = created - 40 * 86400 WHERE experiment_id = ?", (old,))
    forty_days_ago = time.time() - 40 * 86400
    os.utime(orphan, (forty_days_ago, forty_days_ago))

    preview = run_lxm3("clean")
    assert f"experiments/{old}" in preview.stdout and "experiments/9999" in preview.stdout
    assert f"experiments/{kept}" not in preview.stdout and "--yes" in preview.stdout
    assert (staging / "experiments" / str(old)).is_dir()  # only shown

    run_lxm3("clean", "--yes")
    assert not (staging / "experiments" / str(old)).exists()
    assert not orphan.exists()
    assert (staging / "experiments" / str(kept) / "1").is_dir()
    assert outside.read_text() == "not lxm3's" and stray.read_text() == "mine"
    # The artifact and runner are shared with the kept experiment: they stay.
    assert any((staging / "artifacts").iterdir()) and any((staging / "runtime").iterdir())
    listed = {e["experiment_id"]: e for e in json.loads(run_lxm3("list", "--json").stdout)}
    assert listed[old]["cleaned"] and not listed[kept]["cleaned"]
    assert "nothing to remove" in run_lxm3("clean").stdout
    # Everything finished counts as old with --older-than 0.
    run_lxm3("clean", "--older-than", "0", "--yes")
    assert not (staging / "experiments" / str(kept)).exists()
    assert stray.read_text() == "mine"


def test_sigterm_stops_a_local_launch_like_ctrl_c(
    flaky_project: Path, local_config: Path, control: Path
) -> None:
    (control / "sleep").write_text("60")
    launcher = subprocess.Popen(
        lxm3_argv("launch", str(flaky_project / "launch.py"), f"--control={control}", "--tasks=1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert launcher.stdout is not None
    experiment_id = int(launcher.stdout.readline().split()[1])
    wait_for(experiment_id, lambda d: "RUNNING" in json.dumps(d), timeout=30)
    launcher.send_signal(signal.SIGTERM)
    assert launcher.wait(30) == 130
    assert task_states(wait_for(experiment_id, all_final, timeout=10))[1] == {0: ("CANCELLED", None)}


def test_user_text_is_shown_as_written_not_read_as_rich_markup(
    flaky_project: Path, local_config: Path, control: Path
) -> None:
    # `[/]` with nothing to close made rich raise; `[lr=0.1]` and `[bold]` vanished as styles.
    title = "sweep [lr=0.1] [bold]x[/bold] [/]"
    experiment_id = launch(flaky_project, control, f"--title={title}", "--tasks=1")
    wait_for(experiment_id, all_final)
    listed = run_lxm3("list").stdout
    assert title in listed
    status = run_lxm3("status", str(experiment_id)).stdout
    assert repr(title) in status
