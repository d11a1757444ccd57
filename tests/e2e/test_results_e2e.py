"""Results back to the workstation, end to end on Local, the real Slurm and the real Grid Engine.

A 6-task sweep (`lxm3 launch`, a fresh process) writes metrics lines (by hand,
as any language would: the cluster's python3 has no lxm3), scratch files and
after-files. Then, as new processes that know the experiment only from the
store: `lxm3 fetch` brings all 6 back as DEST/<wu>/<task>/ and a second fetch
sends nothing; `lxm3 metrics --json` has each task's last loss; `--plot`
writes a PNG of the promised size; `fetch --follow` shows a file while its
task still runs. One test per behaviour, parametrized over the three targets.
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import all_final, lxm3_argv, run_lxm3, status_json, wait_for
from tests.clusters import on_testbed
from tests.e2e.conftest import probe_dir, remote_root, slurm_cluster, slurm_testbed
from tests.e2e.conftest_sge import sge_cluster, sge_remote_root, sge_testbed

__all__ = [
    "probe_dir",
    "remote_root",
    "sge_cluster",
    "sge_remote_root",
    "sge_testbed",
    "slurm_cluster",
    "slurm_testbed",
]

pytestmark = [pytest.mark.timeout(420)]

TRAIN = """\
import json, os, sys, time
args = dict(arg[2:].split("=", 1) for arg in sys.argv[1:])
lr, sleep = float(args["lr"]), float(args["sleep"])
out = os.environ["LXM_OUTPUT_DIR"]
open(os.path.join(out, "progress.txt"), "w").write("running\\n")
with open(os.environ["LXM_METRICS_FILE"], "a") as metrics:
    for step in range(5):
        metrics.write(json.dumps({"step": step, "loss": lr * (5 - step)}) + "\\n")
        if step == 2:
            metrics.write("this line is not json\\n")
        metrics.flush()
time.sleep(sleep)
os.makedirs("eval")
open("model.ckpt", "w").write("weights of lr=%s\\n" % lr)
open(os.path.join("eval", "score.json"), "w").write(json.dumps({"lr": lr}))
open("scratch.tmp", "w").write("not kept")
print("trained with lr", lr)
"""

BUILD = """\
#!/bin/sh
cp train.py "$BUILDDIR/"
"""

LAUNCHER = """\
from absl import app, flags
from lxm3 import xm, xm_cluster

flags.DEFINE_string("executor", "local", "local, slurm or sge")
flags.DEFINE_integer("tasks", 6, "tasks")
flags.DEFINE_float("sleep", 0, "seconds each task sleeps before writing its after-files")
FLAGS = flags.FLAGS
EXECUTORS = {"local": xm_cluster.Local, "slurm": xm_cluster.Slurm, "sge": xm_cluster.GridEngine}


def main(_):
    with xm_cluster.create_experiment("results") as experiment:
        print(f"EXPERIMENT {experiment.experiment_id}", flush=True)
        kind = EXECUTORS[FLAGS.executor]
        spec = xm_cluster.UniversalPackage(entrypoint=["python3", "train.py"], build_script="build.sh")
        [executable] = experiment.package([xm.Packageable(spec, executor_spec=kind.Spec())])
        executor = kind(after_files=["*.ckpt"])
        args = [{"lr": (task + 1) / 10, "sleep": FLAGS.sleep} for task in range(FLAGS.tasks)]
        experiment.add(xm_cluster.ArrayJob(executable, executor, args=args, after_files=["eval/*.json"]))


if __name__ == "__main__":
    app.run(main)
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("results-project")
    (root / "train.py").write_text(TRAIN)
    (root / "build.sh").write_text(BUILD)
    (root / "build.sh").chmod(0o755)
    (root / "launch.py").write_text(LAUNCHER)
    return root


