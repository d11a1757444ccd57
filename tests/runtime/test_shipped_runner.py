"""The runner as the execution host gets it: one zip of its modules, run by a bare `python3`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lxm3.runtime.shipped_runner import build_runner_zip, runner_file_name, shipped_runner
from lxm3.xm_cluster.staging import runner_name
from tests.runtime.test_task_runner import Job


def shipped(tmp_path: Path) -> Path:
    path = tmp_path / runner_file_name()
    path.write_bytes(shipped_runner()[0])
    return path


def bare_python(runner: Path, *args: str) -> list[str]:
    """`python3 -I -S`: no site-packages, so nothing of lxm3 is importable but what the zip holds."""
    return [sys.executable, "-I", "-S", str(runner), *args]


def test_the_zip_is_the_same_bytes_every_time_and_named_by_them() -> None:
    data, digest = shipped_runner()
    assert build_runner_zip() == data
    assert runner_name() == f"runtime/task_runner-{digest[:12]}.pyz"


def test_the_zip_runs_a_task_without_lxm3_installed(tmp_path: Path) -> None:
    job = Job(tmp_path, [(["a b", "$HOME"], {"PROBE_KEYS": "X", "X": "1"})])
    result = subprocess.run(bare_python(shipped(tmp_path), str(job.dir / "job.json"), "0"), timeout=60)
    assert result.returncode == 0
    assert job.report(0)["argv"] == ["a b", "$HOME"]
    assert job.exit_code(0) == 0


def test_the_zip_runs_packed_tasks_each_as_the_zip_again(tmp_path: Path) -> None:
    job = Job(tmp_path, [([f"--seed={i}"], {"PROBE_EXIT": "3" if i == 1 else "0"}) for i in range(3)])
    argv = bare_python(shipped(tmp_path), str(job.dir / "job.json"), "--parallel", "2", "0", "1", "2")
    result = subprocess.run(argv, capture_output=True, timeout=60)
    assert result.returncode == 3, result.stderr
    assert [job.report(task)["argv"] for task in range(3)] == [["--seed=0"], ["--seed=1"], ["--seed=2"]]
    assert [job.exit_code(task) for task in range(3)] == [0, 3, 0]
