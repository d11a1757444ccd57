"""Results on the Local executor, from fresh `lxm3` processes: clean keeps outputs, plots without
matplotlib, robust metrics, and the layout of a unit with several jobs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lxm3.store.db import ExperimentStore
from tests.cli.conftest import launched_id, run_lxm3

WRITE = """\
import json, os, sys
task = int(os.environ["LXM_TASK_ID"])
with open(os.environ["LXM_METRICS_FILE"], "a") as metrics:
    if task == 0:
        metrics.write('{"loss": 1.0, "step": 0}\\n[1, 2]\\n{"loss": "text", "acc": true}\\n{"loss": 0.5, "step": 1}\\n{"loss": 0.2')
open(os.path.join(os.environ["LXM_OUTPUT_DIR"], "result.txt"), "w").write(sys.argv[-1])
"""

LAUNCH = """\
from absl import app
from lxm3 import xm, xm_cluster


def main(_):
    with xm_cluster.create_experiment("results-cli") as experiment:
        print(f"EXPERIMENT {experiment.experiment_id}", flush=True)
        spec = xm_cluster.UniversalPackage(entrypoint=["python3", "write.py"], build_script="build.sh")
        [executable] = experiment.package([xm.Packageable(spec, executor_spec=xm_cluster.Local.Spec())])
        array = xm_cluster.ArrayJob(executable, xm_cluster.Local(), args=[{"name": "a"}, {"name": "b"}])
        experiment.add(array)
        experiment.add(
            xm.JobGroup(
                first=xm.Job(executable, xm_cluster.Local(), name="first", args={"name": "first"}),
                second=xm.Job(executable, xm_cluster.Local(), name="second", args={"name": "second"}),
            )
        )


if __name__ == "__main__":
    app.run(main)
"""


@pytest.fixture
def experiment_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    project = tmp_path / "project"
    project.mkdir()
    (project / "write.py").write_text(WRITE)
    (project / "build.sh").write_text('#!/bin/sh\ncp write.py "$BUILDDIR/"\n')
    (project / "build.sh").chmod(0o755)
    (project / "launch.py").write_text(LAUNCH)
    config = tmp_path / "lxm.toml"
    config.write_text(
        f'project = "cli"\n[local.storage]\nstaging = {json.dumps(str(tmp_path / "staging"))}\n'
    )
    monkeypatch.setenv("LXM_CONFIG", str(config))
    return launched_id(run_lxm3("launch", str(project / "launch.py"), timeout=180))


def test_metrics_skip_malformed_lines_and_tasks_without_metrics_have_none(experiment_id: int) -> None:
    document = json.loads(run_lxm3("metrics", str(experiment_id), "--json").stdout)
    [first, second] = document["work_units"]
    assert first["tasks"] == [
        {"index": 0, "args": {"name": "a"}, "metrics": {"loss": 0.5, "step": 1}},
        {"index": 1, "args": {"name": "b"}, "metrics": {}},
    ]
    assert [(t["job"], t["index"], t["args"]) for t in second["tasks"]] == [
        ("first", 0, {"name": "first"}),
        ("second", 0, {"name": "second"}),
    ]


def test_a_unit_with_several_jobs_is_laid_out_by_job(experiment_id: int, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    run_lxm3("fetch", str(experiment_id), "--dest", str(dest))
    assert (dest / "1" / "0" / "result.txt").read_text() == "--name=a"
    assert (dest / "2" / "first" / "0" / "result.txt").read_text() == "--name=first"
    assert (dest / "2" / "second" / "0" / "result.txt").read_text() == "--name=second"
    # A file removed from the layout comes back from the mirror without a transfer.
    (dest / "1" / "1" / "result.txt").unlink()
    again = run_lxm3("fetch", str(experiment_id), "--dest", str(dest)).stdout
    assert "fetched 0 file(s)" in again
    assert (dest / "1" / "1" / "result.txt").read_text() == "--name=b"


def test_plot_without_matplotlib_says_how_to_get_it_and_draws_in_the_terminal(experiment_id: int) -> None:
    code = "import sys; sys.modules['matplotlib'] = None; from lxm3.cli.main import main; sys.exit(main())"
    result = subprocess.run(
        [sys.executable, "-c", code, "metrics", str(experiment_id), "--plot", "loss"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("matplotlib is not installed") and "lxm3[plot]" in lines[0]
    assert "loss against step" in result.stdout and "wu 1 task 0" in result.stdout
    missing = run_lxm3("metrics", str(experiment_id), "--plot", "nothing", check=1)
    assert "no task of experiment" in missing.stderr


def test_clean_keeps_outputs_unless_asked(experiment_id: int, tmp_path: Path) -> None:
    store = ExperimentStore()
    db = store._connection()
    db.execute("UPDATE experiments SET created = created - 40 * 86400 WHERE id = ?", (experiment_id,))
    db.execute("UPDATE jobs SET created = created - 40 * 86400 WHERE experiment_id = ?", (experiment_id,))
    db.commit()
    job_dir = tmp_path / "staging" / "experiments" / str(experiment_id) / "1"
    [name] = [p.name for p in job_dir.iterdir()]
    job_dir = job_dir / name
    assert (job_dir / "tasks.jsonl").exists()
    cleaned = run_lxm3("clean", "--yes").stdout
    assert "task outputs kept" in cleaned
    assert sorted(p.name for p in job_dir.iterdir()) == ["outputs"]
    assert (job_dir / "outputs" / "0" / "result.txt").read_text() == "--name=a"
    assert "nothing to remove" in run_lxm3("clean").stdout
    document = json.loads(run_lxm3("metrics", str(experiment_id), "--json").stdout)
    assert document["work_units"][0]["tasks"][0]["metrics"] == {"loss": 0.5, "step": 1}
    run_lxm3("clean", "--outputs", "--yes")
    assert not (tmp_path / "staging" / "experiments" / str(experiment_id)).exists()


def test_launched_work_unit_metrics_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lxm3 import xm, xm_cluster

    (tmp_path / "report.py").write_text(
        "import os, sys\nsys.path.insert(0, os.environ['LXM3_SOURCE'])\nimport lxm3\n"
        "lxm3.report(step=1, loss=float(os.environ['LXM_TASK_ID']) / 2)\n"
    )
    (tmp_path / "build.sh").write_text('#!/bin/sh\ncp report.py "$BUILDDIR/"\n')
    (tmp_path / "build.sh").chmod(0o755)
    config = tmp_path / "lxm.toml"
    config.write_text(f"[local.storage]\nstaging = {json.dumps(str(tmp_path / 'staging'))}\n")
    monkeypatch.setenv("LXM_CONFIG", str(config))
    source = str(Path(__file__).resolve().parents[2])
    with xm_cluster.create_experiment("api") as experiment:
        spec = xm_cluster.UniversalPackage(
            path=str(tmp_path), entrypoint=["python3", "report.py"], build_script="build.sh"
        )
        [executable] = experiment.package([xm.Packageable(spec, executor_spec=xm_cluster.Local.Spec())])
        unit = experiment.add(
            xm_cluster.ArrayJob(
                executable, xm_cluster.Local(), args=[{}, {}, {}], env_vars=[{"LXM3_SOURCE": source}]
            )
        ).result()
        unit.wait_until_complete()
        assert unit.metrics() == {
            0: {"step": 1, "loss": 0.0},
            1: {"step": 1, "loss": 0.5},
            2: {"step": 1, "loss": 1.0},
        }
    with pytest.raises(ValueError, match="no job 'nope'"):
        unit.metrics(job="nope")
    assert os.environ.get("LXM_METRICS_FILE") is None