@pytest.fixture(params=on_testbed("local", "slurm", "sge"))
def executor(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Selects the target: a config with this test's own staging dirs."""
    if request.param == "slurm":
        request.getfixturevalue("slurm_cluster")
    elif request.param == "sge":
        request.getfixturevalue("sge_cluster")
    else:
        config = tmp_path / "lxm.toml"
        config.write_text(
            f'project = "results"\n[local.storage]\nstaging = {json.dumps(str(tmp_path / "staging"))}\n'
        )
        monkeypatch.setenv("LXM_CONFIG", str(config))
    return str(request.param)


@pytest.fixture
def launch(project: Path, executor: str) -> Iterator[Any]:
    """Starts `lxm3 launch` (it keeps running the tasks for Local) and returns the experiment id."""
    processes: list[subprocess.Popen[str]] = []

    def start(*flags: str) -> int:
        process = subprocess.Popen(
            lxm3_argv("launch", str(project / "launch.py"), f"--executor={executor}", *flags),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        processes.append(process)
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("EXPERIMENT "):
                return int(line.split()[1])
        raise AssertionError(f"lxm3 launch printed no experiment id: {process.communicate()}")

    yield start
    for process in processes:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_sweep_outputs_and_metrics_come_back(launch: Any, executor: str, tmp_path: Path) -> None:
    experiment_id = launch()
    document = wait_for(experiment_id, all_final, timeout=240)
    assert {t["state"] for u in document["work_units"] for t in u["tasks"]} == {"COMPLETED"}

    dest = tmp_path / "fetched"
    first = run_lxm3("fetch", str(experiment_id), "--dest", str(dest)).stdout
    assert re.search(r"fetched 24 file\(s\), \d+ bytes \(1 rsync\)", first), first
    for task in range(6):
        here = dest / "1" / str(task)
        kept = sorted(str(p.relative_to(here)) for p in here.rglob("*") if p.is_file())
        assert kept == ["eval/score.json", "metrics.jsonl", "model.ckpt", "progress.txt"], kept
        assert (here / "model.ckpt").read_text() == f"weights of lr={(task + 1) / 10}\n"
    again = run_lxm3("fetch", str(experiment_id), "--dest", str(dest)).stdout
    assert "fetched 0 file(s), 0 bytes (1 rsync)" in again, again

    only = tmp_path / "only-json"
    chosen = run_lxm3(
        "fetch", str(experiment_id), "--dest", str(only), "--task", "2", "--include", "eval/*.json"
    )
    assert "fetched 2 file(s)" in chosen.stdout, chosen.stdout
    assert sorted(
        str(p.relative_to(only)) for p in only.rglob("*") if p.is_file() and ".lxm3" not in p.parts
    ) == [
        "1/2/eval/score.json",
        "1/2/metrics.jsonl",
    ]

    metrics = json.loads(run_lxm3("metrics", str(experiment_id), "--json").stdout)
    assert metrics["experiment_id"] == experiment_id
    [unit] = metrics["work_units"]
    assert unit["work_unit_id"] == 1
    assert [t["index"] for t in unit["tasks"]] == list(range(6))
    for task in unit["tasks"]:
        lr = (task["index"] + 1) / 10
        assert task["args"] == {"lr": lr, "sleep": 0.0}
        assert task["metrics"] == {"step": 4, "loss": pytest.approx(lr)}
    ranked = json.loads(run_lxm3("metrics", str(experiment_id), "--json", "--sort=-loss").stdout)
    assert [t["index"] for t in ranked["work_units"][0]["tasks"]] == [5, 4, 3, 2, 1, 0]
    table = run_lxm3("metrics", str(experiment_id)).stdout
    assert "loss" in table and "lr" in table and "0.6" in table

    picture = tmp_path / "loss.png"
    plotted = run_lxm3("metrics", str(experiment_id), "--plot", "loss", "-o", str(picture)).stdout
    assert f"wrote {picture} (6 task(s))" in plotted
    assert png_size(picture) == (800, 500)


def test_follow_shows_a_file_while_its_task_runs(launch: Any, executor: str, tmp_path: Path) -> None:
    experiment_id = launch("--tasks=1", "--sleep=25")
    dest = tmp_path / "followed"
    follower = subprocess.Popen(
        lxm3_argv("fetch", str(experiment_id), "--dest", str(dest), "--follow", "--interval", "1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert follower.stdout is not None
    seen: dict[str, float] = {}
    state_when_seen = None
    for line in follower.stdout:
        name = Path(line.strip()).name
        if line.startswith("/") and name not in seen:
            seen[name] = time.monotonic()
            if name == "progress.txt":
                assert not (dest / "1" / "0" / "model.ckpt").exists(), "seen only after the task ended"
                # The task writes the file as it starts; accounting (sacct) may still say PENDING
                # for a moment, so ask until it says RUNNING (the task runs 25 s more).
                deadline = time.monotonic() + 15
                while state_when_seen != "RUNNING" and time.monotonic() < deadline:
                    [unit] = status_json(experiment_id)["work_units"]
                    state_when_seen = unit["tasks"][0]["state"]
                assert not (dest / "1" / "0" / "model.ckpt").exists(), "still running when RUNNING was seen"
    assert follower.wait(timeout=60) == 0, follower.stderr.read() if follower.stderr else ""
    assert state_when_seen == "RUNNING", seen
    assert {"progress.txt", "metrics.jsonl", "model.ckpt", "score.json"} <= set(seen)
    assert seen["model.ckpt"] - seen["progress.txt"] > 3, seen
    assert (dest / "1" / "0" / "model.ckpt").read_text() == "weights of lr=0.1\n"


def test_python_api_reads_metrics_of_a_reloaded_unit_in_one_command(
    launch: Any, executor: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lxm3 import xm_cluster
    from lxm3.transport.ssh import SSHTransport

    experiment_id = launch()
    wait_for(experiment_id, all_final, timeout=240)
    commands: list[list[str]] = []
    original = SSHTransport.run

    def counting(self: SSHTransport, argv: Any, **kwargs: Any) -> Any:
        commands.append(list(argv))
        return original(self, argv, **kwargs)

    monkeypatch.setattr(SSHTransport, "run", counting)
    experiment = xm_cluster.get_experiment(experiment_id)
    unit = experiment.work_units[1]
    unit.outputs()  # resolving where the outputs are asks the cluster nothing but $HOME at most
    before = len(commands)
    metrics = unit.metrics()
    assert len(commands) - before == (0 if executor == "local" else 1)
    assert metrics == {task: {"step": 4, "loss": pytest.approx((task + 1) / 10)} for task in range(6)}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
