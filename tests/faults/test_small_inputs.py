"""The smaller bad inputs of issue #17, each one line and the right exit code (Local, no cluster)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lxm3 import xm_cluster
from lxm3.xm.masking import mask_text
from tests.packages import universal_package

LAUNCHER = """\
import os, sys
from absl import app, flags
from lxm3 import xm, xm_cluster

flags.DEFINE_string("flag", "", "")
flags.DEFINE_string("other", "", "")
flags.DEFINE_integer("code", 0, "exit code of the task")
FLAGS = flags.FLAGS


def main(argv):
    print(f"FLAGS {FLAGS.flag} {FLAGS.other} rest={argv[1:]}", flush=True)
    with xm_cluster.create_experiment("small\\nname") as experiment:
        [executable] = experiment.package([xm.Packageable(
            xm_cluster.UniversalPackage(path=os.environ["FAULT_PKG"], entrypoint=["python3", "task.py"], build_script="build.sh"),
            executor_spec=xm_cluster.Local.Spec(),
        )])
        experiment.add(xm.Job(executable, xm_cluster.Local(), name="job\\nname", args={"code": FLAGS.code}))


if __name__ == "__main__":
    app.run(main)
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    universal_package(
        tmp_path / "pkg",
        {"task.py": "import sys\nprint('hello')\nsys.exit(int(sys.argv[1].split('=')[1]))\n"},
    )
    (tmp_path / "launch.py").write_text(LAUNCHER)
    (tmp_path / "lxm.toml").write_text(
        f'project = "s"\n[local.storage]\nstaging = "{tmp_path / "staging"}"\n'
    )
    return tmp_path


def lxm3(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = dict(
        os.environ, LXM_CONFIG=str(project / "lxm.toml"), FAULT_PKG=str(project / "pkg"), LXM3_LOCAL_ECHO="1"
    )
    full.update(env)
    return subprocess.run(
        [sys.executable, "-m", "lxm3.cli.main", *args], env=full, capture_output=True, text=True, timeout=180
    )


def test_flags_after_a_double_dash_are_parsed_and_failed_local_tasks_exit_1(project: Path) -> None:
    result = lxm3(project, "launch", str(project / "launch.py"), "--flag", "X", "--", "--other=Y", "--code=3")
    assert "FLAGS X Y rest=[]" in result.stdout, result
    assert result.returncode == 1, result
    # The job name's newline is escaped in the output prefixes.
    assert "[1_1_job\\nname 0] hello" in result.stdout, result.stdout


def test_a_local_launch_that_succeeds_exits_0(project: Path) -> None:
    result = lxm3(project, "launch", str(project / "launch.py"))
    assert result.returncode == 0, result


def test_an_absurd_experiment_id_is_one_line(project: Path) -> None:
    result = lxm3(project, "status", "99999999999999999999999")
    assert result.returncode != 0 and result.stderr.count("\n") == 1, result
    assert "does not exist" in result.stderr and "Overflow" not in result.stderr


def test_a_dry_run_leaves_no_temp_dir(project: Path, tmp_path: Path) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    result = lxm3(project, "launch", "--dry-run", str(project / "launch.py"), TMPDIR=str(temp))
    assert result.returncode == 0, result
    assert not [p for p in temp.iterdir() if p.name.startswith("lxm3-")], list(temp.iterdir())


def test_the_array_throttle_has_both_names_everywhere() -> None:
    assert xm_cluster.Slurm(max_parallel_tasks=3).max_parallel == 3
    assert xm_cluster.GridEngine(max_parallel=4).max_parallel_tasks == 4
    assert xm_cluster.Local(max_parallel_tasks=2).parallelism == 2
    with pytest.raises(ValueError, match="name the same limit"):
        xm_cluster.Slurm(max_parallel=1, max_parallel_tasks=2)


def test_masking() -> None:
    text = "export WANDB_API_KEY='a b'\nexport PATH=/bin\n{'HF_TOKEN': 'x', 'SEED': '1'} DB_PASSWORD=p"
    assert (
        mask_text(text)
        == "export WANDB_API_KEY=***\nexport PATH=/bin\n{'HF_TOKEN': '***', 'SEED': '1'} DB_PASSWORD=***"
    )


def test_a_corrupt_row_names_the_store_and_experiment_and_the_rest_is_listed(project: Path) -> None:
    store = project / "store.sqlite3"
    assert lxm3(project, "launch", str(project / "launch.py"), LXM3_STORE=str(store)).returncode == 0
    assert lxm3(project, "launch", str(project / "launch.py"), LXM3_STORE=str(store)).returncode == 0
    import sqlite3

    db = sqlite3.connect(store)
    db.execute("UPDATE jobs SET submitted = 'not json at all' WHERE experiment_id = 1")
    db.commit()
    db.close()
    result = lxm3(project, "list", LXM3_STORE=str(store))
    assert "experiment 1 in" in result.stderr and str(store) in result.stderr, result
    assert result.stderr.count("\n") == 1, result.stderr
    listed = [line.split()[0] for line in result.stdout.splitlines()[1:] if line[:1].isdigit()]
    assert listed == ["2", "1"], result.stdout
