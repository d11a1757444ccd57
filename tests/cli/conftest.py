"""Fixtures for the lifecycle CLI tests: a flaky sweep project and a way to run `lxm3` afresh.

`lxm3 launch`, `rerun`, `cancel`, `clean` and `logs --follow` run as a NEW
process (`python -m lxm3.cli.main`), with the test's store (`$LXM3_STORE`, set
by the autouse `isolated_env`) and config, so what one command learns it can
only have from the store and the staging dirs, as for a user. The commands that
only read (`list`, `status`, `logs`, `metrics`, `version`; `fetch` writes only its
destination) run inside the test process (tests/cli/inprocess.py), so coverage counts them; they still
know the experiment only from the store, since the launch was another process.
The Slurm fixtures are the e2e suite's.

The sweep's task (`flaky.py`) is steered through a control dir that is NOT
part of the package (so a rerun sees the change):

    <control>/fail-<task>   task <task> prints "failing on purpose" to stderr and exits 3
    <control>/sleep         every task prints "tick <i>" every 0.2 s for <seconds> before ending
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.cli.inprocess import lxm3_in_process
from tests.e2e.conftest import probe_dir, remote_root, slurm_cluster, slurm_testbed  # noqa: F401 - fixtures

FLAKY = """\
import os, sys, time
task = int(os.environ["LXM_TASK_ID"])
args = dict(arg.split("=", 1) for arg in sys.argv[1:] if "=" in arg)
control = args["--control"]
print(f"task {task} seed {args['--seed']} started", flush=True)
print(f"stderr of task {task}", file=sys.stderr, flush=True)
sleep_file = os.path.join(control, "sleep")
if os.path.exists(sleep_file):
    for tick in range(int(float(open(sleep_file).read().strip() or 0) * 5)):
        print(f"tick {tick}", flush=True)
        time.sleep(0.2)
if os.path.exists(os.path.join(control, "fail-%d" % task)):
    print("failing on purpose", file=sys.stderr, flush=True)
    sys.exit(3)
print(f"task {task} done", flush=True)
"""

BUILD = """\
#!/bin/sh
cp flaky.py "$BUILDDIR/"
"""

LAUNCHER = """\
from absl import app, flags
from lxm3 import xm, xm_cluster

flags.DEFINE_integer("units", 1, "work units")
flags.DEFINE_integer("tasks", 4, "tasks per work unit")
flags.DEFINE_string("control", None, "control dir (as the tasks see it)")
flags.DEFINE_string("executor", "local", "local or slurm")
flags.DEFINE_string("title", "cli-test", "experiment title")
FLAGS = flags.FLAGS


def main(_):
    with xm_cluster.create_experiment(FLAGS.title) as experiment:
        print(f"EXPERIMENT {experiment.experiment_id}", flush=True)
        executor_spec = xm_cluster.Slurm.Spec() if FLAGS.executor == "slurm" else xm_cluster.Local.Spec()
        spec = xm_cluster.UniversalPackage(entrypoint=["python3", "flaky.py"], build_script="build.sh")
        [executable] = experiment.package([xm.Packageable(spec, executor_spec=executor_spec)])
        for _ in range(FLAGS.units):
            executor = xm_cluster.Slurm() if FLAGS.executor == "slurm" else xm_cluster.Local(max_parallel=2)
            args = [{"seed": seed, "control": FLAGS.control} for seed in range(FLAGS.tasks)]
            experiment.add(xm_cluster.ArrayJob(executable, executor, args=args))


if __name__ == "__main__":
    app.run(main)
"""


@pytest.fixture(scope="session")
def flaky_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("flaky")
    (root / "flaky.py").write_text(FLAKY)
    (root / "build.sh").write_text(BUILD)
    (root / "build.sh").chmod(0o755)
    (root / "launch.py").write_text(LAUNCHER)
    return root


def lxm3_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "lxm3.cli.main", *args]


#: Commands that only read (the store, staging dirs, the scheduler; `fetch` also writes its
#: destination) and need no process of their own: they run in the test process.
READ_ONLY = frozenset({"list", "status", "logs", "metrics", "fetch", "version"})


def run_lxm3(
    *args: str, check: int | None = 0, timeout: float = 120, in_process: bool | None = None
) -> subprocess.CompletedProcess[str]:
    """Runs `lxm3 ARGS`; asserts its exit code unless `check` is None.

    By default a read-only command (`READ_ONLY`, not `--follow`) runs in this process and any
    other in a new one; `in_process` forces either. `timeout` bounds a new process only (an
    in-process command is bounded by pytest-timeout).
    """
    if in_process is None:
        in_process = bool(args) and args[0] in READ_ONLY and "--follow" not in args and "-f" not in args
    if in_process:
        result = lxm3_in_process(*args)
    else:
        result = subprocess.run(lxm3_argv(*args), capture_output=True, text=True, timeout=timeout)
    if check is not None:
        assert result.returncode == check, (
            f"lxm3 {' '.join(args)} exited {result.returncode}, wanted {check}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
    return result


def launched_id(result: subprocess.CompletedProcess[str]) -> int:
    [line] = [line for line in result.stdout.splitlines() if line.startswith("EXPERIMENT ")]
    return int(line.split()[1])


def status_json(experiment_id: int) -> dict[str, Any]:
    return json.loads(run_lxm3("status", str(experiment_id), "--json").stdout)


def task_states(document: dict[str, Any]) -> dict[int, dict[int, tuple[str, int | None]]]:
    """{work unit: {task: (state, exit code)}} from `status --json`."""
    return {
        unit["work_unit_id"]: {task["index"]: (task["state"], task["exit_code"]) for task in unit["tasks"]}
        for unit in document["work_units"]
    }


def wait_for(
    experiment_id: int,
    predicate: Callable[[dict[str, Any]], bool],
    timeout: float = 90,
    interval: float = 0.5,
) -> dict[str, Any]:
    """Polls `lxm3 status --json` until `predicate` holds; fails with the last document."""
    deadline = time.monotonic() + timeout
    document = status_json(experiment_id)
    while not predicate(document):
        if time.monotonic() > deadline:
            pytest.fail(f"experiment {experiment_id} never reached the wanted state; last status: {document}")
        time.sleep(interval)
        document = status_json(experiment_id)
    return document


def all_final(document: dict[str, Any]) -> bool:
    """Every task ended; a launch still submitting (no task recorded yet) is not final."""
    tasks = [task for unit in document["work_units"] for task in unit["tasks"]]
    return bool(tasks) and all(task["state"] in ("COMPLETED", "FAILED", "CANCELLED") for task in tasks)


@pytest.fixture
def local_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config whose Local staging is this test's own (selected with $LXM_CONFIG)."""
    config = tmp_path / "lxm.toml"
    config.write_text(
        f'project = "cli"\n[local.storage]\nstaging = {json.dumps(str(tmp_path / "staging"))}\n'
    )
    monkeypatch.setenv("LXM_CONFIG", str(config))
    return tmp_path / "staging"


@pytest.fixture
def control(tmp_path: Path) -> Path:
    path = tmp_path / "control"
    path.mkdir()
    return path


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
