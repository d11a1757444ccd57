"""The task runner, run as every job script runs it: `python3 task_runner.py job.json TASK_ID`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from lxm3 import xm
from lxm3.packaging.archive import write_zip
from lxm3.runtime import task_runner
from lxm3.runtime.shipped_runner import RUNNER_MODULES, runner_sources
from lxm3.runtime.task_table import INDEX_NAME, TABLE_NAME, write_task_table
from tests.hostile import HOSTILE_VALUES, hostile_env

RUNNER = Path(task_runner.__file__)

PROBE = textwrap.dedent(
    """
    import json, os, signal, sys, time
    if os.environ.get("PROBE_TRAP"):
        def on_term(signum, frame):
            open(os.environ["PROBE_TRAP"], "w").write("got %d" % signum)
            sys.exit(42)
        signal.signal(signal.SIGTERM, on_term)
    keys = ["LXM_TASK_ID", "LXM_NUM_TASKS", "LXM_WORKDIR", "PYTHONPATH"] + os.environ.get("PROBE_KEYS", "").split()
    print(json.dumps({"argv": sys.argv[1:], "cwd": os.getcwd(), "env": {k: os.environ.get(k) for k in keys}}))
    sys.stdout.flush()
    sys.stderr.write("probe stderr\\n")
    if os.environ.get("PROBE_READY"):
        open(os.environ["PROBE_READY"], "w").close()
    time.sleep(float(os.environ.get("PROBE_SLEEP", "0")))
    if os.environ.get("PROBE_KILL"):
        os.kill(os.getpid(), int(os.environ["PROBE_KILL"]))
    sys.exit(int(os.environ.get("PROBE_EXIT", "0")))
    """
)


class Job:
    """A job directory laid out as `launching.stage_job` lays it out."""

    def __init__(
        self,
        root: Path,
        tasks: list[tuple[list[Any], dict[str, str]]],
        entrypoint: dict[str, Any] | None = None,
        **spec: Any,
    ) -> None:
        self.root = root
        self.dir = root / "job"
        self.logs = self.dir / "logs"
        self.logs.mkdir(parents=True)
        self.workroot = root / "work"
        self.workroot.mkdir()
        self.probe = root / "probe.py"
        self.probe.write_text(PROBE)
        write_task_table(self.dir, tasks)
        self.spec = {
            "name": "trainer",
            "table": TABLE_NAME,
            "index": INDEX_NAME,
            "num_tasks": len(tasks),
            "entrypoint": entrypoint or {"kind": "argv", "argv": [sys.executable, str(self.probe)]},
            "python": sys.executable,
            "log_dir": "logs",
            "env": {},
            "workdir_root": str(self.workroot),
            **spec,
        }
        (self.dir / "job.json").write_text(json.dumps(self.spec))

    def argv(self, task: int) -> list[str]:
        return [sys.executable, str(RUNNER), str(self.dir / "job.json"), str(task)]

    def run(self, task: int = 0, **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(self.argv(task), capture_output=True, timeout=60, **kwargs)

    def out(self, task: int = 0) -> str:
        return (self.logs / f"{task}.out").read_text()

    def report(self, task: int = 0) -> dict[str, Any]:
        return json.loads(self.out(task).splitlines()[-1])

    def exit_code(self, task: int = 0) -> int:
        return int((self.logs / f"{task}.exit").read_text())


HOSTILE = HOSTILE_VALUES


def test_args_arrive_byte_for_byte_and_output_goes_to_the_task_logs(tmp_path: Path) -> None:
    env = hostile_env(prefix="X")
    job = Job(tmp_path, [(["first"], {}), (HOSTILE, {"PROBE_KEYS": " ".join(env), **env})])
    result = job.run(1)
    assert result.returncode == 0, result.stderr
    report = job.report(1)
    assert report["argv"] == HOSTILE
    assert {key: report["env"][key] for key in env} == env
    assert (job.logs / "1.err").read_text() == "probe stderr\n"
    assert job.exit_code(1) == 0
    assert not (job.root / "pwned").exists() and not any(job.workroot.iterdir())
    assert not (job.logs / "0.out").exists(), "only the requested task ran"


def test_task_env_ids_and_precedence(tmp_path: Path) -> None:
    tasks = [([], {"B": f"task{i}", "PROBE_KEYS": "A B INHERITED"}) for i in range(4)]
    job = Job(tmp_path, tasks, env={"A": "spec", "B": "spec"})
    job.run(3, env={**os.environ, "INHERITED": "yes", "B": "outer"})
    env = job.report(3)["env"]
    assert env["LXM_TASK_ID"] == "3" and env["LXM_NUM_TASKS"] == "4"
    assert (env["A"], env["B"], env["INHERITED"]) == ("spec", "task3", "yes")


@pytest.mark.parametrize("code", [1, 7, 255])
def test_exit_code_is_propagated_and_recorded(tmp_path: Path, code: int) -> None:
    job = Job(tmp_path, [([], {"PROBE_EXIT": str(code)})])
    assert job.run().returncode == code
    assert (job.logs / "0.exit").read_text() == f"{code}\n"
    assert sorted(p.name for p in job.logs.iterdir()) == ["0.err", "0.exit", "0.out"], (
        "no temporary files left"
    )


def test_death_by_signal_is_128_plus_the_signal(tmp_path: Path) -> None:
    job = Job(tmp_path, [([], {"PROBE_KILL": str(int(signal.SIGKILL))})])
    assert job.run().returncode == 128 + signal.SIGKILL
    assert job.exit_code() == 128 + signal.SIGKILL


def start_and_wait_until_ready(job: Job, task: int = 0) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(job.argv(task), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ready = job.root / "ready"
    deadline = time.monotonic() + 20
    while not ready.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the program never started"
        time.sleep(0.02)
    return process


def test_sigterm_is_forwarded_to_the_program(tmp_path: Path) -> None:
    trap = tmp_path / "trapped"
    job = Job(
        tmp_path,
        [([], {"PROBE_TRAP": str(trap), "PROBE_READY": str(tmp_path / "ready"), "PROBE_SLEEP": "30"})],
    )
    process = start_and_wait_until_ready(job)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 42, "the runner exits with the program's own exit code"
    assert trap.read_text() == f"got {int(signal.SIGTERM)}"
    assert job.exit_code() == 42
    assert not any(job.workroot.iterdir()), "work dir removed after a cancel too"


def test_program_killed_by_forwarded_sigterm_dies_of_sigterm_and_records_143(tmp_path: Path) -> None:
    job = Job(tmp_path, [([], {"PROBE_READY": str(tmp_path / "ready"), "PROBE_SLEEP": "30"})])
    process = start_and_wait_until_ready(job)
    process.send_signal(signal.SIGTERM)
    # The runner dies of the same signal (schedulers then report CANCELLED, not FAILED 143).
    assert process.wait(timeout=10) == -signal.SIGTERM
    assert job.exit_code() == 128 + signal.SIGTERM


def test_sigterm_before_the_program_starts_means_it_never_starts(tmp_path: Path) -> None:
    """A cancel that arrives while the runner prepares (here: a slow shell expansion) is not lost."""
    job = Job(
        tmp_path, [([xm.ShellSafeArg("$(sleep 1; echo late)")], {"PROBE_READY": str(tmp_path / "ready")})]
    )
    process = subprocess.Popen(job.argv(0), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(0.4)
    process.send_signal(signal.SIGTERM)
    # The runner dies of the same signal (schedulers then report CANCELLED, not FAILED 143).
    assert process.wait(timeout=10) == -signal.SIGTERM
    assert not (tmp_path / "ready").exists(), "the program ran although the task was cancelled"
    assert job.exit_code() == 128 + signal.SIGTERM
    assert not any(job.workroot.iterdir())


def test_each_task_gets_a_fresh_work_dir_that_is_removed(tmp_path: Path) -> None:
    job = Job(tmp_path, [([], {}), ([], {"PROBE_EXIT": "3"})])
    job.run(0)
    job.run(1)
    first, second = job.report(0), job.report(1)
    for task, report in ((0, first), (1, second)):
        assert report["cwd"] == report["env"]["LXM_WORKDIR"]
        assert Path(report["cwd"]).parent == job.workroot
        assert Path(report["cwd"]).name.startswith(f"lxm3-trainer-{task}-")
        assert not Path(report["cwd"]).exists()
    assert first["cwd"] != second["cwd"]
    assert not any(job.workroot.iterdir())


def test_archive_is_extracted_into_the_work_dir_keeping_exec_bits(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "run.sh").write_text('#!/bin/sh\nprintf "%s|" "$@" > "$OUT"; cat data.txt >> "$OUT"\n')
    (source / "run.sh").chmod(0o755)
    (source / "data.txt").write_text("payload")
    archive = tmp_path / "code.zip"
    write_zip(archive, [(source / "run.sh", "run.sh"), (source / "data.txt", "data.txt")])
    out = tmp_path / "out.txt"
    job = Job(
        tmp_path,
        [(["a b", "c"], {"OUT": str(out)})],
        {"kind": "argv", "argv": ["./run.sh"]},
        archive=str(archive),
    )
    result = job.run()
    assert result.returncode == 0, (job.logs / "0.err").read_text()
    assert out.read_text() == "a b|c|payload"


def test_module_entrypoint_runs_from_the_archive_on_pythonpath(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "main.py").write_text(PROBE)
    archive = tmp_path / "code.zip"
    write_zip(archive, [(package / "__init__.py", "pkg/__init__.py"), (package / "main.py", "pkg/main.py")])
    job = Job(tmp_path, [(["--x=1"], {})], {"kind": "module", "module": "pkg.main"}, archive=str(archive))
    assert job.run(env={**os.environ, "PYTHONPATH": "/already/there"}).returncode == 0
    report = job.report()
    assert report["argv"] == ["--x=1"]
    assert report["env"]["PYTHONPATH"] == os.pathsep.join([report["cwd"], "/already/there"])


def test_only_shell_safe_args_are_expanded_in_the_task_work_dir(tmp_path: Path) -> None:
    args = [
        "$LXM_TASK_ID",
        xm.ShellSafeArg("$LXM_TASK_ID"),
        xm.ShellSafeArg("split  words"),
        xm.ShellSafeArg('"kept together"'),
        xm.ShellSafeArg("$LXM3_SURELY_UNSET_VARIABLE"),
        xm.ShellSafeArg("$PWD"),
        "--plain=$(echo no)",
    ]
    job = Job(tmp_path, [([], {}), (args, {})])
    assert job.run(1).returncode == 0
    report = job.report(1)
    assert report["argv"] == [
        "$LXM_TASK_ID",
        "1",
        "split",
        "words",
        "kept together",
        report["cwd"],
        "--plain=$(echo no)",
    ]


def commands_job(tmp_path: Path, commands: list[str], args: list[str]) -> Job:
    probe = f"{sys.executable} {tmp_path / 'probe.py'}"
    return Job(
        tmp_path,
        [(args, {})],
        {"kind": "commands", "commands": [c.replace("PROBE", probe) for c in commands]},
    )


def test_command_list_appends_args_to_the_last_command_only(tmp_path: Path) -> None:
    marker = tmp_path / "first.txt"
    job = commands_job(tmp_path, [f"echo first > {marker}", "PROBE --fixed"], ["a b", "$x", ""])
    assert job.run().returncode == 0
    assert marker.read_text() == "first\n"
    assert job.report()["argv"] == ["--fixed", "a b", "$x", ""]


def test_command_list_that_takes_the_args_itself_gets_them_once(tmp_path: Path) -> None:
    job = commands_job(tmp_path, ['PROBE --before "$@"'], ["x y", "z"])
    assert job.run().returncode == 0
    assert job.report()["argv"] == ["--before", "x y", "z"]


def test_command_list_exit_code_is_the_last_commands(tmp_path: Path) -> None:
    job = commands_job(tmp_path, ["true", "exit 5"], [])
    assert job.run().returncode == 5
    assert job.exit_code() == 5


def test_missing_program_exits_127_with_a_message_in_the_log(tmp_path: Path) -> None:
    job = Job(tmp_path, [([], {})], {"kind": "argv", "argv": [str(tmp_path / "no-such-program")]})
    assert job.run().returncode == 127
    assert "cannot start" in (job.logs / "0.err").read_text()
    assert job.exit_code() == 127
    assert not any(job.workroot.iterdir())


def test_without_a_log_dir_output_goes_to_the_runners_stdout_and_no_exit_file(tmp_path: Path) -> None:
    job = Job(tmp_path, [(["hello"], {})], log_dir=None)
    result = job.run()
    assert result.returncode == 0
    assert json.loads(result.stdout.decode().splitlines()[-1])["argv"] == ["hello"]
    assert list(job.logs.iterdir()) == []


def test_usage_error(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(RUNNER)], capture_output=True, timeout=30)
    assert result.returncode == 2 and b"usage" in result.stderr


@pytest.mark.parametrize("path", runner_sources().values(), ids=lambda path: path.stem)
def test_runner_is_standard_library_only(path: Path) -> None:
    """It is shipped to clusters and run with their python3: nothing from lxm3 or third parties.

    Its modules import one another (beside each other in the shipped zip), nothing else.
    """
    import ast

    tree = ast.parse(path.read_text())
    modules = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    modules |= {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert all(name in sys.stdlib_module_names or name in RUNNER_MODULES for name in modules), modules


# ----- dependency checks (Grid Engine holds, split-array "failed")


def _dependency(condition: str, per_task: bool = False, mode: str = "all") -> dict:
    return {
        "mode": mode,
        "terms": [
            {
                "what": "work unit 1",
                "condition": condition,
                "per_task": per_task,
                "jobs": [{"log_dir": "/logs", "num_tasks": 3}],
            }
        ],
    }


def test_dependency_block_reads_the_predecessors_exit_codes() -> None:
    from lxm3.runtime.task_runner import dependency_block

    def reader(codes: dict) -> object:
        return lambda log_dir, task: codes.get(task)

    all_ok, one_failed, one_missing = (
        reader({0: 0, 1: 0, 2: 0}),
        reader({0: 0, 1: 3, 2: 0}),
        reader({0: 0, 1: 0}),
    )
    assert dependency_block(_dependency("succeeded"), 0, all_ok) is None
    assert dependency_block(_dependency("succeeded"), 0, one_failed) == "dependency on work unit 1 failed"
    assert dependency_block(_dependency("succeeded"), 0, one_missing) == "dependency on work unit 1 failed"
    assert dependency_block(_dependency("failed"), 0, one_failed) is None
    assert dependency_block(_dependency("failed"), 0, all_ok) == "dependency on work unit 1 did not fail"
    assert dependency_block(_dependency("finished"), 0, one_failed) is None
    # Task by task: only task i of the predecessor counts.
    assert dependency_block(_dependency("succeeded", per_task=True), 0, one_failed) is None
    assert dependency_block(_dependency("succeeded", per_task=True), 1, one_failed) is not None


def test_task_whose_dependency_cannot_hold_never_runs(tmp_path: Path) -> None:
    import json

    from lxm3.runtime.task_runner import DEPENDENCY_NOT_MET, main

    before = tmp_path / "before"
    (before / "logs").mkdir(parents=True)
    (before / "logs" / "0.exit").write_text("3\n")
    job = tmp_path / "job"
    (job / "logs").mkdir(parents=True)
    spec = {
        "name": "x",
        "table": "missing.jsonl",
        "index": "missing.idx",
        "entrypoint": {"kind": "argv", "argv": ["touch", str(tmp_path / "ran")]},
        "log_dir": "logs",
        "dependency": {
            "mode": "all",
            "terms": [
                {
                    "what": "work unit 1",
                    "condition": "succeeded",
                    "per_task": False,
                    "jobs": [{"log_dir": str(before / "logs"), "num_tasks": 1}],
                }
            ],
        },
    }
    (job / "job.json").write_text(json.dumps(spec))
    assert main(["runner", str(job / "job.json"), "0"]) == DEPENDENCY_NOT_MET
    assert not (tmp_path / "ran").exists()
    assert (job / "logs" / "0.exit").read_text().strip() == str(DEPENDENCY_NOT_MET)
    assert "not run: dependency on work unit 1 failed" in (job / "logs" / "0.err").read_text()
